"""What ingestion reports: library-wide `Progress` for a view, a `StepReport` per ingestion
step, `IngestStats` for one run (benchmarks), and the sliding-window `Rate` behind the speeds."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


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
    # That document's own chunks (chunks_total/_done count every document being indexed).
    current_chunks: int = 0
    current_done: int = 0
    missing: int = 0  # documents whose file is gone (rag.watch)
    elsewhere: bool = False  # another Hearth process is indexing this library: waiting for it
    elapsed_s: float = 0.0

    @property
    def fraction(self) -> float:
        return self.chunks_done / self.chunks_total if self.chunks_total else 0.0

    def chunk_parts(self) -> list[str]:
        """What is being embedded, in words: the current file with its own chunks, then, when
        more files are being indexed, the total of all of them, labelled as such
        ("R-FAQ.pdf 83% (254/307 chunks)", "5 files 17% (254/1535 chunks)"): the name alone
        with the total of five files read as that file's progress. The command
        line and the window say it the same way."""
        if not self.chunks_total:
            return []
        parts: list[str] = []
        if self.current and self.current_chunks:
            pct = 100 * self.current_done / self.current_chunks
            parts.append(
                f"{self.current} {pct:.0f}% ({self.current_done}/{self.current_chunks} chunks)"
            )
        if not parts or self.indexing > 1:
            files = f"{self.indexing} files" if self.indexing > 1 else "indexing"
            counts = f"{self.chunks_done}/{self.chunks_total} chunks"
            parts.append(f"{files} {100 * self.fraction:.0f}% ({counts})")
        return parts

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
            "current_chunks": self.current_chunks,
            "current_done": self.current_done,
            "missing": self.missing,
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


class Rate:
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
