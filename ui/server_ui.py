"""The server features of the window: Settings ▸ Engine (answer with this computer or with an
OpenAI-compatible server), Settings ▸ Server (Hearth's own API server: on/off, address, key,
CORS), the server's state in the status bar and its request log.

It only draws: the server runs in app.server_host.ServerHost (services.server), the choice
of engine is a setting the controller loads through the backend registry.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.settings import Settings
from engine.errors import HearthError
from ui.settings_dialog import SettingsContext, SettingsPage, register_page

if TYPE_CHECKING:  # pragma: no cover
    from app.server_host import RequestRecord, ServerHost, ServerState
    from app.services import Services

SERVER_KIND = "openai"  # engine.backends.OPENAI: the kind Settings ▸ Engine offers
LOCAL_KIND = "llama"


class EngineSettingsPage(SettingsPage):
    """Which engine answers: the model on this computer, or one on a server."""

    title = "Engine"
    modelsListed = Signal(object, str)  # names, error (from the listing thread)

    def __init__(self, context: SettingsContext) -> None:
        super().__init__()
        self.local = QRadioButton("This computer")
        self.remote = QRadioButton("An OpenAI-compatible server")
        self.url = QLineEdit()
        self.url.setPlaceholderText("http://192.168.1.20:8080 (llama.cpp, vLLM, Hearth)")
        self.key = QLineEdit()
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("if the server asks for one")
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.setToolTip("The server's model; empty = the first it lists")
        self.refresh = QPushButton("List models")
        self.refresh.clicked.connect(self.list_models)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        row = QWidget()
        models = QHBoxLayout(row)
        models.setContentsMargins(0, 0, 0, 0)
        models.addWidget(self.model, 1)
        models.addWidget(self.refresh)
        self.make_form(
            [
                ("Answer with", self.local),
                ("", self.remote),
                ("Server address", self.url),
                ("API key", self.key),
                ("Model", row),
                ("", self.status),
            ],
            "Questions about your documents still search them on this computer; only the "
            "passages found go to the server with the question. The key is stored in Hearth's "
            "settings file.",
        )
        self.remote.toggled.connect(self._enable)
        self.modelsListed.connect(self._listed)

    def _enable(self, remote: bool) -> None:
        for widget in (self.url, self.key, self.model, self.refresh):
            widget.setEnabled(remote)

    def list_models(self) -> None:
        """Ask the server for its models, on a thread of its own (a slow server must not
        freeze the dialog)."""
        url, key = self.url.text().strip(), self.key.text().strip()
        self.refresh.setEnabled(False)
        self.status.setText(f"Asking {url} for its models…")

        def work() -> None:
            from engine.remote import list_models

            try:
                self.modelsListed.emit(list_models(url, key, timeout_s=10.0), "")
            except HearthError as exc:
                self.modelsListed.emit([], exc.user_message)

        threading.Thread(target=work, name="hearth-list-models", daemon=True).start()

    def _listed(self, names: list[str], error: str) -> None:
        self.refresh.setEnabled(self.remote.isChecked())
        if error:
            self.status.setText(error)
            return
        current = self.model.currentText()
        self.model.clear()
        self.model.addItems(names)
        if current:
            self.model.setCurrentText(current)
        self.status.setText(f"{len(names)} model(s) on the server." if names else "No models.")

    def load(self, settings: Settings) -> None:
        remote = settings.backend == SERVER_KIND
        self.remote.setChecked(remote)
        self.local.setChecked(not remote)
        self._enable(remote)
        self.url.setText(settings.remote_base_url)
        self.key.setText(settings.remote_api_key)
        self.model.setCurrentText(settings.remote_model)

    def apply(self, settings: Settings) -> None:
        remote = self.remote.isChecked() and bool(self.url.text().strip())
        settings.backend = SERVER_KIND if remote else LOCAL_KIND
        settings.remote_base_url = self.url.text().strip()
        settings.remote_api_key = self.key.text().strip()
        settings.remote_model = self.model.currentText().strip()


class ServerSettingsPage(SettingsPage):
    """Hearth's own OpenAI-compatible API server."""

    title = "Server"

    def __init__(self, context: SettingsContext) -> None:
        super().__init__()
        self.server = context.services.server if context.services else None
        self.enabled = QCheckBox("Serve the OpenAI API from this window")
        self.host = QLineEdit()
        self.host.setPlaceholderText("127.0.0.1 (this computer only)")
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.key = QLineEdit()
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("required for any address but 127.0.0.1")
        new_key = QPushButton("New key")
        new_key.clicked.connect(lambda: self._new_key())
        key_row = QWidget()
        keys = QHBoxLayout(key_row)
        keys.setContentsMargins(0, 0, 0, 0)
        keys.addWidget(self.key, 1)
        keys.addWidget(new_key)
        self.cors = QLineEdit()
        self.cors.setPlaceholderText("none (e.g. https://app.example, or *)")
        log_button = QPushButton("Request log…")
        log_button.clicked.connect(self._show_log)
        log_button.setEnabled(self.server is not None)
        self.make_form(
            [
                ("", self.enabled),
                ("Address", self.host),
                ("Port", self.port),
                ("API key", key_row),
                ("Browser origin (CORS)", self.cors),
                ("", log_button),
            ],
            "Other programs use the model loaded here through /v1/chat/completions, "
            "/v1/completions and /v1/embeddings; their requests take turns with your chats. "
            "Nothing else is served: no files, settings or chats. Listening on another address "
            "than 127.0.0.1 needs an API key.",
        )

    def _new_key(self) -> None:
        self.key.setEchoMode(QLineEdit.EchoMode.Normal)  # shown once, to be copied
        self.key.setText(secrets.token_urlsafe(24))

    def _show_log(self) -> None:
        if self.server is not None:
            RequestLogDialog(self.server, self.window()).exec()

    def load(self, settings: Settings) -> None:
        self.enabled.setChecked(settings.server_enabled)
        self.host.setText(settings.server_host)
        self.port.setValue(settings.server_port)
        self.key.setText(settings.server_api_key)
        self.cors.setText(settings.server_cors_origin)

    def apply(self, settings: Settings) -> None:
        settings.server_enabled = self.enabled.isChecked()
        settings.server_host = self.host.text().strip() or "127.0.0.1"
        settings.server_port = self.port.value()
        settings.server_api_key = self.key.text().strip()
        settings.server_cors_origin = self.cors.text().strip()


