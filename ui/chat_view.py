"""The conversation: a scrolling column of MessageWidgets, one per message.

Streaming appends to the last widget only; the view sticks to the bottom while the reader
is there and leaves the scroll position alone once they scroll up.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from ui.message_view import MessageWidget

INITIAL_MESSAGES = 12  # shown at once when a chat opens; older ones follow in batches
OLDER_BATCH_BUDGET_S = 0.012
# Lines longer than this are hard to read: on a wide window the messages keep this width,
# centred. A narrow window gives them what it has (MainWindow keeps CHAT_MIN_WIDTH for it).
MAX_COLUMN_WIDTH = 900
SIDE_MARGIN = 16

EMPTY_TEXT = (
    "<h2>Hearth</h2><p>Ask anything. Everything runs on this computer; nothing leaves it.</p>"
    "<p><b>Enter</b> sends, <b>Shift+Enter</b> starts a new line, <b>Esc</b> stops the "
    "answer.</p>"
)


class ChatView(QScrollArea):
    editSubmitted = Signal(int, str)  # message id, new text
    regenerateRequested = Signal()
    branchRequested = Signal(int, int)  # message id, -1 or +1: show another version of it
    deleteBranchRequested = Signal(int)  # message id: delete that version (after asking)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatView")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._content = QWidget()
        self._content.setObjectName("chatContent")
        self._layout = QVBoxLayout(self._content)
        self._layout.setContentsMargins(SIDE_MARGIN, 12, SIDE_MARGIN, 12)
        self._layout.setSpacing(8)
        self._empty = QLabel(EMPTY_TEXT)
        self._empty.setObjectName("emptyLabel")
        self._empty.setWordWrap(True)
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._layout.addWidget(self._empty)
        self._layout.addStretch(1)
        self.setWidget(self._content)
        self._widgets: dict[int, MessageWidget] = {}
        self._order: list[int] = []
        self._older: list[Any] = []  # rows not yet shown, oldest first
        self._keep_from_bottom: int | None = None
        self._older_timer = QTimer(self)
        self._older_timer.setSingleShot(True)
        self._older_timer.setInterval(0)
        self._older_timer.timeout.connect(self._load_older)
        self._busy = False
        self._branches: dict[int, Any] = {}  # message id -> app.conversation.Branch
        self._stick = True
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range)

    # -- content -----------------------------------------------------------------------

    def clear(self) -> None:
        self._older.clear()
        for widget in self._widgets.values():
            self._layout.removeWidget(widget)
            widget.hide()  # not painted over the next chat until Qt deletes it
            widget.deleteLater()
        self._widgets.clear()
        self._order.clear()
        self._empty.setVisible(True)

    def set_messages(self, rows: list[Any], streaming_id: int | None = None) -> None:
        """Show a chat: the last messages at once, older ones in small time-boxed batches
        from the event loop, so opening a long chat never freezes the window."""
        self.setUpdatesEnabled(False)
        try:
            self.clear()
            for row in rows[-INITIAL_MESSAGES:]:
                self.add_message(row, update=False, streaming=row.id == streaming_id)
            self._older = list(rows[:-INITIAL_MESSAGES])
        finally:
            self.setUpdatesEnabled(True)
        self._refresh_actions()
        self._stick = True
        self.scroll_to_bottom()
        if self._older:
            self._older_timer.start()

    def _load_older(self, budget_s: float = OLDER_BATCH_BUDGET_S) -> None:
        """Insert older messages above the ones shown, newest first, until the budget is
        spent; the view keeps its distance from the bottom."""
        if not self._older:
            return
        bar = self.verticalScrollBar()
        self._keep_from_bottom = bar.maximum() - bar.value()
        deadline = time.perf_counter() + budget_s
        while self._older and time.perf_counter() < deadline:
            row = self._older.pop()
            widget = self._make_widget(row, streaming=False)
            self._layout.insertWidget(1, widget)  # after the (hidden) empty label
            self._widgets[row.id] = widget
            self._order.insert(0, row.id)
        self._refresh_actions()
        if self._older:
            self._older_timer.start()

    def load_all(self) -> None:
        """Finish loading older messages now (before revealing one of them)."""
        self._older_timer.stop()
        while self._older:
            self._load_older(budget_s=3600.0)

    def add_message(self, row: Any, update: bool = True, streaming: bool = False) -> MessageWidget:
        widget = self._make_widget(row, streaming)
        self._layout.insertWidget(self._layout.count() - 1, widget)
        self._widgets[row.id] = widget
        self._order.append(row.id)
        self._empty.setVisible(False)
        if update:
            self._refresh_actions()
            self._stick = True
        return widget

    def _make_widget(self, row: Any, streaming: bool) -> MessageWidget:
        widget = MessageWidget(row.id, row.role, self._content)
        streaming = streaming or (
            row.role == "assistant"
            and row.status == "incomplete"
            and not row.content
            and not row.stats
        )
        if streaming:  # the answer being written (or its empty placeholder)
            widget.start_streaming(row.model)
            widget.set_content(row.content, "incomplete", {}, row.model)
        else:
            widget.set_content(row.content, row.status, row.stats, row.model)
        widget.editRequested.connect(self._begin_edit)
        widget.editSubmitted.connect(self.editSubmitted)
        widget.regenerateRequested.connect(self.regenerateRequested)
        widget.branchRequested.connect(self.branchRequested)
        widget.deleteRequested.connect(self.deleteBranchRequested)
        branch = self._branches.get(row.id)
        if branch is not None:
            widget.set_branch(branch.index, branch.count)
        return widget

    def remove_from(self, message_id: int) -> None:
        """Take `message_id` and the messages shown after it out of the view."""
        if message_id not in self._order:
            return
        keep = self._order[: self._order.index(message_id)]
        for mid in self._order[len(keep) :]:
            widget = self._widgets.pop(mid)
            self._layout.removeWidget(widget)
            widget.hide()
            widget.deleteLater()
        self._order = keep
        self._empty.setVisible(not keep)
        self._refresh_actions()

    def append_delta(self, message_id: int, delta: str) -> None:
        widget = self._widgets.get(message_id)
        if widget is not None:
            widget.append(delta)

    def set_progress(self, message_id: int, text: str) -> None:
        widget = self._widgets.get(message_id)
        if widget is not None:
            widget.set_progress(text)

    def finish_message(self, row: Any) -> None:
        widget = self._widgets.get(row.id)
        if widget is not None:
            widget.finish(row.content, row.status, row.stats, row.model)
        self._refresh_actions()

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._refresh_actions()

    def set_branches(self, branches: dict[int, Any]) -> None:
        """Which shown messages have alternatives (message id -> Branch: index, count)."""
        self._branches = dict(branches)
        for mid, widget in self._widgets.items():
            branch = self._branches.get(mid)
            index, count = (branch.index, branch.count) if branch else (0, 1)
            widget.set_branch(index, count)

    # -- queries (tests, search) -------------------------------------------------------

    def message_ids(self) -> list[int]:
        return list(self._order)

    def widget_for(self, message_id: int) -> MessageWidget | None:
        return self._widgets.get(message_id)

    def text_of(self, message_id: int) -> str:
        widget = self._widgets.get(message_id)
        return widget.text() if widget else ""

    def reveal(self, message_id: int) -> None:
        if message_id not in self._widgets:
            self.load_all()
        widget = self._widgets.get(message_id)
        if widget is not None:
            self._stick = False
            self.ensureWidgetVisible(widget, 0, 40)

    # -- internals -----------------------------------------------------------------------

    def _begin_edit(self, message_id: int) -> None:
        if self._busy:
            return
        later = len(self._order) - self._order.index(message_id) - 1
        widget = self._widgets[message_id]
        widget.begin_edit(later)
        self._stick = False
        self.ensureWidgetVisible(widget)

    def _refresh_actions(self) -> None:
        last = self._order[-1] if self._order else None
        for mid, widget in self._widgets.items():
            widget.set_last_answer(mid == last, self._busy)
            widget.set_busy(self._busy)

    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._stick = value >= bar.maximum() - 8

    def _on_range(self, _minimum: int, maximum: int) -> None:
        if self._stick:
            self.verticalScrollBar().setValue(maximum)
        elif self._keep_from_bottom is not None:
            self.verticalScrollBar().setValue(maximum - self._keep_from_bottom)
            self._keep_from_bottom = None

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        side = max(SIDE_MARGIN, (self.viewport().width() - MAX_COLUMN_WIDTH) // 2)
        margins = self._layout.contentsMargins()
        if margins.left() != side:
            self._layout.setContentsMargins(side, margins.top(), side, margins.bottom())

    def scroll_to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())
