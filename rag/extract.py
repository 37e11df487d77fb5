"""Text out of many PDFs (pypdf) and plain-text files at once, off the calling process
(`rag.file_text.extract_file` reads one file in the calling process).

`Extractor` runs extraction in a pool of worker processes (pypdf is pure Python and holds
the GIL, so threads would not help and would stall the GUI). Results come back as files
finish; a file over its time limit is reported as "timeout" and its worker is killed and
replaced (the limit is on time without progress: the clock restarts each time a page is
done, so a 2,000-page manual is not cut off for being long, only a file stuck on one page,
or stuck before its first page, is); each worker caps its own memory with
`resource.setrlimit` where the platform has it. A large PDF is split into page ranges that
several workers extract at once, so a single 1,000-page manual also uses every core.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from engine.closing import Closeable
from rag.file_text import (
    DEFAULT_MAX_BYTES,
    TEXT_SUFFIXES,
    ExtractResult,
    PdfProblem,
    Status,
    empty_pdf,
    extract_text_file,
    failed,
    finish_pdf,
    open_pdf,
    page_count,
    page_texts,
    precheck,
    unreadable,
)
from rag.pdf_outline import Outline, read_outline

logger = logging.getLogger(__name__)

# PDFs with at least this many pages are split into page ranges across the pool's workers.
SPLIT_MIN_PAGES = 48


# --- the worker process ------------------------------------------------------------------


class _LogCollector(logging.Handler):
    """Keeps pypdf's warnings for the current task instead of printing them to stderr."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.messages) < 20:
            self.messages.append(record.getMessage())


