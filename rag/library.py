"""The document library: add, list, remove and re-index documents; ingest them into the two
indexes (Chroma vectors + SQLite FTS5 keywords); search both.

Threads
-------
A `Library` belongs to the thread that created it (the app's documents worker on its QThread;
the CLI's main thread). That thread owns the SQLite connection, the Chroma client and the
embedding model. Two helpers run beside it and never touch those objects:

- an extraction thread that hashes files and waits on `rag.extract.Extractor` (a process pool
  with a per-file timeout: pypdf holds the GIL, so it runs in other processes);
- the extractor's worker processes.

Incremental ingestion
---------------------
Work is done in small steps so a search never waits behind a whole book::

    lib = Library(data_dir, embedding_model=path)  # app.user_library opens the user's
    lib.add([Path("manual.pdf")])       # fast: registers documents as "queued"
    while lib.has_work():
        report = lib.ingest_step()      # one batch: ~step_target_s (0.5 s) of embedding
        ...                             # serve searches here, between steps
        if not report.did_work:
            lib.wait_for_extraction(0.05)  # nothing to embed yet: pages are being read

The Qt worker runs `ingest_step()` from a zero-interval timer (or re-posts itself), so queued
search requests are handled between two steps; when a step did no work (pages are still being
read) it waits a little (a 50 ms timer) instead of spinning. Pause = stop calling it; cancel =
`cancel()` (reading stops, documents stay queued and resume later). `StepReport.changed` names
the documents whose rows changed, for the view. `ingest(cancel, pause, on_progress)` is the
same loop for scripts and the CLI.

One step does, in order: chunk one window of pages (CHUNK_WINDOW_PAGES) of a document that
has been read, or take one finished extraction; hand queued documents to the extraction
thread; embed one batch of pending chunks (vectors to Chroma, then text to FTS5 and the
"embedded" flags in one SQLite transaction). Batches adapt to about `step_target_s` of
embedding, so a search waits at most about that long.

Resuming and idempotence
------------------------
Chunks are stored (with a content hash) before they are embedded, and their SQLite ids are
their Chroma ids. Chroma writes are upserts, so a batch redone after a crash never duplicates;
the keyword rows and "embedded" flags are committed together after the vectors. On the next
start, documents still "queued" are read again and documents "indexing" carry on with their
unembedded chunks. A chunk whose text was embedded before (same hash, e.g. the same file under
another name) reuses that vector. Re-adding an unchanged file does nothing; a changed file (new
sha256) has its old chunks removed from both indexes and is indexed again.

Another process may remove a document while this one embeds it (the window's Remove during
`hearth docs add`): the batch's vectors are then deleted again right after they were stored.
For a process killed between those two moments, the document ids of the batch being stored are
recorded in the library (meta `vectors_in_flight`) until the batch is settled; the next process
that takes the ingest lock (or opens the library while nobody holds it) deletes the vectors of
those that no longer exist.

Statuses: queued, indexing (progress 0..1; "reading pages" while extracting), ready, failed
(message says why).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import queue
import shutil
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from engine.closing import Closeable
from engine.errors import DocumentError, InvalidRequestError
from engine.sqlite_util import DISK_FULL, describe_error
from rag.index import (
    ChunkRow,
    DocRow,
    Store,
    VectorIndex,
    chroma_version,
    chroma_version_recorded,
    collection_name,
    delete_document_everywhere,
    open_chroma,
    record_chroma_version,
)
from rag.retrieve import (
    FUSION,
    FUSIONS,
    RRF_K,
    Candidate,
    Fusion,
    Hit,
    Mode,
    fts_query,
    is_navigation,
    reciprocal_rank_fusion,
    relative_score_fusion,
    top_passages,
)

if TYPE_CHECKING:  # pragma: no cover
    from chromadb.api import ClientAPI

    from rag.chroma_server import ChromaProcess
    from rag.extract import ExtractResult

log = logging.getLogger(__name__)

T = TypeVar("T")

SUPPORTED_SUFFIXES = (".pdf", ".txt", ".md")
# Pages chunked per ingestion step: a 2,400-page manual is cut over many steps, so a search
# never waits for a whole book to be chunked. Chunks do not cross a window's last page.
CHUNK_WINDOW_PAGES = 64

# Tuned with `hearth docs eval` (see rag/evaluate.py): all-MiniLM-L6-v2 was trained on inputs
# of up to 128 word pieces, and 128-token chunks beat 200-token ones for vector *and* keyword
# search. 20 candidates from each index: with score fusion every depth from 10 to 100 had the
# same hit@5 on the 51 questions; 40 had a better hit@1 with 128-token chunks but a worse one
# with 200-token chunks (noise). With RRF, 20 fused better than 40.
CHUNK_TOKENS = 128
CHUNK_OVERLAP = 24
CANDIDATES = 20
DB_NAME = "library.sqlite3"
CHROMA_DIR = "chroma"
VECTOR_STORE_PROCESS = "process"  # Library(vector_store=...): Chroma in a child process
SERVER_RETRIES = 2  # times a Chroma operation is tried again on a reopened store
INGEST_LOCK = "ingest.lock"  # beside the library: held by the one process that is indexing
IN_FLIGHT_KEY = "vectors_in_flight"  # meta: doc ids whose vectors are being stored (JSON list)
ELSEWHERE_POLL_S = 1.0  # how often a process waiting for another one's indexing looks again

# Messages for extraction outcomes when the extractor gives none.
EXTRACT_MESSAGES = {
    "encrypted": "The PDF is password-protected.",
    "scanned": "The PDF has no text layer (scanned pages); it needs OCR, which Hearth lacks.",
    "empty": "The document has no text.",
    "malformed": "The file is damaged or not a valid PDF.",
    "not_supported": "This kind of file is not supported (PDF, .txt and .md are).",
    "too_large": "The file is too large to index.",
    "timeout": "Reading the file took too long and was stopped.",
    "error": "The file could not be read.",
}


class EmbedderLike(Protocol):
    """What the library needs from rag.embedder.Embedder."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...

    def embed(self, texts: list[str]) -> np.ndarray: ...

    def close(self) -> None: ...


