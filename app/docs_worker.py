"""The documents thread: one worker QObject, living on its own QThread, owns the document
library (`rag.library.Library`: the SQLite store, the single Chroma client and the embedding
model). The GUI thread never touches them.

Requests reach the worker as queued signals (add, remove, re-index, search, shutdown), so its
slots run one at a time on the documents thread. Ingestion runs in small steps
(`Library.ingest_step`, about half a second of embedding each): after each step the worker
re-posts itself with a zero-interval timer, so a search request queued meanwhile runs right
after the current step instead of after a whole book.

Pause and cancel are `threading.Event`s set directly from the GUI thread, seen at the next
batch boundary. Cancel stops indexing and removes the documents that were not finished (the
add is undone); pause keeps everything and goes on after resume. A paused window stops reading
files and lets go of the library's ingest lock, so `hearth docs add` can index meanwhile (the
panel follows it).

Closing: `begin_shutdown` sets the stop event and queues the shutdown slot (the library is
closed on its own thread); `finish_shutdown` waits with a timeout. A thread that outlives it
is kept referenced so Qt never destroys it running.

chromadb, llama_cpp, numpy and pypdf are imported only on the documents thread.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from app.docs_config import DocsConfig as DocsConfig  # re-exported: the window builds it
from app.worker_thread import ThreadHost
from engine.errors import DocumentError, HearthError
from rag.formats import SUPPORTED_SUFFIXES, discover, skipped_files, skipped_summary
from rag.retrieve import Hit
from rag.retrieve import source_dicts as source_dicts  # re-exported for app.controller

if TYPE_CHECKING:
    from rag.library import Library

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1  # at most ten progress signals a second
IDLE_POLL_MS = 20  # while pages are being read in other processes and nothing is to embed
ELSEWHERE_POLL_MS = 1000  # while another Hearth process is indexing this library
# How often an idle window looks for changes made by `hearth docs ...` and for documents
# changed on disk (`rag.watch`: a stat per file, a hash only when size or time differ).
WATCH_MS = 2000

# Worker states (stateChanged)
IDLE, INDEXING, PAUSED, ERROR = "idle", "indexing", "paused", "error"


@dataclass(frozen=True)
class SearchJob:
    request_id: int
    query: str
    k: int
    paths: tuple[str, ...] | None = None  # None: every document


def passage_label(hit: Hit) -> str:
    """ "file.pdf, page N" (or "pages N-M"), as the engine shows it to the model
    (`rag.retrieve.to_passages` labels passages the same way)."""
    return hit.label()


def _unexpected(exc: BaseException, what: str) -> DocumentError:
    return DocumentError(
        f"Unexpected error while {what}: {exc}", "".join(traceback.format_exception(exc))
    )


class DocsWorker(QObject):
    """Lives on the documents thread. Only `DocsHost` should talk to it."""

    documents = Signal(list)  # every document (rag.index.DocRow), after add/remove/start
    documentsUpdated = Signal(list)  # rows that changed in one ingestion step
    progress = Signal(object)  # rag.progress.Progress
    stateChanged = Signal(str)  # idle | indexing | paused | error
    searchDone = Signal(int, list)  # request id, hits (rag.retrieve.Hit), best first
    searchFailed = Signal(int, object)  # request id, HearthError
    failed = Signal(object)  # HearthError (add, remove, ingestion)
    notice = Signal(str)
    stopped = Signal()

    def __init__(
        self,
        config: DocsConfig,
        pause: threading.Event,
        cancel: threading.Event,
        stop: threading.Event,
    ) -> None:
        super().__init__()
        self.config = config
        self._pause = pause
        self._cancel = cancel
        self._stop = stop
        self._lib: Library | None = None
        self._model_error: HearthError | None = None
        self._scheduled = False
        self._state = IDLE
        self._last_progress = 0.0
        self.steps = 0  # ingestion steps run (tests, benchmarks)
        self._watch: QTimer | None = None  # notices the command line's changes to the library
        self._seen_version = 0

    def _fail(self, exc: Exception, doing: str, stop: bool = False) -> None:
        """Report a failure to the window: a HearthError as it is, anything else as an
        unexpected error with its traceback (also logged). `stop`: indexing stops too."""
        if stop:
            self._set_state(ERROR)
        if isinstance(exc, HearthError):
            self.failed.emit(exc)
        else:
            log.error("%s failed", doing, exc_info=exc)
            self.failed.emit(_unexpected(exc, doing))

    # -- opening -------------------------------------------------------------------------

    def _open(self) -> None:
        from rag.library import Library

        model = self._resolve_model()
        self._lib = Library(self.config.data_dir, self.config.library_config(model))
        if not self._lib.documents():
            return  # nothing indexed: the vector store (a Chroma process) starts when needed
        try:
            self._lib.client  # noqa: B018 - open the vector store now: an unreadable one is rebuilt
        except HearthError as exc:
            self.failed.emit(exc)
        else:
            if note := self._lib.take_vector_notice():  # the store was rebuilt: say why
                self.notice.emit(note)

    def _resolve_model(self) -> Path | None:
        """The embedding model's file; the bundled MiniLM is prepared on first use."""
        from app.user_library import on_first_step, prepare_default_models
        from engine.catalog import Catalog

        self._model_error = None
        prepare_error: HearthError | None = None
        if not self.config.embedding_model:
            first_step = on_first_step(
                lambda: self.notice.emit("Preparing the embedding model (first use)…")
            )
            try:
                made = prepare_default_models(self.config.models_dir, first_step, chat=False)
                if made:
                    return made[0]
            except HearthError as exc:  # e.g. a full disk: use an installed model if any
                prepare_error = exc
        try:
            return Path(
                Catalog(self.config.models_dir)
                .resolve(self.config.embedding_model, embedding=True)
                .path
            )
        except HearthError as exc:
            self._model_error = prepare_error or exc
            return None

    def _library(self) -> Library:
        if self._lib is None:
            self._open()
        assert self._lib is not None
        return self._lib

    def _needs_model(self) -> None:
        if self._model_error is not None:
            raise DocumentError(
                "Documents cannot be indexed or searched: no embedding model. "
                + self._model_error.user_message,
                self._model_error.details,
            )

    # -- slots (documents thread) ---------------------------------------------------------

    @Slot()
    def start(self) -> None:
        """Open the library, show its documents, and carry on with unfinished indexing."""
        try:
            lib = self._library()
            lib.check_files()  # files changed, deleted or added while the window was closed
            if note := lib.take_vector_notice():  # changed outside Hearth: rebuilt
                self.notice.emit(note)
            self.documents.emit(lib.documents())
        except Exception as exc:  # noqa: BLE001 - shown to the user, never lost
            self._fail(exc, "opening the document library", stop=True)
            return
        if lib.documents() and self._model_error is None:
            QTimer.singleShot(0, self._warm_up)
        self._seen_version = lib.store.data_version()
        if self._watch is None:  # start() runs again after a reconfigure
            self._watch = QTimer(self)
            self._watch.setInterval(WATCH_MS)
            self._watch.timeout.connect(self._look_for_changes)
            self._watch.start()
        self._kick()

    @Slot()
    def _look_for_changes(self) -> None:
        """`hearth docs add` or `rm` changed the library while the window was idle or paused,
        or files changed on disk (`Library.check_files`: this connection's own commits leave
        data_version as it is): show the documents as they are now, and carry on with work
        left (a command that was interrupted, or one that is still indexing: then the panel
        follows its progress; a changed file is indexed again)."""
        lib = self._lib
        if lib is None or self._stop.is_set() or self._state not in (IDLE, PAUSED):
            return
        try:
            on_disk = lib.check_files()
            if note := lib.take_vector_notice():
                self.notice.emit(note)
            version = lib.store.data_version()
            if version == self._seen_version and not on_disk:
                return
            self._seen_version = version
            self.documents.emit(lib.documents())
            self.progress.emit(lib.progress())
        except Exception:  # noqa: BLE001 - the next look tries again
            log.exception("looking for changes to the document library failed")
            return
        self._kick()

    @Slot()
    def _warm_up(self) -> None:
        """Open Chroma and load the embedding model now rather than at the first search or
        batch. Opening Chroma holds the GIL for a moment (its Rust bindings do not release
        it), better spent right after start-up than in the middle of a conversation."""
        lib = self._lib
        if lib is None or self._stop.is_set():
            return
        try:
            lib.vectors.count()
        except HearthError as exc:
            log.warning("warming up the document library failed: %s", exc.user_message)
        except Exception:
            log.exception("warming up the document library failed")

    @Slot(list)
    def add(self, paths: list[str]) -> None:
        try:
            lib = self._library()
            files = discover(paths)
            wanted = [f for f in files if f.suffix.lower() in SUPPORTED_SUFFIXES]
            skipped = skipped_files(paths)  # every file left out is said, with why
            if skipped:
                self.notice.emit(skipped_summary(skipped))
            if not wanted:
                if not skipped:
                    self.notice.emit("No PDF, .txt, .md or .rst files were found there.")
                return
            lib.add([*(p for p in paths if Path(p).is_dir()), *wanted])  # folders are watched
            self.documents.emit(lib.documents())
        except Exception as exc:  # noqa: BLE001 - shown to the user, never lost
            self._fail(exc, "adding documents")
            return
        self._kick()

    @Slot(int)
    def remove(self, doc_id: int) -> None:
        try:
            lib = self._library()
            lib.remove(doc_id)
            self.documents.emit(lib.documents())
            self.progress.emit(lib.progress())
        except Exception as exc:  # noqa: BLE001 - shown to the user, never lost
            self._fail(exc, "removing the document")

    @Slot(int)
    def reindex(self, doc_id: int) -> None:
        try:
            lib = self._library()
            lib.reindex(doc_id)
            self.documents.emit(lib.documents())
        except Exception as exc:  # noqa: BLE001 - shown to the user, never lost
            self._fail(exc, "re-indexing the document")
            return
        self._kick()

    @Slot()
    def resume(self) -> None:
        self._kick()

    @Slot()
    def cancel_indexing(self) -> None:
        """Stop indexing and remove the documents that were not finished."""
        self._cancel.clear()
        lib = self._lib
        if lib is None:
            return
        try:
            lib.cancel()
            unfinished = [d for d in lib.documents() if d.status in ("queued", "indexing")]
            for doc in unfinished:
                lib.remove(doc.id)
            self.documents.emit(lib.documents())
            self.progress.emit(lib.progress())
            if unfinished:
                self.notice.emit(f"Indexing cancelled: {len(unfinished)} document(s) removed.")
        except Exception as exc:  # noqa: BLE001 - shown to the user, never lost
            self._fail(exc, "cancelling indexing")
        if self._pause.is_set():
            self._stay_paused(lib)
        else:
            self._set_state(IDLE)

    @Slot(object)
    def reconfigure(self, config: DocsConfig) -> None:
        """Open the library again with another embedding model or chunking."""
        if config == self.config and self._lib is not None:
            return
        self._close_library()
        self.config = config
        self.start()

    @Slot(object)
    def search(self, job: SearchJob) -> None:
        t0 = time.perf_counter()
        try:
            lib = self._library()
            docs = [d for d in lib.documents() if d.answers]
            if job.paths is not None:
                wanted = set(job.paths)
                docs = [d for d in docs if d.path in wanted]
            if not docs:
                self.searchDone.emit(job.request_id, [])
                return
            self._needs_model()
            ids = None if job.paths is None else [d.id for d in docs]
            hits = lib.search(job.query, k=job.k, doc_ids=ids)
        except HearthError as exc:
            self.searchFailed.emit(job.request_id, exc)
            return
        except Exception as exc:
            log.exception("search %d failed", job.request_id)
            self.searchFailed.emit(job.request_id, _unexpected(exc, "searching the documents"))
            return
        log.debug(
            "search %d: %d hits in %.3f s", job.request_id, len(hits), time.perf_counter() - t0
        )
        self.searchDone.emit(job.request_id, hits)

    @Slot()
    def shutdown(self) -> None:
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
        self._close_library()
        self.stopped.emit()
        ThreadHost.quit_current(self)

    # -- ingestion loop ------------------------------------------------------------------

    def _kick(self) -> None:
        if self._stop.is_set() or self._lib is None:
            return
        if self._pause.is_set():
            self._stay_paused(self._lib)
            return
        self._schedule(0)

    def _stay_paused(self, lib: Library) -> None:
        """Paused: let `hearth docs add` index meanwhile (Library.pause). If nothing is left
        to index (a command finished it), there is nothing to resume: go idle."""
        lib.pause()
        if lib.has_work():
            self._set_state(PAUSED)
        elif self._state != IDLE:
            self._pause.clear()
            self._set_state(IDLE)

    def _schedule(self, delay_ms: int) -> None:
        if self._scheduled or self._stop.is_set():
            return
        self._scheduled = True
        QTimer.singleShot(delay_ms, self._step)

    @Slot()
    def _step(self) -> None:
        self._scheduled = False
        lib = self._lib
        if lib is None or self._stop.is_set() or self._cancel.is_set():
            return  # cancel_indexing (queued) does the rest
        if self._pause.is_set():
            self._stay_paused(lib)
            return
        if not lib.has_work():
            self._finish_run(lib)
            return
        try:
            self._needs_model()
            report = lib.ingest_step()
        except Exception as exc:  # noqa: BLE001 - shown to the user, never lost
            self._fail(exc, "indexing documents", stop=True)
            try:
                # Start again from what is stored when indexing resumes, and let another
                # process (`hearth docs add`) index the library meanwhile.
                lib.cancel()
            except Exception:  # noqa: BLE001 - the failure above is what the user sees
                log.exception("resetting the indexing state failed")
            if isinstance(exc, HearthError):  # a document failed: show its status
                self.documents.emit(lib.documents())
            return
        self.steps += 1
        self._set_state(INDEXING)
        if report.changed:
            rows = [lib.document(i) for i in report.changed]
            self.documentsUpdated.emit([r for r in rows if r is not None])
        now = time.monotonic()
        if report.changed or now - self._last_progress >= PROGRESS_INTERVAL_S or not report.more:
            self._last_progress = now
            self.progress.emit(report.progress)
        if report.more:
            if report.elsewhere:  # `hearth docs add` is indexing: look again now and then
                self._schedule(ELSEWHERE_POLL_MS)
            else:
                self._schedule(0 if report.did_work else IDLE_POLL_MS)
        else:
            self._finish_run(lib)

    def _finish_run(self, lib: Library) -> None:
        if self._state == INDEXING:
            self.documents.emit(lib.documents())
            self.progress.emit(lib.progress())
        self._set_state(IDLE)

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.stateChanged.emit(state)

    def _close_library(self) -> None:
        lib, self._lib = self._lib, None
        if lib is None:
            return
        try:
            lib.close()
        except Exception:
            log.exception("closing the document library failed")


