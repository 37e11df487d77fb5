"""Pure pieces of the converter: Q/K permutation, Llama 3 RoPE factors, vocabulary forms."""

from __future__ import annotations

import numpy as np
import pytest
from gguf.constants import TokenType
from reference.gguf_to_hf import unpermute_rows

from engine.convert import SUPPORTED_ARCHITECTURES, _llama3_rope_factors, _permute_rows
from engine.convert_vocab import looks_special, phantom_space
from engine.errors import ConversionError


@pytest.mark.parametrize(("n_head", "head_dim", "cols"), [(4, 8, 16), (3, 64, 5), (1, 2, 1)])
def test_permute_is_undone_by_the_reference_inverse(n_head: int, head_dim: int, cols: int) -> None:
    w = np.random.default_rng(1).standard_normal((n_head * head_dim, cols)).astype(np.float32)
    p = _permute_rows(n_head)(w)
    assert p.shape == w.shape
    if head_dim > 2:  # a head of 2 rows is its own interleaving
        assert not np.array_equal(p, w)
    np.testing.assert_array_equal(unpermute_rows(p, n_head), w)


def test_permute_interleaves_the_two_halves_of_each_head() -> None:
    w = np.arange(8, dtype=np.float32).reshape(8, 1)  # one head of 8: halves [0..3], [4..7]
    assert _permute_rows(1)(w).ravel().tolist() == [0, 4, 1, 5, 2, 6, 3, 7]


def test_permute_rejects_mismatched_heads() -> None:
    with pytest.raises(ConversionError):
        _permute_rows(3)(np.zeros((8, 2), np.float32))


def test_llama3_rope_factors() -> None:
    hp = {"rope_theta": 500000.0, "hidden_size": 4096, "num_attention_heads": 32}
    rope = {
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    }
    f = _llama3_rope_factors(hp, rope)
    assert f.shape == (64,) and f.dtype == np.float32
    assert f[0] == 1.0 and f[-1] == 8.0  # high frequencies kept, low ones scaled fully
    assert np.all(np.diff(f) >= 0) and np.all((f >= 1.0) & (f <= 8.0))


def test_phantom_space_form() -> None:
    assert phantom_space("hello", TokenType.NORMAL) == "\u2581hello"
    assert phantom_space("##ing", TokenType.NORMAL) == "ing"
    assert phantom_space("[CLS]", TokenType.CONTROL) == "[CLS]"


def test_looks_special() -> None:
    assert looks_special("<|im_start|>") and looks_special("<pad>")
    assert not looks_special("hello") and not looks_special("<b>")


def test_supported_architectures() -> None:
    assert SUPPORTED_ARCHITECTURES["BertModel"] == "bert"
    assert SUPPORTED_ARCHITECTURES["LlamaForCausalLM"] == "llama"
    assert SUPPORTED_ARCHITECTURES["MistralForCausalLM"] == "llama"
    assert SUPPORTED_ARCHITECTURES["Qwen2ForCausalLM"] == "qwen2"
    assert SUPPORTED_ARCHITECTURES["Qwen3ForCausalLM"] == "qwen3"
