"""The document library's vectors, in Chroma: opening the store, running every operation with a
retry that takes over a server that went away, and one collection per embedding model.

`VectorIndex`: one collection, cosine space, used as a plain vector store (ids = chunk ids,
metadata = doc id). Hearth always passes its own embeddings, and writes in batches under the
client's maximum batch size. Writes are upserts keyed by chunk id, so redoing a batch after a
crash never makes duplicates.

Opening: the user's Chroma server when the configuration names one; else Hearth's own store
(`<library>/chroma`), under a file lock beside it: the server another Hearth process already
runs there, else an in-process client (tools on folders of their own) or a server of our own
(`rag.chroma_server`, what the window and the command line use). A store that Chroma cannot
read (another version, a damaged file) is set aside and rebuilt: every chunk's text is in the
SQLite library, so the documents are embedded again, without reading the files again.

Taking over: when the process whose server this one shared exits (or our own server dies),
the next request is refused; `run` waits for that server to be gone, opens the store again
(sharing or starting a server) and repeats the request. Every operation passed to it can be
repeated: upserts by chunk id, deletes by document, reads.

Belongs to the library's thread, like the library.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from engine.errors import DocumentError
from rag.config import VECTOR_STORE_PROCESS, EmbedderLike
from rag.index import Store

if TYPE_CHECKING:  # pragma: no cover
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

    from rag.chroma_server import ChromaProcess
    from rag.integrity import Finding

log = logging.getLogger(__name__)

T = TypeVar("T")

CHROMA_DIR = "chroma"
SERVER_RETRIES = 2  # times a Chroma operation is tried again on a reopened store


_NAME_BAD = re.compile(r"[^a-zA-Z0-9._-]+")


def collection_name(model_name: str, dim: int, prefix: str = "") -> str:
    """Chroma collection for an embedding model: its file name (sanitised) and dimension,
    after `prefix` (which names the library on a Chroma server that others share)."""
    stem = model_name.removesuffix(".gguf")
    safe = _NAME_BAD.sub("-", stem).strip("-._") or "model"
    return f"{prefix}{safe[:200]}-{dim}"


STORE_RECORD = "hearth-store.json"


def chroma_version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("chromadb")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def chroma_version_recorded(path: Path) -> str:
    """The chromadb version that last wrote the store (recorded by Hearth), or ""."""
    try:
        return str(json.loads((path / STORE_RECORD).read_text()).get("chromadb", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def record_chroma_version(path: Path) -> None:
    if chroma_version_recorded(path) != chroma_version():
        (path / STORE_RECORD).write_text(json.dumps({"chromadb": chroma_version(), "format": 1}))


def open_chroma(path: Path) -> ClientAPI:
    """The data folder's one Chroma client, telemetry off."""
    import chromadb
    from chromadb.config import Settings
    from chromadb.errors import ChromaError

    path.mkdir(parents=True, exist_ok=True)
    try:
        return chromadb.PersistentClient(
            path=str(path), settings=Settings(anonymized_telemetry=False, allow_reset=False)
        )
    except (ChromaError, ValueError, RuntimeError, OSError) as exc:
        raise DocumentError(
            f"The vector index at {path} cannot be opened: {exc}", repr(exc)
        ) from exc


def delete_document_everywhere(client: ClientAPI, doc_id: int, prefix: str = "") -> None:
    """Remove a document's vectors from every collection of this library (every embedding
    model used): all collections in Hearth's own store, those named `prefix...` on a server."""
    for col in client.list_collections():
        if not col.name.startswith(prefix):
            continue
        client.get_collection(col.name, embedding_function=None).delete(
            where={"doc_id": int(doc_id)}
        )


# How many neighbours a vector search asks Chroma for (the n wanted are the first n of them).
# HNSW looks at max(ef_search, n_results) candidates, and Chroma's ef_search is 100: asking
# for 20 missed at least one of the 20 nearest chunks for 17 of the 89 evaluation questions
# (five manuals and the Bash manual, 5,395 chunks; recall@20 0.988), and which ones it missed
# changed from one process to the next, so the same question could get other passages after
# a restart. Asking for 400 found the exact 20 for 88 of the 89 (recall 0.9994), 1.5 ms a
# query instead of 0.8 (2-core AMD EPYC). Asking wider works for every collection, old or
# new, and on any Chroma server; changing a collection's ef_search through Hearth's Chroma
# server failed ("Schema is missing defaults.float_list.vector_index").
SEARCH_WIDTH = 400


