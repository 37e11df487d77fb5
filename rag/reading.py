"""The reading half of ingestion: queued documents go to the extraction thread
(`rag.extraction`); each finished extraction is recorded (a failure, an unchanged file, or
pages to chunk), and a read document is cut into chunks a window of pages (CHUNK_WINDOW_PAGES)
per ingestion step, so a search never waits for a whole book to be chunked. Chunks are stored
in SQLite, not yet embedded (`rag.batches` embeds them).

A document stays "in flight" from its hand-off until its last window is stored; the stored
hash is set only with that last window, so a crash meanwhile leaves the document queued, to
be read again. A document read again for new labels only (RELABEL) is not cut into new
chunks: its stored ones are compared with this reading's, window by window, and kept when
they are the same, so it answers in full all along (`ChunkJob.verify`).
"""

from __future__ import annotations

import hashlib
import os
import queue
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag import page_starts, sections
from rag.config import LibraryContext
from rag.extraction import (
    EXTRACT_MESSAGES,
    ExtractionThread,
    ExtractJob,
    ExtractOutcome,
    extract_message,
)
from rag.index import DocRow
from rag.progress import IngestStats, Rate
from rag.watch import moved

if TYPE_CHECKING:  # pragma: no cover
    from rag.file_text import ExtractResult

# Pages chunked per ingestion step: a 2,400-page manual is cut over many steps, so a search
# never waits for a whole book to be chunked. Chunks do not cross a window's last page.
CHUNK_WINDOW_PAGES = 64


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


@dataclass
class ChunkJob:
    """A read document being cut into chunks, a window of pages per ingestion step."""

    doc_id: int
    sha: str
    pages: list[Any]
    n_pages: int
    offsets: dict[int, int]
    next_page: int = 0  # index into pages
    next_ordinal: int = 0
    # Read again for new labels only (RELABEL): its stored chunks, expected to be what this
    # reading cuts, are compared window by window instead of replaced (`Reader._verify`).
    verify: bool = False


