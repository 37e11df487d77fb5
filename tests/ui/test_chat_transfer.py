"""File ▸ Export chat…, Export all chats…, Import chats… in the window (ui/chat_transfer.py):
the same files as `hearth chats`; an import opens the chat, a bad file is reported and
changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ui_fakes import Script, wait_ready


def test_export_and_import_from_the_file_menu(make_gui: Any, qtbot: Any, tmp_path: Path) -> None:
    gui = make_gui(Script(replies=[["first"], ["second"]]))
    wait_ready(qtbot, gui)
    c, ui = gui.controller, gui.window.chat_transfer
    menu = [a.text() for a in gui.window.file_menu.actions()]
    assert menu.index("&Export chat…") < menu.index("&Import chats…") < menu.index("&Quit")
    with qtbot.waitSignal(c.generationFinished, timeout=5000):
        c.send("Tell me about tides")
    with qtbot.waitSignal(c.generationFinished, timeout=5000):
        c.regenerate()
    original = c.chat_id

    exported = ui.export_current(tmp_path / "tides")  # no suffix: Markdown
    assert exported == tmp_path / "tides.md"
    assert exported.read_text(encoding="utf-8").startswith("# Tell me about tides")
    path = ui.export_current(tmp_path / "tides.json")
    assert len(json.loads(path.read_text(encoding="utf-8"))["messages"]) == 3
    assert len(ui.export_everything(tmp_path / "all", "json")) == 1

    (new,) = ui.import_files([path])
    assert c.chat_id == new != original
    view = gui.window.chat_view
    assert [view.text_of(m) for m in view.message_ids()] == ["Tell me about tides", "second"]
    assert view.widget_for(view.message_ids()[-1]).branches.label.text() == "2 / 2"
    assert new in gui.window.sidebar.chat_ids()

    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "hearth-chat", "version": 1, "chat": {}, "messages": [1]}')
    chats = [x.id for x in gui.store.list_chats()]
    assert ui.import_files([bad]) == []
    assert "bad.json cannot be imported: message 1 is not an object." in (
        gui.presenter.history[-1].message
    )
    assert [x.id for x in gui.store.list_chats()] == chats
    assert c.chat_id == new
