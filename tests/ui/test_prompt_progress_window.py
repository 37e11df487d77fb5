"""While the model reads its prompt the answer being written says what it reads and how far
("Reading the prompt · 600 tokens · 50 %"), then streams as before. The engine is a scripted
fake driven by the real engine thread: the progress travels the real wiring."""

from __future__ import annotations

import threading
from typing import Any

from ui_fakes import Script, wait_ready


def test_the_answer_shows_how_much_of_the_prompt_is_read(make_gui: Any, qtbot: Any) -> None:
    gate = threading.Event()
    script = Script(prompt_gate=gate, prompt_tokens=600)
    gui = make_gui(script)
    wait_ready(qtbot, gui)
    gui.window.composer.set_text("Tell me about lighthouses.")
    gui.window.composer.send_button.click()

    def answer_widget() -> Any:
        views = gui.window.chat_view._widgets
        return views[gui.window.chat_view._order[-1]] if views else None

    qtbot.waitUntil(
        lambda: answer_widget() is not None and "50 %" in answer_widget().meta_label.text(),
        timeout=10000,
    )
    widget = answer_widget()
    assert "Reading the prompt · 600 tokens · 50 %" in widget.meta_label.text()
    assert widget.body.shown_text().startswith("Reading the prompt")  # instead of "…"
    with qtbot.waitSignal(gui.controller.generationFinished, timeout=10000):
        gate.set()
    assert "Reading" not in widget.meta_label.text()
    assert widget.text() == "Hello, world!"