@dataclass
class Progress:
    """Library-wide ingestion progress, for a status line or progress bar."""

    queued: int = 0  # documents waiting to be read
    reading: int = 0  # documents being read (extraction in flight)
    indexing: int = 0  # documents whose chunks are being embedded
    ready: int = 0
    failed: int = 0
    pages_read: int = 0  # this run
    chunks_total: int = 0  # chunks of documents being indexed
    chunks_done: int = 0  # of those, embedded
    chunks_per_s: float = 0.0
    pages_per_s: float = 0.0
    eta_s: float | None = None
    current: str = ""  # name of the document being embedded
    elsewhere: bool = False  # another Hearth process is indexing this library: waiting for it
    elapsed_s: float = 0.0

    @property
    def fraction(self) -> float:
        return self.chunks_done / self.chunks_total if self.chunks_total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "queued": self.queued,
            "reading": self.reading,
            "indexing": self.indexing,
            "ready": self.ready,
            "failed": self.failed,
            "pages_read": self.pages_read,
            "chunks_total": self.chunks_total,
            "chunks_done": self.chunks_done,
            "chunks_per_s": round(self.chunks_per_s, 2),
            "pages_per_s": round(self.pages_per_s, 2),
            "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
            "current": self.current,
        }


@dataclass
class StepReport:
    did_work: bool  # something was stored or embedded in this step
    more: bool  # call again: work remains (possibly only extraction in flight)
    changed: list[int] = field(default_factory=list)  # documents whose row changed
    progress: Progress = field(default_factory=Progress)
    elsewhere: bool = False  # nothing done: another process holds the ingest lease (poll slowly)


@dataclass
class IngestStats:
    """Timings of one `ingest()` run (for `hearth bench ingest`)."""

    pages: int = 0
    chunks: int = 0
    tokens: int = 0
    chunks_reused: int = 0
    extract_s: float = 0.0  # wall time from first hand-off to last extraction result
    embed_s: float = 0.0  # time inside Embedder.embed
    store_s: float = 0.0  # Chroma + SQLite writes
    total_s: float = 0.0


def discover(paths: Iterable[Path | str]) -> list[Path]:
    """Files to add: files as given, folders searched recursively for .pdf .txt .md (hidden
    files and folders skipped). Missing paths raise DocumentError before anything is added."""
    found: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            for sub in sorted(p.rglob("*")):
                rel = sub.relative_to(p).parts
                if any(part.startswith(".") for part in rel):
                    continue
                if sub.is_file() and sub.suffix.lower() in SUPPORTED_SUFFIXES:
                    found.append(sub)
        else:
            missing.append(str(raw))
    if missing:
        raise DocumentError(f"No such file or folder: {', '.join(missing)}")
    seen: dict[str, Path] = {}
    for f in found:
        seen.setdefault(os.path.abspath(f), f)
    return [Path(k) for k in seen]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def chunk_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def chunk_rows(
    chunks: Sequence[Any], offsets: dict[int, int], first_ordinal: int = 0
) -> list[tuple[Any, ...]]:
    """Rows for SQLiteStore.append_chunks/replace_chunks: ordinal, page span, offsets within
    the first page and within the document, tokens, text and content hash."""
    return [
        (
            first_ordinal + i,
            c.page_start,
            c.page_end,
            c.char_start,
            c.char_end,
            offsets.get(c.page_start, 0),
            c.n_tokens,
            c.text,
            chunk_hash(c.text),
        )
        for i, c in enumerate(chunks)
    ]


def page_offsets(pages: Sequence[Any]) -> dict[int, int]:
    """Where each page's text starts in the document string that rag.chunking cuts (page
    texts joined by its PAGE_SEPARATOR)."""
    from rag.chunking import PAGE_SEPARATOR

    out: dict[int, int] = {}
    pos = 0
    for p in pages:
        out.setdefault(int(p.page), pos)
        pos += len(p.text) + len(PAGE_SEPARATOR)
    return out


def _extract_message(result: ExtractResult) -> str:
    msg = (getattr(result, "message", "") or "").strip()
    return msg or EXTRACT_MESSAGES.get(str(result.status), "The file could not be read.")


@dataclass
class _Job:
    doc_id: int
    path: str
    known_sha: str  # content already indexed ('' = none); equal hash -> no extraction


@dataclass
class _Outcome:
    doc_id: int
    path: str
    sha: str
    result: ExtractResult | None  # None: unchanged (hash equals known_sha) or unreadable
    error: str = ""


@dataclass
class _ChunkJob:
    """A read document being cut into chunks, a window of pages per ingestion step."""

    doc_id: int
    sha: str
    pages: list[Any]
    n_pages: int
    offsets: dict[int, int]
    next_page: int = 0  # index into pages
    next_ordinal: int = 0


class _ExtractionThread:
    """Hashes files and runs the extractor's process pool off the owning thread."""

    def __init__(self, workers: int, timeout_s: float, memory_limit_mb: int) -> None:
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.results: queue.Queue[_Outcome] = queue.Queue()
        self.cancel = threading.Event()
        self._workers = workers
        self._timeout_s = timeout_s
        self._memory_limit_mb = memory_limit_mb
        self._thread = threading.Thread(target=self._run, name="hearth-extract", daemon=True)
        self._thread.start()

    def submit(self, job: _Job) -> None:
        self.jobs.put(job)

    def stop(self, timeout: float = 5.0) -> None:
        self.cancel.set()
        self.jobs.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        from rag.extract import Extractor

        extractor = Extractor(
            max_workers=self._workers or None,
            timeout_s=self._timeout_s,
            memory_limit_mb=self._memory_limit_mb,
        )
        try:
            while not self.cancel.is_set():
                job = self.jobs.get()
                if job is None:
                    return
                batch = [job]
                while True:  # take whatever else is waiting, to use every worker process
                    try:
                        more = self.jobs.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        self.cancel.set()
                        break
                    batch.append(more)
                self._handle(extractor, batch)
        finally:
            extractor.close()

    def _handle(self, extractor: Any, batch: list[_Job]) -> None:
        to_extract: dict[str, _Job] = {}
        shas: dict[str, str] = {}
        for job in batch:
            if self.cancel.is_set():
                return
            try:
                sha = sha256_of(Path(job.path))
            except OSError as exc:
                self.results.put(
                    _Outcome(job.doc_id, job.path, "", None, f"The file cannot be read: {exc}")
                )
                continue
            if job.known_sha and sha == job.known_sha:
                self.results.put(_Outcome(job.doc_id, job.path, sha, None))
                continue
            shas[job.path] = sha
            to_extract[os.path.abspath(job.path)] = job
        if not to_extract:
            return
        jobs_by_path = {j.path: j for j in to_extract.values()}
        for result in extractor.extract_many([Path(p) for p in jobs_by_path], self.cancel):
            key = os.path.abspath(str(result.path))
            found = to_extract.get(key)
            if found is None:
                continue
            self.results.put(_Outcome(found.doc_id, found.path, shas[found.path], result))


