"""Hearth's API server inside the window (Settings ▸ Server): the same HTTP server as
`hearth serve` (app/api_server.py), whose requests go to the window's engine thread.

`WindowGateway` submits each request to `EngineHost` as one more queued job on the engine
thread, so chat turns and API requests take turns on the one llama.cpp context, in arrival
order; the answer's tokens go straight from the engine thread to the HTTP thread (a
`Ticket`), never through the GUI thread. The API serves whatever model the window has
loaded (its name in /v1/models follows the window's choice), and embeddings from an
embedding thread of its own (app.gateway.EmbeddingThread), loaded on the first request.

`ServerHost` (GUI thread) starts, restarts and stops the server as the settings say, and
reports its state for the status bar and each request for the request log.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from app.api_server import ApiServer, RequestRecord, ServerConfig
from app.gateway import MAX_WAITING, Embeddings, EmbeddingThread, GatewayBusy, ServedModels, Ticket
from app.settings import Settings
from engine.errors import HearthError
from engine.types import GenerationRequest, GenerationStats

if TYPE_CHECKING:  # pragma: no cover
    from app.controller import ChatController

log = logging.getLogger(__name__)

__all__ = ["RequestRecord", "ServerHost", "ServerState", "WindowGateway"]

LOG_LENGTH = 500  # requests kept for the log window


class WindowGateway:
    """The window's engine thread as a generation gateway (app.gateway.Gateway)."""

    def __init__(self, controller: ChatController, embeddings: EmbeddingThread) -> None:
        self._controller = controller
        self._embeddings = embeddings
        self._lock = threading.Lock()
        self._waiting = 0  # API requests submitted and not finished

    def models(self) -> ServedModels:
        loaded = self._controller.models.loaded  # replaced whole on the GUI thread: safe to read
        chat = loaded.info.name if loaded is not None and loaded.info is not None else ""
        return ServedModels(chat, loaded.n_ctx if loaded else 0, *self._embeddings.served())

    def submit(self, request: GenerationRequest, ticket: Ticket) -> None:
        with self._lock:
            if self._waiting > MAX_WAITING:
                raise GatewayBusy(f"The server is busy: {MAX_WAITING} requests are waiting.")
            self._waiting += 1
        try:
            self._controller.engine.submit(request, ticket.cancel, _Counted(ticket, self._release))
        except HearthError:
            self._release()
            raise

    def _release(self) -> None:
        with self._lock:
            self._waiting -= 1

    def embed(self, texts: list[str]) -> Embeddings:
        return self._embeddings.embed(texts)


class _Counted:
    """A ticket's sink that also counts the request as no longer waiting when it ends."""

    def __init__(self, ticket: Ticket, release: Callable[[], None]) -> None:
        self.ticket, self.release = ticket, release

    def token(self, text: str) -> None:
        self.ticket.token(text)

    def finished(self, stats: GenerationStats) -> None:
        self.release()
        self.ticket.finished(stats)

    def failed(self, error: HearthError) -> None:
        self.release()
        self.ticket.failed(error)


@dataclass(frozen=True)
class ServerState:
    running: bool
    url: str = ""
    error: str = ""  # why it is not running although it should


def server_config(settings: Settings) -> ServerConfig:
    return ServerConfig(
        host=settings.server_host.strip() or "127.0.0.1",
        port=settings.server_port,
        api_key=settings.server_api_key,
        cors_origin=settings.server_cors_origin.strip(),
        defaults=settings.sampling,
    )


class ServerHost(QObject):
    """Runs the window's API server as the settings say. GUI thread."""

    stateChanged = Signal(object)  # ServerState
    requestLogged = Signal(object)  # RequestRecord (emitted from HTTP threads: queued here)

    def __init__(
        self,
        controller: ChatController,
        embedding_model: Path | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self._embedding_model = embedding_model
        self._server: ApiServer | None = None
        self._embeddings: EmbeddingThread | None = None
        self._config: ServerConfig | None = None
        self.state = ServerState(False)
        self.records: collections.deque[RequestRecord] = collections.deque(maxlen=LOG_LENGTH)
        self.requestLogged.connect(self._keep)

    def apply_settings(self, settings: Settings) -> None:
        """Start, restart or stop the server to match the settings."""
        config = server_config(settings) if settings.server_enabled else None
        if config == self._config and (config is None or self._server is not None):
            return
        running, current = self._server, self._config
        if running and config and current and replace(config, defaults=current.defaults) == current:
            # Only the default sampling changed: no restart (answers in flight go on).
            running.config = self._config = config
            return
        self.stop()
        if config is not None:
            self.start(config)

    def start(self, config: ServerConfig) -> None:
        self._config = config
        embeddings = EmbeddingThread(self._locate_embedding_model)
        try:
            server = ApiServer(
                config, WindowGateway(self._controller, embeddings), self.requestLogged.emit
            )
        except (HearthError, OSError) as exc:
            embeddings.close()
            reason = exc.user_message if isinstance(exc, HearthError) else _bind_error(config, exc)
            self._set_state(ServerState(False, error=reason))
            return
        self._server, self._embeddings = server, embeddings
        server.start()
        self._set_state(ServerState(True, url=server.url))

    def stop(self) -> None:
        server, self._server = self._server, None
        embeddings, self._embeddings = self._embeddings, None
        self._config = None
        if server is not None:
            server.stop()  # answers in progress are cancelled
        if embeddings is not None:
            embeddings.close(timeout_s=2.0)
        if server is not None or self.state.error:
            self._set_state(ServerState(False))

    def _locate_embedding_model(self) -> Path:
        if self._embedding_model is not None:
            return self._embedding_model
        from app.user_library import embedding_model_path

        controller = self._controller
        return embedding_model_path(controller.settings, controller.paths.models)

    def _set_state(self, state: ServerState) -> None:
        self.state = state
        self.stateChanged.emit(state)

    @Slot(object)
    def _keep(self, record: RequestRecord) -> None:
        self.records.append(record)


def _bind_error(config: ServerConfig, exc: OSError) -> str:
    return (
        f"Cannot serve on {config.host}:{config.port}: {exc.strerror or exc}. Is another "
        "server using that port? Choose another port in Settings ▸ Server."
    )
