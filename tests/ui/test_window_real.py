"""The window with the real default model (SmolLM2-135M through LlamaEngine)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from ui_fakes import wait_ready

from app.benchmarks.gaps import GapMeter
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
    gui = make_gui(real=True)
    wait_ready(qtbot, gui, LOAD_TIMEOUT_MS)
    c = gui.controller
    started: list[int] = []
    engine_done: dict[int, tuple[float, str]] = {}
    c.engine.started.connect(started.append)
    c.engine.finished.connect(
        lambda rid, s: engine_done.setdefault(rid, (time.perf_counter(), s.stop_reason))
    )
    long_prompt = "Summarize this list: " + ", ".join(f"item {i}" for i in range(550))
    assert c.send(long_prompt)
    qtbot.waitUntil(lambda: bool(started), timeout=10_000)
    qtbot.wait(300)  # well inside prompt processing (thousands of tokens)
    assert c.busy and not c._stream.text
    t0 = time.perf_counter()
    with qtbot.waitSignal(c.generationFinished, timeout=2000) as blocker:
        c.stop()
    assert blocker.args[1] == "cancelled"
    qtbot.waitUntil(lambda: started[0] in engine_done, timeout=2000)
    done_at, reason = engine_done[started[0]]
    assert reason == "cancelled"
    assert done_at - t0 < 0.5, f"the engine took {done_at - t0:.2f} s to stop"
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
    t0 = time.perf_counter()
    gui.window.close()
    assert time.perf_counter() - t0 < 2.0
    assert not c.engine.thread_.isRunning()
    answer = gui.store.messages(chat_id)[-1]
    assert answer.role == "assistant" and answer.status == "incomplete"
    assert len(answer.content) > 10


def test_gui_stays_responsive_while_loading_and_streaming(make_gui: Any, qtbot: Any) -> None:
    Settings(n_threads=1, sampling=SamplingParams(max_tokens=64, seed=5)).save(
        get_paths().settings_file
    )
    meter = GapMeter()
    gui = make_gui(real=True, start=False)
    qtbot.wait(200)  # let the window settle after its first paint
    meter.start()
    gui.controller.start()  # queues the load on the engine thread
    wait_ready(qtbot, gui, LOAD_TIMEOUT_MS)
    loading_worst = meter.stop()
    load_report = meter.report()
    meter.start()
    with qtbot.waitSignal(gui.controller.generationFinished, timeout=ANSWER_TIMEOUT_MS):
        assert gui.controller.send("Tell me about the sea.")
    streaming_worst = meter.stop()
    print(f"worst GUI stall: loading {loading_worst:.0f} ms, streaming {streaming_worst:.0f} ms")
    assert loading_worst < 100, f"while loading: {loading_worst:.0f} ms" + load_report
    assert streaming_worst < 100, f"while streaming: {streaming_worst:.0f} ms" + meter.report()
