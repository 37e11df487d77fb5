"""The extraction thread: beside the library's own thread, it hashes the files handed to it and
waits on `rag.extract.Extractor` (a process pool with a per-file timeout: pypdf holds the GIL,
so it runs in other processes). It never touches the library's SQLite connection, Chroma
client or embedding model; what it finds goes back through a queue (`results`).

A file whose hash equals the one already indexed is not read again (`ExtractOutcome.result`
is None).
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from rag.file_text import ExtractResult

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

logger = logging.getLogger(__name__)


def extract_message(result: ExtractResult) -> str:
    msg = (getattr(result, "message", "") or "").strip()
    return msg or EXTRACT_MESSAGES.get(str(result.status), "The file could not be read.")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class ExtractJob:
    doc_id: int
    path: str
    known_sha: str  # content already indexed ('' = none); equal hash -> no extraction


@dataclass
class ExtractOutcome:
    doc_id: int
    path: str
    sha: str
    result: ExtractResult | None  # None: unchanged (hash equals known_sha) or unreadable
    error: str = ""


class ExtractionThread:
    """Hashes files and runs the extractor's process pool off the owning thread."""

    def __init__(self, workers: int, timeout_s: float, memory_limit_mb: int) -> None:
        self.jobs: queue.Queue[ExtractJob | None] = queue.Queue()
        self.results: queue.Queue[ExtractOutcome] = queue.Queue()
        self.cancel = threading.Event()
        self._workers = workers
        self._timeout_s = timeout_s
        self._memory_limit_mb = memory_limit_mb
        self._thread = threading.Thread(target=self._run, name="hearth-extract", daemon=True)
        self._thread.start()

    def submit(self, job: ExtractJob) -> None:
        self.jobs.put(job)

    def stop(self, timeout: float = 5.0) -> None:
        self.cancel.set()
        self.jobs.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        from rag.extract import Extractor

        def new() -> Any:
            return Extractor(
                max_workers=self._workers or None,
                timeout_s=self._timeout_s,
                memory_limit_mb=self._memory_limit_mb,
            )

        extractor = new()
        try:
            while not self.cancel.is_set():
                job = self.jobs.get()
                if job is None:
                    return
                try:
                    self._handle(extractor, [job, *self._waiting()])
                except Exception:  # the pool itself failed: its files were told; a new pool
                    logger.warning("the extraction pool failed", exc_info=True)
                    extractor.close()
                    extractor = new()
        finally:
            extractor.close()

    def _waiting(self) -> list[ExtractJob]:
        """Whatever else is queued, to use every worker process (a stop request among them
        sets `cancel`)."""
        batch: list[ExtractJob] = []
        while True:
            try:
                more = self.jobs.get_nowait()
            except queue.Empty:
                return batch
            if more is None:
                self.cancel.set()
                return batch
            batch.append(more)

    def _handle(self, extractor: Any, batch: list[ExtractJob]) -> None:
        to_extract: dict[str, ExtractJob] = {}
        shas: dict[str, str] = {}
        for job in batch:
            if self.cancel.is_set():
                return
            try:
                sha = sha256_of(Path(job.path))
            except OSError as exc:
                self.results.put(
                    ExtractOutcome(
                        job.doc_id, job.path, "", None, f"The file cannot be read: {exc}"
                    )
                )
                continue
            if job.known_sha and sha == job.known_sha:
                self.results.put(ExtractOutcome(job.doc_id, job.path, sha, None))
                continue
            shas[job.path] = sha
            to_extract[os.path.abspath(job.path)] = job
        if not to_extract:
            return
        jobs_by_path = {j.path: j for j in to_extract.values()}
        try:
            for result in extractor.extract_many([Path(p) for p in jobs_by_path], self.cancel):
                found = to_extract.pop(os.path.abspath(str(result.path)), None)
                if found is not None:
                    outcome = ExtractOutcome(found.doc_id, found.path, shas[found.path], result)
                    self.results.put(outcome)
        except Exception as exc:
            # Without an outcome its documents would wait for one forever.
            why = f"Hearth's PDF reader could not run ({exc}); try again later."
            for job in to_extract.values():
                self.results.put(ExtractOutcome(job.doc_id, job.path, shas[job.path], None, why))
            raise
