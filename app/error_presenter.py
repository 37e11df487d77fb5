"""One way for errors to reach the user: a readable message and "Copy details".

Every part of the window sends its errors here (`present`). Typed errors (engine.errors,
app.errors) show their `user_message`; anything else is shown as an unexpected error with
its traceback in the details. Cancelling is not an error and never comes here.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.errors import HearthError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PresentedError:
    message: str
    details: str


def describe(error: BaseException) -> PresentedError:
    """What to show for an exception: its user message and the details to copy."""
    if isinstance(error, HearthError):
        details = error.details
        if error.__traceback__ is not None:
            details += "\n\n" + "".join(traceback.format_exception(error))
        return PresentedError(error.user_message, details)
    return PresentedError(
        f"Something went wrong: {error}",
        "".join(traceback.format_exception(error)),
    )


class ErrorDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Hearth")
        self.setObjectName("errorDialog")
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setVisible(False)
        self.details.setMinimumHeight(160)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy details")
        self.toggle_button = QPushButton("Show details")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.toggle_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        self.copy_button.clicked.connect(self.copy_details)
        self.toggle_button.clicked.connect(self._toggle)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(self.details)
        layout.addWidget(buttons)
        self.resize(460, 160)

    def show_error(self, shown: PresentedError) -> None:
        if self.isVisible() and self.message.text() and shown.message not in self.message.text():
            self.message.setText(self.message.text() + "\n\n" + shown.message)
            self.details.setPlainText(self.details.toPlainText() + "\n\n---\n\n" + shown.details)
        else:
            self.message.setText(shown.message)
            self.details.setPlainText(shown.details)
        self.open()  # window-modal, never blocks the event loop

    def copy_details(self) -> None:
        text = self.message.text() + "\n\n" + self.details.toPlainText()
        QGuiApplication.clipboard().setText(text)

    def _toggle(self) -> None:
        self.details.setVisible(not self.details.isVisible())
        self.toggle_button.setText("Hide details" if self.details.isVisible() else "Show details")
        self.adjustSize()


class ErrorPresenter(QObject):
    """Shows errors in one non-blocking dialog. `presented` lets tests and logs follow."""

    presented = Signal(object)  # PresentedError

    def __init__(self, parent_widget: QWidget | None = None, interactive: bool = True) -> None:
        super().__init__(parent_widget)
        self._parent_widget = parent_widget
        self._interactive = interactive
        self._dialog: ErrorDialog | None = None
        self.history: list[PresentedError] = []

    def present(self, error: BaseException) -> None:
        shown = describe(error)
        log.warning("%s", shown.message)
        log.debug("%s", shown.details)
        self.history.append(shown)
        self.presented.emit(shown)
        if not self._interactive:
            return
        if self._dialog is None:
            self._dialog = ErrorDialog(self._parent_widget)
        self._dialog.show_error(shown)

    def set_parent_widget(self, widget: QWidget) -> None:
        self._parent_widget = widget
        self.setParent(widget)

    @property
    def dialog(self) -> ErrorDialog | None:
        return self._dialog
