"""Pure parts of the hub client: quantization names, shards, grouping, choosing a variant."""

from __future__ import annotations

import pytest

from engine.errors import HubError
from engine.hub import (
    HubFile,
    RepoFiles,
    group_variants,
    parse_quant,
    parse_repo_spec,
    pick_variant,
    shard_info,
)


@pytest.mark.parametrize(
    ("name", "quant"),
    [
        ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1"),
        ("gemma-3-270m-q4_k_m.gguf", "Q4_K_M"),
        ("Qwen2.5-7B-Instruct-Q4_K_M-00001-of-00002.gguf", "Q4_K_M"),
        ("Q4_K_M/Llama-3-70B-Q4_K_M-00003-of-00005.gguf", "Q4_K_M"),
        ("model.f16.gguf", "F16"),
        ("model-bf16.gguf", "BF16"),
        ("phi-3-mini-4k-instruct-fp16.gguf", "F16"),
        ("Llama-3.2-1B-Instruct-IQ4_XS.gguf", "IQ4_XS"),
        ("Qwen3-8B-UD-Q4_K_XL.gguf", "Q4_K_XL"),
        ("ggml-model-q8_0.gguf", "Q8_0"),
        ("tinyllama_q2_k.gguf", "Q2_K"),
        ("model.gguf", "unknown"),
        ("Llama-3.2-3B.gguf", "unknown"),
    ],
)
def test_parse_quant(name: str, quant: str) -> None:
    assert parse_quant(name) == quant


def test_shard_info() -> None:
    assert shard_info("a/b-Q4_K_M-00002-of-00003.gguf") == ("a/b-Q4_K_M", 2, 3)
    assert shard_info("b-Q4_K_M.gguf") is None


def _files() -> list[HubFile]:
    return [
        HubFile("README.md", 2_000),
        HubFile("model-Q8_0.gguf", 800, "a" * 64),
        HubFile("model-Q4_K_M.gguf", 500, "b" * 64),
        HubFile("model-F16-00002-of-00002.gguf", 700, "c" * 64),
        HubFile("model-F16-00001-of-00002.gguf", 900, "d" * 64),
        HubFile("mmproj-model-f16.gguf", 300, "e" * 64),
        HubFile("big/model-Q2_K-00001-of-00003.gguf", 100, "f" * 64),
    ]


def test_group_variants_merges_shards_and_sets_aside_projectors() -> None:
    variants, aux = group_variants(_files())
    by_quant = {v.quant: v for v in variants}
    assert set(by_quant) == {"Q8_0", "Q4_K_M", "F16", "Q2_K"}
    f16 = by_quant["F16"]
    assert f16.shards == 2 and f16.complete and f16.size == 1600
    assert [f.path for f in f16.files] == [
        "model-F16-00001-of-00002.gguf",
        "model-F16-00002-of-00002.gguf",
    ]
    assert not by_quant["Q2_K"].complete  # 1 of 3 parts present
    assert [f.path for f in aux] == ["mmproj-model-f16.gguf"]
    assert [v.size for v in variants] == sorted(v.size for v in variants)


def test_pick_variant() -> None:
    variants, _ = group_variants(_files())
    repo = RepoFiles("o/r", "abc", variants)
    assert pick_variant(repo, quant="q8_0").quant == "Q8_0"
    assert pick_variant(repo).quant == "Q4_K_M"  # the default when present
    assert pick_variant(repo, filename="model-F16-00002-of-00002.gguf").quant == "F16"
    with pytest.raises(HubError, match="no Q6_K file. Available: F16, Q2_K, Q4_K_M, Q8_0"):
        pick_variant(repo, quant="Q6_K")
    with pytest.raises(HubError, match="no GGUF file named"):
        pick_variant(repo, filename="nope.gguf")


def test_pick_variant_ambiguous_needs_a_choice() -> None:
    variants, _ = group_variants(
        [
            HubFile("a-7B-Q5_K_S.gguf", 5),
            HubFile("a-13B-Q5_K_S.gguf", 9),
            HubFile("x-Q3_K_L.gguf", 1),
        ]
    )
    repo = RepoFiles("o/r", "abc", variants)
    with pytest.raises(HubError, match="several Q5_K_S files"):
        pick_variant(repo, quant="Q5_K_S")
    with pytest.raises(HubError, match="several GGUF files"):
        pick_variant(repo)


@pytest.mark.parametrize("spec", ["owner/name", "owner/name:Q4_K_M", " owner/name/ "])
def test_parse_repo_spec(spec: str) -> None:
    repo, quant = parse_repo_spec(spec)
    assert repo == "owner/name"
    assert quant == ("Q4_K_M" if ":" in spec else "")


@pytest.mark.parametrize("spec", ["name", "a/b/c", "/name", ":Q4_0"])
def test_parse_repo_spec_rejects_bad_names(spec: str) -> None:
    with pytest.raises(HubError, match="owner/name"):
        parse_repo_spec(spec)
