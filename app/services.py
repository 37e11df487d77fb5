"""The window's collaborators, built once by the composition root (`app.main.build_gui`) and
handed to the window and to each feature's `install(window, services)`. A feature takes what
it needs from here; it never sets attributes on another object or looks a collaborator up
with getattr."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - types only; nothing heavy is imported here
    from app.controller import ChatController
    from app.docs_worker import DocsHost
    from app.error_presenter import ErrorPresenter
    from app.model_jobs import JobManager
    from app.paths import Paths
    from app.server_host import ServerHost
    from app.store import ChatStore


@dataclass(frozen=True)
class Services:
    paths: Paths
    store: ChatStore
    controller: ChatController
    presenter: ErrorPresenter
    model_jobs: JobManager  # downloads, conversions, quantizations (outlive their dialogs)
    server: ServerHost | None = None  # the API server (Settings ▸ Server), or None

    @property
    def docs(self) -> DocsHost | None:
        """The documents thread, or None when the window runs without documents."""
        return self.controller.docs
