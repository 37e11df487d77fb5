"""A killed process loses at most the last second of the answer in flight, and the next
start shows what was kept, marked incomplete."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ui_fakes import Script, wait_ready

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

KILLED_RUN = """
import os, signal, sys, time
sys.path.insert(0, {here!r})
from PySide6.QtWidgets import QApplication
from ui_fakes import Script, fake_factory
from app.main import build_gui

app = QApplication([])
script = Script(replies=[[f"tok{{i}} " for i in range(100000)]], token_delay_s=0.005)
gui = build_gui(engine_factory=fake_factory(script), interactive_errors=False)
gui.window.show()
gui.controller.start()
end = time.monotonic() + 5
while gui.controller.model_state.value != "ready" and time.monotonic() < end:
    app.processEvents(); time.sleep(0.01)
gui.controller.send("stream until I am killed")
end = time.monotonic() + 2.5
while time.monotonic() < end:
    app.processEvents(); time.sleep(0.005)
shown = gui.controller._stream.text
sys.stdout.write(str(len(shown)) + "\\n"); sys.stdout.flush()
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
    shown_chars = int(out.stdout.strip().splitlines()[-1])
    assert shown_chars > 100

    gui = make_gui(Script())
    wait_ready(qtbot, gui)
    rows = gui.store.messages(gui.controller.chat_id)
    assert [r.role for r in rows] == ["user", "assistant"]
    answer = rows[1]
    assert answer.status == "incomplete" and answer.stats.get("interrupted") is True
    # saved about once a second: at most ~1 s of tokens (~200 at 5 ms each) are lost
    assert answer.content.startswith("tok0 tok1 ")
    assert shown_chars - len(answer.content) < 200 * len("tok999 ")
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
