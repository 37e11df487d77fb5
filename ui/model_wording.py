"""Sentences the model pages show: llama.cpp's backend, GPU offload, a quantization level's
status, what a model needs in memory. Plain functions of plain values (no Qt), so their
wording is tested without a window."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.memory import MemoryEstimate
from engine.model_inventory import QuantChoice
from engine.units import human_size

if TYPE_CHECKING:
    from engine.hub import RepoFiles

_FEATURES = ("AVX512", "AVX2", "AVX", "NEON", "FMA", "F16C", "SVE", "AMX_INT8", "OPENMP")


def backend_summary(info: dict[str, Any]) -> str:
    """'llama.cpp CPU backend (AVX2, FMA, F16C, OPENMP) · build 0.3.36+hearth.6' from
    engine.runtime.system_info()."""
    text = str(info.get("system_info", ""))
    backends: list[str] = []
    features: list[str] = []
    for segment in text.split("|"):
        segment = segment.strip()
        if " : " in segment:
            name, _, rest = segment.partition(" : ")
            backends.append(name.strip())
            segment = rest.strip()
        key, _, value = segment.partition("=")
        if key.strip() in _FEATURES and value.strip() == "1":
            features.append(key.strip())
    names = " + ".join(dict.fromkeys(backends)) or "unknown"
    feats = f" ({', '.join(features)})" if features else ""
    version = info.get("llama_cpp_python", "")
    return f"llama.cpp {names} backend{feats}" + (f" · build {version}" if version else "")


def offload_text(gpu_offload: bool | None, n_gpu_layers: int, n_layer: int) -> str:
    """How many layers run on the GPU, in words."""
    if gpu_offload is None:
        return "checking…"
    if not gpu_offload:
        return "CPU only (this llama.cpp build has no GPU backend)"
    if n_gpu_layers == 0:
        return "CPU only (GPU layers is 0 in Settings → Model)"
    if n_gpu_layers < 0 or (n_layer and n_gpu_layers >= n_layer):
        return f"all {n_layer} layers on the GPU" if n_layer else "all layers on the GPU"
    if n_layer:
        return f"{n_gpu_layers} of {n_layer} layers on the GPU"
    return f"{n_gpu_layers} layers on the GPU"


def choice_status(choice: QuantChoice) -> str:
    """'installed', 'download', or 'make from Q8_0 (re-quantize)'."""
    if choice.status == "installed":
        return "installed"
    if choice.status == "download":
        return "download"
    return f"make from {choice.source_quant}" + (" (re-quantize)" if choice.requantize else "")


def requantize_warning(choice: QuantChoice, source_size: int) -> str:
    """What the user reads before a level is made from an already-quantized file."""
    return (
        f"The only source for {choice.quant} here is already quantized ({choice.source_quant}, "
        f"{human_size(source_size)}). Quantizing it again gives a file of about "
        f"{human_size(choice.size)} with lower quality than its source and than a {choice.quant} "
        "made from the original F16 model (download that from the model's repository, or "
        "convert the original checkpoint, for the best result). Re-quantize anyway?"
    )


def memory_summary(available: int, total: int, n_ctx: int, n_gpu_layers: int) -> str:
    """The Installed tab's line under the table: free memory and what the estimates assume."""
    gpu = ""
    if n_gpu_layers:
        gpu = f" {n_gpu_layers if n_gpu_layers >= 0 else 'All'} layers are set to run on the GPU."
    return (
        f"Memory free now: {human_size(available)} of {human_size(total)}. "
        f"Estimates are for a context of {n_ctx:,} tokens (or the model's own "
        "limit, if lower): weights + KV cache + compute buffers." + gpu
    )


def memory_breakdown(est: MemoryEstimate, n_ctx: int, available: int) -> str:
    """A variant's memory estimate part by part (its tooltip)."""
    return (
        f"weights {human_size(est.weights_bytes)} + KV cache {human_size(est.kv_bytes)} "
        f"+ compute {human_size(est.compute_bytes)} at {n_ctx:,} tokens"
        + (f"; {human_size(est.gpu_bytes)} of it on the GPU" if est.gpu_bytes else "")
        + f"\nfree now: {human_size(available)}"
    )


def repo_summary(repo: RepoFiles) -> str:
    """What a hub repository holds: '<repo>: 3 GGUF model files (split models are shown as
    one).', with the GGUF files that are not language models."""
    n = len(repo.variants)
    if not n:
        return f"{repo.repo_id} has no GGUF model files."
    aux = ", ".join(f.path for f in repo.other_gguf)
    extra = f" Other GGUF files (not language models): {aux}." if aux else ""
    split = any(v.shards > 1 for v in repo.variants)
    end = " (split models are shown as one)." if split else "."
    return f"{repo.repo_id}: {n} GGUF model file{'s' if n != 1 else ''}{end}{extra}"
