"""Llama round trip: the bundled SmolLM2 GGUF → a Hugging Face checkpoint (made by
tests/reference/gguf_to_hf.py) → Hearth's converter → GGUF again. The result must tokenize,
continue greedily and score tokens like the original."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from reference.fixtures import smollm2_hf_checkpoint_fixture  # noqa: F401 - a fixture

from engine.gguf_file import read_header

PROMPT = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="session")
def converted_smollm2(
    smollm2_hf_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    from engine.convert import convert_checkpoint

    out = tmp_path_factory.mktemp("converted") / "smollm2.F16.gguf"
    t0 = time.perf_counter()
    convert_checkpoint(smollm2_hf_checkpoint, out, outtype="f16")
    print(f"SmolLM2 checkpoint converted in {time.perf_counter() - t0:.2f} s")
    return out


def _greedy(path: Path, n: int = 16) -> tuple[list[int], np.ndarray, list[int]]:
    from llama_cpp import Llama

    llm = Llama(str(path), n_ctx=256, n_threads=2, logits_all=True, verbose=False, seed=0)
    try:
        prompt = llm.tokenize(PROMPT.encode(), add_bos=False, special=True)
        llm.eval(prompt)
        first = np.array(llm.scores[len(prompt) - 1], dtype=np.float32)
        out: list[int] = []
        for _ in range(n):
            tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            out.append(tok)
            llm.eval([tok])
        return prompt, first, out
    finally:
        llm.close()


def test_metadata_round_trips(smollm2_path: Path, converted_smollm2: Path) -> None:
    a, b = read_header(smollm2_path), read_header(converted_smollm2)
    assert b.architecture == "llama"
    assert b.file_type_name == "F16"
    assert b.get("general.name") == "SmolLM2-135M-Instruct"
    assert b.get("general.license") == "apache-2.0"
    same = [k for k in a.metadata if not k.startswith("general.")]
    diff = {k: (a.get(k), b.get(k)) for k in same if a.get(k) != b.get(k)}
    assert diff == {}
    assert b.get("tokenizer.ggml.pre") == "smollm"
    assert a.array_lengths == {k: v for k, v in b.array_lengths.items()} | {
        "general.languages": a.array_lengths["general.languages"]
    }
    assert sorted(t.name for t in a.tensors) == sorted(t.name for t in b.tensors)


def test_same_greedy_continuation_and_close_logits(
    smollm2_path: Path, converted_smollm2: Path
) -> None:
    p_a, logits_a, out_a = _greedy(smollm2_path)
    p_b, logits_b, out_b = _greedy(converted_smollm2)
    assert p_a == p_b
    assert out_a == out_b
    cos = float(logits_a @ logits_b / np.linalg.norm(logits_a) / np.linalg.norm(logits_b))
    max_diff = float(np.abs(logits_a - logits_b).max())
    print(f"first-token logits: cosine {cos:.6f}, max |diff| {max_diff:.3f}")
    # The original is Q4_1 (llama.cpp quantizes activations to Q8 for it); the copy is F16.
    assert cos >= 0.9995
    assert max_diff <= 1.0
    assert np.argsort(logits_a)[-5:].tolist() == np.argsort(logits_b)[-5:].tolist()
