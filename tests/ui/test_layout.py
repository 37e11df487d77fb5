"""The conversation's layout in a small window with the Documents panel open: the chat column
keeps its minimum width (the panel yields), every message's buttons are inside the view, and
no line of text is wider than the view (long words, tables and file names wrap)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QAbstractButton, QApplication
from ui_fakes import Script, wait_ready

from ui.main_window import CHAT_MIN_WIDTH
from ui.message_view import MarkdownView, MessageWidget

LONG_PATH = "/home/keeper/archives/" + "lighthouse-maintenance-records-" * 4 + "final.pdf"
ANSWER = (
    "<think>Look in the records.</think>The tower is **41.5 metres** tall [1]. See "
    f"{LONG_PATH} and https://example.org/{'very-long-segment-' * 8}end for more.\n\n"
    "| Year | Keeper | Height (m) | Notes on the lamp and its maintenance schedule |\n"
    "|---|---|---|---|\n"
    "| 1887 | J. Morrow | 41.5 | Oil lamp, wicks trimmed at dusk and at midnight every day |\n\n"
    "```python\nprint('a code line much longer than the column is wide: it scrolls')\n```\n"
)
SOURCES = [{"file": LONG_PATH, "name": LONG_PATH.rsplit("/", 1)[-1], "page": 12, "page_end": 13}]


def seed(gui: Any) -> int:
    """A chat with two versions of an answer (switch and Delete in its header), sources, a
    table, a long path and a code block; a long model name in the header."""
    store = gui.store
    chat = store.create_chat("Layout")
    question = store.add_message(chat, "user", f"Where is the logbook? The file is {LONG_PATH}")
    model = "A-Very-Long-Model-Name-Instruct-v2.Q4_K_M"
    store.add_message(chat, "assistant", "About 40 m.", model=model)
    store.add_message(
        chat,
        "assistant",
        ANSWER,
        model=model,
        parent=question,
        sources=SOURCES,
        stats={"decode_tokens_per_s": 36.8, "n_ctx": 4096, "turns_dropped": 3},
    )
    return chat


def inside(rect: QRect, width: int) -> bool:
    return rect.left() >= 0 and rect.right() <= width


def test_small_window_with_the_documents_panel_keeps_messages_in_view(
    make_gui: Any, qtbot: Any
) -> None:
    gui = make_gui(Script(replies=[["Short answer."]]))
    wait_ready(qtbot, gui)
    window = gui.window
    window.documents_ui.dock.setVisible(True)
    window.resize(1024, 700)
    gui.controller.open_chat(seed(gui))
    with qtbot.waitSignal(gui.controller.generationFinished, timeout=5000):
        gui.controller.send("And the lamp?")
    view = window.chat_view
    view.load_all()
    qtbot.waitUntil(lambda: window.width() == 1024, timeout=5000)
    QApplication.processEvents()

    assert window.documents_ui.dock.isVisible()
    assert view.width() >= CHAT_MIN_WIDTH - 2  # the column kept its width; the panel yielded
    port = view.viewport()
    widgets = [view.widget_for(mid) for mid in view.message_ids()]
    assert len(widgets) == 4 and all(isinstance(w, MessageWidget) for w in widgets)
    answer = widgets[1]
    assert answer.branches.isVisibleTo(answer) and answer.delete_button.isVisibleTo(answer)
    assert answer.context_note.isVisibleTo(answer) and answer.thoughts.isVisibleTo(answer)
    assert getattr(answer, "footer", None) is not None  # the sources

    checked = 0
    for widget in widgets:
        top_left = widget.mapTo(port, QPoint(0, 0))
        assert inside(QRect(top_left, widget.size()), port.width()), widget.role
        for button in widget.findChildren(QAbstractButton):
            if button.isVisibleTo(widget):
                rect = QRect(button.mapTo(port, QPoint(0, 0)), button.size())
                assert inside(rect, port.width()), (widget.role, button.text(), rect)
                checked += 1
        for text in widget.findChildren(MarkdownView):
            if text.isVisibleTo(widget):
                right = text.mapTo(port, QPoint(text.width(), 0)).x()
                assert right <= port.width()
                # no laid-out line is wider than the text's own viewport
                assert text.document().size().width() <= text.viewport().width() + 1
    assert checked >= 12  # copy, edit, regenerate, switch arrows, delete, sources, thoughts
