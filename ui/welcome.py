"""The first-start welcome: which model is ready, how to add documents, where models come from.

Shown once (remembered in Settings.ui_state["welcome_shown"]), non-modal and only after the
window's first paint, so it never delays start-up: the model keeps loading behind it and the
text follows the model's state. It gets out of the way as soon as the user starts: a message
sent, files dropped on the window, a chat opened (or its Start button).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

if TYPE_CHECKING:  # pragma: no cover
    from app.controller import ChatController
    from app.settings import Settings

WELCOME_KEY = "welcome_shown"


def model_sentence(state: str, text: str) -> str:
    if state == "ready":
        return f"<b>{text}</b> is loaded and ready: type a question below and press Enter."
    if state == "failed":
        return f"The model could not be loaded ({text}). Choose another one in Settings."
    if state == "loading":
        name = text.removeprefix("Loading ").rstrip("…")
        return f"<b>{name}</b> is loading; you can start typing already."
    return "A model is being prepared."


BODY = """
<p><b>Your documents.</b> Drag PDF files onto the window to add them to your library; Hearth
indexes them on this computer and answers with the page it found the answer on.</p>
<p><b>Models.</b> Hearth comes with small models bundled in its installation. Under
<i>Models → Manage models…</i> (Ctrl+M) you can download more from the Hugging Face hub
(or a mirror), convert a checkpoint folder to GGUF, or make a smaller quantized variant;
<i>Settings → Quantization</i> switches the current model between its variants.</p>
<p>Everything runs offline, on this computer.</p>
"""


class WelcomeDialog(QDialog):
    def __init__(self, controller: ChatController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcomeDialog")
        self.setWindowTitle("Welcome to Hearth")
        self.setModal(False)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        heading = QLabel("<h2>Welcome to Hearth</h2>")
        self.model_label = QLabel("")
        self.model_label.setObjectName("welcomeModel")
        self.model_label.setWordWrap(True)
        body = QLabel(BODY)
        body.setWordWrap(True)
        body.setTextFormat(Qt.TextFormat.RichText)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start")
        buttons.accepted.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.model_label)
        layout.addWidget(body)
        layout.addWidget(buttons)
        self.setMinimumWidth(460)
        state = getattr(getattr(controller, "model_state", None), "value", "none")
        self.show_model(state, getattr(controller, "model_text", ""))
        controller.modelStateChanged.connect(self.show_model)

    def show_model(self, state: str, text: str) -> None:
        self.model_label.setText(model_sentence(state, text))


def should_show(settings: Settings) -> bool:
    return settings.ui_state.get(WELCOME_KEY) != "1"


class Welcome(QObject):
    """Owns the welcome dialog while it is up (a child of the window: one per window), and
    closes it when the user starts."""

    def __init__(self, window: QWidget, controller: ChatController) -> None:
        super().__init__(window)
        self.setObjectName("welcome")
        self.window = window
        self.controller = controller
        self.dialog: WelcomeDialog | None = None

    def show(self) -> WelcomeDialog:
        dialog = self.dialog = WelcomeDialog(self.controller, self.window)
        dialog.finished.connect(self._forget)  # its Start button
        c = self.controller
        c.messageAdded.connect(self.dismiss)  # a message sent (or its answer begun)
        c.chatOpened.connect(self.dismiss)  # another chat, a new one, another version
        # Files dropped anywhere on the window, the message box included (its own drop
        # handler takes the event before the window sees it).
        watched = [self.window, getattr(getattr(self.window, "composer", None), "edit", None)]
        self._watched = [w for w in watched if isinstance(w, QObject)]
        for obj in self._watched:
            obj.installEventFilter(self)
        dialog.show()
        return dialog

    def dismiss(self, *_: object) -> None:
        dialog = self.dialog
        self._forget()
        if dialog is not None:
            dialog.close()  # deleted on close

    def _forget(self, *_: object) -> None:
        """The dialog is gone (dismissed, or closed by its Start button): stop watching."""
        if self.dialog is None:
            return
        self.dialog = None
        self.controller.messageAdded.disconnect(self.dismiss)
        self.controller.chatOpened.disconnect(self.dismiss)
        for obj in self._watched:
            obj.removeEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Drop:
            self.dismiss()
        return False  # the drop itself goes on to the documents


def show_welcome_once(window: QWidget, controller: ChatController) -> WelcomeDialog | None:
    """Show the welcome if it was never shown; remember that it was (saved at once)."""
    if not should_show(controller.settings):
        return None
    controller.settings.ui_state[WELCOME_KEY] = "1"
    controller.save_settings()
    return Welcome(window, controller).show()
