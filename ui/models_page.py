"""The Models window (Models → Manage models…, Ctrl+M) and how the models feature joins the
main window.

- Installed (ui/models_installed.py): every installed model with its variants, memory fit,
  delete / quantize / convert.
- Hub (ui/models_hub.py): search, open a repository, download, cancel, resume.
- Activity (ui/models_activity.py): the running and finished jobs with progress and Cancel.
- Settings ▸ Quantization and ▸ Model hub (ui/models_settings.py).

`install(window, services)` returns the feature's `ModelsUi`, which owns the menu action, the
dialog and the stopping of jobs when the window closes. Everything slow runs as a job of
`services.model_jobs` (app.model_jobs) on a worker thread; these modules only draw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QTabWidget, QVBoxLayout, QWidget

from app.model_jobs import Job
from app.services import Services
from ui.models_activity import JobsPanel
from ui.models_hub import HubTab
from ui.models_installed import InstalledTab
from ui.models_settings import HubSettingsPage, VariantsPage
from ui.settings_dialog import register_page

if TYPE_CHECKING:
    from ui.main_window import MainWindow


class ModelsDialog(QDialog):
    """Non-modal: downloads and quantizations go on while the user chats."""

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.setObjectName("modelsDialog")
        self.controller = services.controller
        self.manager = services.model_jobs
        self.present = services.presenter.present
        self.installed = InstalledTab(self.manager, self.present)
        self.hub = HubTab(self.manager)
        self.jobs = JobsPanel(self.manager)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.installed, "Installed")
        self.tabs.addTab(self.hub, "Hub")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.jobs)
        self.controller.modelStateChanged.connect(self._model_state)
        self.manager.jobEnded.connect(self._job_ended)
        self.resize(1180, 660)

    def _model_state(self, state: str, _text: str) -> None:
        if state in ("ready", "failed") and self.isVisible():
            self.installed.refresh()

    def _job_ended(self, job: Job) -> None:
        if job.state == "failed" and job.error is not None and job.kind != "call":
            self.present(job.error)


class ModelsUi(QObject):
    """The models feature in one window: Models → Manage models… (Ctrl+M), the Models
    dialog (made on first use, then reused), the model pages of Settings, and the end of
    every model job when the window closes. A child of the window, so it lives as long."""

    def __init__(self, window: MainWindow, services: Services) -> None:
        super().__init__(window)
        self.setObjectName("modelsUi")
        self.main_window = window
        self.services = services
        self.dialog: ModelsDialog | None = None
        register_page(VariantsPage)
        register_page(HubSettingsPage)
        menu = window.menuBar().addMenu("&Models")
        self.action = menu.addAction("&Manage models…")
        self.action.setShortcut(QKeySequence("Ctrl+M"))
        self.action.triggered.connect(lambda: self.open())
        # Jobs outlive the dialog, not the window: closing it cancels them (downloads keep
        # their partial bytes) and waits for the pool, before the controller shuts down.
        window.installEventFilter(self)

    def open(self, tab: str = "") -> ModelsDialog:
        """Show the Models dialog (refreshed if it was open before), on `tab` ("hub")."""
        dialog = self.dialog
        if dialog is None:
            dialog = self.dialog = ModelsDialog(self.services, self.main_window)
        else:
            dialog.installed.refresh()
            dialog.hub.refresh_pending()
        if tab == "hub":
            dialog.tabs.setCurrentWidget(dialog.hub)
        dialog.show()
        dialog.raise_()
        QTimer.singleShot(0, dialog.activateWindow)
        return dialog

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Close:  # installed on the window only
            self.services.model_jobs.shutdown()
        return False


def install(window: MainWindow, services: Services) -> ModelsUi:
    """Add the models feature to `window` (idempotent: a second call returns the first
    ModelsUi)."""
    existing = window.findChild(ModelsUi)
    if isinstance(existing, ModelsUi):
        return existing
    return ModelsUi(window, services)
