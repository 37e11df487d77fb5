"""Vectors of a document's old chunks, kept in memory while it is read again, so that the
chunks whose text did not change are not embedded again.

A document read again (its file changed, Re-index, a new reading of its format) loses its old
chunks and their vectors before its new chunks are stored (`rag.reading`). Most of its text
is usually what it was: one page edited in a 300-page manual changes the chunks of that page,
not the others. Before the old vectors are deleted, the reader keeps them here by content
hash; `rag.batches` takes a pending chunk's vector from here when its text's hash is here, as
it does for a text embedded elsewhere in the library. They are kept only for the vector
collection they came from (a new embedding model embeds everything again), dropped when the
document is ready, fails or is removed, and at most MAX_KEPT_BYTES of them at a time (a process
that stops meanwhile only embeds again, as before).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

MAX_KEPT_BYTES = 64 * 2**20  # 43,690 vectors of 384 dimensions, 16,384 of 1,024


class KeptVectors:
    """Old vectors by document, then content hash; belongs to the library's thread."""

    def __init__(self, limit_bytes: int = MAX_KEPT_BYTES) -> None:
        self.limit_bytes = limit_bytes
        self._docs: dict[int, tuple[str, dict[str, np.ndarray]]] = {}

    def __len__(self) -> int:
        return sum(len(v) for _, v in self._docs.values())

    def held_bytes(self) -> int:
        return sum(int(x.nbytes) for _, v in self._docs.values() for x in v.values())

    def room(self, dim: int) -> int:
        """How many more float32 vectors of `dim` dimensions may be kept."""
        return max(0, self.limit_bytes - self.held_bytes()) // (4 * max(dim, 1))

    def keep(self, doc_id: int, collection: str, vectors: Mapping[str, Any]) -> None:
        """Keep a document's old vectors (content hash -> vector) from `collection`, instead
        of any kept for it before; none when they do not all fit."""
        self.drop(doc_id)
        size = sum(int(getattr(v, "nbytes", 0)) for v in vectors.values())
        if vectors and size <= self.limit_bytes - self.held_bytes():
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
