"""Hearth's Chroma collections search wide enough to find the nearest chunks, the same ones
in every process: a new collection is made so, one made by an older Hearth is widened."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rag.vector_store import EF_SEARCH, VectorIndex, collection_name


def test_an_older_collection_is_widened_and_finds_the_nearest(tmp_path: Path) -> None:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(
        path=str(tmp_path / "chroma"), settings=Settings(anonymized_telemetry=False)
    )
    dim, n = 32, 3000
    old = client.get_or_create_collection(  # as Hearth made it before: Chroma's default
        collection_name("minilm.gguf", dim),
        configuration={"hnsw": {"space": "cosine"}},
        embedding_function=None,
    )
    assert old.configuration_json["hnsw"]["ef_search"] < EF_SEARCH
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    index = VectorIndex(client, "minilm.gguf", dim)
    assert index.collection.configuration_json["hnsw"]["ef_search"] == EF_SEARCH
    index.upsert(list(range(1, n + 1)), vectors, [1] * n)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    for q in rng.standard_normal((10, dim)).astype(np.float32):
        exact = set((np.argsort(-(unit @ (q / np.linalg.norm(q))))[:20] + 1).tolist())
        found = [c for c, _ in index.search(q, 20)]
        # the first 15 found are among the exact 20 (a tie at the edge may go either way)
        assert set(found[:15]) <= exact
    fresh = VectorIndex(client, "other.gguf", dim)
    assert fresh.collection.configuration_json["hnsw"]["ef_search"] == EF_SEARCH
