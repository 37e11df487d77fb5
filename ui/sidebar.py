"""The list of chats (newest first) and the search across every message."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

CHAT_ID = Qt.ItemDataRole.UserRole
MESSAGE_ID = Qt.ItemDataRole.UserRole + 1
SEARCH_DELAY_MS = 150


def snippet_text(snippet: str) -> str:
    from app.store import render_snippet

    return " ".join(render_snippet(snippet, "«", "»").split())


class Sidebar(QWidget):
    newChatRequested = Signal()
    chatSelected = Signal(int)
    searchHitSelected = Signal(int, int)  # chat id, message id
    searchChanged = Signal(str)
    renameRequested = Signal(int)
    deleteRequested = Signal(int)
    chatSettingsRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.new_button = QPushButton("New chat", self)
        self.new_button.setToolTip("New chat (Ctrl+N)")
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search all chats (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget(self)
        self.list.setObjectName("chatList")
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.setWordWrap(True)
        self.list.setUniformItemSizes(False)
        # A title wider than the column is cut with "…" instead of giving the whole list a
        # horizontal scroll bar (its tooltip shows the whole title).
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        top = QHBoxLayout()
        top.addWidget(self.new_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 4, 8)
        layout.addLayout(top)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(lambda: self.searchChanged.emit(self.search.text()))
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.search.returnPressed.connect(self._run_search_now)
        self.new_button.clicked.connect(self.newChatRequested)
        self.list.itemActivated.connect(self._activated)
        self.list.itemClicked.connect(self._activated)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self._searching = False
        self._current: int | None = None

        rename = QAction("Rename", self.list)
        rename.setShortcut("F2")
        rename.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        rename.triggered.connect(lambda: self._on_selected(self.renameRequested))
        delete = QAction("Delete", self.list)
        delete.setShortcut("Del")
        delete.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        delete.triggered.connect(lambda: self._on_selected(self.deleteRequested))
        self.list.addActions([rename, delete])

    @property
    def searching(self) -> bool:
        return self._searching

    def set_chats(self, chats: list[Any], current: int | None) -> None:
        if self._searching:
            self._current = current
            return
        self._current = current
        self.list.blockSignals(True)
        self.list.clear()
        for chat in chats:
            item = QListWidgetItem(chat.title or "Untitled")
            item.setData(CHAT_ID, chat.id)
            item.setToolTip(chat.title)
            self.list.addItem(item)
            if chat.id == current:
                item.setSelected(True)
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)

    def set_hits(self, hits: list[Any]) -> None:
        self._searching = True
        self.list.clear()
        if not hits:
            item = QListWidgetItem("No messages match.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(item)
        for hit in hits:
            who = "You" if hit.role == "user" else "Assistant"
            item = QListWidgetItem(f"{hit.chat_title}\n{who}: {snippet_text(hit.snippet)}")
            item.setData(CHAT_ID, hit.chat_id)
            item.setData(MESSAGE_ID, hit.message_id)
            self.list.addItem(item)

    def end_search(self) -> None:
        self._searching = False

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def chat_ids(self) -> list[int]:
        return [
            int(self.list.item(i).data(CHAT_ID))
            for i in range(self.list.count())
            if self.list.item(i).data(CHAT_ID) is not None
        ]

    def _run_search_now(self) -> None:
        self._search_timer.stop()
        self.searchChanged.emit(self.search.text())

    def _activated(self, item: QListWidgetItem) -> None:
        chat_id = item.data(CHAT_ID)
        if chat_id is None:
            return
        message_id = item.data(MESSAGE_ID)
        if message_id is not None:
            self.searchHitSelected.emit(int(chat_id), int(message_id))
        elif int(chat_id) != self._current:
            self.chatSelected.emit(int(chat_id))

    def _on_selected(self, signal: Any) -> None:
        item = self.list.currentItem()
        if item is not None and item.data(CHAT_ID) is not None and not self._searching:
            signal.emit(int(item.data(CHAT_ID)))

    def _context_menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None or item.data(CHAT_ID) is None:
            return
        chat_id = int(item.data(CHAT_ID))
        menu = QMenu(self)
        menu.addAction("Rename…", lambda: self.renameRequested.emit(chat_id))
        menu.addAction("Chat settings…", lambda: self.chatSettingsRequested.emit(chat_id))
        menu.addSeparator()
        menu.addAction("Delete…", lambda: self.deleteRequested.emit(chat_id))
        menu.popup(self.list.viewport().mapToGlobal(pos))