LOG_COLUMNS = ["Time", "Client", "Request", "Status", "Model", "Tokens", "End", "Duration"]


class RequestLogDialog(QDialog):
    """The API requests answered since the server started (the latest 500), newest last."""

    def __init__(self, server: ServerHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("API request log")
        self.setObjectName("requestLogDialog")
        self.table = QTableWidget(0, len(LOG_COLUMNS))
        self.table.setHorizontalHeaderLabels(LOG_COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        for record in server.records:
            self.add(record)
        server.requestLogged.connect(self.add)
        self.resize(820, 420)

    def add(self, record: RequestRecord) -> None:
        r = record
        values = [
            time.strftime("%H:%M:%S", time.localtime(r.started)),
            r.client,
            f"{r.method} {r.path}",
            str(r.status) if r.status != 499 else "client left",
            r.model,
            str(r.completion_tokens or r.prompt_tokens or ""),
            r.finish,
            f"{r.duration_s * 1000:.0f} ms",
        ]
        row = self.table.rowCount()
        self.table.insertRow(row)
        for column, value in enumerate(values):
            self.table.setItem(row, column, QTableWidgetItem(value))


def state_text(state: ServerState) -> tuple[str, str]:
    """(status bar text, tooltip) for the server's state; "" when it is off."""
    if state.running:
        return f"API: {state.url}", "Hearth's OpenAI-compatible API server (click for its log)"
    if state.error:
        return "⚠ API server stopped", state.error
    return "", ""


class ServerUi(QObject):
    """The server's status bar button and settings pages in one window; stops the server
    when the window closes. A child of the window."""

    def __init__(self, window: QMainWindow, services: Services) -> None:
        super().__init__(window)
        self.setObjectName("serverUi")
        self.server = services.server
        register_page(EngineSettingsPage)
        register_page(ServerSettingsPage)
        self.button = QPushButton("")
        self.button.setObjectName("serverStatus")
        self.button.setFlat(True)
        self.button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.button.clicked.connect(self.open_log)
        window.statusBar().addPermanentWidget(self.button)
        if self.server is not None:
            self.server.stateChanged.connect(self.show_state)
            self.show_state(self.server.state)
        else:
            self.button.hide()
        window.installEventFilter(self)

    def show_state(self, state: ServerState) -> None:
        text, tip = state_text(state)
        self.button.setText(text)
        self.button.setToolTip(tip)
        self.button.setVisible(bool(text))

    def open_log(self) -> None:
        if self.server is not None:
            dialog = RequestLogDialog(self.server, self.button.window())
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.show()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Close and self.server is not None:
            self.server.stop()  # before the engine thread stops
        return False


def install(window: QMainWindow, services: Services) -> ServerUi:
    existing = window.findChild(ServerUi)
    if isinstance(existing, ServerUi):
        return existing
    return ServerUi(window, services)
