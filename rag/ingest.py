"""Ingestion: documents queued in the library become chunks in both indexes (Chroma vectors +
SQLite FTS5 keywords), in small steps, one process at a time.

Threads
-------
An `Ingestor` belongs to the thread of the `rag.library.Library` that made it (the app's
documents worker on its QThread; the CLI's main thread). That thread owns the SQLite
connection, the Chroma client and the embedding model. Two helpers run beside it and never
touch those objects:

- an extraction thread that hashes files and waits on `rag.extract.Extractor` (a process pool
  with a per-file timeout: pypdf holds the GIL, so it runs in other processes;
  `rag.extraction`);
- the extractor's worker processes.

Incremental ingestion
---------------------
Work is done in small steps so a search never waits behind a whole book::

    lib = Library(data_dir, LibraryConfig(embedding_model=path))  # app.user_library opens
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

One step does, in order: chunk one window of pages (`rag.reading.CHUNK_WINDOW_PAGES`) of a
document that has been read, or take one finished extraction; hand queued documents to the
extraction thread; embed one batch of pending chunks (vectors to Chroma, then text to FTS5 and
the "embedded" flags in one SQLite transaction; `rag.batches`). Batches adapt to about
`step_target_s` of embedding, so a search waits at most about that long.

Resuming and idempotence
------------------------
Chunks are stored (with a content hash) before they are embedded, and their SQLite ids are
their Chroma ids. Chroma writes are upserts, so a batch redone after a crash never duplicates;
the keyword rows and "embedded" flags are committed together after the vectors. On the next
start, documents still "queued" are read again and documents "indexing" carry on with their
unembedded chunks. A chunk whose text was embedded before (same hash, e.g. the same file under
another name) reuses that vector. Re-adding an unchanged file does nothing; a changed file (new
sha256) has its old chunks removed from both indexes and is indexed again. A document removed
by another process while this one embeds it: see `rag.batches`.

Statuses: queued, indexing (progress 0..1; "reading pages" while extracting), ready, failed
(message says why).

One process at a time, and a full disk
--------------------------------------
Only one process indexes a library at a time (the window, or `hearth docs add`): two would
read the same queued document and replace each other's chunks. The process that finds work
takes a lock beside the library (INGEST_LOCK) and keeps it until nothing is left; another
one's step does nothing and reports `elsewhere`. Indexing does not write on a disk with less
than LOW_DISK_BYTES free, and a failure to write the library's files stops it with the reason.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.errors import DocumentError
from engine.sqlite_util import DISK_FULL, describe_error
from rag.batches import IN_FLIGHT_KEY, BatchEmbedder
from rag.config import LibraryContext
from rag.progress import IngestStats, Progress, StepReport
from rag.reading import Reader

INGEST_LOCK = "ingest.lock"  # beside the library: held by the one process that is indexing
ELSEWHERE_POLL_S = 1.0  # how often a process waiting for another one's indexing looks again

_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
# Indexing does not write on a disk with less free space than this: one batch needs a few
# hundred KB in SQLite and Chroma, and Chroma's compaction more.
LOW_DISK_BYTES = 32 * 2**20


def storage_failure(exc: BaseException) -> str | None:
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


def try_ingest_lock(data_dir: Path) -> Any:
    """The ingest lock (a filelock.FileLock), taken without waiting; None while another
    process holds it. The kernel frees the lock of a process that dies."""
    import filelock

    lock = filelock.FileLock(str(data_dir / INGEST_LOCK), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        return None
    return lock


class Ingestor:
    """Runs ingestion steps for one library (see the module docstring). Not thread-safe: use
    it from the library's thread."""

    def __init__(self, ctx: LibraryContext) -> None:
        self.ctx = ctx
        self.data_dir = ctx.data_dir
        self.store = ctx.store
        self.reader = Reader(ctx)
        self.batches = BatchEmbedder(ctx)
        self._lease: Any = None  # filelock.FileLock on INGEST_LOCK while this process indexes
        # data_version when pause() let go of the lease (None: not paused while indexing)
        self._paused_at: int | None = None
        self._started = time.monotonic()
        self.stats = IngestStats()

    def settle_if_nobody_indexes(self) -> None:
        """At opening: a batch recorded as in flight was left by a killed process, or is being
        written by one indexing now; only the holder of the ingest lock may tell which."""
        if not self.store.get_meta(IN_FLIGHT_KEY):
            return
        lock = try_ingest_lock(self.data_dir)
        if lock is not None:
            try:
                self.batches.settle_interrupted_batch()
            finally:
                lock.release()

    def has_work(self) -> bool:
        return self.reader.busy or self.store.has_unfinished_documents()

    def progress(self) -> Progress:
        """Counts and rates for a view; `elsewhere` is set while another Hearth process holds
        the ingest lock and there is work left."""
        counts = self.store.status_counts()
        total, done = self.store.indexing_chunk_counts()
        reading = len(self.reader.in_flight)
        queued = max(counts.get("queued", 0) - reading, 0)
        rate = self.batches.chunk_rate.per_s()
        eta: float | None = None
        if rate > 0 and not queued and not reading:
            eta = (total - done) / rate
        # else unknown until every queued document has been read and chunked
        busy = queued + reading + counts.get("indexing", 0)
        current = self.store.first_indexing()
        return Progress(
            elsewhere=bool(busy) and self._lease is None and self._lease_taken_elsewhere(),
            queued=queued,
            reading=reading,
            indexing=counts.get("indexing", 0),
            ready=counts.get("ready", 0),
            failed=counts.get("failed", 0),
            pages_read=self.reader.pages_read,
            chunks_total=total,
            chunks_done=done,
            chunks_per_s=rate,
            pages_per_s=self.reader.page_rate.per_s(),
            eta_s=eta,
            current=current.name if current else "",
            current_chunks=current.chunks if current else 0,
            current_done=current.embedded if current else 0,
            missing=counts.get("missing", 0),
            elapsed_s=time.monotonic() - self._started,
        )

    def wait_for_extraction(self, timeout: float) -> bool:
        """Block up to `timeout` s for an extraction result; True if one arrived."""
        return self.reader.wait(timeout)

    # -- steps -------------------------------------------------------------------------------

    def step(self) -> StepReport:
        """One bounded piece of ingestion work (see the module docstring).

        The process that finds work takes the ingest lock and keeps it until nothing is left;
        another one's step does nothing and reports `elsewhere` (it reports the documents in
        work as changed, so a view shows the other process's progress).

        When the library's files cannot be written (a full disk, a read-only or damaged
        file) it raises DocumentError saying so; every write is a transaction or an upsert,
        so nothing indexed before is lost and the next step carries on from what is stored.
        It does not start writing on a disk with less than LOW_DISK_BYTES free: Chroma's
        server, writing on a full disk, can fail without saying why or never answer."""
        try:
            return self._step()
        except DocumentError:
            raise
        except Exception as exc:
            reason = storage_failure(exc)
            if reason is None and self._free_bytes() < LOW_DISK_BYTES:
                reason = DISK_FULL  # e.g. Chroma's "Error in compaction"
            if reason is None:
                raise
            raise self._cannot_write(reason, f"{type(exc).__name__}: {exc}") from exc

    def _step(self) -> StepReport:
        if not self.hold_lease():
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
        read = self.reader.read_step(self.stats)  # 1. a window of pages, or an extraction
        changed = [] if read is None else [read]
        changed.extend(self.reader.hand_over())  # 2. queued documents to the extraction thread
        embedded = self.batches.embed_batch(self.stats)  # 3. one batch of embeddings
        changed.extend(embedded)
        self.reader.stop_if_idle()
        more = self.has_work()
        if not more:
            self._drop_lease()
        return StepReport(
            did_work=read is not None or bool(embedded),
            more=more,
            changed=sorted(set(changed)),
            progress=self.progress(),
        )

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
        if not self.ctx.vector_store.on_this_computer:
            return 2**62
        try:
            return shutil.disk_usage(self.data_dir).free
        except OSError:
            return 2**62

    # -- the ingest lock -----------------------------------------------------------------------

    def hold_lease(self) -> bool:
        """Take (or keep) the library's ingest lock without waiting; False while another
        process holds it."""
        if self._lease is not None:
            return True
        self._lease = try_ingest_lock(self.data_dir)
        if self._lease is None:
            return False
        self.batches.settle_interrupted_batch()
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

    def _lease_taken_elsewhere(self) -> bool:
        """True if another process holds the ingest lock now (a look, not a wait)."""
        probe = try_ingest_lock(self.data_dir)
        if probe is None:
            return True
        probe.release()
        return False

    # -- running, pausing, stopping -------------------------------------------------------------

    def pause(self) -> None:
        """Indexing pauses here: the extraction workers stop (a paused library uses no CPU;
        files being read are read again on resume), and the ingest lock is let go so that
        another process (`hearth docs add`) can index the library meanwhile. A document half
        chunked is kept for the next step, unless another process wrote to the library in
        between."""
        self.reader.pause()
        if self._lease is not None:
            self._paused_at = self.store.data_version()
            self._drop_lease()

    def run(
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
                self.cancel()
                break
            if pause is not None and pause.is_set():
                self.pause()
                time.sleep(0.05)
                continue
            report = self.step()
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
        self._forget_work()
        self._drop_lease()  # another process may carry on meanwhile

    def _forget_work(self) -> None:
        """Drop the work in hand: the stored statuses say where the next step starts."""
        self.reader.forget_all()
        self._paused_at = None

    def close(self) -> None:
        self._forget_work()
        self._drop_lease()
