"""Settings ▸ Documents: passages per question, the embedding model, the vector store. A
change of model or store re-opens the library on the documents thread."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QComboBox, QLineEdit, QSpinBox

from app.settings import Settings
from engine.errors import HearthError
from ui.settings_dialog import SettingsContext, SettingsPage

if TYPE_CHECKING:  # pragma: no cover
    from app.controller import ChatController


class DocumentsSettingsPage(SettingsPage):
    title = "Documents"

    def __init__(self, context: SettingsContext) -> None:
        super().__init__()
        self._controller = context.controller
        self.top_k = QSpinBox()
        self.top_k.setRange(1, 50)
        self.top_k.setToolTip("How many passages are retrieved for each question")
        self.model = QComboBox()
        self.model.addItem("Default (all-MiniLM-L6-v2)", "")
        try:
            models = (
                list(context.controller.catalog.embedding_models()) if context.controller else []
            )
        except (HearthError, OSError):
            models = []
        for info in models:
            self.model.addItem(f"{info.name}  ({info.file_type})", info.name)
            self.model.setItemData(self.model.count() - 1, info.path, Qt.ItemDataRole.ToolTipRole)
        self.chroma_url = QLineEdit()
        self.chroma_url.setPlaceholderText(
            "On this computer (or a Chroma server: http://host:8000)"
        )
        self.chroma_url.setToolTip(
            "Address of a Chroma server (http://host:port) to keep document vectors on, "
            "for libraries larger than this computer holds. Empty: on this computer."
        )
        self.chroma_token = QLineEdit()
        self.chroma_token.setEchoMode(QLineEdit.EchoMode.Password)
        self.chroma_token.setPlaceholderText("Only if that server asks for one")
        self.chroma_token.setToolTip("The token the Chroma server above admits (X-Chroma-Token).")
        self.make_form(
            [
                ("Passages per question", self.top_k),
                ("Embedding model", self.model),
                ("Vector store", self.chroma_url),
                ("Its token", self.chroma_token),
            ],
            "The passages that fit in the model's context are quoted in the prompt and cited "
            "under the answer. Changing the embedding model or the vector store indexes every "
            "document again (the text is kept on this computer).",
        )
        self._loaded_model = ""
        self._loaded_url = ""

    def load(self, settings: Settings) -> None:
        self.top_k.setValue(settings.rag_top_k)
        index = self.model.findData(settings.embedding_model)
        if index < 0 and settings.embedding_model:
            self.model.addItem(
                f"{settings.embedding_model}  (not installed)", settings.embedding_model
            )
            index = self.model.count() - 1
        self.model.setCurrentIndex(max(index, 0))
        self._loaded_model = settings.embedding_model
        self.chroma_url.setText(settings.chroma_url)
        self.chroma_token.setText(settings.chroma_token)
        self._loaded_url = settings.chroma_url + "\n" + settings.chroma_token

    def apply(self, settings: Settings) -> None:
        settings.rag_top_k = self.top_k.value()
        settings.embedding_model = str(self.model.currentData() or "")
        settings.chroma_url = self.chroma_url.text().strip()
        settings.chroma_token = self.chroma_token.text().strip()
        controller = self._controller
        changed = (
            settings.embedding_model,
            settings.chroma_url + "\n" + settings.chroma_token,
        ) != (self._loaded_model, self._loaded_url)
        if changed and controller is not None:
            # After the dialog's settings are applied by the controller.
            QTimer.singleShot(0, lambda: reconfigure_docs(controller))


def reconfigure_docs(controller: ChatController) -> None:
    docs = getattr(controller, "docs", None)
    if docs is None:
        return
    docs.reconfigure(docs.config.with_settings(controller.settings))
