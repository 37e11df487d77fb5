"""The first-start welcome: shown once, non-modal, after the window is up; it follows the
model's state, is remembered in the settings file, and gets out of the way as soon as the
user starts (a message sent, a file dropped, a chat opened)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import shiboken6
from test_documents_support import drop_files
from ui_fakes import Script, wait_ready

from app.settings import Settings
from ui.welcome import WELCOME_KEY, Welcome, show_welcome_once


def gone(dialog: Any) -> bool:
    return not shiboken6.isValid(dialog) or not dialog.isVisible()


def test_welcome_shows_once_and_goes_when_a_message_is_sent(make_gui: Any, qtbot: Any) -> None:
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
    welcome = gui.window.findChild(Welcome)
    assert welcome.dialog is dialog and not hasattr(gui.window, "welcome_dialog")
    with qtbot.waitSignal(gui.controller.generationFinished, timeout=10000):
        gui.window.composer.set_text("hi")
        gui.window.composer.send_button.click()
    assert welcome.dialog is None
    qtbot.waitUntil(lambda: gone(dialog), timeout=5000)  # it no longer covers the answer
    saved = Settings.load(gui.controller.paths.settings_file)
    assert saved.ui_state.get(WELCOME_KEY) == "1"
    assert show_welcome_once(gui.window, gui.controller) is None

    # a second start of the app on the same user folder: no welcome
    gui.close()
    gui2 = make_gui(Script())
    assert show_welcome_once(gui2.window, gui2.controller) is None
    qtbot.wait(300)  # let the documents thread's start-up signals arrive before closing


def show_again(gui: Any) -> Any:
    gui.controller.settings.ui_state.pop(WELCOME_KEY, None)
    dialog = show_welcome_once(gui.window, gui.controller)
    assert dialog is not None and dialog.isVisible()
    return dialog


def test_dropping_a_file_or_opening_a_chat_dismisses_it(
    make_gui: Any, qtbot: Any, tmp_path: Path
) -> None:
    gui = make_gui(Script())
    wait_ready(qtbot, gui)
    dialog = show_again(gui)
    notes = tmp_path / "notes.txt"
    notes.write_text("The tide tables are printed in March.", encoding="utf-8")
    assert drop_files(gui.window, [notes], target=gui.window.composer.edit)
    qtbot.waitUntil(lambda: gone(dialog), timeout=5000)

    other = gui.store.create_chat("An older chat")
    gui.controller.chatsChanged.emit()
    dialog = show_again(gui)
    gui.window.sidebar.chatSelected.emit(other)  # as a click in the list does
    qtbot.waitUntil(lambda: gone(dialog), timeout=5000)

    # closed with its own button, it stops watching: later messages are no trouble
    dialog = show_again(gui)
    dialog.accept()
    qtbot.waitUntil(lambda: gone(dialog), timeout=5000)
    assert gui.window.findChildren(Welcome)[-1].dialog is None
    with qtbot.waitSignal(gui.controller.generationFinished, timeout=5000):
        assert gui.controller.send("still fine")
    # the dropped file was indexed meanwhile; let it finish before the window closes
    docs = gui.services.docs
    qtbot.waitUntil(
        lambda: (
            bool(docs.rows) and all(r.status in ("ready", "failed") for r in docs.rows.values())
        ),
        timeout=120_000,
    )
