"""The embedding half of ingestion: one batch of stored, pending chunks per step, embedded (or
their vectors reused when the same text was embedded before), then stored: vectors to Chroma
first, then their text to the keyword index and the "embedded" flags in one SQLite
transaction. Batches adapt to about `LibraryConfig.step_target_s` of embedding, so a search
waits at most about that long.

Another process may remove a document while this one embeds it (the window's Remove during
`hearth docs add`): the batch's vectors are then deleted again right after they were stored.
For a process killed between those two moments, the document ids of the batch being stored are
recorded in the library (meta IN_FLIGHT_KEY) until the batch is settled; the next process
that takes the ingest lock (or opens the library while nobody holds it) deletes the vectors of
those that no longer exist (`settle_interrupted_batch`).
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np

from rag.config import LibraryContext
from rag.index import ChunkRow
from rag.integrity import vector_sum
from rag.progress import IngestStats, Rate

log = logging.getLogger(__name__)

IN_FLIGHT_KEY = "vectors_in_flight"  # meta: doc ids whose vectors are being stored (JSON list)


class BatchEmbedder:
    """Embeds and stores pending chunks, a batch per call (see the module docstring)."""

    def __init__(self, ctx: LibraryContext) -> None:
        self.ctx = ctx
        self._batch_now = max(1, min(ctx.config.batch_size, 8))
        self.chunk_rate = Rate()

    def embed_batch(self, stats: IngestStats) -> list[int]:
        """Embed and store one batch; returns the documents it touched."""
        # The collection first: a changed model resets what counts as pending.
        vectors = self.ctx.vector_store.vectors
        pending = self.ctx.store.pending_chunks(self._batch_now)
        if not pending:
            return []
        t0 = time.monotonic()
        matrix = self._vectors_for(pending, vectors.dim, stats)
        t_store = time.monotonic()
        docs = self._store(pending, matrix)
        stats.store_s += time.monotonic() - t_store
        stats.chunks += len(pending)
        self.chunk_rate.add(len(pending))
        log.debug("embedded %d chunks in %.3fs", len(pending), time.monotonic() - t0)
        return docs

    def _vectors_for(self, pending: list[ChunkRow], dim: int, stats: IngestStats) -> np.ndarray:
        """One vector per chunk, in order: reused where the same text is embedded already,
        else embedded now (which also adapts the next batch's size)."""
        hashes = sorted({c.content_hash for c in pending})
        reuse = self.ctx.store.embedded_ids_by_hash(hashes)
        by_id = self.ctx.vector_store.embeddings(list(reuse.values())) if reuse else {}
        known = {h: by_id[i] for h, i in reuse.items() if i in by_id}
        if len(known) < len(hashes):  # a document read again: its old vectors (kept_vectors)
            rest = [h for h in hashes if h not in known]
            known.update(self.ctx.kept.find(self.ctx.vector_store.vectors.name, rest))
        need = [c for c in pending if c.content_hash not in known]
        if not need:  # nothing to embed: the step is a copy, so take more at a time
            self._batch_now = min(self.ctx.config.batch_size, 2 * self._batch_now)
        matrix = np.zeros((len(pending), dim), dtype=np.float32)
        embedded = self._embed(need, stats) if need else {}
        for i, c in enumerate(pending):
            matrix[i] = embedded[c.id] if c.id in embedded else known[c.content_hash]
        stats.chunks_reused += len(pending) - len(need)
        return matrix

    def _embed(self, need: list[ChunkRow], stats: IngestStats) -> dict[int, np.ndarray]:
        t_embed = time.monotonic()
        got = self.ctx.embedder().embed([c.text for c in need])
        spent = time.monotonic() - t_embed
        stats.embed_s += spent
        per_chunk = spent / len(need)
        if per_chunk > 0:
            cfg = self.ctx.config
            self._batch_now = max(1, min(cfg.batch_size, int(cfg.step_target_s / per_chunk)))
        stats.tokens += sum(c.n_tokens for c in need)
        return {c.id: got[i] for i, c in enumerate(need)}

    def _store(self, pending: list[ChunkRow], matrix: np.ndarray) -> list[int]:
        store, vector_store = self.ctx.store, self.ctx.vector_store
        ids, doc_ids = [c.id for c in pending], [c.doc_id for c in pending]
        docs = sorted({c.doc_id for c in pending})
        store.set_meta(IN_FLIGHT_KEY, json.dumps(docs))
        vector_store.upsert(ids, matrix, doc_ids)
        removed: list[int] = []  # by another process (the window's Cancel or Remove) meanwhile
        with store.transaction():
            store.mark_embedded(pending, [vector_sum(v) for v in matrix])
            for doc_id in docs:
                doc = store.document(doc_id)
                if doc is None or doc.status == "removing":
                    removed.append(doc_id)
                    continue
                finished = doc.embedded >= doc.chunks
                if finished:
                    self.ctx.kept.drop(doc_id)
                store.update_document(
                    doc_id,
                    progress=1.0 if finished else doc.embedded / max(doc.chunks, 1),
                    status="ready" if finished else "indexing",
                )
        for doc_id in removed:  # the vectors just stored would outlive the document
            vector_store.delete_document(doc_id)
            self.ctx.kept.drop(doc_id)
        store.set_meta(IN_FLIGHT_KEY, "")
        return docs

    def settle_interrupted_batch(self) -> None:
        """Delete the vectors a killed process stored for documents removed meanwhile (see
        the module docstring). Call with the ingest lock held."""
        store = self.ctx.store
        recorded = store.get_meta(IN_FLIGHT_KEY)
        if not recorded:
            return
        try:
            doc_ids = [int(d) for d in json.loads(recorded)]
        except (ValueError, TypeError):
            doc_ids = []  # damaged: nothing to go by
        for doc_id in doc_ids:
            doc = store.document(doc_id)
            if doc is None or doc.status == "removing":
                self.ctx.vector_store.delete_document(doc_id)
        store.set_meta(IN_FLIGHT_KEY, "")
