"""The memory estimate's arithmetic and the fit verdict."""

from __future__ import annotations

from engine.memory import (
    RUNTIME_OVERHEAD,
    MemoryEstimate,
    estimate,
    fit,
    kv_cache_bytes,
    padded_ctx,
    rough_estimate,
)
from engine.types import ModelInfo


def _info(**kw: object) -> ModelInfo:
    base: dict[str, object] = dict(
        path="x.gguf",
        name="x",
        architecture="llama",
        parameters=135_000_000,
        file_type="Q4_1",
        file_size=98_362_432,
        context_length=8192,
        has_chat_template=True,
        n_layer=30,
        n_embd=576,
        n_head=9,
        n_head_kv=3,
    )
    base.update(kw)
    return ModelInfo(**base)  # type: ignore[arg-type]


def test_kv_cache_matches_llama_cpp_for_smollm2() -> None:
    # llama.cpp logs "CPU KV buffer size = 90.00 MiB" for SmolLM2-135M at n_ctx=4096
    assert kv_cache_bytes(30, 4096, 3, 64) == 90 * 1024 * 1024
    # ... and 45.00 MiB at 2048
    assert kv_cache_bytes(30, 2048, 3, 64) == 45 * 1024 * 1024


def test_context_is_padded_like_llama_cpp() -> None:
    assert padded_ctx(1) == 256
    assert padded_ctx(1000) == 1024
    assert padded_ctx(4096) == 4096


def test_estimate_components_add_up_and_grow_with_context() -> None:
    info = _info()
    small = estimate(info, 1024, n_vocab=49152)
    big = estimate(info, 8192, n_vocab=49152)
    for e in (small, big):
        assert e.total_bytes == e.weights_bytes + e.kv_bytes + e.compute_bytes + RUNTIME_OVERHEAD
        assert e.weights_bytes == info.file_size
    assert big.kv_bytes == 8 * small.kv_bytes
    assert big.compute_bytes > small.compute_bytes


def test_head_dim_from_the_header_wins() -> None:
    # Gemma 3 270M: n_embd 640, 4 heads, but key_length 256 (not 160)
    gemma = _info(n_layer=18, n_embd=640, n_head=4, n_head_kv=1)
    assert (
        estimate(gemma, 4096, head_dim=256).kv_bytes == 72 * 1024 * 1024
    )  # llama.cpp: 12 + 60 MiB
    assert estimate(gemma, 4096).kv_bytes == 4096 * 18 * 2 * 160 * 2


def test_embedding_models_keep_no_kv_cache() -> None:
    bert = _info(
        architecture="bert", embedding=True, n_layer=6, n_embd=384, n_head=12, n_head_kv=12
    )
    assert estimate(bert, 512, n_vocab=30522).kv_bytes == 0


def test_gpu_offload_moves_memory_off_the_host() -> None:
    info = _info()
    cpu = estimate(info, 4096)
    half = estimate(info, 4096, n_gpu_layers=15)
    full = estimate(info, 4096, n_gpu_layers=-1)
    assert cpu.gpu_bytes == 0
    assert 0 < half.gpu_bytes < full.gpu_bytes
    assert full.total_bytes < half.total_bytes < cpu.total_bytes


def test_fit_verdicts() -> None:
    est = MemoryEstimate(700, 100, 100, 1000)
    assert fit(est, 10_000) == "fits"
    assert fit(est, 1100) == "tight"
    assert fit(est, 999) == "does not fit"


def test_rough_estimate_for_a_hub_file() -> None:
    e = rough_estimate(4_000_000_000, 4096)
    assert e.weights_bytes == 4_000_000_000
    assert e.total_bytes > e.weights_bytes
