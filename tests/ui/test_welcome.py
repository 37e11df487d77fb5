"""The first-start welcome: shown once, non-modal, after the window is up; it follows the
model's state and is remembered in the settings file."""

from __future__ import annotations

import threading
from typing import Any

from ui_fakes import Script, wait_ready

from app.settings import Settings
from ui.welcome import WELCOME_KEY, show_welcome_once


def test_welcome_shows_once_and_is_remembered(make_gui: Any, qtbot: Any) -> None:
    loading = threading.Event()  # the model loads until the welcome has said so
    gui = make_gui(Script(load_gate=loading))
    try:
        dialog = show_welcome_once(gui.window, gui.controller)
        assert dialog is not None and dialog.isVisible() and not dialog.isModal()
        assert "is loading; you can start typing already" in dialog.model_label.text()
    finally:
        loading.set()
    # the window stays usable behind it: the model loads and a message can be sent
    wait_ready(qtbot, gui)
    qtbot.waitUntil(lambda: "is loaded and ready" in dialog.model_label.text(), timeout=5000)
    assert "Fake-1B" in dialog.model_label.text()  # the name the (fake) engine reports
    text = dialog.findChildren(type(dialog.model_label))[-1].text()
    assert "Drag PDF files onto the window" in text
    assert "bundled" in text and "hub" in text and "convert" in text
    with qtbot.waitSignal(gui.controller.generationFinished, timeout=10000):
        assert gui.controller.send("hi")
    saved = Settings.load(gui.controller.paths.settings_file)
    assert saved.ui_state.get(WELCOME_KEY) == "1"
    assert show_welcome_once(gui.window, gui.controller) is None
    dialog.accept()

    # a second start of the app on the same user folder: no welcome
    gui.close()
    gui2 = make_gui(Script())
    assert show_welcome_once(gui2.window, gui2.controller) is None
    qtbot.wait(300)  # let the documents thread's start-up signals arrive before closing