class Reader:
    """Documents from "queued" to chunked (see the module docstring). Belongs to the
    library's thread; only the extraction thread it starts runs beside it."""

    def __init__(self, ctx: LibraryContext) -> None:
        self.ctx = ctx
        self.extraction: ExtractionThread | None = None
        self.in_flight: dict[int, str] = {}  # doc id -> path handed to extraction
        self.outcomes: deque[ExtractOutcome] = deque()
        self.chunking: ChunkJob | None = None
        self._extract_started = time.monotonic()
        self.page_rate = Rate()
        self.pages_read = 0

    @property
    def busy(self) -> bool:
        """Files are being read, or read and not yet recorded."""
        return bool(self.in_flight or self.outcomes)

    def forget(self, doc_id: int) -> None:
        """The document was removed: a late extraction result is ignored, and its chunking
        stops."""
        self.in_flight.pop(doc_id, None)
        self.ctx.kept.drop(doc_id)
        if self.chunking is not None and self.chunking.doc_id == doc_id:
            self.chunking = None

    def forget_all(self) -> None:
        """Drop the work in hand (files being read, a document half chunked): the stored
        statuses say where the next step starts."""
        self.stop_extraction()
        self.in_flight.clear()
        self.outcomes.clear()
        self.chunking = None

    def pause(self) -> None:
        """Stop the extraction workers; keep only a document half chunked (its pages are in
        memory). Files being read are read again on resume."""
        self.stop_extraction()
        chunking = self.chunking.doc_id if self.chunking is not None else None
        self.in_flight = {d: p for d, p in self.in_flight.items() if d == chunking}
        self.outcomes.clear()

    def stop_extraction(self) -> None:
        """Stop the extraction thread and its pypdf worker processes, if they run."""
        extraction, self.extraction = self.extraction, None
        if extraction is not None:
            extraction.stop()

    def stop_if_idle(self) -> None:
        if not self.in_flight:
            self.stop_extraction()  # idle: free the worker processes

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` s for an extraction result; True if one arrived."""
        if self.extraction is None or not self.in_flight:
            return False
        try:
            outcome = self.extraction.results.get(timeout=timeout)
        except queue.Empty:
            return False
        self.outcomes.append(outcome)
        return True

    # -- one step --------------------------------------------------------------------------

    def read_step(self, stats: IngestStats) -> int | None:
        """One window of pages of a read document, or one finished extraction recorded;
        the document whose row changed, None when there was nothing to do."""
        if self.chunking is not None:
            doc_id = self.chunking.doc_id
            self._chunk_window()
            return doc_id
        self._collect_outcomes()
        while self.outcomes:
            outcome = self.outcomes.popleft()
            if self.in_flight.get(outcome.doc_id) != outcome.path:
                continue  # removed or re-queued meanwhile
            if not self._apply(outcome, stats):
                del self.in_flight[outcome.doc_id]
            return outcome.doc_id
        return None

    def hand_over(self) -> list[int]:
        """Hand queued documents to the extraction thread; returns their ids."""
        handed: list[int] = []
        for doc in self.ctx.store.documents(["queued"]):
            if doc.id in self.in_flight:
                continue
            if self.extraction is None:
                cfg = self.ctx.config
                self.extraction = ExtractionThread(
                    cfg.extract_workers, cfg.extract_timeout_s, cfg.extract_memory_mb
                )
                self._extract_started = time.monotonic()
            self.in_flight[doc.id] = doc.path
            self.extraction.submit(ExtractJob(doc.id, doc.path, doc.sha256))
            handed.append(doc.id)
        return handed

    def _collect_outcomes(self) -> None:
        if self.extraction is None:
            return
        while True:
            try:
                self.outcomes.append(self.extraction.results.get_nowait())
            except queue.Empty:
                return

    def _apply(self, outcome: ExtractOutcome, stats: IngestStats) -> bool:
        """Record an extraction's outcome; True when its pages are now being chunked (the
        document stays in flight until the last window)."""
        doc = self.ctx.store.document(outcome.doc_id)
        if doc is None or doc.status == "removing":
            return False
        stats.extract_s = time.monotonic() - self._extract_started
        result = outcome.result
        if result is not None and result.status != "ok":
            failure = extract_message(result)
        else:
            failure = outcome.error
        if failure and self._keep_unlabelled(doc, outcome.sha, failure):
            return False
        if outcome.error:
            self.ctx.store.update_document(doc.id, status="failed", message=outcome.error)
            return False
        if result is None:  # same content as the stored chunks (a hash is only kept with them)
            done = doc.embedded >= doc.chunks
            self.ctx.store.update_document(doc.id, status="ready" if done else "indexing")
            return False
        if result.status != "ok":
            self._record_failure(doc, result)
            return False
        self._start_chunking(doc, outcome.sha, result, stats)
        return True

    def _keep_unlabelled(self, doc: DocRow, sha: str, failure: str) -> bool:
        """A document read again for new labels or page clean-up only (RELABEL) that cannot
        be read now (a time limit on a busy machine) keeps the chunks it has: they are this
        file's, only labels and furniture left out were to come. True when it did; its
        message says why it was not read anew."""
        if not doc.relabelling or not sha:
            return False
        try:
            if moved(doc, os.stat(doc.path)):
                return False  # changed on disk meanwhile: its stored text is not this file's
        except OSError:
            return False
        note = f"{failure} It answers from the text as read before this version of Hearth."
        self.ctx.store.update_document(
            doc.id, sha256=sha, status="ready", progress=1.0, message=note
        )
        return True

    def _record_failure(self, doc: DocRow, result: ExtractResult) -> None:
        self._drop_chunks(doc)
        self.ctx.store.update_document(
            doc.id,
            status="failed",
            message=extract_message(result),
            sha256="",
            pages=int(getattr(result, "n_pages", 0) or 0),
            chunks=0,
            progress=0.0,
        )

    def _start_chunking(
        self, doc: DocRow, sha: str, result: ExtractResult, stats: IngestStats
    ) -> None:
        n_pages = int(getattr(result, "n_pages", 0) or len(result.pages))
        self.pages_read += n_pages
        self.page_rate.add(n_pages)
        stats.pages += n_pages
        # Read again for new labels only, and whole: its chunks keep answering while this
        # reading is compared with them, and stay (vectors and all) if it cuts the same ones.
        verify = doc.relabelling
        if not verify:
            self._drop_old_version(doc.id, bool(doc.chunks), n_pages)
        self.chunking = ChunkJob(
            doc_id=doc.id,
            sha=sha,
            pages=list(result.pages),
            n_pages=n_pages,
            offsets=page_offsets(result.pages),
            verify=verify,
        )
        page_starts.record(self.ctx.store, doc.id, self.chunking.offsets)
        outline = sections.place_outline(result.outline, result.pages, self.chunking.offsets)
        sections.record_outline(self.ctx.store, doc.id, outline)
        self._chunk_window()

    def _chunk_window(self) -> None:
        from rag.chunking import chunk_pages

        job = self.chunking
        if job is None:
            return
        doc = self.ctx.store.document(job.doc_id)
        if doc is None or doc.status == "removing":
            self.chunking = None
            return
        emb = self.ctx.embedder()
        cfg = self.ctx.config
        max_tokens = max(16, min(510, int(emb.max_tokens) - 2))
        window = job.pages[job.next_page : job.next_page + CHUNK_WINDOW_PAGES]
        chunks = chunk_pages(
            window,
            emb.count_tokens,
            target_tokens=min(cfg.chunk_tokens, max_tokens),
            overlap_tokens=min(cfg.chunk_overlap, cfg.chunk_tokens // 2),
            max_tokens=max_tokens,
        )
        rows = chunk_rows(chunks, job.offsets, first_ordinal=job.next_ordinal)
        if job.verify and not self._verify(job, rows):
            return
        if rows and not job.verify:
            self.ctx.store.append_chunks(job.doc_id, rows)
        job.next_page += len(window)
        job.next_ordinal += len(rows)
        if job.next_page >= len(job.pages):
            self._finish_chunking(job)

    def _verify(self, job: ChunkJob, rows: list[tuple[Any, ...]]) -> bool:
        """Whether a window's chunks are the stored ones (and, at the last window, no stored
        chunk is left over). When not, the document is read as any other: its old version
        goes and its chunking starts again from the first page (next step)."""
        last = job.next_page + CHUNK_WINDOW_PAGES >= len(job.pages)
        # one more at the last window: a stored chunk past this reading's last is a difference
        stored = self.ctx.store.chunk_layout(job.doc_id, job.next_ordinal, len(rows) + last)
        same = stored == [(*r[:7], r[8]) for r in rows]
        if not same:
            self._drop_old_version(job.doc_id, True, job.n_pages)
            job.verify, job.next_page, job.next_ordinal = False, 0, 0
        return same

    def _drop_old_version(self, doc_id: int, had_chunks: bool, n_pages: int) -> None:
        """Before a document's new reading is stored: its old (or half-stored) chunks go, and
        their vectors (kept in memory for the chunks whose text did not change). The hash is
        set only with the last window, so a crash meanwhile leaves it queued, to be read
        again."""
        if had_chunks:
            self._keep_vectors(doc_id)
            self.ctx.vector_store.delete_document(doc_id)
        self.ctx.store.replace_chunks(
            doc_id, [], sha256="", pages=n_pages, chunks=0, progress=0.0, message=""
        )

    def _finish_chunking(self, job: ChunkJob) -> None:
        self.chunking = None
        self.in_flight.pop(job.doc_id, None)
        if job.verify:  # the stored chunks are this reading's: only its labels were new
            self.ctx.store.update_document(
                job.doc_id, sha256=job.sha, pages=job.n_pages, status="ready", progress=1.0
            )
            return
        if job.next_ordinal == 0:
            self.ctx.store.update_document(
                job.doc_id, status="failed", message=EXTRACT_MESSAGES["empty"], chunks=0
            )
            return
        self.ctx.store.update_document(
            job.doc_id,
            sha256=job.sha,
            chunks=job.next_ordinal,
            status="indexing",
            message="",
            progress=0.0,
        )

    def _keep_vectors(self, doc_id: int) -> None:
        """Keep the document's vectors by content hash until it is embedded again
        (`rag.kept_vectors`), when there is room for all of them."""
        kept = self.ctx.kept
        kept.drop(doc_id)  # its room counts for it
        chunks = self.ctx.store.embedded_chunks_of(doc_id)
        vector_store = self.ctx.vector_store
        if not chunks or len(chunks) > kept.room(vector_store.vectors.dim):
            return
        by_id: dict[int, Any] = {}
        for start in range(0, len(chunks), 4096):  # a request of a few MB, also to a server
            by_id.update(vector_store.embeddings([i for i, _ in chunks[start : start + 4096]]))
        vectors = {h: by_id[i] for i, h in chunks if i in by_id}
        kept.keep(doc_id, vector_store.vectors.name, vectors)

    def _drop_chunks(self, doc: DocRow) -> None:
        self.ctx.kept.drop(doc.id)
        if doc.chunks:
            self.ctx.vector_store.delete_document(doc.id)
        self.ctx.store.replace_chunks(doc.id, [])  # also rows left by an interrupted chunking
