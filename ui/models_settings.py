"""The model pages of Settings: "Quantization" (switch the current model to another level:
installed, downloadable from its repository or made by quantizing; llama.cpp's backend and
GPU offload) and "Model hub" (endpoint, token).

Settings builds its pages from factories that get a SettingsContext; the Quantization page
takes the job manager and the error presenter from its window's services.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
)

from app.model_jobs import Job, JobManager, loaded_path
from app.settings import Settings
from engine.errors import HearthError, HubError
from engine.model_inventory import (
    ModelGroup,
    QuantChoice,
    find_group,
    installed_groups,
    quant_choices,
    same_path,
)
from engine.units import human_size
from ui.dialogs import confirm
from ui.model_wording import backend_summary, choice_status, offload_text, requantize_warning
from ui.models_items import Present, fit_item, item, read_only
from ui.settings_dialog import SettingsContext, SettingsPage

if TYPE_CHECKING:
    from engine.hub import RepoFiles

CHOICE_COLUMNS = ["Level", "Status", "Size", "Memory", "Fit", "Speed"]


class VariantsPage(SettingsPage):
    """Switch the current model to another quantization level; llama.cpp's backend."""

    title = "Quantization"
    choicesChanged = Signal()
    backendShown = Signal()

    def __init__(self, context: SettingsContext) -> None:
        super().__init__()
        self.controller = context.controller
        services = context.services
        self.manager: JobManager | None = services.model_jobs if services else None
        self.present: Present | None = services.presenter.present if services else None
        self.group: ModelGroup | None = None
        self.current_path = ""
        self.repo: RepoFiles | None = None
        self.choices: list[QuantChoice] = []
        self.gpu_offload: bool | None = None
        self._jobs: list[Job] = []  # keep the page's calls referenced
        self.confirm = confirm  # asks before re-quantizing (a test answers it)

        self.heading = QLabel("")
        self.heading.setWordWrap(True)
        self.hub_note = QLabel("")
        self.hub_note.setWordWrap(True)
        self.hub_note.setObjectName("metaLabel")
        note = QLabel(
            "Choose a level and press OK. One that is not installed is downloaded or made "
            "in the background; the model reloads when it is ready."
        )
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self._choices_view(), 1)
        layout.addWidget(self.hub_note)
        layout.addWidget(note)
        layout.addWidget(self._backend_box())
        self._settings = Settings()
        if self.manager is not None:
            job = self.manager.system_info()
            job.succeeded.connect(self._show_backend)
            job.failed.connect(self._show_backend)
            self._jobs.append(job)

    def _choices_view(self) -> QTableView:
        """One row per quantization level: status, size, memory, fit, measured speed."""
        self.model = QStandardItemModel(0, len(CHOICE_COLUMNS), self)
        self.model.setHorizontalHeaderLabels(CHOICE_COLUMNS)
        self.view = QTableView()
        self.view.setObjectName("quantChoices")
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.view.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.view.setToolTip(
            "Memory: weights + KV cache + compute buffers at the configured context, against "
            "the memory free now. Speed: the last measured decode speed with this file."
        )
        return self.view

    def _backend_box(self) -> QGroupBox:
        """llama.cpp's backend and GPU offload (filled in when the system-info call ends)."""
        self.backend = QLabel("llama.cpp backend: checking…")
        self.backend.setWordWrap(True)
        self.backend.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.offload = QLabel("GPU offload: checking…")
        box = QGroupBox("Backend")
        bl = QVBoxLayout(box)
        bl.addWidget(self.backend)
        bl.addWidget(self.offload)
        return box

    # -- SettingsPage ----------------------------------------------------------------------

    def load(self, settings: Settings) -> None:
        self._settings = settings
        if self.manager is None:
            self.heading.setText("No model information available.")
            return
        self.current_path = self._current_path(settings)
        groups = installed_groups(self.manager.models_dir)
        self.group = find_group(groups, self.current_path) if self.current_path else None
        if self.group is None:
            self.heading.setText("The current model is not installed here.")
            return
        name = Path(self.current_path).name.removesuffix(".gguf")
        self.heading.setText(f"Current model: <b>{name}</b>. Its quantization levels:")
        self.refresh_choices()
        self._look_up_hub()

    def apply(self, settings: Settings) -> None:
        choice = self.selected_choice()
        if choice is None or self.manager is None or same_path(choice.path, self.current_path):
            return
        if choice.status == "installed":
            settings.default_model = choice.name
            return
        if choice.requantize and not self.confirm(
            self,
            "Re-quantize",
            requantize_warning(choice, self._source_size(choice)),
            "Re-quantize",
        ):
            return
        try:
            job = self.manager.switch_to(choice, allow_requantize=choice.requantize)
        except HearthError as exc:
            if self.present is not None:
                self.present(exc)
            return
        if job is not None:
            self._jobs.append(job)

    # -- data ------------------------------------------------------------------------------

    def _source_size(self, choice: QuantChoice) -> int:
        variants = self.group.variants if self.group is not None else []
        return next((v.info.file_size for v in variants if same_path(v.path, choice.source)), 0)

    def _current_path(self, settings: Settings) -> str:
        if self.controller is None:
            return ""
        path = loaded_path(self.controller)
        if path:
            return path
        try:
            return str(self.controller.catalog.resolve(settings.default_model).path)
        except (HearthError, OSError):
            return ""

    def refresh_choices(self) -> None:
        if self.group is None or self.manager is None:
            return
        self.choices = quant_choices(
            self.group,
            self._settings,
            self.manager.records,
            self.repo,
            models_dir=self.manager.models_dir,
        )
        self.model.removeRows(0, self.model.rowCount())
        current_row = -1
        for i, c in enumerate(self.choices):
            is_current = c.status == "installed" and same_path(c.path, self.current_path)
            if is_current:
                current_row = i
            status = choice_status(c) + ("  (current)" if is_current else "")
            speed = f"{c.tokens_per_s:.1f} tok/s" if c.tokens_per_s else "—"
            self.model.appendRow(
                read_only(
                    [
                        item(c.quant, i, tooltip=c.name),
                        item(status),
                        item(("~" if c.status == "make" else "") + human_size(c.size)),
                        item(human_size(c.memory)),
                        fit_item(c.fit, c.memory),
                        item(speed),
                    ]
                )
            )
        self.view.resizeColumnsToContents()
        if current_row >= 0:
            self.view.selectRow(current_row)
        self.choicesChanged.emit()

    def _look_up_hub(self) -> None:
        if self.group is None or self.manager is None:
            return
        origin = next(
            (
                o
                for v in self.group.variants
                if (o := self.manager.records.origin(Path(v.info.path).name))
            ),
            None,
        )
        if origin is None:
            self.hub_note.setText(
                "Not from the hub (or its repository is unknown): only installed levels and "
                "levels made by quantizing are offered."
            )
            return
        self.hub_note.setText(f"Checking {origin['repo_id']} on the hub…")
        job = self.manager.repo_files(origin["repo_id"])
        job.succeeded.connect(self._hub_listed)
        job.failed.connect(self._hub_failed)
        self._jobs.append(job)

    def _hub_listed(self, repo: RepoFiles) -> None:
        self.repo = repo
        self.hub_note.setText(f"Downloadable levels come from {repo.repo_id}.")
        self.refresh_choices()

    def _hub_failed(self, error: HubError) -> None:
        self.hub_note.setText(
            f"{error.user_message} Only installed levels and levels made by quantizing are shown."
        )

    def _show_backend(self, info: dict[str, Any] | HearthError) -> None:
        if isinstance(info, HearthError):
            self.backend.setText(f"llama.cpp backend: unknown ({info.user_message})")
            self.gpu_offload = False
        else:
            self.backend.setText(backend_summary(info))
            self.backend.setToolTip(str(info.get("system_info", "")))
            self.gpu_offload = bool(info.get("gpu_offload"))
        loaded = self.controller.loaded_model if self.controller is not None else None
        n_layer = loaded.info.n_layer if loaded is not None and loaded.info is not None else 0
        n_gpu = loaded.spec.n_gpu_layers if loaded is not None else self._settings.n_gpu_layers
        self.offload.setText("GPU offload: " + offload_text(self.gpu_offload, n_gpu, n_layer))
        self.backendShown.emit()

    def selected_choice(self) -> QuantChoice | None:
        rows = self.view.selectionModel().selectedRows()
        if not rows:
            return None
        i = rows[0].row()
        return self.choices[i] if 0 <= i < len(self.choices) else None

    def select_quant(self, quant: str) -> bool:
        for i, c in enumerate(self.choices):
            if c.quant.upper() == quant.upper():
                self.view.selectRow(i)
                return True
        return False


class HubSettingsPage(SettingsPage):
    title = "Model hub"

    def __init__(self, context: SettingsContext) -> None:
        super().__init__()
        self.endpoint = QLineEdit()
        self.endpoint.setPlaceholderText("https://huggingface.co (or a mirror)")
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("only for gated or private repositories")
        self.make_form(
            [("Hub endpoint", self.endpoint), ("Access token", self.token)],
            "Leave the endpoint empty for the default (or HF_ENDPOINT). The token is stored in "
            "Hearth's settings file. Installed models never need the hub.",
        )

    def load(self, settings: Settings) -> None:
        self.endpoint.setText(settings.hub_endpoint)
        self.token.setText(settings.hub_token)

    def apply(self, settings: Settings) -> None:
        settings.hub_endpoint = self.endpoint.text().strip()
        settings.hub_token = self.token.text().strip()
