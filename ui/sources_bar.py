"""The per-chat sources selector above the message box ("Answer from: [No documents ▾]")
and the dialog that ticks a chat's documents.

The selector follows the library: its summary counts the documents as they become ready, and
when documents appear that this window did not add (`hearth docs add` in a terminal, a new
file in a watched folder; the documents thread notices other processes' commits), the open
chat, if it has never chosen its sources, starts answering from all documents, as it does
when files are dropped on the window. A chat that has not chosen answers from what the user
chose last (`app.sources`), so a new chat in a window whose library holds
documents answers from them, and one who picked "No documents" keeps chatting without them.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.sources import SourceScope, chat_sources, remember_sources
from engine.errors import HearthError

if TYPE_CHECKING:  # pragma: no cover
    from app.controller import ChatController
    from app.docs_worker import DocsHost

FAILED_COLOR = QColor(200, 50, 50)
# Shown in the status bar when a chat starts answering from the documents by itself.
NOW_FROM_DOCUMENTS = "This chat now answers from your documents (change it above the message box)."


class SelectDocumentsDialog(QDialog):
    """Tick the documents a chat answers from."""

    def __init__(
        self, rows: Sequence[Any], chosen: Sequence[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Documents for this chat")
        self.setObjectName("selectDocumentsDialog")
        self.list = QListWidget(self)
        wanted = set(chosen)
        for row in rows:
            item = QListWidgetItem(row.name)
            item.setToolTip(row.path)
            item.setData(Qt.ItemDataRole.UserRole, row.path)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Checked if row.path in wanted else Qt.CheckState.Unchecked
            )
            if row.status == "failed":
                item.setForeground(FAILED_COLOR)
            self.list.addItem(item)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Answer from these documents:"))
        layout.addWidget(self.list)
        layout.addWidget(buttons)
        self.resize(420, 360)

    def set_checked(self, paths: Sequence[str]) -> None:
        wanted = set(paths)
        for i in range(self.list.count()):
            item = self.list.item(i)
            on = item.data(Qt.ItemDataRole.UserRole) in wanted
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def chosen(self) -> list[str]:
        out = []
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(str(item.data(Qt.ItemDataRole.UserRole)))
        return out


class SourcesBar(QWidget):
    """ "Documents: [No documents ▾]" above the message box, for the open chat."""

    followed = Signal()  # the open chat started answering from all documents by itself

    MODES = (
        ("none", "No documents"),
        ("all", "All documents"),
        ("selected", "Selected documents…"),
    )

    def __init__(
        self, controller: ChatController, docs: DocsHost, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("sourcesBar")
        self.controller = controller
        self.docs = docs
        self.label = QLabel("Answer from:", self)
        self.combo = QComboBox(self)
        self.combo.setObjectName("sourcesCombo")
        for mode, text in self.MODES:
            self.combo.addItem(text, mode)
        self.combo.setToolTip("Which documents this chat's answers draw on")
        self.summary = QLabel(self)
        self.summary.setObjectName("sourcesSummary")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 4, 12, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.combo)
        layout.addWidget(self.summary, 1)
        self.combo.activated.connect(self._on_activated)
        controller.chatOpened.connect(lambda *_: self.refresh())
        self._known: set[int] | None = None  # document ids last seen (None: not yet read)
        docs.documentsChanged.connect(self._on_documents)
        docs.rowsUpdated.connect(lambda _rows: self.refresh())  # documents becoming ready
        self.choose_documents = self._ask_documents  # replaced in tests
        self.refresh()

    def scope(self) -> SourceScope:
        chat = self.controller.current_chat()
        return chat_sources(self.controller.settings, chat.settings if chat else None, self.docs)

    def remember(self, scope: SourceScope) -> None:
        """Chats that have not chosen, new ones included, answer from `scope` from now on."""
        remember_sources(self.controller.settings, scope)
        self.controller.save_settings()

    def _on_documents(self) -> None:
        """Documents appeared that the open chat has never been asked about: like a drop on
        the window, a chat that has not chosen its sources answers from all of them. The
        first list (the library as it was at start-up) is not news."""
        ids = {r.id for r in self.docs.documents()}
        new, self._known = self._known is not None and bool(ids - self._known), ids
        chat = self.controller.current_chat()
        if new and chat is not None and "sources" not in chat.settings:
            self.follow_library()
        else:
            self.refresh()

    def follow_library(self) -> None:
        """Documents were added: the open chat, which has not chosen its sources, answers
        from all of them, and so do new chats from now on. Said (`followed`) only when that
        is news: a chat that answered from all documents already goes on as it did."""
        was = self.scope().mode
        self.set_scope(SourceScope("all"))
        self.remember(SourceScope("all"))
        if was != "all":
            self.followed.emit()

    def refresh(self) -> None:
        scope = self.scope()
        self.combo.setCurrentIndex(max(self.combo.findData(scope.mode), 0))
        ready = [r for r in self.docs.documents() if r.answers]
        if scope.mode == "all":
            text = f"{len(ready)} document{'s' if len(ready) != 1 else ''}"
        elif scope.mode == "selected":
            known = {r.path: r for r in self.docs.documents()}
            names = [known[p].name for p in scope.paths if p in known]
            text = ", ".join(names[:2]) + (f" and {len(names) - 2} more" if len(names) > 2 else "")
            text = text or "none chosen"
        else:
            text = ""
        self.summary.setText(text)
        self.summary.setToolTip(html.escape(text))

    def _on_activated(self, index: int) -> None:
        mode = str(self.combo.itemData(index))
        paths: list[str] = []
        if mode == "selected":
            picked = self.choose_documents(self.scope().paths)
            if picked is None:
                self.refresh()
                return
            paths = picked
            if not paths:
                mode = "none"
        self.set_scope(SourceScope(mode, paths))
        self.remember(SourceScope(mode, paths))  # the user's own choice

    def _ask_documents(self, current: list[str]) -> list[str] | None:
        dialog = SelectDocumentsDialog(self.docs.documents(), current, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.chosen()

    def set_scope(self, scope: SourceScope) -> None:
        """Store the open chat's sources (a chat is started if none is open)."""
        c = self.controller
        if c.chat_id is None and c.new_chat() is None:
            return
        chat = c.current_chat()
        if chat is None:
            return
        try:
            c.store.set_chat_settings(chat.id, {**chat.settings, "sources": scope.as_setting()})
        except (HearthError, KeyError) as exc:
            c.errorRaised.emit(
                exc if isinstance(exc, HearthError) else HearthError("That chat no longer exists.")
            )
        self.refresh()