class VectorIndex:
    """One Chroma collection, used as a plain vector store (ids = chunk ids, metadata = doc
    id). The client is shared: one per data folder."""

    def __init__(self, client: ClientAPI, model_name: str, dim: int, prefix: str = "") -> None:
        self.client = client
        self.name = collection_name(model_name, dim, prefix)
        self.dim = dim
        self.collection: Collection = client.get_or_create_collection(
            self.name,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"model": model_name, "dim": dim},
            embedding_function=None,
        )
        self.max_batch = max(1, int(client.get_max_batch_size()))

    def count(self) -> int:
        return int(self.collection.count())

    def upsert(self, ids: Sequence[int], embeddings: np.ndarray, doc_ids: Sequence[int]) -> None:
        for start in range(0, len(ids), self.max_batch):
            end = start + self.max_batch
            self.collection.upsert(
                ids=[str(i) for i in ids[start:end]],
                embeddings=np.ascontiguousarray(embeddings[start:end], dtype=np.float32),
                metadatas=[{"doc_id": int(d)} for d in doc_ids[start:end]],
            )

    def embeddings(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        if not ids:
            return {}
        got = self.collection.get(ids=[str(i) for i in ids], include=["embeddings"])
        vectors = got.get("embeddings")
        if vectors is None:
            return {}
        return {
            int(i): np.asarray(v, dtype=np.float32)
            for i, v in zip(got["ids"], vectors, strict=True)
        }

    def delete_document(self, doc_id: int) -> None:
        self.collection.delete(where={"doc_id": int(doc_id)})

    def search(
        self, embedding: np.ndarray, n: int, doc_ids: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity) best first."""
        if doc_ids is not None and not doc_ids:
            return []
        total = self.count()
        if total == 0:
            return []
        where: dict[str, Any] | None = None
        if doc_ids is not None:
            ids = [int(d) for d in doc_ids]
            where = {"doc_id": ids[0]} if len(ids) == 1 else {"doc_id": {"$in": ids}}
        res = self.collection.query(
            query_embeddings=np.asarray(embedding, dtype=np.float32).reshape(1, -1),
            n_results=min(max(n, SEARCH_WIDTH), total),
            where=where,
            include=["distances"],
        )
        ids_out = res["ids"][0][:n]
        dists = (res.get("distances") or [[0.0] * len(ids_out)])[0]
        return [(int(i), 1.0 - float(d)) for i, d in zip(ids_out, dists[:n], strict=True)]


class VectorStore:
    """The Chroma client of one library (see the module docstring)."""

    def __init__(
        self,
        data_dir: Path,
        store: Store,
        location: str,
        embedder: Callable[[], EmbedderLike],
        token: str = "",
    ) -> None:
        self.data_dir = data_dir
        self.store = store  # the library's SQLite store: meta, and embeddings to reset
        self.location = location  # LibraryConfig.vector_store
        self.token = token  # LibraryConfig.vector_store_token
        self._embedder = embedder
        self._client: ClientAPI | None = None
        # How the Chroma store was opened: "in-process", "own server" (a child process),
        # "shared server" (another Hearth process's child) or "remote server"; "" until used.
        self.mode = ""
        self.process: ChromaProcess | None = None  # our own server
        self._shared_pid: int | None = None  # the process whose server we share
        self.rebuilt = ""  # set when an unreadable or changed store is rebuilt: tell the user
        self._index: VectorIndex | None = None
        self._next_check = 0.0  # when the vectors are next compared with the catalog

    @property
    def on_this_computer(self) -> bool:
        return self.location in ("", VECTOR_STORE_PROCESS)

    # -- opening -----------------------------------------------------------------------------

    @property
    def client(self) -> ClientAPI:
        if self._client is None:
            if not self.on_this_computer:
                from rag.chroma_server import connect

                self._client = connect(self.location, self.token)  # the user's Chroma server
                self.mode = "remote server"
                return self._client
            chroma_dir = self.data_dir / CHROMA_DIR
            try:
                self._client = self._open_local(chroma_dir)
            except DocumentError as exc:
                self._client = self._rebuild(chroma_dir, exc)
            record_chroma_version(chroma_dir)
        return self._client

    def _rebuild(self, chroma_dir: Path, exc: DocumentError) -> ClientAPI:
        """A store written by another Chroma version, or damaged: the old folder is kept
        beside it and every document is embedded again from its stored text."""
        written_by = chroma_version_recorded(chroma_dir)
        kept = chroma_dir.with_name(f"{CHROMA_DIR}.unreadable-{int(time.time())}")
        chroma_dir.rename(kept)
        from chromadb.api.client import SharedSystemClient

        SharedSystemClient.clear_system_cache()  # Chroma caches the failed client by path
        log.warning("vector store unreadable (%s); rebuilding, old copy at %s", exc, kept)
        client = self._open_local(chroma_dir)
        self.store.reset_embedded()
        self.store.set_meta("collection", "")
        self.rebuilt = (
            f"The document index (written by Chroma {written_by or 'unknown'}) could not "
            f"be opened by Chroma {chroma_version()}, so Hearth is re-indexing your "
            f"documents from their stored text. The old index is kept at {kept}."
        )
        return client

    def _open_local(self, chroma_dir: Path) -> ClientAPI:
        from rag.chroma_server import ChromaProcess, running_server, server_lock

        with server_lock(chroma_dir):  # no other process starts a server meanwhile
            shared = running_server(chroma_dir)  # the window's, or a command's, server
            if shared is not None:
                self.mode = "shared server"
                self._shared_pid = shared.pid
                return shared.client
            if self.location != VECTOR_STORE_PROCESS:
                self.mode = "in-process"  # tools on folders of their own (eval, bench)
                return open_chroma(chroma_dir)
            self.mode = "own server"
            self.process = ChromaProcess(chroma_dir)
        try:
            # A store the server cannot read shows up at the first request, not at start.
            self.process.client.list_collections()
        except Exception as exc:  # noqa: BLE001 - Chroma's HTTP errors have no common base
            self.process.close()
            self.process = None
            raise DocumentError(
                f"The vector index at {chroma_dir} cannot be opened: {exc}", repr(exc)
            ) from exc
        return self.process.client

    # -- running operations --------------------------------------------------------------------

    def run(self, op: Callable[[], T]) -> T:
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
                raise self._stopped_answering(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _stopped_answering(self, exc: Exception) -> DocumentError:
        if self.mode == "remote server":
            return DocumentError(
                f"The Chroma server at {self.location} stopped answering ({exc}). "
                "Check that it is running, or clear its address in Settings to keep "
                "documents on this computer.",
                repr(exc),
            )
        return DocumentError(
            f"The document index stopped answering ({exc}). Try again in a moment; "
            "if it keeps happening, restart Hearth.",
            repr(exc),
        )

    def _reopen_lost_server(self) -> bool:
        """After a refused connection: True when the next use of the store will reopen it
        (the shared server's process has exited, or our own server died); False when the
        server is the user's or still runs."""
        from rag.chroma_server import STOP_TIMEOUT_S, wait_exit

        own = self.process
        if self.mode == "shared server":
            pid = self._shared_pid
            log.warning("the Chroma server of process %s went away; reopening", pid)
            if pid is not None and not wait_exit(pid, STOP_TIMEOUT_S + 5):
                return False
        elif self.mode == "own server" and own is not None and own.exited(5.0):
            log.warning("the Chroma server (pid %s) stopped; restarting it", own.pid)
            own.close()
            self.process = None
        else:
            return False
        self._forget_client()
        return True

    def _forget_client(self) -> None:
        """Drop the client and collection; the next use opens the store again."""
        self._index = None
        self._client = None
        self._shared_pid = None
        self.mode = ""

    # -- the collection ------------------------------------------------------------------------

    @property
    def collection_prefix(self) -> str:
        """ "" for Hearth's own store; on a Chroma server shared with others, this library's
        collections are named after its id."""
        if self.on_this_computer:
            return ""
        library_id = self.store.get_meta("library_id")
        if not library_id:
            library_id = uuid.uuid4().hex[:12]
            self.store.set_meta("library_id", library_id)
        return f"hearth-{library_id}-"

    def collection_name(self) -> str:
        emb = self._embedder()
        return collection_name(model_file_name(emb), emb.dim, self.collection_prefix)

    @property
    def vectors(self) -> VectorIndex:
        """This library's Chroma collection for the current embedding model."""
        return self.run(self._current)

    def _current(self) -> VectorIndex:
        if self._index is None:
            emb = self._embedder()
            index = VectorIndex(self.client, model_file_name(emb), emb.dim, self.collection_prefix)
            known = self.store.get_meta("collection")
            if known != index.name:
                # A different embedding model: every chunk is embedded again into its own
                # collection (the old one stays, to be reused if the user switches back).
                if known:
                    log.info("embedding model changed (%s -> %s): re-embedding", known, index.name)
                    self.store.reset_embedded()
                self.store.set_meta("collection", index.name)
            self._index = index
        return self._index

    # Each operation on the collection, retried as `run` says.

    def count(self) -> int:
        return self.run(lambda: self._current().count())

    def search(
        self, embedding: np.ndarray, n: int, doc_ids: Sequence[int] | None
    ) -> list[tuple[int, float]]:
        return self.run(lambda: self._current().search(embedding, n, doc_ids))

    def embeddings(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        return self.run(lambda: self._current().embeddings(ids))

    def upsert(self, ids: Sequence[int], matrix: np.ndarray, doc_ids: Sequence[int]) -> None:
        self.run(lambda: self._current().upsert(ids, matrix, doc_ids))

    def check_integrity(self, force: bool = False) -> bool:
        """Compare the vectors with the catalog (rag.integrity) when the last look is
        CHECK_EVERY_S old (or `force`); when they disagree twice in a row (the first look may
        have met a removal half done by another process), drop the collection, forget every
        embedding so that indexing rebuilds them, and set `rebuilt` to what to tell the user.
        True when it did."""
        from rag.integrity import CHECK_EVERY_S

        now = time.monotonic()
        if not force and now < self._next_check:
            return False
        self._next_check = now + CHECK_EVERY_S
        finding = self.run(self._finding)
        if finding.ok or (finding := self.run(self._finding)).ok:
            return False
        log.warning("vectors changed outside Hearth (%s); rebuilding them", finding)
        self.run(self._drop_collection)
        self.store.reset_embedded()
        self.rebuilt = finding.describe()
        return True

    def _finding(self) -> Finding:
        from chromadb.errors import NotFoundError

        from rag.integrity import SAMPLE, compare

        try:
            index = self._current()
            found = index.count()
        except NotFoundError:  # the collection itself was deleted: an empty one
            self._index = None
            index = self._current()
            found = index.count()
        expected, sample = self.store.vector_sums(SAMPLE)
        return compare(expected, sample, found, index.embeddings([i for i, _ in sample]))

    def _drop_collection(self) -> None:
        name = self._current().name
        self._index = None
        self.client.delete_collection(name)

    def delete_document(self, doc_id: int) -> None:
        """A document's vectors, from every collection of this library (every model used)."""
        self.run(lambda: delete_document_everywhere(self.client, doc_id, self.collection_prefix))

    def close(self) -> None:
        self._index = None
        self._client = None  # Chroma's PersistentClient has no close; dropping it is enough
        self._shared_pid = None
        if self.process is not None:
            self.process.close()
            self.process = None


def model_file_name(emb: EmbedderLike) -> str:
    """The embedding model's file name (one Chroma collection per file: another quantization
    of the same model gets its own vectors), else the model's own name."""
    path = getattr(emb, "path", None)
    return Path(path).name if path else emb.name
