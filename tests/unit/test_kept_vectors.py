"""Old vectors kept while a document is read again (rag.kept_vectors)."""

from __future__ import annotations

import numpy as np

from rag.kept_vectors import KeptVectors


def vec(x: float, dim: int = 4) -> np.ndarray:
    return np.full(dim, x, dtype=np.float32)


def test_found_by_hash_only_for_the_collection_they_came_from() -> None:
    kept = KeptVectors()
    kept.keep(1, "minilm-384", {"a": vec(1), "b": vec(2)})
    kept.keep(2, "other-768", {"c": vec(3)})
    got = kept.find("minilm-384", ["a", "c", "z"])
    assert sorted(got) == ["a"] and (got["a"] == vec(1)).all()
    assert kept.find("bge-384", ["a", "b"]) == {}  # another embedding model: embed again
    kept.drop(1)
    assert kept.find("minilm-384", ["a", "b"]) == {} and len(kept) == 1


def test_a_document_is_kept_whole_or_not_at_all_within_the_memory_limit() -> None:
    kept = KeptVectors(limit_bytes=3 * 16)  # three vectors of 4 float32
    assert kept.room(dim=4) == 3 and kept.room(dim=8) == 1  # wider vectors, fewer of them
    kept.keep(1, "m", {"a": vec(1), "b": vec(2)})
    kept.keep(2, "m", {"c": vec(3), "d": vec(4)})  # no room: embedded again, as before
    assert len(kept) == 2 and kept.room(dim=4) == 1 and kept.held_bytes() == 32
    assert kept.find("m", ["c", "d"]) == {}
    kept.keep(1, "m", {"a": vec(5), "b": vec(6), "e": vec(7)})  # replaces what it had
    assert len(kept) == 3 and (kept.find("m", ["a"])["a"] == vec(5)).all()
    kept.keep(3, "m", {"f": vec(8, dim=1)})  # 4 bytes more: over the limit
    assert kept.find("m", ["f"]) == {}
