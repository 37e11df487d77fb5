"""Whether the vectors in Chroma are still those Hearth stored.

Chroma's files, or a Chroma server, can be changed by something other than Hearth: vectors
deleted, a whole collection dropped, a vector replaced by another. Searches would then miss
passages, or find the wrong ones, without a word. So the library compares Chroma with its own
catalog in SQLite when it opens the store and every few minutes after (`Library.check_files`):
the number of vectors against the number of embedded chunks, and a random sample of chunks:
each must have its vector, and the vector's checksum must be the one recorded when Hearth
stored it (`Store.mark_embedded`; a few of its components, compared with a tolerance since
Chroma may normalise the vectors it keeps).

When they disagree, the collection is dropped (a changed vector cannot be told from the others
that were not sampled) and every chunk is embedded again from its stored text: the documents
are not read again, and the panel and `hearth docs index` show the progress as for any
indexing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SAMPLE = 64  # chunks looked at each time: a few milliseconds
CHECK_EVERY_S = 300.0


SKETCH_SIZE = 12  # components kept of each vector
TOLERANCE = 2e-3  # Chroma may normalise a vector for cosine space: the last bits change


def vector_sum(vector: np.ndarray | Sequence[float]) -> str:
    """A short fingerprint of a vector: SKETCH_SIZE evenly spaced components of it, scaled
    to unit length. Not a hash: Chroma's copy may differ in the last bits (it normalises
    vectors in cosine space), so fingerprints are compared with a tolerance."""
    v = np.asarray(vector, dtype=np.float64).ravel()
    norm = float(np.linalg.norm(v))
    if v.size == 0 or not np.isfinite(norm) or norm == 0.0:
        return "0"
    picks = v[np.linspace(0, v.size - 1, min(SKETCH_SIZE, v.size)).astype(int)] / norm
    return ",".join(f"{x:.4f}" for x in picks)


def same_vector(stored: str, vector: np.ndarray | Sequence[float]) -> bool:
    now = vector_sum(vector)
    if stored == now:
        return True
    try:
        a = np.array([float(x) for x in stored.split(",")])
        b = np.array([float(x) for x in now.split(",")])
    except ValueError:
        return False
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= TOLERANCE))


@dataclass(frozen=True)
class Finding:
    expected: int  # embedded chunks in the catalog
    found: int  # vectors in the collection
    missing: int  # sampled chunks without a vector
    changed: int  # sampled chunks whose vector is not the one stored

    @property
    def ok(self) -> bool:
        # More vectors than chunks is not a fault: a batch stored while its document was
        # removed is deleted again by the indexing process.
        return self.found >= self.expected and not self.missing and not self.changed

    def describe(self) -> str:
        what = []
        if self.found < self.expected:
            what.append(f"{self.expected - self.found} of its {self.expected} vectors are gone")
        if self.missing and self.found >= self.expected:
            what.append(f"{self.missing} sampled vectors are gone")
        if self.changed:
            what.append(f"{self.changed} of {SAMPLE} sampled vectors were changed")
        return (
            "The document index was changed outside Hearth (" + ", ".join(what) + "), so "
            "searches could miss passages or find wrong ones. Hearth is rebuilding it from "
            "your documents' stored text; until it finishes, searches use keywords only for "
            "the passages not yet embedded again."
        )


def compare(
    expected: int,
    sample: Sequence[tuple[int, str | None]],
    found: int,
    vectors: dict[int, np.ndarray],
) -> Finding:
    """The catalog's count and sample against what Chroma holds for the sampled ids."""
    missing = sum(1 for chunk_id, _ in sample if chunk_id not in vectors)
    changed = sum(
        1
        for chunk_id, stored in sample
        if stored and chunk_id in vectors and not same_vector(stored, vectors[chunk_id])
    )
    return Finding(expected, found, missing, changed)