class DocsHost(ThreadHost):
    """GUI-thread handle on the documents thread: starts it, sends it work, pauses, cancels,
    stops it. Keeps the latest list of documents for the views (`rows`)."""

    documentsChanged = Signal()  # `rows` changed (any row added, removed or updated)
    rowsUpdated = Signal(list)  # rows updated in place (per-file progress)
    progress = Signal(object)  # rag.progress.Progress
    stateChanged = Signal(str)
    retrieved = Signal(int, list)  # request id, hits
    retrieveFailed = Signal(int, object)  # request id, HearthError
    notice = Signal(str)

    _requestStart = Signal()
    _requestAdd = Signal(list)
    _requestRemove = Signal(int)
    _requestReindex = Signal(int)
    _requestResume = Signal()
    _requestCancel = Signal()
    _requestSearch = Signal(object)
    _requestReconfigure = Signal(object)
    _requestShutdown = Signal()

    def __init__(self, config: DocsConfig, parent: QObject | None = None) -> None:
        pause_event, cancel_event, stop_event = (threading.Event() for _ in range(3))
        worker = DocsWorker(config, pause_event, cancel_event, stop_event)
        super().__init__(worker, "hearth-documents", parent)
        self.worker: DocsWorker = worker
        self.config = config
        self.pause_event, self.cancel_event, self.stop_event = pause_event, cancel_event, stop_event
        self._ids = itertools.count(1)
        self._started = False
        self.rows: dict[int, Any] = {}  # doc id -> DocRow, in the library's order
        self.listed = False  # the documents thread has sent its first list
        self.state = IDLE
        self.last_progress: Any = None
        self._requestStart.connect(self.worker.start)
        self._requestAdd.connect(self.worker.add)
        self._requestRemove.connect(self.worker.remove)
        self._requestReindex.connect(self.worker.reindex)
        self._requestResume.connect(self.worker.resume)
        self._requestCancel.connect(self.worker.cancel_indexing)
        self._requestSearch.connect(self.worker.search)
        self._requestReconfigure.connect(self.worker.reconfigure)
        self._requestShutdown.connect(self.worker.shutdown)
        self.worker.documents.connect(self._on_documents)
        self.worker.documentsUpdated.connect(self._on_updated)
        self.worker.progress.connect(self._on_progress)
        self.worker.stateChanged.connect(self._on_state)
        self.worker.searchDone.connect(self.retrieved)
        self.worker.searchFailed.connect(self.retrieveFailed)
        self.worker.failed.connect(self.errorRaised)
        self.worker.notice.connect(self.notice)
        self.start_thread()

    def documents(self) -> list[Any]:
        return list(self.rows.values())

    def may_hold_documents(self) -> bool:
        """Whether the library may hold documents: it does, or it has not been listed yet (a
        question sent at start-up searches; an empty library finds nothing)."""
        return bool(self.rows) or not self.listed

    # -- requests ------------------------------------------------------------------------

    def start(self) -> None:
        """Open the library on its thread and resume indexing left unfinished."""
        if not self._closed and not self._started:
            self._started = True
            self._requestStart.emit()

    def add(self, paths: Sequence[str | Path]) -> None:
        if not self._closed:
            self.start()
            self._requestAdd.emit([str(p) for p in paths])

    def remove(self, doc_id: int) -> None:
        if not self._closed:
            self._requestRemove.emit(int(doc_id))

    def reindex(self, doc_id: int) -> None:
        if not self._closed:
            self._requestReindex.emit(int(doc_id))

    def pause(self) -> None:
        self.pause_event.set()

    def resume(self) -> None:
        self.pause_event.clear()
        if not self._closed:
            self._requestResume.emit()

    @property
    def paused(self) -> bool:
        return self.pause_event.is_set()

    def cancel(self) -> None:
        """Stop indexing (at the next batch boundary) and remove unfinished documents."""
        if not self._closed:
            self.cancel_event.set()
            self._requestCancel.emit()

    def retrieve(self, query: str, k: int, paths: Sequence[str] | None = None) -> int:
        """Queue a search; the answer comes as `retrieved` or `retrieveFailed` with the id."""
        rid = next(self._ids)
        job = SearchJob(rid, query, max(1, int(k)), None if paths is None else tuple(paths))
        if self._closed:  # answered later, as a real search would be, never before return
            error = DocumentError("The document library is closed.")
            QTimer.singleShot(0, self, lambda: self.retrieveFailed.emit(rid, error))
        else:
            self.start()
            self._requestSearch.emit(job)
        return rid

    def reconfigure(self, config: DocsConfig) -> None:
        if config != self.config and not self._closed:
            self.config = config
            self._requestReconfigure.emit(config)

    # -- shutdown ------------------------------------------------------------------------

    def _request_shutdown(self) -> None:
        """Stop at the next batch boundary and close the library on its thread."""
        self.stop_event.set()
        self._requestShutdown.emit()

    # -- worker → host -------------------------------------------------------------------

    @Slot(list)
    def _on_documents(self, rows: list[Any]) -> None:
        self.rows = {r.id: r for r in rows}
        self.listed = True
        self.documentsChanged.emit()

    @Slot(list)
    def _on_updated(self, rows: list[Any]) -> None:
        for r in rows:
            self.rows[r.id] = r
        self.rowsUpdated.emit(rows)

    @Slot(object)
    def _on_progress(self, progress: Any) -> None:
        self.last_progress = progress
        self.progress.emit(progress)

    @Slot(str)
    def _on_state(self, state: str) -> None:
        self.state = state
        self.stateChanged.emit(state)
