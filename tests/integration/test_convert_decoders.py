"""Tiny random Llama/Mistral/Qwen2/Qwen3 checkpoints → Hearth's converter → llama.cpp logits,
compared with a NumPy forward pass of the same weights (tests/reference/decoder_numpy.py).
This checks tensor names, the Q/K permutation (llama) or its absence (qwen), biases, Q/K
norms, head_dim and RoPE settings end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reference.decoder_numpy import forward, random_checkpoint
from reference.fixtures import smollm2_hf_checkpoint_fixture  # noqa: F401 - a fixture
from reference.ties import near_tie

from engine.gguf_file import read_header

IDS = [1, 504, 3458, 282, 4649, 47, 11, 2043, 314, 1003, 216, 34, 35]


@pytest.mark.parametrize(
    ("arch", "gguf_arch", "tied"),
    [
        ("LlamaForCausalLM", "llama", False),
        ("MistralForCausalLM", "llama", True),
        ("Qwen2ForCausalLM", "qwen2", True),
        ("Qwen3ForCausalLM", "qwen3", False),
    ],
)
def test_logits_match_numpy_reference(
    arch: str, gguf_arch: str, tied: bool, smollm2_hf_checkpoint: Path, tmp_path: Path
) -> None:
    from llama_cpp import Llama

    from engine.convert import convert_checkpoint

    weights, cfg = random_checkpoint(arch, tmp_path / "ckpt", smollm2_hf_checkpoint, tied=tied)
    out = convert_checkpoint(tmp_path / "ckpt", tmp_path / "m.gguf", outtype="f32")
    h = read_header(out)
    assert h.architecture == gguf_arch
    llm = Llama(str(out), n_ctx=64, n_threads=2, logits_all=True, verbose=False)
    try:
        llm.eval(IDS)
        got = np.array(llm.scores[: len(IDS)], dtype=np.float64)
    finally:
        llm.close()
    want = forward(weights, cfg, IDS)
    scale = np.abs(want).max()
    err = np.abs(got - want).max() / scale
    print(f"{arch}: max relative logit error {err:.2e}")
    assert err < 2e-3
    # Greedy picks the reference's best token, or one tied with it within what that error
    # allows (random weights can put two tokens that close; which one wins is rounding).
    tie = 2 * 2e-3 * scale
    for pos, logits in enumerate(want):
        assert near_tie(logits, int(got[pos].argmax()), tie), pos
