"""The Models window's Hub tab: search GGUF models, open a repository, its files grouped by
quantization (a split model is one entry) with the memory each would need, download with
progress, cancel, and resume or discard interrupted downloads."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableView,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.model_jobs import DownloadJob, Job, JobManager
from app.settings import Settings
from engine.errors import HearthError
from engine.model_inventory import (
    PendingDownload,
    Variant,
    group_key,
    installed_groups,
    memory_fit,
    partial_bytes,
)
from engine.units import human_size
from ui.dialogs import confirm
from ui.model_wording import repo_summary
from ui.models_items import ROLE, bold_item, fit_item, item, read_only

if TYPE_CHECKING:
    from engine.hub import HubModel, HubVariant, RepoFiles, SortKey


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
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self._results_view())
        split.addWidget(self._files_box())
        split.setSizes([160, 220])
        layout = QVBoxLayout(self)
        layout.addLayout(self._search_row())
        layout.addWidget(self.status)
        layout.addWidget(split, 1)
        layout.addWidget(self._pending_box())
        self._show_endpoint()
        self.refresh_pending()
        manager.jobEnded.connect(lambda _j: self.refresh_pending())
        manager.jobAdded.connect(lambda _j: self.refresh_pending())

    def _search_row(self) -> QHBoxLayout:
        """The query, its sort order and Search (and the status line under them)."""
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
        top = QHBoxLayout()
        top.addWidget(self.query, 1)
        top.addWidget(self.sort)
        top.addWidget(self.search_button)
        return top

    def _results_view(self) -> QTableView:
        """The repositories found; opening one lists its files."""
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
        return self.results_view

    def _files_box(self) -> QWidget:
        """The open repository's files, grouped by quantization, and Download."""
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
        files_box = QWidget()
        fl = QVBoxLayout(files_box)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.addWidget(self.repo_label)
        fl.addWidget(self.files_view, 1)
        fb = QHBoxLayout()
        fb.addStretch(1)
        fb.addWidget(self.download_button)
        fl.addLayout(fb)
        return files_box

    def _pending_box(self) -> QGroupBox:
        """Interrupted downloads with Resume and Discard (hidden when there are none)."""
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
        return self.pending_box

    def _show_endpoint(self) -> None:
        from engine.hub import resolve_endpoint

        endpoint = resolve_endpoint(self.manager.settings().hub_endpoint)
        self.status.setText(f"Hub: {endpoint} (change it in Settings → Model hub).")

    # -- search ----------------------------------------------------------------------------

    def search(self, query: str | None = None, sort: SortKey | None = None) -> Job:
        """Search the hub for `query` (else the query box's text), in `sort` order (else
        the order chosen in the box)."""
        if query is not None:
            self.query.setText(query)
        order: SortKey = sort or self.sort.currentData()
        self.status.setText("Searching…")
        self.search_button.setEnabled(False)
        job = self.manager.search(self.query.text().strip(), sort=order)
        self._search_job = job
        job.succeeded.connect(lambda found, j=job: self._found(j, found))
        job.failed.connect(lambda err, j=job: self._found(j, err))
        return job

    def _found(self, job: Job, found: list[HubModel] | HearthError) -> None:
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
                read_only(
                    [
                        item(m.repo_id, m.repo_id),
                        item(f"{m.downloads:,}"),
                        item(str(m.likes)),
                        item(date),
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

    def _repo_loaded(self, job: Job, repo: RepoFiles | HearthError) -> None:
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
            head = bold_item(quant)
            self.files.appendRow(read_only([head, *[item("") for _ in range(5)]]))
            for v in variants:
                head.appendRow(self._file_row(v, settings, available))
                self._variants.append(v)
        self.files_view.expandAll()
        for c in range(6):
            self.files_view.resizeColumnToContents(c)
        self.repo_label.setText(repo_summary(repo))

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
        return read_only(
            [
                item(Path(v.first_file.path).name, v.name, tooltip=tip),
                item(human_size(v.size)),
                item(parts),
                item(f"~{human_size(est.total_bytes)}"),
                fit_item(
                    f,
                    est.total_bytes,
                    f"about {human_size(est.total_bytes)} at "
                    f"{settings.n_ctx:,} tokens; {human_size(available)} free now",
                ),
                item(here),
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
        jobs = self.manager.active_jobs()
        running = {j.pending.key for j in jobs if isinstance(j, DownloadJob)}
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
