"""A killed process keeps the answer in flight as it was last saved (the window saves it
about once a second while it streams), and the next start shows what was kept, marked
incomplete."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ui_fakes import Script, wait_ready

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

KILLED_RUN = """
import json, os, signal, sys, time
sys.path.insert(0, {here!r})
from PySide6.QtWidgets import QApplication
from ui_fakes import Script, fake_factory
from app.main import build_gui

app = QApplication([])
script = Script(replies=[[f"tok{{i}} " for i in range(100000)]], token_delay_s=0.005)
gui = build_gui(engine_factory=fake_factory(script), interactive_errors=False)
gui.window.show()
gui.controller.start()
deadline = time.monotonic() + 100  # only so that a broken run ends
while gui.controller.model_state.value != "ready" and time.monotonic() < deadline:
    app.processEvents(); time.sleep(0.01)
gui.controller.send("stream until I am killed")
chat = gui.controller.chat_id
# Streams until a save has happened and more text has come since: the kill loses that tail.
while time.monotonic() < deadline:
    app.processEvents(); time.sleep(0.005)
    saved = gui.store.messages(chat)[-1].content
    shown = gui.controller._stream.text
    if saved and len(shown) > len(saved):
        break
sys.stdout.write(json.dumps(shown) + "\\n"); sys.stdout.flush()
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_killed_mid_answer_keeps_the_partial_text(make_gui: Any, qtbot: Any) -> None:
    out = subprocess.run(
        [sys.executable, "-c", KILLED_RUN.format(here=str(HERE))],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert out.returncode == -9, out.stderr
    shown = json.loads(out.stdout.strip().splitlines()[-1])

    gui = make_gui(Script())
    wait_ready(qtbot, gui)
    rows = gui.store.messages(gui.controller.chat_id)
    assert [r.role for r in rows] == ["user", "assistant"]
    answer = rows[1]
    assert answer.status == "incomplete" and answer.stats.get("interrupted") is True
    # what was saved while it streamed: a part of what was shown, from its start
    assert answer.content.startswith("tok0 tok1 ")
    assert shown.startswith(answer.content)
    widget = gui.window.chat_view.widget_for(answer.id)
    assert "incomplete" in widget.meta_label.text()
    assert widget.text() == answer.content


def test_per_chat_model_override_loads_that_model(
    make_gui: Any, qtbot: Any, gemma_path: Path
) -> None:
    script = Script()
    gui = make_gui(script)
    wait_ready(qtbot, gui)
    c = gui.controller
    assert script.loads[-1]["model_path"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    with qtbot.waitSignal(c.generationFinished, timeout=5000):
        c.send("first chat")
    first = c.chat_id
    c.new_chat()
    with qtbot.waitSignal(c.engine.loaded, timeout=5000):
        c.set_chat_settings(c.chat_id, {"model": gemma_path.stem})
    assert script.loads[-1]["model_path"] == str(gemma_path)
    assert c.chat_settings(c.chat_id) == {"model": gemma_path.stem}
    with qtbot.waitSignal(c.engine.loaded, timeout=5000):
        c.open_chat(first)  # back to the default model
    assert script.loads[-1]["model_path"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
