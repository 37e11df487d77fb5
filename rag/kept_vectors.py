"""Vectors of a document's old chunks, kept in memory while it is read again, so that the
chunks whose text did not change are not embedded again.

A document read again (its file changed, Re-index, a new reading of its format) loses its old
chunks and their vectors before its new chunks are stored (`rag.reading`). Most of its text
is usually what it was: one page edited in a 300-page manual changes the chunks of that page,
not the others. Before the old vectors are deleted, the reader keeps them here by content
hash; `rag.batches` takes a pending chunk's vector from here when its text's hash is here, as
it does for a text embedded elsewhere in the library. They are kept only for the vector
collection they came from (a new embedding model embeds everything again), dropped when the
document is ready, fails or is removed, and at most MAX_KEPT of them at a time (a process that
stops meanwhile only embeds again, as before).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

MAX_KEPT = 30_000  # vectors (46 MB at 384 dimensions)


class KeptVectors:
    """Old vectors by document, then content hash; belongs to the library's thread."""

    def __init__(self, limit: int = MAX_KEPT) -> None:
        self.limit = limit
        self._docs: dict[int, tuple[str, dict[str, np.ndarray]]] = {}

    def __len__(self) -> int:
        return sum(len(v) for _, v in self._docs.values())

    def room(self) -> int:
        return max(0, self.limit - len(self))

    def keep(self, doc_id: int, collection: str, vectors: Mapping[str, Any]) -> None:
        """Keep a document's old vectors (content hash -> vector) from `collection`, instead
        of any kept for it before; none when they do not all fit."""
        self.drop(doc_id)
        if vectors and len(vectors) <= self.room():
            self._docs[doc_id] = (collection, dict(vectors))

    def find(self, collection: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """The kept vectors of these hashes, from the same collection."""
        wanted = set(hashes)
        out: dict[str, np.ndarray] = {}
        for name, vectors in self._docs.values():
            if name == collection:
                out.update((h, v) for h, v in vectors.items() if h in wanted)
        return out

    def drop(self, doc_id: int) -> None:
        self._docs.pop(doc_id, None)
