"""Small parts of a message widget: the ‹ n / m › switch between alternatives of a message,
the folded "Thoughts" of a reasoning model, and an elided label for the header."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)


class BranchSwitcher(QWidget):
    """‹ 2 / 3 ›: which alternative of a message is shown (an answer generated again, a
    question edited); the arrows show the one before or after."""

    stepRequested = Signal(int)  # -1 or +1

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("branchSwitcher")
        self.prev_button = self._arrow("‹", "Show the previous version", -1)
        self.label = QLabel(self)
        self.label.setObjectName("branchLabel")
        self.next_button = self._arrow("›", "Show the next version", +1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.prev_button)
        layout.addWidget(self.label)
        layout.addWidget(self.next_button)
        self._index, self._count, self._busy = 0, 1, False
        self.setVisible(False)

    def _arrow(self, text: str, tip: str, step: int) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.clicked.connect(lambda: self.stepRequested.emit(step))
        return button

    def set_branch(self, index: int, count: int) -> None:
        """Show version `index` (0-based) of `count`; hidden when there is only one."""
        self._index, self._count = index, count
        self.label.setText(f"{index + 1} / {count}")
        self.setVisible(count > 1)
        self._update()

    def set_busy(self, busy: bool) -> None:
        self._busy = busy  # no switching while an answer is written
        self._update()

    def _update(self) -> None:
        self.prev_button.setEnabled(not self._busy and self._index > 0)
        self.next_button.setEnabled(not self._busy and self._index < self._count - 1)


class ThoughtsBlock(QFrame):
    """A reasoning model's thinking (its <think> block), folded under a toggle."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("thoughtsBlock")
        self.toggle = QToolButton(self)
        self.toggle.setObjectName("thoughtsToggle")
        self.toggle.setCheckable(True)
        self.toggle.setAutoRaise(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.toggled.connect(self._toggled)
        self.text = QLabel(self)
        self.text.setObjectName("thoughtsText")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.text)
        self.setVisible(False)

    def set_thoughts(self, text: str, thinking: bool) -> None:
        """`thinking`: the model has not finished thinking yet."""
        self.toggle.setText("Thinking…" if thinking else "Thoughts")
        if text != self.text.text():
            self.text.setText(text)
        self.setVisible(bool(text) or thinking)

    def is_folded(self) -> bool:
        return not self.toggle.isChecked()

    def _toggled(self, unfolded: bool) -> None:
        arrow = Qt.ArrowType.DownArrow if unfolded else Qt.ArrowType.RightArrow
        self.toggle.setArrowType(arrow)
        self.text.setVisible(unfolded)


class ElidedLabel(QLabel):
    """A one-line label that may be narrower than its text: it ends in "…" instead of
    making the message (and so the whole conversation) wider than the window."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(0)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return QSize(0, super().minimumSizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        metrics = self.fontMetrics()
        text = metrics.elidedText(self.text(), Qt.TextElideMode.ElideRight, self.width())
        painter.drawText(self.rect(), int(self.alignment() | Qt.AlignmentFlag.AlignVCenter), text)
