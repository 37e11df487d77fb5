"""The Models window (Models → Manage models…, Ctrl+M) and the model pages of Settings.

- Installed: every installed model with its variants (one per quantization level), what each
  needs in memory at the configured context against what this machine has free now, and
  delete / quantize / convert.
- Hub: search GGUF models, open a repository, its files grouped by quantization (a split
  model is one entry), download with progress, cancel, resume.
- Activity: the running and finished jobs with progress and Cancel.

Settings gets two pages: "Quantization" (switch the current model to another level: installed,
downloadable or makeable; llama.cpp's backend and GPU offload) and "Model hub" (endpoint,
token).

Everything slow runs as a job (app.model_jobs) on a worker thread; what is installed comes
from engine.model_inventory; this module only draws.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QKeySequence, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QTabWidget,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.model_jobs import Job, JobManager, JobProgress, job_manager, loaded_path
from app.services import Services
from app.settings import Settings
from engine.errors import HearthError, HubError
from engine.model_inventory import (
    ModelGroup,
    PendingDownload,
    QuantChoice,
    Variant,
    delete_refusal,
    find_group,
    group_key,
    installed_groups,
    memory_fit,
    partial_bytes,
    quant_choices,
)
from engine.quantize import RECOMMENDED
from engine.units import format_params, human_size
from ui.dialogs import confirm
from ui.model_wording import backend_summary, choice_status, offload_text
from ui.settings_dialog import SettingsContext, SettingsPage, register_page

if TYPE_CHECKING:
    from engine.hub import HubModel, HubVariant, RepoFiles

ROLE = Qt.ItemDataRole.UserRole + 1
FIT_COLOURS = {"fits": "#2e7d32", "tight": "#b26a00", "does not fit": "#c62828"}
FIT_SYMBOL = {"fits": "✔", "tight": "⚠", "does not fit": "✖"}


def fit_item(fit: str, memory: int, tooltip: str = "") -> QStandardItem:
    item = QStandardItem(f"{FIT_SYMBOL.get(fit, '')} {fit}".strip())
    item.setForeground(QBrush(QColor(FIT_COLOURS.get(fit, "#000000"))))
    font = QFont()
    font.setBold(True)
    item.setFont(font)
    item.setToolTip(tooltip or f"needs about {human_size(memory)}")
    item.setData(fit, ROLE + 1)
    return item


def _item(text: str, data: Any = None, tooltip: str = "") -> QStandardItem:
    item = QStandardItem(text)
    item.setEditable(False)
    if data is not None:
        item.setData(data, ROLE)
    if tooltip:
        item.setToolTip(tooltip)
    return item


def _ro(items: list[QStandardItem]) -> list[QStandardItem]:
    for it in items:
        it.setEditable(False)
    return items


def _present(widget: QWidget, controller: Any, error: BaseException) -> None:
    window = widget.window()
    presenter = getattr(window.parent(), "presenter", None) or getattr(window, "presenter", None)
    if presenter is not None:
        presenter.present(error)
    elif hasattr(controller, "errorRaised"):
        controller.errorRaised.emit(error)


# -- activity ------------------------------------------------------------------------------


class JobRow(QWidget):
    def __init__(self, job: Job, manager: JobManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job, self.manager = job, manager
        self.title = QLabel(job.title)
        self.title.setObjectName("jobTitle")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(10)
        self.detail = QLabel("")
        self.detail.setObjectName("jobDetail")
        self.button = QPushButton("Cancel")
        self.button.clicked.connect(self._clicked)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.bar)
        layout.addWidget(self.detail)
        job.progress.connect(self.show_progress)
        job.ended.connect(self.show_end)
        self.show_progress(job.last_progress)
        if not job.active:
            self.show_end()

    def show_progress(self, p: JobProgress) -> None:
        if self.job.cancel_event.is_set() and self.job.active:
            return  # keep "Cancelling…" until it has ended
        if p.fraction < 0:
            self.bar.setRange(0, 0)  # busy indicator
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(p.fraction * 1000))
        self.detail.setText(p.text)

    def show_end(self) -> None:
        job = self.job
        self.bar.setRange(0, 1000)
        if job.state == "done":
            self.bar.setValue(1000)
            self.detail.setText(f"Done: {Path(str(job.result)).name}")
        elif job.state == "cancelled":
            keep = " (the downloaded part is kept: resume it from the Hub tab)"
            self.detail.setText("Cancelled" + (keep if job.kind == "download" else ""))
        elif job.state == "failed" and job.error is not None:
            self.detail.setText(job.error.user_message)
            self.detail.setWordWrap(True)
        self.button.setText("Dismiss")

    def _clicked(self) -> None:
        if self.job.active:
            self.button.setEnabled(False)
            self.detail.setText("Cancelling…")
            self.job.cancel()
        else:
            self.manager.dismiss(self.job)
            self.deleteLater()


class JobsPanel(QGroupBox):
    def __init__(self, manager: JobManager, parent: QWidget | None = None) -> None:
        super().__init__("Activity", parent)
        self.manager = manager
        self.rows: dict[int, JobRow] = {}
        self.empty = QLabel("No downloads, conversions or quantizations running.")
        self.empty.setObjectName("emptyLabel")
        inner = QWidget()
        self.list_layout = QVBoxLayout(inner)
        self.list_layout.setContentsMargins(0, 0, 0, 0)
        self.list_layout.addWidget(self.empty)
        self.list_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(scroll)
        self.setMaximumHeight(200)
        self.setMinimumHeight(120)
        for job in manager.jobs:
            self.add(job)
        manager.jobAdded.connect(self.add)

    def add(self, job: Job) -> None:
        row = JobRow(job, self.manager)
        self.rows[id(job)] = row
        self.list_layout.insertWidget(0, row)
        self.empty.hide()


# -- installed -----------------------------------------------------------------------------

INSTALLED_COLUMNS = [
    "Model / variant",
    "Quant",
    "Size",
    "Memory",
    "Fit",
    "Context",
    "Parameters",
    "Architecture",
    "Licence",
    "Chat template",
]


def _in_order(cells: dict[str, QStandardItem]) -> list[QStandardItem]:
    """A row in INSTALLED_COLUMNS order; missing cells are empty."""
    return _ro([cells.get(c) or _item("") for c in INSTALLED_COLUMNS])


class InstalledTab(QWidget):
    refreshed = Signal()

    def __init__(self, manager: JobManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.manager = manager
        self.groups: list[ModelGroup] = []
        self.model = QStandardItemModel(0, len(INSTALLED_COLUMNS), self)
        self.model.setHorizontalHeaderLabels(INSTALLED_COLUMNS)
        self.view = QTreeView()
        self.view.setObjectName("installedModels")
        self.view.setModel(self.model)
        self.view.setAlternatingRowColors(True)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setUniformRowHeights(True)
        self.view.header().setStretchLastSection(True)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.summary = QLabel("")
        self.summary.setObjectName("memorySummary")
        self.summary.setWordWrap(True)

        self.delete_button = QPushButton("Delete…")
        self.delete_button.clicked.connect(lambda: self.delete_selected())
        self.quant_combo = QComboBox()
        self.quant_combo.addItems(RECOMMENDED)
        self.quant_combo.setToolTip("Quantization level for the new variant")
        self.quantize_button = QPushButton("Make variant")
        self.quantize_button.setToolTip(
            "Quantize the selected variant with llama.cpp; the result is a new variant"
        )
        self.quantize_button.clicked.connect(lambda: self.quantize_selected())
        self.convert_type = QComboBox()
        self.convert_type.addItems(["F16", "BF16", "F32"])
        self.convert_button = QPushButton("Convert a checkpoint folder…")
        self.convert_button.setToolTip(
            "Turn a Hugging Face checkpoint (a folder with config.json and *.safetensors) "
            "into a GGUF model"
        )
        self.convert_button.clicked.connect(lambda: self.convert_folder())
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        buttons = QHBoxLayout()
        buttons.addWidget(self.delete_button)
        buttons.addSpacing(12)
        buttons.addWidget(QLabel("Quantize to"))
        buttons.addWidget(self.quant_combo)
        buttons.addWidget(self.quantize_button)
        buttons.addSpacing(12)
        buttons.addWidget(self.convert_button)
        buttons.addWidget(QLabel("to"))
        buttons.addWidget(self.convert_type)
        buttons.addStretch(1)
        buttons.addWidget(refresh)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        manager.modelsChanged.connect(self.refresh)
        self.refresh()

    # -- data ------------------------------------------------------------------------------

    def refresh(self) -> None:
        from engine.memory import available_memory, total_memory

        settings: Settings = self.manager.settings()
        available = available_memory()
        in_use = self.manager.in_use()
        self.groups = installed_groups(self.manager.models_dir, include_embedding=True)
        selected = self.selected_variant()
        keep = selected.info.path if selected else ""
        self.model.removeRows(0, self.model.rowCount())
        for g in self.groups:
            self._add_group(g, settings, available, in_use)
        self.view.expandAll()
        for c in range(len(INSTALLED_COLUMNS)):
            self.view.resizeColumnToContents(c)
            self.view.setColumnWidth(c, self.view.columnWidth(c) + 6)
        self.view.setColumnWidth(0, min(max(self.view.columnWidth(0) + 8, 260), 360))
        if keep:
            self.select_path(keep)
        self.summary.setText(
            f"Memory free now: {human_size(available)} of {human_size(total_memory())}. "
            f"Estimates are for a context of {settings.n_ctx:,} tokens (or the model's own "
            "limit, if lower): weights + KV cache + compute buffers."
            + (
                f" {settings.n_gpu_layers if settings.n_gpu_layers >= 0 else 'All'} layers "
                "are set to run on the GPU."
                if settings.n_gpu_layers
                else ""
            )
        )
        self._selection_changed()
        self.refreshed.emit()

    def _add_group(
        self, g: ModelGroup, settings: Settings, available: int, in_use: list[str]
    ) -> None:
        from engine.quantize import base_name

        best = g.best
        title = base_name(best.info.name) if best else g.key
        n = len(g.variants)
        head = _item(f"{title}  ({n} variant{'s' if n != 1 else ''})", g.key)
        font = head.font()
        font.setBold(True)
        head.setFont(font)
        cells = {"Model / variant": head}
        if best:
            cells["Architecture"] = _item(best.info.architecture)
            cells["Parameters"] = _item(format_params(best.info.parameters))
        self.model.appendRow(_in_order(cells))
        for v in g.variants:
            head.appendRow(self._variant_row(v, settings, available, in_use))

    def _variant_row(
        self, v: Variant, settings: Settings, available: int, in_use: list[str]
    ) -> list[QStandardItem]:
        info = v.info
        tags = []
        if any(_same(info.path, p) for p in in_use if p):
            tags.append("in use")
        if info.bundled:
            tags.append("bundled")
        name = info.name + (f"  [{', '.join(tags)}]" if tags else "")
        first = _item(name, info.path, tooltip=info.path)
        if v.error:
            first.setToolTip(f"{info.path}\n{v.error}")
            bad = _item(f"damaged: {v.error}")
            bad.setForeground(QBrush(QColor(FIT_COLOURS["does not fit"])))
            return _in_order(
                {
                    "Model / variant": first,
                    "Quant": _item("?"),
                    "Size": _item(human_size(info.file_size)),
                    "Fit": bad,
                }
            )
        est, fit = memory_fit(
            info, settings.n_ctx, settings.n_gpu_layers, settings.n_batch, available
        )
        ctx_used = (
            min(settings.n_ctx, info.context_length) if info.context_length else settings.n_ctx
        )
        breakdown = (
            f"weights {human_size(est.weights_bytes)} + KV cache {human_size(est.kv_bytes)} "
            f"+ compute {human_size(est.compute_bytes)} at {ctx_used:,} tokens"
            + (f"; {human_size(est.gpu_bytes)} of it on the GPU" if est.gpu_bytes else "")
            + f"\nfree now: {human_size(available)}"
        )
        parts = f" ({len(v.files)} parts)" if len(v.files) > 1 else ""
        chat = "yes" if info.has_chat_template else "no (built-in)"
        return _in_order(
            {
                "Model / variant": first,
                "Quant": _item(info.file_type),
                "Size": _item(human_size(info.file_size) + parts),
                "Memory": _item(f"{human_size(est.total_bytes)} @ {ctx_used:,}", tooltip=breakdown),
                "Fit": fit_item(fit, est.total_bytes, breakdown),
                "Context": _item(f"{info.context_length:,}" if info.context_length else "?"),
                "Parameters": _item(format_params(info.parameters)),
                "Architecture": _item(info.architecture),
                "Licence": _item(info.license or "—"),
                "Chat template": _item("embedding model" if info.embedding else chat),
            }
        )

    # -- selection -------------------------------------------------------------------------

    def variant_items(self) -> list[tuple[QStandardItem, Variant]]:
        out = []
        for gi in range(self.model.rowCount()):
            head = self.model.item(gi, 0)
            group = self.groups[gi]
            for vi in range(head.rowCount()):
                out.append((head.child(vi, 0), group.variants[vi]))
        return out

    def selected_variant(self) -> Variant | None:
        index = self.view.currentIndex()
        if not index.isValid() or not index.parent().isValid():
            return None
        gi, vi = index.parent().row(), index.row()
        if gi < len(self.groups) and vi < len(self.groups[gi].variants):
            return self.groups[gi].variants[vi]
        return None

    def select_path(self, path: str) -> bool:
        for item, v in self.variant_items():
            if _same(v.info.path, path):
                self.view.setCurrentIndex(item.index())
                return True
        return False

    def row_texts(self) -> list[list[str]]:
        """Every variant row as text (tests and screenshots read the table through this)."""
        out = []
        for item, _v in self.variant_items():
            parent = item.parent()
            out.append([parent.child(item.row(), c).text() for c in range(len(INSTALLED_COLUMNS))])
        return out

    def _selection_changed(self, *_: Any) -> None:
        v = self.selected_variant()
        self.delete_button.setEnabled(v is not None)
        self.quantize_button.setEnabled(v is not None and not v.error)
        if v is not None:
            reason = delete_refusal(v, self.manager.models_dir, self.manager.in_use())
            self.delete_button.setEnabled(not reason)
            self.delete_button.setToolTip(reason or f"Delete {v.info.name}")

    # -- actions ---------------------------------------------------------------------------

    def delete_selected(self, ask: bool = True) -> bool:
        v = self.selected_variant()
        if v is None:
            return False
        reason = delete_refusal(v, self.manager.models_dir, self.manager.in_use())
        if reason:
            from engine.errors import InvalidRequestError

            _present(self, self.manager.controller, InvalidRequestError(reason))
            return False
        size = sum(f.stat().st_size for f in v.files if f.exists())
        if ask and not confirm(
            self,
            "Delete model",
            f"Delete {v.info.name} ({human_size(size)}) from {self.manager.models_dir}? "
            "This cannot be undone.",
            "Delete",
        ):
            return False
        try:
            self.manager.delete(v)
        except HearthError as exc:
            _present(self, self.manager.controller, exc)
            return False
        return True

    def quantize_selected(self, quant: str = "", ask: bool = True) -> Job | None:
        from engine.quantize import UNQUANTIZED

        v = self.selected_variant()
        if v is None:
            return None
        if quant:
            self.quant_combo.setCurrentText(quant)
        quant = self.quant_combo.currentText()
        requant = v.quant.upper() not in UNQUANTIZED
        if (
            requant
            and ask
            and not confirm(
                self,
                "Re-quantize",
                f"{v.info.name} is already quantized ({v.quant}). Quantizing it again to "
                f"{quant} loses more quality than starting from an F16 original. Continue?",
                "Quantize",
            )
        ):
            return None
        try:
            return self.manager.quantize(v.path, quant, allow_requantize=True)
        except HearthError as exc:
            _present(self, self.manager.controller, exc)
            return None

    def convert_folder(self, folder: str = "", outtype: str = "") -> Job | None:
        if not folder:
            folder = QFileDialog.getExistingDirectory(
                self, "Choose a Hugging Face checkpoint folder (with config.json)"
            )
            if not folder:
                return None
        outtype = (outtype or self.convert_type.currentText()).lower()
        try:
            return self.manager.convert(Path(folder), outtype)
        except HearthError as exc:
            _present(self, self.manager.controller, exc)
            return None


def _same(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return a == b


# -- hub -----------------------------------------------------------------------------------


class HubTab(QWidget):
    searchFinished = Signal(object)  # list[HubModel] or HubError
    repoLoaded = Signal(object)  # RepoFiles or HubError

    def __init__(self, manager: JobManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.manager = manager
        self.found: list[HubModel] = []
        self.repo: RepoFiles | None = None
        self._variants: list[HubVariant] = []
        self._installed_shapes: dict[str, Variant] = {}
        self._search_job: Job | None = None
        self._repo_job: Job | None = None

        self.query = QLineEdit()
        self.query.setPlaceholderText("Search GGUF models, e.g. qwen 0.5b instruct")
        self.query.returnPressed.connect(lambda: self.search())
        self.sort = QComboBox()
        self.sort.addItem("Most downloaded", "downloads")
        self.sort.addItem("Recently updated", "recent")
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(lambda: self.search())
        self.status = QLabel("")
        self.status.setObjectName("hubStatus")
        self.status.setWordWrap(True)

        self.results = QStandardItemModel(0, 4, self)
        self.results.setHorizontalHeaderLabels(["Repository", "Downloads", "Likes", "Updated"])
        self.results_view = QTableView()
        self.results_view.setModel(self.results)
        self.results_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.results_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results_view.verticalHeader().hide()
        self.results_view.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.results_view.doubleClicked.connect(
            lambda idx: self.open_repo(self._repo_at(idx.row()))
        )
        self.results_view.activated.connect(lambda idx: self.open_repo(self._repo_at(idx.row())))

        self.files = QStandardItemModel(0, 6, self)
        self.files.setHorizontalHeaderLabels(
            ["Quantization / file", "Size", "Parts", "Memory (est.)", "Fit", "Here"]
        )
        self.files_view = QTreeView()
        self.files_view.setModel(self.files)
        self.files_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.files_view.doubleClicked.connect(lambda _i: self.download_selected())
        self.repo_label = QLabel("Open a repository to see its files.")
        self.download_button = QPushButton("Download")
        self.download_button.clicked.connect(lambda: self.download_selected())

        self.pending_list = QListWidget()
        self.pending_list.setMaximumHeight(70)
        self.resume_button = QPushButton("Resume")
        self.resume_button.clicked.connect(lambda: self.resume_selected())
        self.discard_button = QPushButton("Discard")
        self.discard_button.clicked.connect(lambda: self.discard_selected())
        self.pending_box = QGroupBox("Interrupted downloads")
        pl = QHBoxLayout(self.pending_box)
        pl.addWidget(self.pending_list, 1)
        pb = QVBoxLayout()
        pb.addWidget(self.resume_button)
        pb.addWidget(self.discard_button)
        pb.addStretch(1)
        pl.addLayout(pb)

        top = QHBoxLayout()
        top.addWidget(self.query, 1)
        top.addWidget(self.sort)
        top.addWidget(self.search_button)
        files_box = QWidget()
        fl = QVBoxLayout(files_box)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.addWidget(self.repo_label)
        fl.addWidget(self.files_view, 1)
        fb = QHBoxLayout()
        fb.addStretch(1)
        fb.addWidget(self.download_button)
        fl.addLayout(fb)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.results_view)
        split.addWidget(files_box)
        split.setSizes([160, 220])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)
        layout.addWidget(self.pending_box)
        self._show_endpoint()
        self.refresh_pending()
        manager.jobEnded.connect(lambda _j: self.refresh_pending())
        manager.jobAdded.connect(lambda _j: self.refresh_pending())

    def _show_endpoint(self) -> None:
        from engine.hub import resolve_endpoint

        endpoint = resolve_endpoint(self.manager.settings().hub_endpoint)
        self.status.setText(f"Hub: {endpoint} (change it in Settings → Model hub).")

    # -- search ----------------------------------------------------------------------------

    def search(self, query: str | None = None, sort: str = "") -> Job:
        if query is not None:
            self.query.setText(query)
        sort = sort or str(self.sort.currentData())
        self.status.setText("Searching…")
        self.search_button.setEnabled(False)
        job = self.manager.search(self.query.text().strip(), sort=sort)
        self._search_job = job
        job.succeeded.connect(lambda found, j=job: self._found(j, found))
        job.failed.connect(lambda err, j=job: self._found(j, err))
        return job

    def _found(self, job: Job, found: Any) -> None:
        if job is not self._search_job:
            return
        self.search_button.setEnabled(True)
        self.results.removeRows(0, self.results.rowCount())
        if isinstance(found, HearthError):
            self.found = []
            self.status.setText(found.user_message)
            self.searchFinished.emit(found)
            return
        self.found = list(found)
        for m in self.found:
            date = m.last_modified.date().isoformat() if m.last_modified else "—"
            self.results.appendRow(
                _ro(
                    [
                        _item(m.repo_id, m.repo_id),
                        _item(f"{m.downloads:,}"),
                        _item(str(m.likes)),
                        _item(date),
                    ]
                )
            )
        q = self.query.text().strip()
        self.status.setText(
            f"{len(self.found)} GGUF repositories"
            + (f" match “{q}”" if q else "")
            + (". Double-click one to see its files." if self.found else ".")
        )
        self.searchFinished.emit(self.found)

    def _repo_at(self, row: int) -> str:
        return self.found[row].repo_id if 0 <= row < len(self.found) else ""

    # -- repository ------------------------------------------------------------------------

    def open_repo(self, repo_id: str) -> Job | None:
        if not repo_id:
            return None
        self.repo_label.setText(f"{repo_id}: loading the file list…")
        self.files.removeRows(0, self.files.rowCount())
        job = self.manager.repo_files(repo_id)
        self._repo_job = job
        job.succeeded.connect(lambda repo, j=job: self._repo_loaded(j, repo))
        job.failed.connect(lambda err, j=job: self._repo_loaded(j, err))
        return job

    def _repo_loaded(self, job: Job, repo: Any) -> None:
        if job is not self._repo_job:
            return
        if isinstance(repo, HearthError):
            self.repo = None
            self.repo_label.setText(repo.user_message)
            self.repoLoaded.emit(repo)
            return
        self.repo = repo
        self.show_repo()
        self.repoLoaded.emit(repo)

    def show_repo(self) -> None:
        from engine.memory import available_memory

        repo = self.repo
        if repo is None:
            return
        settings = self.manager.settings()
        available = available_memory()
        self.files.removeRows(0, self.files.rowCount())
        self._variants = []
        self._installed_shapes = {
            g.key: best for g in installed_groups(self.manager.models_dir) if (best := g.best)
        }
        groups = sorted(repo.by_quant().items(), key=lambda kv: kv[1][0].size)
        for quant, variants in groups:
            head = _item(quant)
            font = head.font()
            font.setBold(True)
            head.setFont(font)
            self.files.appendRow(_ro([head, *[_item("") for _ in range(5)]]))
            for v in variants:
                head.appendRow(self._file_row(v, settings, available))
                self._variants.append(v)
        self.files_view.expandAll()
        for c in range(6):
            self.files_view.resizeColumnToContents(c)
        n = len(repo.variants)
        aux = ", ".join(f.path for f in repo.other_gguf)
        extra = f" Other GGUF files (not language models): {aux}." if aux else ""
        self.repo_label.setText(
            f"{repo.repo_id}: {n} GGUF model file{'s' if n != 1 else ''}"
            + (
                " (split models are shown as one)."
                if any(v.shards > 1 for v in repo.variants)
                else "."
            )
            + extra
            if n
            else f"{repo.repo_id} has no GGUF model files."
        )

    def _file_row(self, v: HubVariant, settings: Settings, available: int) -> list[QStandardItem]:
        from engine.memory import fit, rough_estimate

        sibling = self._installed_shapes.get(group_key(v.first_file.path))
        if sibling is not None:  # same model installed: its shapes give a real estimate
            est, f = memory_fit(
                sibling.info,
                settings.n_ctx,
                settings.n_gpu_layers,
                settings.n_batch,
                available,
                file_size=v.size,
            )
        else:
            est = rough_estimate(v.size, settings.n_ctx)
            f = fit(est, available)
        parts = f"{len(v.files)} of {v.shards}" if v.shards > 1 else "1"
        if not v.complete:
            parts += " (incomplete)"
        here = self._local_state(v)
        tip = "\n".join(f.path for f in v.files)
        return _ro(
            [
                _item(Path(v.first_file.path).name, v.name, tooltip=tip),
                _item(human_size(v.size)),
                _item(parts),
                _item(f"~{human_size(est.total_bytes)}"),
                fit_item(
                    f,
                    est.total_bytes,
                    f"about {human_size(est.total_bytes)} at "
                    f"{settings.n_ctx:,} tokens; {human_size(available)} free now",
                ),
                _item(here),
            ]
        )

    def _local_state(self, v: HubVariant) -> str:
        models = self.manager.models_dir
        if all((models / Path(f.path).name).exists() for f in v.files):
            return "installed"
        done = sum(partial_bytes(models, f.path) for f in v.files)
        done += sum(f.size for f in v.files if (models / Path(f.path).name).exists())
        if done and v.size:
            return f"partial {done / v.size:.0%}"
        return ""

    def selected_variant(self) -> HubVariant | None:
        index = self.files_view.currentIndex()
        if not index.isValid() or not index.parent().isValid():
            return None
        head = self.files.item(index.parent().row(), 0)
        before = sum(self.files.item(r, 0).rowCount() for r in range(index.parent().row()))
        i = before + index.row()
        if head is not None and 0 <= i < len(self._variants):
            return self._variants[i]
        return None

    def select_quant(self, quant: str) -> bool:
        i = 0
        for r in range(self.files.rowCount()):
            head = self.files.item(r, 0)
            for c in range(head.rowCount()):
                if self._variants[i].quant.upper() == quant.upper():
                    self.files_view.setCurrentIndex(head.child(c, 0).index())
                    return True
                i += 1
        return False

    def download_selected(self) -> Job | None:
        v = self.selected_variant()
        if v is None or self.repo is None:
            self.status.setText("Choose a file in the list first.")
            return None
        if not v.complete:
            self.status.setText(f"{v.name} is missing parts on the hub; it cannot be loaded.")
            return None
        if self._local_state(v) == "installed":
            self.status.setText(f"{v.name} is already installed (see the Installed tab).")
            return None
        try:
            return self.manager.download(self.repo, v)
        except HearthError as exc:
            self.status.setText(exc.user_message)
            return None

    # -- interrupted downloads -------------------------------------------------------------

    def pending(self) -> list[PendingDownload]:
        running = {j.pending.key for j in self.manager.active_jobs() if hasattr(j, "pending")}
        return [
            d
            for d in self.manager.records.pending_downloads(self.manager.models_dir)
            if d.key not in running
        ]

    def refresh_pending(self) -> None:
        self.pending_list.clear()
        items = self.pending()
        for d in items:
            done = sum(partial_bytes(self.manager.models_dir, str(f["path"])) for f in d.files)
            text = f"{d.repo_id} · {d.name} — {human_size(done)} of {human_size(d.size)}"
            it = QListWidgetItem(text)
            it.setData(ROLE, d.key)
            self.pending_list.addItem(it)
        if items:
            self.pending_list.setCurrentRow(0)
        self.pending_box.setVisible(bool(items))
        if self.repo is not None:
            self._refresh_here()  # "Here": partial percentages, newly installed files

    def _refresh_here(self) -> None:
        i = 0
        for r in range(self.files.rowCount()):
            head = self.files.item(r, 0)
            for c in range(head.rowCount()):
                if i < len(self._variants):
                    head.child(c, 5).setText(self._local_state(self._variants[i]))
                i += 1

    def _selected_pending(self) -> PendingDownload | None:
        item = self.pending_list.currentItem()
        if item is None:
            return None
        key = item.data(ROLE)
        return next((d for d in self.pending() if d.key == key), None)

    def resume_selected(self) -> Job | None:
        d = self._selected_pending()
        if d is None:
            return None
        try:
            job = self.manager.resume(d)
        except HearthError as exc:
            self.status.setText(exc.user_message)
            return None
        self.refresh_pending()
        return job

    def discard_selected(self, ask: bool = True) -> bool:
        d = self._selected_pending()
        if d is None:
            return False
        if ask and not confirm(
            self, "Discard download", f"Delete the partial download of {d.name}?", "Discard"
        ):
            return False
        try:
            self.manager.discard(d)
        except HearthError as exc:
            self.status.setText(exc.user_message)
            return False
        self.refresh_pending()
        return True


# -- the dialog ------------------------------------------------------------------------------


class ModelsDialog(QDialog):
    """Non-modal: downloads and quantizations go on while the user chats."""

    def __init__(self, controller: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.setObjectName("modelsDialog")
        self.controller = controller
        self.manager = job_manager(controller, parent)
        self.installed = InstalledTab(self.manager)
        self.hub = HubTab(self.manager)
        self.jobs = JobsPanel(self.manager)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.installed, "Installed")
        self.tabs.addTab(self.hub, "Hub")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.jobs)
        if hasattr(controller, "modelStateChanged"):
            controller.modelStateChanged.connect(self._model_state)
        self.manager.jobEnded.connect(self._job_ended)
        self.resize(1180, 660)

    def _model_state(self, state: str, _text: str) -> None:
        if state in ("ready", "failed") and self.isVisible():
            self.installed.refresh()

    def _job_ended(self, job: Job) -> None:
        if job.state == "failed" and job.error is not None and job.kind != "call":
            _present(self, self.controller, job.error)


# -- settings pages --------------------------------------------------------------------------

CHOICE_COLUMNS = ["Level", "Status", "Size", "Memory", "Fit", "Speed"]


class VariantsPage(SettingsPage):
    """Switch the current model to another quantization level; llama.cpp's backend."""

    title = "Quantization"
    choicesChanged = Signal()
    backendShown = Signal()

    def __init__(self, context: SettingsContext) -> None:
        super().__init__()
        self.controller = context.controller
        self.manager: JobManager | None = (
            job_manager(self.controller) if self.controller is not None else None
        )
        self.group: ModelGroup | None = None
        self.current_path = ""
        self.repo: RepoFiles | None = None
        self.choices: list[QuantChoice] = []
        self.gpu_offload: bool | None = None
        self._jobs: list[Job] = []  # keep the page's calls referenced

        self.heading = QLabel("")
        self.heading.setWordWrap(True)
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
        self.hub_note = QLabel("")
        self.hub_note.setWordWrap(True)
        self.hub_note.setObjectName("metaLabel")
        note = QLabel(
            "Choose a level and press OK. One that is not installed is downloaded or made "
            "in the background; the model reloads when it is ready."
        )
        note.setWordWrap(True)
        self.backend = QLabel("llama.cpp backend: checking…")
        self.backend.setWordWrap(True)
        self.backend.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.offload = QLabel("GPU offload: checking…")
        box = QGroupBox("Backend")
        bl = QVBoxLayout(box)
        bl.addWidget(self.backend)
        bl.addWidget(self.offload)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.hub_note)
        layout.addWidget(note)
        layout.addWidget(box)
        self._settings = Settings()
        if self.manager is not None:
            job = self.manager.system_info()
            job.succeeded.connect(self._show_backend)
            job.failed.connect(self._show_backend)
            self._jobs.append(job)

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
        if choice is None or self.manager is None or _same(choice.path, self.current_path):
            return
        if choice.status == "installed":
            settings.default_model = choice.name
            return
        try:
            job = self.manager.switch_to(choice)
        except HearthError as exc:
            _present(self, self.controller, exc)
            return
        if job is not None:
            self._jobs.append(job)

    # -- data ------------------------------------------------------------------------------

    def _current_path(self, settings: Settings) -> str:
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
            is_current = c.status == "installed" and _same(c.path, self.current_path)
            if is_current:
                current_row = i
            status = choice_status(c) + ("  (current)" if is_current else "")
            speed = f"{c.tokens_per_s:.1f} tok/s" if c.tokens_per_s else "—"
            self.model.appendRow(
                _ro(
                    [
                        _item(c.quant, i, tooltip=c.name),
                        _item(status),
                        _item(("~" if c.status == "make" else "") + human_size(c.size)),
                        _item(human_size(c.memory)),
                        fit_item(c.fit, c.memory),
                        _item(speed),
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

    def _show_backend(self, info: Any) -> None:
        if isinstance(info, HearthError):
            self.backend.setText(f"llama.cpp backend: unknown ({info.user_message})")
            self.gpu_offload = False
        else:
            self.backend.setText(backend_summary(info))
            self.backend.setToolTip(str(info.get("system_info", "")))
            self.gpu_offload = bool(info.get("gpu_offload"))
        loaded = getattr(self.controller, "loaded_model", None)
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


# -- wiring into the window ------------------------------------------------------------------


def install(window: Any, services: Services) -> None:
    """Add Models → Manage models… (Ctrl+M) to the window, the model pages to Settings, and
    start the job manager (it records measured speeds and stops jobs when the window
    closes). Idempotent."""
    if getattr(window, "_models_ui_installed", False):
        return
    window._models_ui_installed = True
    register_page(VariantsPage)
    register_page(HubSettingsPage)
    job_manager(window.controller, window)
    menu = window.menuBar().addMenu("&Models")
    action = menu.addAction("&Manage models…")
    action.setShortcut(QKeySequence("Ctrl+M"))
    action.triggered.connect(lambda: open_models(window))
    window.models_action = action


def open_models(window: Any, tab: str = "") -> ModelsDialog:
    dialog = getattr(window, "models_dialog", None)
    if dialog is None:
        dialog = ModelsDialog(window.controller, window)
        window.models_dialog = dialog
    else:
        dialog.installed.refresh()
        dialog.hub.refresh_pending()
    if tab == "hub":
        dialog.tabs.setCurrentWidget(dialog.hub)
    dialog.show()
    dialog.raise_()
    QTimer.singleShot(0, dialog.activateWindow)
    return dialog
