"""rag.embedder.Embedder on the real all-MiniLM-L6-v2 GGUF (converted by Hearth)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.errors import InvalidRequestError, ModelFileError
from rag.embedder import Embedder, pack_batches

TEXTS = [
    "A short one.",
    "Hearth answers questions about your own documents, offline, on an ordinary laptop. " * 6,
    "Numbers 1, 2.5 and 1984; accents: café, naïve, Ångström.",
    "The mitochondria is the powerhouse of the cell.",
    "word " * 150,
    "",
]


@pytest.fixture(scope="module")
def embedder(minilm_gguf: Path):  # noqa: ANN201
    emb = Embedder(minilm_gguf, n_threads=2)
    yield emb
    emb.close()


def test_shapes_and_normalisation(embedder: Embedder) -> None:
    assert embedder.dim == 384
    assert embedder.max_tokens == 512
    assert embedder.name == "all-MiniLM-L6-v2"
    v = embedder.embed(TEXTS)
    assert v.dtype == np.float32
    assert v.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    empty = embedder.embed([])
    assert empty.shape == (0, 384) and empty.dtype == np.float32


def test_deterministic(embedder: Embedder) -> None:
    a = embedder.embed(TEXTS)
    b = embedder.embed(TEXTS)
    assert np.array_equal(a, b)


def test_batch_of_mixed_lengths_equals_one_by_one(minilm_gguf: Path, embedder: Embedder) -> None:
    texts = TEXTS * 4  # several packed batches
    with Embedder(minilm_gguf, n_threads=2, pack_tokens=512) as packed:
        together = packed.embed(texts)
    with Embedder(minilm_gguf, n_threads=1, pack_tokens=1) as single:
        alone = single.embed(texts)
    cos = (together * alone).sum(axis=1)
    assert cos.min() >= 0.9999


def test_similar_texts_are_closer(embedder: Embedder) -> None:
    a, b, c = embedder.embed(
        ["How do I reset my password?", "Steps to change a forgotten password", "Tomato soup"]
    )
    assert a @ b > a @ c + 0.2


def test_count_tokens_matches_tokenize(embedder: Embedder) -> None:
    for t in TEXTS:
        ids = embedder.tokenize(t)
        assert embedder.count_tokens(t) == len(ids)
        assert ids[0] == 101 and ids[-1] == 102  # [CLS] ... [SEP]


def test_exactly_max_tokens_works_and_one_more_raises(embedder: Embedder) -> None:
    fits = " ".join(["word"] * (embedder.max_tokens - 2))
    assert embedder.count_tokens(fits) == embedder.max_tokens
    v = embedder.embed([fits, "short"])
    assert v.shape == (2, 384)
    too_long = fits + " word"
    with pytest.raises(InvalidRequestError) as err:
        embedder.embed(["short", too_long])
    assert "513" in err.value.user_message and "512" in err.value.user_message


def test_very_long_text_raises_and_embedder_still_works(embedder: Embedder) -> None:
    with pytest.raises(InvalidRequestError):
        embedder.embed(["lorem ipsum " * 5000])
    assert embedder.embed(["still alive"]).shape == (1, 384)


def test_one_thread_equals_two_workers(minilm_gguf: Path, embedder: Embedder) -> None:
    with Embedder(minilm_gguf, n_threads=1) as single:
        a = single.embed(TEXTS)
    b = embedder.embed(TEXTS)
    assert ((a * b).sum(axis=1)).min() >= 0.9999


def test_close_is_idempotent_and_blocks_use(minilm_gguf: Path) -> None:
    emb = Embedder(minilm_gguf, n_threads=2)
    emb.close()
    emb.close()
    with pytest.raises(InvalidRequestError):
        emb.embed(["x"])


def test_bad_files_raise_model_file_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError):
        Embedder(tmp_path / "missing.gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model at all" * 10)
    with pytest.raises(ModelFileError):
        Embedder(junk)


def test_pack_batches_respects_limits() -> None:
    lengths = [100, 300, 200, 512, 10, 10, 10]
    groups = list(pack_batches(lengths, 512, 2))
    assert [i for g in groups for i in g] == list(range(len(lengths)))
    for g in groups:
        assert sum(lengths[i] for i in g) <= 512
        assert len(g) <= 2
    assert list(pack_batches([], 512, 4)) == []
    # A text longer than the packing limit goes alone; pack 1 = one text per call.
    assert list(pack_batches([300, 20, 20], 256, 8)) == [[0], [1, 2]]
    assert list(pack_batches([5, 5, 5], 1, 8)) == [[0], [1], [2]]


def test_bench_embed_prints_one_json_object(
    minilm_gguf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse
    import json

    from app.benchmarks import embed as bench

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["-m", str(minilm_gguf), "--chunks", "6", "--tokens", "40"])
    args.runs = 1
    assert bench.run(args) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("model", "threads", "chunks", "tokens_per_chunk", "chunks_per_s", "tokens_per_s"):
        assert key in result
    assert result["chunks"] == 6 and 35 <= result["tokens_per_chunk"] <= 40
    assert result["chunks_per_s"] > 0 and result["load_s"] > 0
    import llama_cpp

    assert result["llama_cpp_python"] == llama_cpp.__version__  # which build was measured


def test_dropping_an_embedder_stops_its_workers(minilm_gguf: Path) -> None:
    import gc
    import threading

    before = sum(t.name == "hearth-embedder" for t in threading.enumerate())
    emb = Embedder(minilm_gguf, n_threads=2)
    assert sum(t.name == "hearth-embedder" for t in threading.enumerate()) == before + 2
    emb.embed(["x"])
    del emb
    gc.collect()
    assert sum(t.name == "hearth-embedder" for t in threading.enumerate()) == before
