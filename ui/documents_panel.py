"""Documents in the window: the Documents panel (a dock: table of documents with per-file
progress, overall progress, add/pause/cancel/remove/re-index), drag and drop of files and
folders onto the window, the sources under answers; with the per-chat sources selector above
the message box (`ui.sources_bar`), the "Documents" settings page (`ui.documents_settings`)
and the table's model and texts (`ui.documents_model`).

Files in the library are watched (`rag.watch`, on the documents thread): a document whose file
changed reads "changed – re-indexing" until it is indexed again, one whose file is gone reads
"missing" (its passages are not used) until the file is back.

Everything here draws and forwards: the documents thread (`app.docs_worker.DocsHost`) does
the work, the chat store keeps each chat's choice of sources.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.docs_worker import SUPPORTED_SUFFIXES
from app.services import Services
from ui import dialogs
from ui.documents_model import (
    CHUNKS,
    NAME,
    PAGES,
    SIZE,
    STATUS,
    DocumentsModel,
    ProgressDelegate,
    overall_text,
    resting_text,
)
from ui.documents_settings import DocumentsSettingsPage
from ui.settings_dialog import register_page
from ui.sources_bar import NOW_FROM_DOCUMENTS, SourcesBar
from ui.sources_view import SourcesView, valid_sources

if TYPE_CHECKING:  # pragma: no cover
    from app.docs_worker import DocsHost

DOCK_WIDTH = 430
DOCK_MIN_WIDTH = 300

# -- pure helpers ------------------------------------------------------------------------


def local_paths(urls: Sequence[QUrl]) -> list[str]:
    """Local files and folders among dropped URLs."""
    return [u.toLocalFile() for u in urls if u.isLocalFile() and u.toLocalFile()]


def droppable(paths: Sequence[str]) -> bool:
    """True if a drop holds a folder or at least one PDF, .txt, .md or .rst file."""
    for p in paths:
        path = Path(p)
        if path.is_dir() or path.suffix.lower() in SUPPORTED_SUFFIXES:
            return True
    return False


# -- the panel -------------------------------------------------------------------------


class DocumentsPanel(QWidget):
    """The content of the Documents dock."""

    addFilesRequested = Signal()
    addFolderRequested = Signal()

    def __init__(self, docs: DocsHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("documentsPanel")
        self.docs = docs
        self.model = DocumentsModel(self)
        self.table = self._make_table()
        self._make_controls()
        self._lay_out()

        # Qt sizes ResizeToContents columns when the view is laid out, not when rows arrive:
        # shown before the library was read (start-up), the size column stayed at its minimum
        # ("63…" for 632.0 KB). Not on every dataChanged: fitting asks the model for every
        # cell, and each call waits for the GIL while the documents thread chunks (stalls).
        self._fit_pending = False
        self.model.rowsInserted.connect(self._fit_columns_later)
        self.model.modelReset.connect(self._fit_columns_later)

        docs.documentsChanged.connect(self._on_documents)
        docs.rowsUpdated.connect(self.model.update_rows)
        docs.progress.connect(self._on_progress)
        docs.stateChanged.connect(self._on_state)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self._on_documents()
        self._on_state(docs.state)

    def _make_table(self) -> QTableView:
        """The table of documents: one row each, the Status cell a progress bar while one is
        indexed; a double click opens the file."""
        table = QTableView(self)
        table.setObjectName("documentsTable")
        table.setModel(self.model)
        table.setItemDelegateForColumn(STATUS, ProgressDelegate(table))
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().setVisible(False)
        table.setShowGrid(False)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        header = table.horizontalHeader()
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        for col in (PAGES, CHUNKS, SIZE):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(STATUS, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(STATUS, 110)
        header.setMinimumSectionSize(36)
        table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        table.doubleClicked.connect(self._open_index)
        return table

    def _make_controls(self) -> None:
        """The buttons, the overall progress and the text shown while the library is empty."""
        self.add_button = QPushButton("Add documents…", self)
        self.add_button.setToolTip("Add PDF, .txt, .md or .rst files (or drop them on the window)")
        self.add_button.clicked.connect(self.addFilesRequested)
        self.folder_button = QPushButton("Add folder…", self)
        self.folder_button.clicked.connect(self.addFolderRequested)
        self.pause_button = QPushButton("Pause", self)
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Pause indexing (the chat stays usable either way)")
        self.pause_button.toggled.connect(self._pause_toggled)
        self.retry_button = QPushButton("Retry", self)
        self.retry_button.setToolTip(
            "Carry on indexing from where it stopped (what was indexed is kept)"
        )
        self.retry_button.clicked.connect(lambda: self.docs.resume())
        self.retry_button.setVisible(False)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop indexing and remove the documents not yet indexed")
        self.cancel_button.clicked.connect(lambda: self.cancel_indexing())
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.clicked.connect(lambda: self.remove_selected())
        self.reindex_button = QPushButton("Re-index", self)
        self.reindex_button.setToolTip("Read and index the selected documents again")
        self.reindex_button.clicked.connect(self.reindex_selected)

        self.overall_bar = QProgressBar(self)
        self.overall_bar.setObjectName("documentsProgress")
        self.overall_bar.setRange(0, 1000)
        self.overall_bar.setTextVisible(False)
        self.overall_bar.setMaximumHeight(8)
        self.overall_label = QLabel(self)
        self.overall_label.setObjectName("documentsProgressText")
        self.overall_label.setWordWrap(True)
        self.empty_label = QLabel(
            "No documents yet. Drop PDF, .txt, .md or .rst files or a folder on the window, or "
            "click Add documents.",
            self,
        )
        self.empty_label.setWordWrap(True)
        self.empty_label.setObjectName("documentsEmpty")

    def _lay_out(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.add_button)
        top.addWidget(self.folder_button)
        top.addStretch(1)
        run = QHBoxLayout()
        run.addWidget(self.overall_label, 1)
        run.addWidget(self.pause_button)
        run.addWidget(self.retry_button)
        run.addWidget(self.cancel_button)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.reindex_button)
        bottom.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addLayout(run)
        layout.addWidget(self.overall_bar)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self._fit_columns_later()

    def _fit_columns_later(self, *_: Any) -> None:
        if not self._fit_pending:  # one fit per burst of row updates
            self._fit_pending = True
            QTimer.singleShot(0, self._fit_columns)

    def _fit_columns(self) -> None:
        self._fit_pending = False
        if self.isVisible():
            self.table.horizontalHeader().resizeSections()

    # -- host → panel ----------------------------------------------------------------------

    def _on_documents(self) -> None:
        self.model.set_rows(self.docs.documents())
        self.empty_label.setVisible(self.model.rowCount() == 0)
        if self.docs.last_progress is None:  # nothing indexed since start-up: a tally
            self.overall_label.setText(resting_text(self.model.rows()))
        self._update_buttons()

    def _on_progress(self, p: Any) -> None:
        self.overall_label.setText(overall_text(p, self.docs.state))
        busy = p.queued + p.reading + p.indexing
        if busy and not p.chunks_total:
            self.overall_bar.setRange(0, 0)  # reading pages: no fraction yet
        else:
            self.overall_bar.setRange(0, 1000)
            self.overall_bar.setValue(int(1000 * p.fraction) if busy else 1000)
        self.overall_bar.setVisible(bool(busy))

    def _on_state(self, state: str) -> None:
        running = state in ("indexing", "paused")
        self.pause_button.setVisible(running)
        self.retry_button.setVisible(state == "error")  # indexing stopped with an error
        self.cancel_button.setVisible(running or state == "error")
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(state == "paused")
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        self.pause_button.blockSignals(False)
        if self.docs.last_progress is not None:
            self._on_progress(self.docs.last_progress)
        else:
            self.overall_bar.setVisible(False)

    def _update_buttons(self) -> None:
        selected = bool(self.selected_ids())
        self.remove_button.setEnabled(selected)
        self.reindex_button.setEnabled(selected)

    # -- panel → host ----------------------------------------------------------------------

    def selected_ids(self) -> list[int]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.row_at(r).id for r in rows if r < self.model.rowCount()]

    def select_ids(self, ids: Sequence[int]) -> None:
        self.table.clearSelection()
        for doc_id in ids:
            i = self.model.find(doc_id)
            if i >= 0:
                self.table.selectRow(i)

    def _pause_toggled(self, on: bool) -> None:
        if on:
            self.docs.pause()
        else:
            self.docs.resume()
        self.pause_button.setText("Resume" if on else "Pause")

    def cancel_indexing(self, confirm: bool = True) -> None:
        if confirm and not dialogs.confirm(
            self,
            "Cancel indexing",
            "Stop indexing? Documents that are not fully indexed are removed from the library "
            "(documents already indexed stay).",
            "Stop indexing",
        ):
            return
        self.docs.cancel()

    def remove_selected(self, confirm: bool = True) -> None:
        ids = self.selected_ids()
        if not ids:
            return
        if confirm:
            names = [self.model.row_at(self.model.find(i)).name for i in ids]
            shown = ", ".join(f"“{n}”" for n in names[:3]) + ("…" if len(names) > 3 else "")
            if not dialogs.confirm(
                self,
                "Remove documents",
                f"Remove {shown} from the library? The files themselves are not deleted.",
                "Remove",
            ):
                return
        for doc_id in ids:
            self.docs.remove(doc_id)

    def reindex_selected(self) -> None:
        for doc_id in self.selected_ids():
            self.docs.reindex(doc_id)

    def _open_index(self, index: QModelIndex) -> None:
        row = self.model.row_at(index.row())
        if row.status == "failed":
            QMessageBox.information(self, row.name, row.message or "The file could not be read.")
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(row.path))


# -- drag and drop -----------------------------------------------------------------------


class DropFilter(QObject):
    """Accepts files and folders dropped anywhere on the window (also on the message box)."""

    dropped = Signal(list)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop):
            mime = event.mimeData()  # type: ignore[attr-defined]
            paths = local_paths(mime.urls()) if mime is not None and mime.hasUrls() else []
            if paths and droppable(paths):
                event.acceptProposedAction()  # type: ignore[attr-defined]
                if kind == QEvent.Type.Drop:
                    self.dropped.emit(paths)
                return True
        return False


# -- installing it in the window ----------------------------------------------------------


class DocumentsUi(QObject):
    """Puts the documents features into the main window."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.controller = controller = window.controller  # type: ignore[attr-defined]
        self.docs = docs = controller.docs
        self.panel = DocumentsPanel(docs)
        self.dock = QDockWidget("Documents", window)
        self.dock.setObjectName("documentsDock")
        self.dock.setWidget(self.panel)
        self.dock.setAllowedAreas(
            Qt.DockWidgetArea.RightDockWidgetArea | Qt.DockWidgetArea.LeftDockWidgetArea
        )
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.setMinimumWidth(DOCK_MIN_WIDTH)
        window.resizeDocks([self.dock], [DOCK_WIDTH], Qt.Orientation.Horizontal)
        self.dock.setVisible(controller.settings.ui_state.get("documents_dock", "") == "1")
        self.dock.visibilityChanged.connect(self._remember_dock)
        self.panel.addFilesRequested.connect(self.add_files_dialog)
        self.panel.addFolderRequested.connect(self.add_folder_dialog)

        self.sources_bar = SourcesBar(controller, docs)
        self.sources_bar.followed.connect(lambda: self._say(NOW_FROM_DOCUMENTS))
        composer = window.composer  # type: ignore[attr-defined]
        box = composer.parentWidget().layout() if composer.parentWidget() else None
        if box is not None and box.indexOf(composer) >= 0:
            box.insertWidget(box.indexOf(composer), self.sources_bar)

        self.status = QLabel()
        self.status.setObjectName("documentsStatus")
        window.statusBar().addPermanentWidget(self.status)

        self.add_action = QAction("Add &documents…", window)
        self.add_action.setShortcut(QKeySequence("Ctrl+O"))
        self.add_action.triggered.connect(self.add_files_dialog)
        self.toggle_action = self.dock.toggleViewAction()
        self.toggle_action.setText("&Documents panel")
        self.toggle_action.setShortcut(QKeySequence("Ctrl+Shift+D"))
        menu_bar = window.menuBar()
        file_menu = next(
            (
                m
                for a in menu_bar.actions()
                if isinstance(m := a.menu(), QMenu) and a.text().replace("&", "") == "File"
            ),
            None,
        )
        if file_menu is not None:
            actions = file_menu.actions()
            if len(actions) > 1:
                file_menu.insertAction(actions[1], self.add_action)
            else:
                file_menu.addAction(self.add_action)
        else:
            menu_bar.addAction(self.add_action)
        view_menu = menu_bar.addMenu("&View")
        view_menu.addAction(self.toggle_action)

        self.drop_filter = DropFilter(self)
        self.drop_filter.dropped.connect(self.add_paths)
        window.setAcceptDrops(True)
        window.installEventFilter(self.drop_filter)
        composer.edit.installEventFilter(self.drop_filter)

        # Sources under answers: stored with each message, attached to its widget whenever
        # the chat view creates one (it may create older messages later, in batches).
        self._sources: dict[int, list[dict[str, Any]]] = {}
        content = window.chat_view.widget()  # type: ignore[attr-defined]
        if content is not None:
            content.installEventFilter(self)
        controller.messageFinished.connect(self._show_sources)
        controller.chatOpened.connect(self._on_chat_opened)
        docs.notice.connect(self._say)
        docs.progress.connect(self._on_progress)
        docs.stateChanged.connect(lambda _s: self._on_progress(docs.last_progress))
        register_page(DocumentsSettingsPage)

    # -- adding ------------------------------------------------------------------------------

    def add_paths(self, paths: Sequence[str]) -> None:
        """Index files and folders; an open chat that chose no sources answers from all."""
        if not paths or not dialogs.confirm_large_text(self.window, paths):
            return
        self.docs.add(list(paths))
        self.dock.setVisible(True)
        chat = self.controller.current_chat()
        if chat is None or "sources" not in chat.settings:
            self.sources_bar.follow_library()

    def _say(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 10000)

    def add_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self.window,
            "Add documents",
            str(Path.home()),
            "Documents (*.pdf *.txt *.md *.markdown *.rst)",
        )
        self.add_paths(files)

    def add_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Add a folder of documents")
        if folder:
            self.add_paths([folder])

    # -- views -----------------------------------------------------------------------------

    def _remember_dock(self, visible: bool) -> None:
        if not self.window.isVisible() and not visible:
            return  # closing the window hides the dock too: keep the last choice
        self.controller.settings.ui_state["documents_dock"] = "1" if visible else "0"

    def _show_sources(self, row: Any) -> None:
        sources = valid_sources(getattr(row, "sources", None))
        if sources:
            self._sources[row.id] = sources
            self._attach(row.id)

    def _on_chat_opened(self, _chat: Any, rows: list[Any]) -> None:
        self._sources = {}
        for row in rows:
            sources = valid_sources(getattr(row, "sources", None))
            if row.role == "assistant" and sources:
                self._sources[row.id] = sources
                self._attach(row.id)

    def _attach(self, message_id: int) -> None:
        sources = self._sources.get(message_id)
        widget = self.window.chat_view.widget_for(message_id)  # type: ignore[attr-defined]
        if widget is None or not sources:
            return
        if getattr(widget, "footer", None) is None:
            widget.set_footer(SourcesView(sources))

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.ChildAdded:
            child = event.child()  # type: ignore[attr-defined]
            message_id = getattr(child, "message_id", None)
            if isinstance(message_id, int) and message_id in self._sources:
                # The widget is still being built: attach once its content is set.
                QTimer.singleShot(0, lambda: self._attach(message_id))
        return False

    def _on_progress(self, p: Any) -> None:
        if p is None:
            return
        busy = p.queued + p.reading + p.indexing
        if not busy:
            self.status.setText("")
            return
        pct = f" {100 * p.fraction:.0f}%" if p.chunks_total else ""
        why = {"paused": " (paused)", "error": " (stopped)"}.get(self.docs.state, "")
        self.status.setText(f"Indexing{pct}{why}")
        self.status.setToolTip(overall_text(p, self.docs.state))


def install_documents_ui(window: QMainWindow, services: Services) -> DocumentsUi | None:
    """Add the documents features if the window has a documents thread."""
    if services.docs is None:
        return None
    return DocumentsUi(window)