def _limit_memory(memory_limit_mb: int) -> None:
    try:
        import resource
    except ImportError:  # Windows: no setrlimit
        return
    limit = memory_limit_mb * 2**20
    with contextlib.suppress(ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _peak_virtual_bytes() -> int | None:
    """This process's peak virtual memory (Linux /proc), the quantity RLIMIT_AS caps."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


class _WorkerState:
    def __init__(self) -> None:
        self.reader: Any = None
        self.reader_key: tuple[str, int, int] | None = None

    def reader_for(self, path: Path) -> Any:
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        if self.reader_key != key:
            self.reader, self.reader_key = None, None
            self.reader = open_pdf(path)
            self.reader_key = key
        return self.reader


def _range_size(n_pages: int, pieces: int, fixed: int) -> int:
    """Pages per range when a PDF of n_pages is split for `pieces` workers' worth of ranges
    (or `fixed` pages when that is not 0)."""
    if fixed:
        return fixed
    return max(SPLIT_MIN_PAGES // 2, -(-n_pages // pieces))


def _run_task(
    state: _WorkerState, task: tuple[Any, ...], progress: Callable[[], None] | None = None
) -> tuple[str, Any]:
    """One task in a worker. Replies:
    ("result", ExtractResult) | ("split", (n_pages, outline): queue page ranges for every
    worker)
    | ("pages", raw texts) | ("problem", (status, message))."""
    kind, path, max_bytes, start, stop, split = task
    try:
        if kind == "file":
            refused = precheck(path, max_bytes)
            if refused is not None:
                return "result", refused
            if path.suffix.lower() in TEXT_SUFFIXES:
                return "result", extract_text_file(path)
            reader = state.reader_for(path)
            n_pages = page_count(reader, path)
            if n_pages == 0:
                return "result", empty_pdf(path)
            if split and n_pages >= SPLIT_MIN_PAGES:
                # Answer at once, before extracting anything: all workers then take page
                # ranges (this one keeps the reader open for its own ranges).
                return "split", (n_pages, read_outline(reader))
            texts = page_texts(reader, 0, n_pages, progress)
            return "result", finish_pdf(path, texts, read_outline(reader))
        reader = state.reader_for(path)
        return "pages", page_texts(reader, start, stop, progress)
    except PdfProblem as problem:
        return "problem", (problem.status, problem.message)
    except MemoryError:
        state.reader, state.reader_key = None, None
        return "problem", ("too_large", f"{path.name}: reading it needs too much memory.")
    except RecursionError:
        return "problem", ("malformed", f"{path.name}: the PDF's structure is too deep.")
    except OSError as exc:
        return "problem", ("error", f"{path.name}: the file cannot be read ({exc.strerror}).")


def _worker_main(
    conn: multiprocessing.connection.Connection, memory_limit_mb: int, new_session: bool = False
) -> None:
    if new_session and hasattr(os, "setsid"):
        with contextlib.suppress(OSError):
            os.setsid()
    _limit_memory(memory_limit_mb)
    collector = _LogCollector()
    pypdf_logger = logging.getLogger("pypdf")
    pypdf_logger.addHandler(collector)
    pypdf_logger.propagate = False
    warnings.simplefilter("ignore")
    state = _WorkerState()
    with contextlib.suppress(MemoryError, ImportError):
        import pypdf  # noqa: F401  (imported now so that start-up does not count as task time)
    try:
        conn.send(("ready",))
    except (EOFError, OSError):
        return
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        task_id, task = message
        collector.messages.clear()
        retire = False
        last_beat = time.monotonic()

        def progress(task_id: int = task_id) -> None:
            # a heartbeat at most every half second: the pool's time limit counts from it
            nonlocal last_beat
            now = time.monotonic()
            if now - last_beat >= 0.5:
                last_beat = now
                with contextlib.suppress(EOFError, OSError):
                    conn.send((task_id, "progress", None, [], False))

        try:
            kind, payload = _run_task(state, task, progress)
        except SystemError as exc:  # what CPython raises when an allocation fails mid-way
            logger.debug("extraction failed: %r", exc)
            why = f"reading it failed, probably for lack of memory (limit: {memory_limit_mb} MB)"
            kind, payload = "problem", ("error", f"{task[1].name}: {why}.")
        except Exception as exc:  # a pypdf bug must not kill the worker: report it
            logger.debug("extraction failed", exc_info=True)
            kind, payload = "problem", ("malformed", unreadable(task[1], exc))
        peak = _peak_virtual_bytes()
        if peak is not None and peak >= 0.9 * memory_limit_mb * 2**20:
            # Allocations failed or nearly did: whatever went wrong was memory (pypdf turns
            # some MemoryErrors into read errors). Report that, and let a fresh process
            # take over, since this one's heap stays large.
            retire = True
            if kind == "problem":
                why = f"reading it needs more memory than the {memory_limit_mb} MB allowed"
                kind, payload = "problem", ("too_large", f"{task[1].name}: {why}.")
        try:
            conn.send((task_id, kind, payload, list(collector.messages), retire))
        except (EOFError, OSError):
            return
        if retire:
            return


def _size_or_zero(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# --- the pool ----------------------------------------------------------------------------


@dataclass
class _FileJob:
    path: Path
    n_pages: int = 0
    ranges: dict[int, list[str]] = field(default_factory=dict)  # start index -> raw texts
    outstanding: int = 0  # range tasks sent or queued, not yet answered
    done: bool = False
    outline: Outline = field(default_factory=list)  # read by the worker that split it


@dataclass
class _Worker:
    process: BaseProcess
    conn: multiprocessing.connection.Connection
    task: tuple[int, tuple[Any, ...]] | None = None  # (job index, task) while busy
    ready: bool = False  # has said "ready" (pypdf imported): task time starts only then
    started: float = 0.0  # monotonic time the current task was sent or last made progress
    spawned: float = field(default_factory=time.monotonic)


@dataclass
class _Batch:
    """One extract_many call: its files, the tasks not yet handed out (job index, task)."""

    jobs: list[_FileJob]
    queue: deque[tuple[int, tuple[Any, ...]]]
    files_queued: int  # whole-file tasks still in the queue
    remaining: int  # files without a result yet
    task_ids: int = 0

    @classmethod
    def of(cls, paths: list[Path], max_bytes: int) -> _Batch:
        jobs = [_FileJob(Path(p)) for p in paths]
        # Largest files first (by bytes, a fair proxy for pages): the small ones then fill
        # the gaps at the end, so that no worker idles while another finishes a big manual.
        order = sorted(range(len(jobs)), key=lambda i: -_size_or_zero(jobs[i].path))
        queue = deque((i, ("file", jobs[i].path, max_bytes, 0, 0, None)) for i in order)
        return cls(jobs, queue, len(jobs), len(jobs))


class Extractor(Closeable):
    """A pool of extraction processes. Use from one thread at a time."""

    def __init__(
        self,
        max_workers: int | None = None,
        timeout_s: float = 120.0,
        memory_limit_mb: int = 2048,
        max_bytes: int = DEFAULT_MAX_BYTES,
        split_pages: int | None = None,
        new_session: bool = False,
        start_timeout_s: float = 120.0,
    ) -> None:
        """max_workers: processes (default: the number of cores, at most 4). timeout_s: the
        longest a file may go without progress (opening it, or one page) before it is
        reported as "timeout" and its process replaced. memory_limit_mb: address-space cap
        of each process (where resource.setrlimit exists). max_bytes: larger files are
        "too_large". split_pages: fixed pages per range when a large PDF is split (default:
        about four ranges per worker). new_session: start each worker in its own session
        (POSIX setsid). Linux's autogroup scheduler gives each session one share of the CPU,
        so by default the whole pool competes for the share of the process that started
        it; with new_session each worker gets a share of its own (and the GUI keeps its
        own whole share). start_timeout_s: a process that has not said it is ready by then
        (alive, but stuck importing pypdf) is replaced like one that died starting."""
        self.max_workers = max(1, max_workers or min(os.cpu_count() or 1, 4))
        self.timeout_s = timeout_s
        self.memory_limit_mb = memory_limit_mb
        self.max_bytes = max_bytes
        # pages per range when a large PDF is split (None: about 2 ranges per worker)
        self.split_pages = split_pages
        self.new_session = new_session
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._closed = False
        self._failed_starts = 0
        self.start_timeout_s = start_timeout_s

    # worker management

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_worker_main,
            args=(child, self.memory_limit_mb, self.new_session),
            daemon=True,
            name="hearth-extract",
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    def _kill(self, worker: _Worker) -> None:
        with contextlib.suppress(OSError):
            worker.conn.close()
        if worker.process.is_alive():
            worker.process.terminate()
            worker.process.join(2.0)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(2.0)

    def _replace(self, worker: _Worker) -> None:
        self._kill(worker)
        index = self._workers.index(worker)
        self._workers[index] = self._spawn()

    def _ensure_workers(self) -> None:
        if self._closed:
            raise RuntimeError("Extractor is closed")
        for i, worker in enumerate(self._workers):
            if not worker.process.is_alive():
                self._kill(worker)
                self._workers[i] = self._spawn()
        while len(self._workers) < self.max_workers:
            self._workers.append(self._spawn())

    def start(self, timeout_s: float = 60.0) -> bool:
        """Start the worker processes now and wait until they have imported pypdf (else
        the first extract_many does it). True when all are ready within the timeout."""
        self._ensure_workers()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            starting = [w for w in self._workers if not w.ready]
            if not starting:
                return True
            ready = multiprocessing.connection.wait(
                [w.conn for w in starting] + [w.process.sentinel for w in starting],
                timeout=max(0.0, min(0.5, deadline - time.monotonic())),
            )
            for worker in starting:
                self._on_start_message(worker, ready)
        return all(w.ready for w in self._workers)

    # scheduling

    def _split(self) -> tuple[int, int] | None:
        """How large PDFs are cut: (pieces, fixed pages per range), None for no split."""
        if self.max_workers < 2:
            return None
        return (4 * self.max_workers, self.split_pages or 0)

    def extract_many(
        self, paths: list[Path], cancel: threading.Event | None = None
    ) -> Iterator[ExtractResult]:
        """Yield one ExtractResult per path, in completion order (files are started largest
        first). Stops early (without results for the rest) when `cancel` is set; work in
        flight is abandoned."""
        self._ensure_workers()
        batch = _Batch.of(paths, self.max_bytes)
        try:
            while batch.remaining:
                if cancel is not None and cancel.is_set():
                    return
                self._hand_out(batch)
                waiting = [w for w in self._workers if w.task is not None or not w.ready]
                if not waiting:
                    continue
                ready = multiprocessing.connection.wait(
                    [w.conn for w in waiting] + [w.process.sentinel for w in waiting],
                    timeout=0.1,
                )
                yield from self._collect(batch, waiting, ready)
                yield from self._expired(batch)
                self._replace_stuck_starts()
        finally:
            # work still in flight (cancel, timeout, or the caller stopped iterating)
            for worker in list(self._workers):
                if worker.task is not None:
                    worker.task = None
                    self._replace(worker)

    def _hand_out(self, batch: _Batch) -> None:
        """Give each idle worker the next task."""
        for worker in self._workers:
            if not (worker.ready and worker.task is None and batch.queue):
                continue
            job_index, task = batch.queue.popleft()
            job = batch.jobs[job_index]
            if task[0] == "file":
                batch.files_queued -= 1
                # Split a large PDF into page ranges only when there are fewer whole files
                # left than workers: each range re-reads fonts and page tree (10-20% more
                # CPU), which pays only for idle workers.
                if batch.files_queued < self.max_workers:
                    task = (*task[:5], self._split())
            if job.done:
                continue
            batch.task_ids += 1
            try:
                worker.conn.send((batch.task_ids, task))
                worker.task = (job_index, task)
                worker.started = time.monotonic()
            except (OSError, EOFError):
                batch.queue.appendleft((job_index, task))
                if task[0] == "file":
                    batch.files_queued += 1
                self._replace(worker)

    def _collect(
        self, batch: _Batch, waiting: list[_Worker], ready: list[Any]
    ) -> list[ExtractResult]:
        """The replies of the workers that answered (or died): the files they finished."""
        finished: list[ExtractResult] = []
        for worker in waiting:
            if not worker.ready:
                self._on_start_message(worker, ready)
                continue
            if worker.task is None:
                continue
            job_index, task = worker.task
            job = batch.jobs[job_index]
            reply: Any = None
            if worker.conn in ready:
                try:
                    reply = worker.conn.recv()
                except (EOFError, OSError):
                    reply = None
            elif worker.process.sentinel not in ready:
                continue
            if reply is not None and reply[1] == "progress":
                worker.started = time.monotonic()
                continue
            worker.task = None
            if reply is None:  # the process died (crash, or killed for memory)
                self._replace(worker)
                if not job.done:
                    message = (
                        f"{job.path.name}: the extractor stopped while reading this file "
                        "(it may need more memory than allowed)."
                    )
                    finished.append(self._give_up(batch, job_index, "error", message))
                continue
            _, kind, payload, log_lines, retire = reply
            for line in log_lines:
                logger.debug("%s: pypdf: %s", job.path.name, line)
            if retire:
                self._replace(worker)
            if job.done:
                continue
            result = self._on_reply(job_index, job, task, kind, payload, batch.queue)
            if result is not None:
                job.done = True
                batch.remaining -= 1
                finished.append(result)
        return finished

    def _expired(self, batch: _Batch) -> list[ExtractResult]:
        """The files whose worker went without progress for longer than the time limit."""
        finished: list[ExtractResult] = []
        now = time.monotonic()
        for worker in list(self._workers):
            if worker.task is None:
                continue
            job_index, _task = worker.task
            job = batch.jobs[job_index]
            if job.done or now - worker.started <= self.timeout_s:
                continue
            message = (
                f"{job.path.name}: reading it stalled for more than {self.timeout_s:g} s "
                "(while opening it or on one page), so it was skipped."
            )
            finished.append(self._give_up(batch, job_index, "timeout", message))
        return finished

    def _replace_stuck_starts(self) -> None:
        """Replace (as failed starts) processes not ready in time: else they stall forever."""
        now = time.monotonic()
        for worker in list(self._workers):
            if not worker.ready and now - worker.spawned > self.start_timeout_s:
                self._failed_start(worker)

    def _give_up(
        self, batch: _Batch, job_index: int, status: Status, message: str
    ) -> ExtractResult:
        """End a file with a failure: its other tasks are dropped, their workers replaced."""
        job = batch.jobs[job_index]
        job.done = True
        batch.remaining -= 1
        self._abandon(job_index, batch.jobs, batch.queue)
        return failed(job.path, status, message)

    def _on_start_message(self, worker: _Worker, ready: list[Any]) -> None:
        """Handle a starting worker's "ready", or its death before it."""
        if worker.conn in ready:
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                message = None
            if message == ("ready",):
                worker.ready = True
                self._failed_starts = 0
                return
        elif worker.process.sentinel not in ready:
            return
        self._failed_start(worker)

    def _failed_start(self, worker: _Worker) -> None:
        """Start another, up to a limit (then the caller's files fail: rag.extraction)."""
        self._failed_starts += 1
        if self._failed_starts > 3 * self.max_workers:
            raise RuntimeError("the PDF extraction processes cannot start")
        self._replace(worker)

    def _abandon(
        self,
        job_index: int,
        jobs: list[_FileJob],
        queue: deque[tuple[int, tuple[Any, ...]]],
    ) -> None:
        """Kill every worker still busy with this job and drop its queued tasks."""
        for worker in list(self._workers):
            if worker.task is not None and worker.task[0] == job_index:
                worker.task = None
                self._replace(worker)
        kept = [entry for entry in queue if entry[0] != job_index]
        queue.clear()
        queue.extend(kept)

    def _on_reply(
        self,
        job_index: int,
        job: _FileJob,
        task: tuple[Any, ...],
        kind: str,
        payload: Any,
        queue: deque[tuple[int, tuple[Any, ...]]],
    ) -> ExtractResult | None:
        if kind == "result":
            result: ExtractResult = payload
            return result
        if kind == "problem":
            status, message = payload
            return failed(job.path, status, message)
        if kind == "split":
            n_pages, job.outline = payload
            job.n_pages = n_pages
            split = self._split()
            size = _range_size(n_pages, *split) if split else n_pages
            starts = list(range(0, n_pages, size))
            # the rest of this file goes first, so that a large file finishes early
            for start in reversed(starts):
                stop = min(start + size, n_pages)
                queue.appendleft(
                    (job_index, ("range", job.path, self.max_bytes, start, stop, None))
                )
            job.outstanding = len(starts)
        elif kind == "pages":
            job.ranges[task[3]] = payload
            job.outstanding -= 1
        if job.outstanding == 0:
            raw: list[str] = []
            for start in sorted(job.ranges):
                raw.extend(job.ranges[start])
            return finish_pdf(job.path, raw, job.outline)
        return None

    def close(self) -> None:
        """Stop the worker processes."""
        self._closed = True
        for worker in self._workers:
            with contextlib.suppress(OSError, EOFError):
                worker.conn.send(None)
        deadline = time.monotonic() + 2.0
        for worker in self._workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            self._kill(worker)
        self._workers.clear()
