"""The window with the real default model (SmolLM2-135M through LlamaEngine).

How smooth the window stays while the model loads and streams (the longest the GUI thread
goes without running its event loop) is a speed, not behaviour: `hearth bench ui` measures
it (worst_stall_loading_ms, worst_stall_ms; 100 ms is the limit a user notices)."""

from __future__ import annotations

from typing import Any

import pytest
from ui_fakes import wait_ready

from app.paths import get_paths
from app.settings import Settings
from engine.types import SamplingParams

LOAD_TIMEOUT_MS = 120_000
ANSWER_TIMEOUT_MS = 300_000


@pytest.fixture(autouse=True)
def small_answers(smollm2_path: Any) -> Settings:
    """Short, deterministic answers keep these tests quick on a busy two-core machine."""
    settings = Settings(
        n_ctx=4096, n_threads=1, sampling=SamplingParams(temperature=0.0, max_tokens=24, seed=1)
    )
    settings.save(get_paths().ensure().settings_file)
    return settings


def test_send_with_real_model_then_restart(make_gui: Any, qtbot: Any) -> None:
    gui = make_gui(real=True)
    wait_ready(qtbot, gui, LOAD_TIMEOUT_MS)
    assert "SmolLM2" in gui.window.model_label.text() and "Q4_1" in gui.window.model_label.text()
    c = gui.controller
    deltas: list[str] = []
    worker_tokens: list[str] = []
    c.streamDelta.connect(lambda _mid, d: deltas.append(d))
    c.engine.tokens.connect(lambda _rid, t: worker_tokens.append(t))
    with qtbot.waitSignal(c.generationFinished, timeout=ANSWER_TIMEOUT_MS) as blocker:
        assert c.send("Say hello in one short sentence.")
    mid, reason = blocker.args
    assert reason in ("stop", "length")
    streamed = "".join(deltas)
    assert streamed.strip() and len(worker_tokens) >= 2
    assert streamed == "".join(worker_tokens)
    assert gui.window.chat_view.text_of(mid) == streamed
    chat_id = c.chat_id
    rows = gui.store.messages(chat_id)
    assert [(r.role, r.status) for r in rows] == [("user", "complete"), ("assistant", "complete")]
    assert rows[1].content == streamed and rows[1].model == "SmolLM2-135M-Instruct.Q4_1"
    assert rows[1].stats["n_ctx"] == 4096 and rows[1].stats["generated_tokens"] >= 2
    assert "/ 4,096" in gui.window.context_label.text()
    assert "tok/s" in gui.window.speed_label.text()
    gui.window.close()

    again = make_gui(real=True)
    assert again.window.sidebar.chat_ids() == [chat_id]
    assert again.controller.chat_id == chat_id
    view = again.window.chat_view
    assert [view.text_of(m) for m in view.message_ids()] == [r.content for r in rows]


def test_stop_during_a_long_prompt(make_gui: Any, qtbot: Any) -> None:
    """Stop, pressed as soon as the engine starts on a prompt of thousands of tokens, ends it
    inside the prompt: no token generated, the prompt not read to its end."""
    gui = make_gui(real=True)
    wait_ready(qtbot, gui, LOAD_TIMEOUT_MS)
    c = gui.controller
    started: list[int] = []
    engine_done: dict[int, Any] = {}
    c.engine.started.connect(started.append)
    c.engine.finished.connect(lambda rid, stats: engine_done.setdefault(rid, stats))
    long_prompt = "Summarize this list: " + ", ".join(f"item {i}" for i in range(550))
    with qtbot.waitSignal(c.engine.started, timeout=10_000):
        assert c.send(long_prompt)
    assert c.busy and not c._stream.text
    with qtbot.waitSignal(c.generationFinished, timeout=10_000) as blocker:
        c.stop()
    assert blocker.args[1] == "cancelled"
    qtbot.waitUntil(lambda: started[0] in engine_done, timeout=60_000)
    stats = engine_done[started[0]]
    assert stats.stop_reason == "cancelled" and stats.generated_tokens == 0
    assert stats.context_used < stats.prompt_tokens  # stopped inside the prompt
    # The window takes the next message, and the engine still works.
    assert gui.window.composer.send_button.isEnabled()
    with qtbot.waitSignal(c.generationFinished, timeout=ANSWER_TIMEOUT_MS) as blocker:
        assert c.send("Hi!")
    assert blocker.args[1] in ("stop", "length")
    assert gui.window.chat_view.text_of(blocker.args[0]).strip()


def test_close_mid_answer_saves_partial(make_gui: Any, qtbot: Any) -> None:
    Settings(n_threads=1, sampling=SamplingParams(max_tokens=400, seed=3)).save(
        get_paths().settings_file
    )
    gui = make_gui(real=True)
    wait_ready(qtbot, gui, LOAD_TIMEOUT_MS)
    c = gui.controller
    assert c.send("Write a long story about a dragon who learns to bake bread.")
    qtbot.waitUntil(
        lambda: c._stream is not None and len(c._stream.text) > 10, timeout=ANSWER_TIMEOUT_MS
    )
    chat_id = c.chat_id
    gui.window.close()  # 400 tokens were asked for: closing stops them
    assert not c.engine.thread_.isRunning()
    answer = gui.store.messages(chat_id)[-1]
    assert answer.role == "assistant" and answer.status == "incomplete"
    assert len(answer.content) > 10
