"""File ▸ Export chat…, Export all chats…, Import chats…: the window's side of
`app.chat_export` (the same files `hearth chats` writes and reads)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMainWindow, QMenu

from app.chat_export import export_all, export_chat, file_name, import_chat_file, write_text
from app.services import Services
from engine.errors import HearthError

MARKDOWN_FILTER = "Markdown, to read (*.md)"
JSON_FILTER = "JSON, complete with every version (*.json)"
FORMAT_NAMES = {"Markdown, to read": "md", "JSON, complete with every version": "json"}


def format_of(path: Path, chosen_filter: str = "") -> str:
    """The format for `path`: its suffix (.json or .md), else the file dialog's filter."""
    if path.suffix.lower() in (".json", ".md"):
        return path.suffix.lower()[1:]
    return "json" if chosen_filter == JSON_FILTER else "md"


class ChatTransferUi(QObject):
    """Owns the three File menu actions and what they do."""

    def __init__(self, window: QMainWindow, services: Services, file_menu: QMenu) -> None:
        super().__init__(window)
        self.window = window
        self.store = services.store
        self.controller = services.controller
        self.presenter = services.presenter
        self.export_action = QAction("&Export chat…", window)
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_action.triggered.connect(lambda: self.export_current())
        self.export_all_action = QAction("Export &all chats…", window)
        self.export_all_action.triggered.connect(lambda: self.export_everything())
        self.import_action = QAction("&Import chats…", window)
        self.import_action.triggered.connect(lambda: self.import_files())
        actions = [self.export_action, self.export_all_action, self.import_action]
        # In a group of their own above Quit: File ▸ New chat, …, Export…, Import…, Quit.
        separators = [a for a in file_menu.actions() if a.isSeparator()]
        if separators:
            file_menu.insertActions(separators[-1], actions)
            file_menu.insertSeparator(self.export_action)
        else:
            file_menu.addActions(actions)

    def _say(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 10000)

    def export_current(self, path: Path | None = None) -> Path | None:
        """Export the chat shown (asks where, unless `path` is given); the suffix of the file
        chooses the format."""
        chat_id = self.controller.chat_id
        if chat_id is None:
            self._say("There is no chat to export.")
            return None
        chosen = ""
        if path is None:
            default = Path.home() / file_name(self.store.get_chat(chat_id), "md")
            name, chosen = QFileDialog.getSaveFileName(
                self.window, "Export chat", str(default), f"{MARKDOWN_FILTER};;{JSON_FILTER}"
            )
            if not name:
                return None
            path = Path(name)
        fmt = format_of(path, chosen)
        if path.suffix.lower() != f".{fmt}":
            path = path.with_name(f"{path.name}.{fmt}")
        try:
            write_text(path, export_chat(self.store, chat_id, fmt))
        except (HearthError, OSError) as exc:
            self.presenter.present(exc)
            return None
        self._say(f"Chat exported to {path}")
        return path

    def export_everything(self, folder: Path | None = None, fmt: str = "") -> list[Path]:
        """Every chat into a folder, one file each, in one format (asked for if not given)."""
        if folder is None:
            chosen = QFileDialog.getExistingDirectory(self.window, "Export all chats to")
            if not chosen:
                return []
            folder = Path(chosen)
        if not fmt:
            names = list(FORMAT_NAMES)
            name, ok = QInputDialog.getItem(
                self.window, "Export all chats", "Format:", names, 0, False
            )
            if not ok:
                return []
            fmt = FORMAT_NAMES[name]
        try:
            written = export_all(self.store, folder, fmt)
        except (HearthError, OSError) as exc:
            self.presenter.present(exc)
            return []
        self._say(f"{len(written)} chats exported to {folder}")
        return written

    def import_files(self, paths: Sequence[Path] | None = None) -> list[int]:
        """Import JSON exports as new chats; a file that cannot be imported says why and
        changes nothing. Opens the last chat imported."""
        if paths is None:
            names, _ = QFileDialog.getOpenFileNames(
                self.window, "Import chats", str(Path.home()), JSON_FILTER
            )
            paths = [Path(n) for n in names]
        imported: list[int] = []
        for path in paths:
            try:
                imported.append(import_chat_file(self.store, path))
            except HearthError as exc:
                self.presenter.present(exc)
        if imported:
            self.controller.open_chat(imported[-1])
            self._say(f"{len(imported)} chat{'s' if len(imported) != 1 else ''} imported")
        return imported


def install(window: QMainWindow, services: Services, file_menu: QMenu) -> ChatTransferUi:
    return ChatTransferUi(window, services, file_menu)