_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
# Indexing does not write on a disk with less free space than this: one batch needs a few
# hundred KB in SQLite and Chroma, and Chroma's compaction more.
LOW_DISK_BYTES = 32 * 2**20


def _storage_failure(exc: BaseException) -> str | None:
    """The reason, for a user, when `exc` is a failure to write the library's files (SQLite's
    or, through its own error, Chroma's); None for any other error."""
    if isinstance(exc, sqlite3.Error):
        return describe_error(exc, "document library")
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
        return DISK_FULL
    if isinstance(exc, OSError) and exc.errno == errno.EROFS:
        return "the disk is read-only"
    text = str(exc).lower()  # Chroma reports its store's failures as text
    if "no space left on device" in text or "database or disk is full" in text:
        return DISK_FULL
    return None


class _Rate:
    """Items per second over a sliding window of recent events."""

    def __init__(self, window_s: float = 20.0) -> None:
        self.window_s = window_s
        self.events: deque[tuple[float, int]] = deque()

    def add(self, n: int, now: float | None = None) -> None:
        self.events.append((time.monotonic() if now is None else now, n))

    def per_s(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        while self.events and now - self.events[0][0] > self.window_s:
            self.events.popleft()
        if not self.events:
            return 0.0
        span = max(now - self.events[0][0], 1e-3)
        total = sum(n for _, n in self.events)
        return total / span if len(self.events) > 1 or span > 0.5 else 0.0


class Library(Closeable):
    """See the module docstring. Not thread-safe: use it from the thread that made it."""

    def __init__(
        self,
        data_dir: Path,
        *,
        embedding_model: Path | None = None,
        embedder: EmbedderLike | None = None,
        batch_size: int = 32,
        chunk_tokens: int = CHUNK_TOKENS,
        chunk_overlap: int = CHUNK_OVERLAP,
        extract_workers: int = 0,  # 0: the extractor's default (cores, at most 4)
        extract_timeout_s: float = 600.0,  # per file; a 2,400-page manual needs minutes
        extract_memory_mb: int = 2048,
        candidates: int = CANDIDATES,
        fusion: Fusion = FUSION,
        rrf_k: float = RRF_K,
        merge_max_chunks: int = 3,
        embed_threads: int = 0,  # 0: the embedder's default
        step_target_s: float = 0.5,
        vector_weight: float = 1.0,
        keyword_weight: float = 1.0,
        vector_store: str = "",  # "": in-process; "process": own server; else a server's URL
    ) -> None:
        self.data_dir = Path(data_dir)
        self.store = Store(self.data_dir / DB_NAME)
        self._embedding_model = embedding_model
        self._embedder: EmbedderLike | None = embedder
        self._owns_embedder = embedder is None
        self._client: ClientAPI | None = None
        self.vector_store = vector_store
        # How the Chroma store was opened: "in-process", "own server" (a child process),
        # "shared server" (another Hearth process's child) or "remote server"; "" until used.
        self.chroma_mode = ""
        self._chroma_process: ChromaProcess | None = None
        self._shared_pid: int | None = None  # the process whose server we share
        self._lease: Any = None  # filelock.FileLock on INGEST_LOCK while this process indexes
        # data_version when pause() let go of the lease (None: not paused while indexing)
        self._paused_at: int | None = None
        self.rebuilt_vectors = ""  # set when an unreadable vector store was rebuilt: tell the user
        self._vectors: VectorIndex | None = None
        self.batch_size = batch_size
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap = chunk_overlap
        self.extract_workers = extract_workers
        self.extract_timeout_s = extract_timeout_s
        self.extract_memory_mb = extract_memory_mb
        self.candidates = candidates
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}")
        self.fusion: Fusion = fusion
        self.rrf_k = rrf_k
        self.merge_max_chunks = merge_max_chunks
        self.embed_threads = embed_threads
        self.vector_weight = vector_weight
        self.keyword_weight = keyword_weight
        # Batches adapt so one step embeds for about step_target_s (at most batch_size
        # chunks): a search queued behind a step waits about that long, on any machine.
        self.step_target_s = step_target_s
        self._batch_now = max(1, min(batch_size, 8))
        self._extraction: _ExtractionThread | None = None
        self._in_flight: dict[int, str] = {}  # doc id -> path handed to extraction
        self._outcomes: deque[_Outcome] = deque()
        self._chunking: _ChunkJob | None = None
        self._extract_started = time.monotonic()
        self._chunk_rate = _Rate()
        self._page_rate = _Rate()
        self._pages_read = 0
        self._started = time.monotonic()
        self.stats = IngestStats()
        self.last_timings: dict[str, float] = {}  # of the last search: embed, vector, keyword
        self._finish_interrupted_removals()
        if self.store.get_meta(IN_FLIGHT_KEY):
            # Left by a killed process, or being written by one indexing now: only the
            # holder of the ingest lock may tell which.
            lock = self._try_ingest_lock()
            if lock is not None:
                try:
                    self._settle_interrupted_batch()
                finally:
                    lock.release()

    # -- owned objects -----------------------------------------------------------------------

    @property
    def embedder(self) -> EmbedderLike:
        if self._embedder is None:
            if self._embedding_model is None:
                raise DocumentError("No embedding model is set for the document library.")
            from rag.embedder import Embedder

            made: EmbedderLike = Embedder(self._embedding_model, n_threads=self.embed_threads)
            self._embedder = made
            return made
        return self._embedder

    @property
    def client(self) -> ClientAPI:
        if self._client is None:
            if self.vector_store not in ("", VECTOR_STORE_PROCESS):
                from rag.chroma_server import connect

                self._client = connect(self.vector_store)  # the user's Chroma server
                self.chroma_mode = "remote server"
                return self._client
            chroma_dir = self.data_dir / CHROMA_DIR
            try:
                self._client = self._open_local(chroma_dir)
            except DocumentError as exc:
                # A store written by another Chroma version, or damaged. Every chunk's text is
                # in the SQLite library, so the vectors can be rebuilt: the old folder is kept
                # beside it and every document is embedded again (no re-extraction).
                written_by = chroma_version_recorded(chroma_dir)
                kept = chroma_dir.with_name(f"{CHROMA_DIR}.unreadable-{int(time.time())}")
                chroma_dir.rename(kept)
                from chromadb.api.client import SharedSystemClient

                SharedSystemClient.clear_system_cache()  # Chroma caches the failed client by path
                log.warning("vector store unreadable (%s); rebuilding, old copy at %s", exc, kept)
                self._client = self._open_local(chroma_dir)
                self.store.reset_embedded()
                self.store.set_meta("collection", "")
                self.rebuilt_vectors = (
                    f"The document index (written by Chroma {written_by or 'unknown'}) could not "
                    f"be opened by Chroma {chroma_version()}, so Hearth is re-indexing your "
                    f"documents from their stored text. The old index is kept at {kept}."
                )
            record_chroma_version(chroma_dir)
        return self._client

    def _open_local(self, chroma_dir: Path) -> ClientAPI:
        from rag.chroma_server import ChromaProcess, running_server, server_lock

        with server_lock(chroma_dir):  # no other process starts a server meanwhile
            shared = running_server(chroma_dir)  # the window's, or a command's, server
            if shared is not None:
                self.chroma_mode = "shared server"
                self._shared_pid = shared.pid
                return shared.client
            if self.vector_store != VECTOR_STORE_PROCESS:
                self.chroma_mode = "in-process"  # tools on folders of their own (eval, bench)
                return open_chroma(chroma_dir)
            self.chroma_mode = "own server"
            self._chroma_process = ChromaProcess(chroma_dir)
        try:
            # A store the server cannot read shows up at the first request, not at start.
            self._chroma_process.client.list_collections()
        except Exception as exc:  # noqa: BLE001 - Chroma's HTTP errors have no common base
            self._chroma_process.close()
            self._chroma_process = None
            raise DocumentError(
                f"The vector index at {chroma_dir} cannot be opened: {exc}", repr(exc)
            ) from exc
        return self._chroma_process.client

    def _chroma(self, op: Callable[[], T]) -> T:
        """Run a Chroma operation. If the Chroma server went away (the Hearth process whose
        server this one shared has exited, or this process's own server died), open the store
        again (sharing another server or starting one) and run the operation again. Every
        operation passed here can be repeated: upserts by id, deletes by document, reads."""
        from rag.chroma_server import connection_lost

        for attempt in range(SERVER_RETRIES + 1):
            try:
                return op()
            except Exception as exc:
                if isinstance(exc, DocumentError) or not connection_lost(exc):
                    raise  # a request error, or already explained (the store cannot open)
                if attempt < SERVER_RETRIES and self._reopen_lost_server():
                    continue
                if self.chroma_mode == "remote server":
                    raise DocumentError(
                        f"The Chroma server at {self.vector_store} stopped answering ({exc}). "
                        "Check that it is running, or clear its address in Settings to keep "
                        "documents on this computer.",
                        repr(exc),
                    ) from exc
                raise DocumentError(
                    f"The document index stopped answering ({exc}). Try again in a moment; "
                    "if it keeps happening, restart Hearth.",
                    repr(exc),
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _reopen_lost_server(self) -> bool:
        """After a refused connection: True when the next use of the store will reopen it
        (the shared server's process has exited, or our own server died); False when the
        server is the user's or still runs."""
        from rag.chroma_server import STOP_TIMEOUT_S, wait_exit

        own = self._chroma_process
        if self.chroma_mode == "shared server":
            pid = self._shared_pid
            log.warning("the Chroma server of process %s went away; reopening", pid)
            if pid is not None and not wait_exit(pid, STOP_TIMEOUT_S + 5):
                return False
        elif self.chroma_mode == "own server" and own is not None and own.exited(5.0):
            log.warning("the Chroma server (pid %s) stopped; restarting it", own.pid)
            own.close()
            self._chroma_process = None
        else:
            return False
        self._forget_client()
        return True

    def _forget_client(self) -> None:
        """Drop the client and collection; the next use opens the store again."""
        self._vectors = None
        self._client = None
        self._shared_pid = None
        self.chroma_mode = ""

    def _delete_vectors(self, doc_id: int) -> None:
        self._chroma(
            lambda: delete_document_everywhere(self.client, doc_id, self.collection_prefix)
        )

    @property
    def collection_prefix(self) -> str:
        """ "" for Hearth's own store; on a Chroma server shared with others, this library's
        collections are named after its id."""
        if self.vector_store in ("", VECTOR_STORE_PROCESS):
            return ""
        library_id = self.store.get_meta("library_id")
        if not library_id:
            import uuid

            library_id = uuid.uuid4().hex[:12]
            self.store.set_meta("library_id", library_id)
        return f"hearth-{library_id}-"

    @property
    def vectors(self) -> VectorIndex:
        """This library's Chroma collection for the current embedding model."""
        return self._chroma(self._vector_index)

    def _vector_index(self) -> VectorIndex:
        if self._vectors is None:
            emb = self.embedder
            vectors = VectorIndex(
                self.client, _model_file_name(emb), emb.dim, self.collection_prefix
            )
            known = self.store.get_meta("collection")
            if known != vectors.name:
                # A different embedding model: every chunk is embedded again into its own
                # collection (the old one stays, to be reused if the user switches back).
                if known:
                    log.info(
                        "embedding model changed (%s -> %s): re-embedding", known, vectors.name
                    )
                    self.store.reset_embedded()
                self.store.set_meta("collection", vectors.name)
            self._vectors = vectors
        return self._vectors

    def close(self) -> None:
        self._forget_work()
        self._drop_lease()
        if self._embedder is not None and self._owns_embedder:
            self._embedder.close()
        self._embedder = None
        self._vectors = None
        self._client = None  # Chroma's PersistentClient has no close; dropping it is enough
        self._shared_pid = None
        if self._chroma_process is not None:
            self._chroma_process.close()
            self._chroma_process = None
        self.store.close()

    # -- documents ---------------------------------------------------------------------------

    def add(self, paths: Iterable[Path | str]) -> list[DocRow]:
        """Register files (and folders' .pdf/.txt/.md files) for indexing; returns their rows.

        Unchanged ready documents stay as they are; anything else is queued. Nothing is read
        here: `ingest_step` does the work."""
        rows: list[DocRow] = []
        for f in discover(paths):
            path = os.path.abspath(f)
            st = f.stat()
            doc = self.store.document_by_path(path)
            if doc is None:
                doc_id = self.store.insert_document(path, f.name, st.st_size, st.st_mtime)
            else:
                doc_id = doc.id
                unchanged = doc.size == st.st_size and doc.mtime == st.st_mtime
                if doc.status == "ready" and unchanged:
                    rows.append(doc)
                    continue
                if doc.status in ("queued", "indexing") and unchanged:
                    rows.append(self._view(doc))
                    continue
                # Changed, failed before, or being removed: read it again. The stored hash
                # decides whether its chunks must be replaced.
                self.store.update_document(
                    doc_id, size=st.st_size, mtime=st.st_mtime, status="queued", message=""
                )
            got = self.store.document(doc_id)
            if got is not None:
                rows.append(self._view(got))
        return rows

    def reindex(self, doc_id: int) -> None:
        """Read and embed a document again even if it has not changed."""
        doc = self._require(doc_id)
        if doc.id in self._in_flight:
            return
        self.store.update_document(doc.id, sha256="", status="queued", message="", progress=0.0)

    def remove(self, doc_id: int) -> None:
        """Delete a document from both indexes and the library."""
        doc = self._require(doc_id)
        self._in_flight.pop(doc.id, None)  # a late extraction result is ignored
        if self._chunking is not None and self._chunking.doc_id == doc.id:
            self._chunking = None
        self.store.update_document(doc.id, status="removing")
        self._delete_vectors(doc.id)
        self.store.delete_document_rows(doc.id)

    def _finish_interrupted_removals(self) -> None:
        pending = self.store.documents(["removing"])
        for doc in pending:
            self._delete_vectors(doc.id)
            self.store.delete_document_rows(doc.id)

    def _settle_interrupted_batch(self) -> None:
        """Delete the vectors a killed process stored for documents removed meanwhile (see
        the module docstring). Call with the ingest lock held."""
        recorded = self.store.get_meta(IN_FLIGHT_KEY)
        if not recorded:
            return
        try:
            doc_ids = [int(d) for d in json.loads(recorded)]
        except (ValueError, TypeError):
            doc_ids = []  # damaged: nothing to go by
        for doc_id in doc_ids:
            doc = self.store.document(doc_id)
            if doc is None or doc.status == "removing":
                self._delete_vectors(doc_id)
        self.store.set_meta(IN_FLIGHT_KEY, "")

    def documents(self) -> list[DocRow]:
        return [self._view(d) for d in self.store.documents() if d.status != "removing"]

    def document(self, doc_id: int) -> DocRow | None:
        doc = self.store.document(doc_id)
        return self._view(doc) if doc is not None and doc.status != "removing" else None

    def _view(self, doc: DocRow) -> DocRow:
        if doc.id in self._in_flight and doc.status == "queued":
            return replace(doc, status="indexing", progress=0.0, message="reading pages")
        return doc

    def _require(self, doc_id: int) -> DocRow:
        doc = self.store.document(doc_id)
        if doc is None or doc.status == "removing":
            raise DocumentError(f"No document with id {doc_id} in the library.")
        return doc

    def resolve(self, ref: str | int) -> DocRow:
        """A document by id, path, file name, or unambiguous part of its name."""
        docs = self.documents()
        text = str(ref).strip()
        if text.isdigit():
            for d in docs:
                if d.id == int(text):
                    return d
        absolute = os.path.abspath(os.path.expanduser(text)) if text else ""
        for d in docs:
            if d.path == absolute or d.path == text:
                return d
        by_name = [d for d in docs if d.name == text]
        if len(by_name) == 1:
            return by_name[0]
        partial = [d for d in docs if text and text.lower() in d.name.lower()]
        if len(by_name) > 1 or len(partial) > 1:
            names = ", ".join(f"{d.id}: {d.path}" for d in (by_name or partial))
            raise DocumentError(f"'{ref}' matches several documents ({names}); use the id.")
        if len(partial) == 1:
            return partial[0]
        raise DocumentError(f"No document '{ref}' in the library (see `hearth docs list`).")

    # -- ingestion ---------------------------------------------------------------------------

    def has_work(self) -> bool:
        if self._in_flight or self._outcomes:
            return True
        row = self.store.conn.execute(
            "SELECT 1 FROM documents WHERE status IN ('queued', 'indexing') LIMIT 1"
        ).fetchone()
        return row is not None

    def progress(self) -> Progress:
        """Counts and rates for a view; `elsewhere` is set while another Hearth process holds
        the ingest lock and there is work left."""
        counts = {
            str(s): int(n)
            for s, n in self.store.conn.execute(
                "SELECT status, count(*) FROM documents GROUP BY status"
            )
        }
        total, done = self.store.conn.execute(
            "SELECT coalesce(sum(d.chunks), 0), (SELECT count(*) FROM chunks c JOIN documents "
            "d2 ON d2.id = c.doc_id WHERE d2.status = 'indexing' AND c.embedded = 1) "
            "FROM documents d WHERE d.status = 'indexing'"
        ).fetchone()
        reading = len(self._in_flight)
        queued = max(counts.get("queued", 0) - reading, 0)
        rate = self._chunk_rate.per_s()
        remaining = int(total) - int(done)
        eta: float | None = None
        if rate > 0 and not queued and not reading:
            eta = remaining / rate
        elif rate > 0:
            eta = None  # unknown until every queued document has been read and chunked
        current = self.store.conn.execute(
            "SELECT name FROM documents WHERE status = 'indexing' ORDER BY id LIMIT 1"
        ).fetchone()
        busy = queued + reading + counts.get("indexing", 0)
        return Progress(
            elsewhere=bool(busy) and self._lease is None and self._lease_taken_elsewhere(),
            queued=queued,
            reading=reading,
            indexing=counts.get("indexing", 0),
            ready=counts.get("ready", 0),
            failed=counts.get("failed", 0),
            pages_read=self._pages_read,
            chunks_total=int(total),
            chunks_done=int(done),
            chunks_per_s=rate,
            pages_per_s=self._page_rate.per_s(),
            eta_s=eta,
            current=str(current[0]) if current else "",
            elapsed_s=time.monotonic() - self._started,
        )

    def wait_for_extraction(self, timeout: float) -> bool:
        """Block up to `timeout` s for an extraction result; True if one arrived."""
        if self._extraction is None or not self._in_flight:
            return False
        try:
            outcome = self._extraction.results.get(timeout=timeout)
        except queue.Empty:
            return False
        self._outcomes.append(outcome)
        return True

    def ingest_step(self) -> StepReport:
        """One bounded piece of ingestion work (see the module docstring).

        Only one process indexes a library at a time (the window, or `hearth docs add`): two
        would read the same queued document and replace each other's chunks. The process
        that finds work takes a lock beside the library and keeps it until nothing is left;
        another one's step does nothing and reports `elsewhere` (it reports the documents in
        work as changed, so a view shows the other process's progress).

        When the library's files cannot be written (a full disk, a read-only or damaged
        file) it raises DocumentError saying so; every write is a transaction or an upsert,
        so nothing indexed before is lost and the next step carries on from what is stored.
        It does not start writing on a disk with less than LOW_DISK_BYTES free: Chroma's
        server, writing on a full disk, can fail without saying why or never answer."""
        try:
            return self._ingest_step()
        except DocumentError:
            raise
        except Exception as exc:
            reason = _storage_failure(exc)
            if reason is None and self._free_bytes() < LOW_DISK_BYTES:
                reason = DISK_FULL  # e.g. Chroma's "Error in compaction"
            if reason is None:
                raise
            raise self._cannot_write(reason, f"{type(exc).__name__}: {exc}") from exc

    def _cannot_write(self, reason: str, details: str) -> DocumentError:
        if reason == DISK_FULL:
            then = "free some disk space and indexing carries on where it stopped."
        else:
            then = "indexing carries on where it stopped once the files can be written."
        return DocumentError(
            f"Indexing stopped: {reason} (the document library in {self.data_dir}). "
            f"What was indexed is kept; {then}",
            details,
        )

    def _free_bytes(self) -> int:
        """Free space on the disk that holds the library and, unless a Chroma server elsewhere
        is used, its vectors (a large number where it does not matter or cannot be known)."""
        if self.vector_store not in ("", VECTOR_STORE_PROCESS):
            return 2**62
        try:
            return shutil.disk_usage(self.data_dir).free
        except OSError:
            return 2**62

    def _ingest_step(self) -> StepReport:
        if not self._hold_lease():
            busy = [d.id for d in self.store.documents(["queued", "indexing"])]
            return StepReport(
                did_work=False,
                more=self.has_work(),
                changed=busy,
                progress=replace(self.progress(), elsewhere=True),
                elsewhere=True,
            )
        free = self._free_bytes()
        if free < LOW_DISK_BYTES:
            raise self._cannot_write(DISK_FULL, f"{free} bytes free in {self.data_dir}")
        changed: list[int] = []
        did = False
        # 1. One window of pages of a read document, or one finished extraction.
        if self._chunking is not None:
            changed.append(self._chunking.doc_id)
            self._chunk_window()
            did = True
        else:
            self._collect_outcomes()
            while self._outcomes:
                outcome = self._outcomes.popleft()
                if self._in_flight.get(outcome.doc_id) != outcome.path:
                    continue  # removed or re-queued meanwhile
                if not self._apply_outcome(outcome):
                    del self._in_flight[outcome.doc_id]
                changed.append(outcome.doc_id)
                did = True
                break
        # 2. Hand queued documents to the extraction thread.
        for doc in self.store.documents(["queued"]):
            if doc.id in self._in_flight:
                continue
            if self._extraction is None:
                self._extraction = _ExtractionThread(
                    self.extract_workers, self.extract_timeout_s, self.extract_memory_mb
                )
                self._extract_started = time.monotonic()
            self._in_flight[doc.id] = doc.path
            self._extraction.submit(_Job(doc.id, doc.path, doc.sha256))
            changed.append(doc.id)
        # 3. One batch of embeddings.
        embedded_docs = self._embed_batch()
        if embedded_docs:
            did = True
            changed.extend(embedded_docs)
        if not self._in_flight:
            self._stop_extraction()  # idle: free the worker processes
        more = self.has_work()
        if not more:
            self._drop_lease()
        return StepReport(
            did_work=did,
            more=more,
            changed=sorted(set(changed)),
            progress=self.progress(),
        )

    def _hold_lease(self) -> bool:
        """Take (or keep) the library's ingest lock without waiting; False while another
        process holds it."""
        if self._lease is not None:
            return True
        self._lease = self._try_ingest_lock()
        if self._lease is None:
            return False
        self._settle_interrupted_batch()
        if self._paused_at is not None:
            # Resuming after pause(): what this process had in hand is still right unless
            # another process wrote to the library meanwhile (it may have indexed the same
            # documents); then start again from what is stored.
            if self.store.data_version() != self._paused_at:
                self._forget_work()
            self._paused_at = None
        return True

    def _drop_lease(self) -> None:
        lease, self._lease = self._lease, None
        if lease is not None:
            lease.release()

    def _try_ingest_lock(self) -> Any:
        """The ingest lock (a filelock.FileLock), taken without waiting; None while another
        process holds it."""
        import filelock

        lock = filelock.FileLock(str(self.data_dir / INGEST_LOCK), timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            return None
        return lock

    def _lease_taken_elsewhere(self) -> bool:
        """True if another process holds the ingest lock now (a look, not a wait)."""
        probe = self._try_ingest_lock()
        if probe is None:
            return True
        probe.release()
        return False

    def pause(self) -> None:
        """Indexing pauses here: the extraction workers stop (a paused library uses no CPU;
        files being read are read again on resume), and the ingest lock is let go so that
        another process (`hearth docs add`) can index the library meanwhile. A document half
        chunked is kept for the next step, unless another process wrote to the library in
        between."""
        self._stop_extraction()
        chunking = self._chunking.doc_id if self._chunking is not None else None
        self._in_flight = {d: p for d, p in self._in_flight.items() if d == chunking}
        self._outcomes.clear()
        if self._lease is not None:
            self._paused_at = self.store.data_version()
            self._drop_lease()

    def ingest(
        self,
        cancel: threading.Event | None = None,
        pause: threading.Event | None = None,
        on_progress: Callable[[StepReport], None] | None = None,
    ) -> IngestStats:
        """Run steps until nothing is left, `cancel` is set (work stays queued and resumes on
        the next run), honouring `pause` between steps."""
        self.stats = IngestStats()
        t0 = time.monotonic()
        self._started = t0
        while self.has_work():
            if cancel is not None and cancel.is_set():
                self._cancel_extraction()
                break
            if pause is not None and pause.is_set():
                self.pause()
                time.sleep(0.05)
                continue
            report = self.ingest_step()
            if on_progress is not None:
                on_progress(report)
            if report.elsewhere:
                if cancel is not None:
                    cancel.wait(ELSEWHERE_POLL_S)
                else:
                    time.sleep(ELSEWHERE_POLL_S)
            elif not report.did_work and report.more:
                self.wait_for_extraction(0.05)
        self.stats.total_s = time.monotonic() - t0
        return self.stats

    def cancel(self) -> None:
        """Stop reading files; documents stay queued or indexing and resume later."""
        self._cancel_extraction()

    def _cancel_extraction(self) -> None:
        self._forget_work()
        self._drop_lease()  # another process may carry on meanwhile

    def _forget_work(self) -> None:
        """Drop the work in hand (files being read, a document half chunked): the stored
        statuses say where the next step starts."""
        self._stop_extraction()
        self._in_flight.clear()
        self._outcomes.clear()
        self._chunking = None
        self._paused_at = None

    def _stop_extraction(self) -> None:
        """Stop the extraction thread and its pypdf worker processes, if they run."""
        extraction, self._extraction = self._extraction, None
        if extraction is not None:
            extraction.stop()

    def _collect_outcomes(self) -> None:
        if self._extraction is None:
            return
        while True:
            try:
                self._outcomes.append(self._extraction.results.get_nowait())
            except queue.Empty:
                return

    def _apply_outcome(self, outcome: _Outcome) -> bool:
        """Record an extraction's outcome; True when its pages are now being chunked (the
        document stays in flight until the last window)."""
        doc = self.store.document(outcome.doc_id)
        if doc is None or doc.status == "removing":
            return False
        self.stats.extract_s = time.monotonic() - self._extract_started
        if outcome.error:
            self.store.update_document(doc.id, status="failed", message=outcome.error)
            return False
        result = outcome.result
        if result is None:  # same content as the stored chunks (a hash is only kept with them)
            done = doc.embedded >= doc.chunks
            self.store.update_document(doc.id, status="ready" if done else "indexing")
            return False
        if result.status != "ok":
            self._drop_chunks(doc)
            self.store.update_document(
                doc.id,
                status="failed",
                message=_extract_message(result),
                sha256="",
                pages=int(getattr(result, "n_pages", 0) or 0),
                chunks=0,
                progress=0.0,
            )
            return False
        n_pages = int(getattr(result, "n_pages", 0) or len(result.pages))
        self._pages_read += n_pages
        self._page_rate.add(n_pages)
        self.stats.pages += n_pages
        if doc.chunks:
            # the old version's vectors
            self._delete_vectors(doc.id)
        # Old (or half-stored) chunks go; the hash is set only with the last window, so a
        # crash meanwhile leaves the document queued, to be read again.
        self.store.replace_chunks(
            doc.id, [], sha256="", pages=n_pages, chunks=0, progress=0.0, message=""
        )
        self._chunking = _ChunkJob(
            doc_id=doc.id,
            sha=outcome.sha,
            pages=list(result.pages),
            n_pages=n_pages,
            offsets=page_offsets(result.pages),
        )
        self._chunk_window()
        return True

    def _chunk_window(self) -> None:
        from rag.chunking import chunk_pages

        job = self._chunking
        if job is None:
            return
        doc = self.store.document(job.doc_id)
        if doc is None or doc.status == "removing":
            self._chunking = None
            return
        emb = self.embedder
        max_tokens = max(16, min(510, int(emb.max_tokens) - 2))
        window = job.pages[job.next_page : job.next_page + CHUNK_WINDOW_PAGES]
        chunks = chunk_pages(
            window,
            emb.count_tokens,
            target_tokens=min(self.chunk_tokens, max_tokens),
            overlap_tokens=min(self.chunk_overlap, self.chunk_tokens // 2),
            max_tokens=max_tokens,
        )
        rows = chunk_rows(chunks, job.offsets, first_ordinal=job.next_ordinal)
        if rows:
            self.store.append_chunks(job.doc_id, rows)
        job.next_page += len(window)
        job.next_ordinal += len(rows)
        if job.next_page < len(job.pages):
            return
        self._chunking = None
        self._in_flight.pop(job.doc_id, None)
        if job.next_ordinal == 0:
            self.store.update_document(
                job.doc_id, status="failed", message=EXTRACT_MESSAGES["empty"], chunks=0
            )
            return
        self.store.update_document(
            job.doc_id,
            sha256=job.sha,
            chunks=job.next_ordinal,
            status="indexing",
            message="",
            progress=0.0,
        )

    def _drop_chunks(self, doc: DocRow) -> None:
        if doc.chunks:
            self._delete_vectors(doc.id)
        self.store.replace_chunks(doc.id, [])  # also rows left by an interrupted chunking

    def _embed_batch(self) -> list[int]:
        vectors = self.vectors  # first: a changed model resets what counts as pending
        pending = self.store.pending_chunks(self._batch_now)
        if not pending:
            return []
        t0 = time.monotonic()
        reuse = self.store.embedded_ids_by_hash(sorted({c.content_hash for c in pending}))
        reused = (
            self._chroma(lambda: self._vector_index().embeddings(list(reuse.values())))
            if reuse
            else {}
        )
        need = [c for c in pending if reuse.get(c.content_hash) not in reused]
        matrix = np.zeros((len(pending), vectors.dim), dtype=np.float32)
        if need:
            t_embed = time.monotonic()
            got = self.embedder.embed([c.text for c in need])
            spent = time.monotonic() - t_embed
            self.stats.embed_s += spent
            per_chunk = spent / len(need)
            if per_chunk > 0:
                fit = int(self.step_target_s / per_chunk)
                self._batch_now = max(1, min(self.batch_size, fit))
            self.stats.tokens += sum(c.n_tokens for c in need)
            by_id = {c.id: got[i] for i, c in enumerate(need)}
        else:
            by_id = {}
        for i, c in enumerate(pending):
            if c.id in by_id:
                matrix[i] = by_id[c.id]
            else:
                matrix[i] = reused[reuse[c.content_hash]]
        self.stats.chunks_reused += len(pending) - len(need)
        t_store = time.monotonic()
        ids, doc_ids = [c.id for c in pending], [c.doc_id for c in pending]
        docs = sorted({c.doc_id for c in pending})
        self.store.set_meta(IN_FLIGHT_KEY, json.dumps(docs))
        self._chroma(lambda: self._vector_index().upsert(ids, matrix, doc_ids))
        removed: list[int] = []  # by another process (the window's Cancel or Remove) meanwhile
        with self.store.transaction():
            self.store.mark_embedded(pending)
            for doc_id in docs:
                row = self.store.conn.execute(
                    "SELECT d.chunks, (SELECT count(*) FROM chunks c WHERE c.doc_id = d.id AND "
                    "c.embedded = 1), d.status FROM documents d WHERE d.id = ?",
                    (doc_id,),
                ).fetchone()
                if row is None or row[2] == "removing":
                    removed.append(doc_id)
                    continue
                total, done = int(row[0]), int(row[1])
                finished = done >= total
                self.store.update_document(
                    doc_id,
                    progress=1.0 if finished else done / max(total, 1),
                    status="ready" if finished else "indexing",
                )
        for doc_id in removed:  # the vectors just stored would outlive the document
            self._delete_vectors(doc_id)
        self.store.set_meta(IN_FLIGHT_KEY, "")
        self.stats.store_s += time.monotonic() - t_store
        self.stats.chunks += len(pending)
        self._chunk_rate.add(len(pending))
        log.debug("embedded %d chunks in %.3fs", len(pending), time.monotonic() - t0)
        return docs

    # -- search ------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int = 6,
        doc_ids: Sequence[int] | None = None,
        mode: Mode = "hybrid",
        candidates: int | None = None,
    ) -> list[Hit]:
        """Top-k passages for a query. `doc_ids` limits the search to those documents (None:
        all). Hybrid mode fuses the vector and keyword candidates (`fusion`: relative scores
        or reciprocal ranks); then neighbouring chunks of the same document are merged into one
        passage. A passage's score: the fused score in hybrid mode (0..1 with score fusion),
        else the index's own (cosine similarity, or BM25 with higher better)."""
        text = query.strip()
        if not text:
            raise InvalidRequestError("Type something to search for.")
        if k < 1:
            raise InvalidRequestError("The number of passages (k) must be at least 1.")
        n = max(candidates or self.candidates, k)
        results: list[list[tuple[int, float]]] = []  # (chunk id, score), best first, per index
        timings: dict[str, float] = {}
        if mode in ("hybrid", "vector"):
            if self._chroma(lambda: self._vector_index().count()):
                t0 = time.perf_counter()
                q = self.embedder.embed([self._fit_query(text)])[0]
                t1 = time.perf_counter()
                results.append(self._chroma(lambda: self._vector_index().search(q, n, doc_ids)))
                timings["embed_s"] = t1 - t0
                timings["vector_s"] = time.perf_counter() - t1
            else:
                results.append([])
        if mode in ("hybrid", "keyword"):
            t0 = time.perf_counter()
            match = fts_query(text)
            results.append(self.store.keyword_search(match, n, doc_ids) if match else [])
            timings["keyword_s"] = time.perf_counter() - t0
        self.last_timings = timings
        rows = self.store.chunks_by_ids(list(dict.fromkeys(c for r in results for c, _ in r)))
        # Tables of contents are set aside before fusing: a contents chunk that one index ranks
        # first would otherwise cost the passages below it their rank (RRF) or squeeze their
        # scores (score fusion). They come after every passage with content.
        navigation = {cid for cid, row in rows.items() if is_navigation(row.text)}
        content = [[(c, s) for c, s in r if c not in navigation] for r in results]
        contents_pages = list(dict.fromkeys(c for r in results for c, _ in r if c in navigation))
        fused = self._fuse(content) if mode == "hybrid" else content[0]
        fused = fused + [(c, 0.0) for c in contents_pages]
        scored = [(rows[cid], score) for cid, score in fused if cid in rows]
        cands = [_candidate(row, score) for row, score in scored if row.embedded]
        return top_passages(cands, k, max_chunks=self.merge_max_chunks, navigation=navigation)

    def _fuse(self, results: list[list[tuple[int, float]]]) -> list[tuple[int, float]]:
        """Vector and keyword results fused into one list, best first."""
        weights = [self.vector_weight, self.keyword_weight]
        if self.fusion == "rrf":
            rankings = [[cid for cid, _ in r] for r in results]
            return reciprocal_rank_fusion(rankings, k=self.rrf_k, weights=weights)
        return relative_score_fusion(results, weights=weights)

    def _fit_query(self, text: str) -> str:
        """The query cut (at a word) to what the embedding model takes; BM25 still gets all
        of it."""
        emb = self.embedder
        if emb.count_tokens(text) <= emb.max_tokens:
            return text
        words = text.split()
        lo, hi = 1, len(words)
        while lo < hi:  # longest prefix of words that fits
            mid = (lo + hi + 1) // 2
            if emb.count_tokens(" ".join(words[:mid])) <= emb.max_tokens:
                lo = mid
            else:
                hi = mid - 1
        fitted = " ".join(words[:lo])
        while fitted and emb.count_tokens(fitted) > emb.max_tokens:
            fitted = fitted[: len(fitted) * 3 // 4]  # one enormous "word"
        return fitted or text[:100]

    def counts(self) -> dict[str, int]:
        """Rows in SQLite (documents, chunks, embedded, fts_rows) and ids in Chroma."""
        out = self.store.counts()
        out["vectors"] = self._chroma(lambda: self._vector_index().count())
        return out

    def collection_name(self) -> str:
        emb = self.embedder
        return collection_name(_model_file_name(emb), emb.dim, self.collection_prefix)


def _model_file_name(emb: EmbedderLike) -> str:
    """The embedding model's file name (one Chroma collection per file: another quantization
    of the same model gets its own vectors), else the model's own name."""
    path = getattr(emb, "path", None)
    return Path(path).name if path else emb.name


def _candidate(row: ChunkRow, score: float) -> Candidate:
    return Candidate(
        chunk_id=row.id,
        doc_id=row.doc_id,
        ordinal=row.ordinal,
        file=row.path,
        page_start=row.page_start,
        page_end=row.page_end,
        char_start=row.char_start,
        char_end=row.char_end,
        text=row.text,
        score=score,
        doc_offset=row.doc_offset,
    )
