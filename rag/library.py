"""The document library: add, list, remove and re-index documents; ingest them into the two
indexes (Chroma vectors + SQLite FTS5 keywords); search both.

`Library` is the one object its users hold (the app's documents thread, the command line,
`hearth docs eval`, the benchmarks). It is built from a `LibraryConfig` (`rag.config`), owns
the SQLite store (`rag.index.Store`), the embedding model and the Chroma connection
(`rag.vector_store`), keeps the catalog of documents itself, and hands the rest to:

- `rag.ingest`: ingestion in small steps, one process at a time (threads, resuming and
  idempotence are explained there), with `rag.reading` (extraction, chunking windows) and
  `rag.batches` (embedding batches);
- `rag.search`: hybrid search and fusion.

Usage::

    lib = Library(data_dir, LibraryConfig(embedding_model=path))
    lib.add([Path("manual.pdf")])       # fast: registers documents as "queued"
    lib.ingest()                        # or ingest_step() between searches
    hits = lib.search("How do I ...?")

Not thread-safe: use a library from the thread that made it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from engine.closing import Closeable
from engine.errors import DocumentError
from rag.config import EmbedderLike, LibraryConfig, LibraryContext
from rag.formats import (
    READ_AGAIN,
    READING_VERSIONS,
    RELABEL,
    discover,
    old_text_answers,
    reading_format,
)
from rag.index import DocRow, Store
from rag.ingest import Ingestor
from rag.progress import IngestStats, Progress, StepReport
from rag.retrieve import Hit, Mode
from rag.search import Searcher
from rag.vector_store import VectorIndex, VectorStore
from rag.watch import WatchReport, check_files

if TYPE_CHECKING:  # pragma: no cover
    from chromadb.api import ClientAPI

DB_NAME = "library.sqlite3"


class Library(Closeable):
    """See the module docstring. `embedder`: an embedding model the caller owns (closed by
    the caller), instead of loading `config.embedding_model` on first use."""

    def __init__(
        self,
        data_dir: Path,
        config: LibraryConfig | None = None,
        *,
        embedder: EmbedderLike | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.config = config or LibraryConfig()
        self.store = Store(self.data_dir / DB_NAME)
        self._embedder = embedder
        self._owns_embedder = embedder is None

        def model() -> EmbedderLike:  # loaded on first use
            return self.embedder

        cfg = self.config
        self.vector_store = VectorStore(
            self.data_dir, self.store, cfg.vector_store, model, cfg.vector_store_token
        )
        ctx = LibraryContext(self.data_dir, self.store, self.vector_store, model, self.config)
        self.ingestor = Ingestor(ctx)
        self.searcher = Searcher(ctx)
        self._finish_interrupted_removals()
        self._read_outdated_again()
        self.ingestor.settle_if_nobody_indexes()

    # -- owned objects -----------------------------------------------------------------------

    @property
    def embedder(self) -> EmbedderLike:
        if self._embedder is None:
            if self.config.embedding_model is None:
                raise DocumentError("No embedding model is set for the document library.")
            from rag.embedder import Embedder

            made: EmbedderLike = Embedder(
                self.config.embedding_model, n_threads=self.config.embed_threads
            )
            self._embedder = made
            return made
        return self._embedder

    @property
    def client(self) -> ClientAPI:
        """The Chroma client, opened on first use (an unreadable store is rebuilt)."""
        return self.vector_store.client

    @property
    def vectors(self) -> VectorIndex:
        """This library's Chroma collection for the current embedding model."""
        return self.vector_store.vectors

    @property
    def rebuilt_vectors(self) -> str:
        """Set when an unreadable vector store was rebuilt: what to tell the user."""
        return self.vector_store.rebuilt

    def collection_name(self) -> str:
        return self.vector_store.collection_name()

    def close(self) -> None:
        self.ingestor.close()
        if self._embedder is not None and self._owns_embedder:
            self._embedder.close()
        self._embedder = None
        self.vector_store.close()
        self.store.close()

    # -- documents ---------------------------------------------------------------------------

    def add(self, paths: Iterable[Path | str]) -> list[DocRow]:
        """Register files (and folders' .pdf/.txt/.md files) for indexing; returns their rows.

        Unchanged ready documents stay as they are; anything else is queued. Nothing is read
        here: `ingest_step` does the work. Folders are remembered: files that appear in them
        later are added by `check_files`."""
        paths = list(paths)
        rows: list[DocRow] = []
        files = discover(paths)  # raises before anything is added when a path is missing
        for raw in paths:
            given = os.path.abspath(Path(raw).expanduser())
            if os.path.isdir(given):
                self.store.add_folder(given)
            else:
                self.store.unignore_file(given)  # added by hand: watched again
        for f in files:
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
        self._queue_again(self._require(doc_id).id)

    def _queue_again(self, doc_id: int, why: int = 0) -> None:
        """Queue a document to be read and embedded again (not while it is being read).
        `why`: READ_AGAIN (Hearth reads its format differently now: its stored text is not
        searched until then, `Store.hidden_document_ids`) or RELABEL (only labels or page
        furniture changed: it still answers); both show as read again
        (`DocRow.rereading`). 0: the document's flag stays as it is."""
        if doc_id in self.ingestor.reader.in_flight:
            return
        flags = {"changed": why} if why else {}
        self.store.update_document(
            doc_id, sha256="", status="queued", message="", progress=0.0, **flags
        )

    def _read_outdated_again(self) -> None:
        """Queue the documents of a format whose reading changed since the library last
        opened (rag.formats.READING_VERSIONS), once; a library made before versions were
        recorded counts as version 1. They count as changed: their old text is not searched
        (it may hold what the new reading leaves out) and `hearth ask` reads them first;
        unless the new readings only add labels or leave page furniture out
        (rag.formats.old_text_answers): then they are read again in the background and
        answer meanwhile."""
        for fmt, version in READING_VERSIONS.items():
            key = f"reading_version.{fmt}"
            stored = self.store.get_meta(key, "1")
            since = int(stored) if stored.isdigit() else 1
            if since >= version:
                continue
            why = RELABEL if old_text_answers(fmt, since) else READ_AGAIN
            for doc in self.store.documents(("ready", "failed", "queued", "indexing")):
                if reading_format(doc.path) == fmt:
                    self._queue_again(doc.id, why)
            self.store.set_meta(key, str(version))

    def remove(self, doc_id: int) -> None:
        """Delete a document from both indexes and the library. A file removed from a
        watched folder is not added again; a folder with no document left is no longer
        watched."""
        doc = self._require(doc_id)
        self.ingestor.reader.forget(doc.id)
        self.store.update_document(doc.id, status="removing")
        self.vector_store.delete_document(doc.id)
        self.store.delete_document_rows(doc.id)
        folder = self._folder_of(doc.path)
        if folder is not None:
            self.store.ignore_file(doc.path, folder)
            if not any(self._folder_of(d.path) == folder for d in self.store.documents()):
                self.store.remove_folder(folder)

    def remove_folder(self, folder: str | Path) -> list[DocRow]:
        """Stop watching a folder and remove its documents; returns them."""
        path = os.path.abspath(Path(folder).expanduser())
        inside = [d for d in self.documents() if _under(d.path, path)]
        self.store.remove_folder(path)
        for doc in inside:
            self.remove(doc.id)
        return inside

    def folders(self) -> list[str]:
        """The folders added to the library (watched for new files)."""
        return self.store.folders()

    def _folder_of(self, path: str) -> str | None:
        """The innermost watched folder that holds `path`."""
        holding = [f for f in self.store.folders() if _under(path, f)]
        return max(holding, key=len) if holding else None

    def check_files(self) -> WatchReport:
        """Look for documents changed, deleted or come back on disk and for new files in
        watched folders (`rag.watch`); the library is updated accordingly. Every few minutes
        the vectors are compared with the catalog too (`rag.integrity`): when they were
        changed outside Hearth, every document is queued to be embedded again (reported as
        changed) and `take_vector_notice` says so."""
        report = check_files(self.store, busy=self.ingestor.reader.in_flight)
        has_model = self._embedder is not None or self.config.embedding_model is not None
        indexed = has_model and self.store.documents(["ready", "indexing"])  # `docs list`: no
        if indexed and self.vector_store.check_integrity():
            report.changed.extend(d.id for d in self.store.documents(["indexing"]))
        return report

    def take_vector_notice(self) -> str:
        """What to tell the user about the vector store (rebuilt because it was unreadable
        or changed outside Hearth), once."""
        note, self.vector_store.rebuilt = self.vector_store.rebuilt, ""
        return note

    def _finish_interrupted_removals(self) -> None:
        for doc in self.store.documents(["removing"]):
            self.vector_store.delete_document(doc.id)
            self.store.delete_document_rows(doc.id)

    def documents(self) -> list[DocRow]:
        return [self._view(d) for d in self.store.documents() if d.status != "removing"]

    def document(self, doc_id: int) -> DocRow | None:
        doc = self.store.document(doc_id)
        return self._view(doc) if doc is not None and doc.status != "removing" else None

    def _view(self, doc: DocRow) -> DocRow:
        if doc.id in self.ingestor.reader.in_flight and doc.status == "queued":
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

    def counts(self) -> dict[str, int]:
        """Rows in SQLite (documents, chunks, embedded, fts_rows) and ids in Chroma."""
        out = self.store.counts()
        out["vectors"] = self.vector_store.count()
        return out

    # -- ingestion (rag.ingest) --------------------------------------------------------------

    @property
    def stats(self) -> IngestStats:
        """Timings of the last `ingest()` run."""
        return self.ingestor.stats

    def has_work(self) -> bool:
        return self.ingestor.has_work()

    def progress(self) -> Progress:
        return self.ingestor.progress()

    def wait_for_extraction(self, timeout: float) -> bool:
        return self.ingestor.wait_for_extraction(timeout)

    def ingest_step(self) -> StepReport:
        """One bounded piece of ingestion work (`rag.ingest.Ingestor.step`)."""
        return self.ingestor.step()

    def ingest(
        self,
        cancel: threading.Event | None = None,
        pause: threading.Event | None = None,
        on_progress: Callable[[StepReport], None] | None = None,
    ) -> IngestStats:
        """Run steps until nothing is left, `cancel` is set (work stays queued and resumes on
        the next run), honouring `pause` between steps."""
        return self.ingestor.run(cancel, pause, on_progress)

    def pause(self) -> None:
        """Stop reading files and let another process index meanwhile (`Ingestor.pause`)."""
        self.ingestor.pause()

    def cancel(self) -> None:
        """Stop reading files; documents stay queued or indexing and resume later."""
        self.ingestor.cancel()

    # -- search (rag.search) -----------------------------------------------------------------

    @property
    def last_timings(self) -> dict[str, float]:
        """Of the last search: seconds spent embedding, in Chroma and in FTS5."""
        return self.searcher.last_timings

    def search(
        self,
        query: str,
        k: int = 6,
        doc_ids: Sequence[int] | None = None,
        mode: Mode = "hybrid",
        candidates: int | None = None,
    ) -> list[Hit]:
        """Top-k passages for a query (`rag.search.Searcher.search`)."""
        return self.searcher.search(query, k, doc_ids, mode, candidates)


def _under(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip(os.sep) + os.sep)
