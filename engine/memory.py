"""How much memory a model needs at a given context size, and whether it fits.

Pure arithmetic on the shapes in the GGUF header (no weights are loaded):

- weights: the file's size (llama.cpp maps it; every page is touched while evaluating);
- KV cache: allocated whole at context creation, f16 by default:
  2 (K and V) * n_layer * n_ctx * n_head_kv * head_dim * 2 bytes, n_ctx padded to 256.
  Sliding-window layers (Gemma 3) get a full-size cache too: llama-cpp-python keeps swa_full on;
- compute: llama.cpp reserves its graph buffer for the worst case (logits for a whole
  micro-batch) but only touches what one evaluation uses: the attention scores and their
  softmax (2 * n_ctx * n_ubatch * n_head floats, no flash attention on CPU), activations
  (~16 * n_ubatch * n_embd floats), the output buffer (one row of logits; for embedding models
  llama.cpp keeps 256 rows of vocabulary + embedding), and the tokenizer's tables
  (~200 bytes per vocabulary entry);
- a runtime overhead: the interpreter, libllama/ggml and the bindings (about 50 MB).

Calibrated against the resident memory of a fresh process that loads each bundled model with
llama-cpp-python and evaluates a prompt filling the context
(tests/integration/test_models_cli.py::test_memory_estimate_matches_measured_rss).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from engine.types import ModelInfo

Fit = Literal["fits", "tight", "does not fit"]

KV_BYTES_PER_ELEMENT = 2  # f16 cache, llama.cpp's default
N_CTX_PAD = 256
RUNTIME_OVERHEAD = 50 * 1000 * 1000  # interpreter + libllama/ggml + bindings
VOCAB_ENTRY_BYTES = 200  # llama.cpp's token tables, per vocabulary entry
EMBEDDING_OUTPUT_ROWS = 256  # rows of the output buffer llama.cpp keeps for embedding models
DEFAULT_VOCAB = 32_000
# Above this share of the available memory the model "fits" only tightly: the OS, the app and
# other programs need the rest.
TIGHT_SHARE = 0.8


@dataclass(frozen=True)
class MemoryEstimate:
    weights_bytes: int
    kv_bytes: int
    compute_bytes: int
    total_bytes: int  # host memory (RAM): what is not offloaded to a GPU, plus overhead
    gpu_bytes: int = 0  # memory on the GPU for the offloaded layers (0 on CPU)

    def as_dict(self) -> dict[str, int]:
        return {
            "weights_bytes": self.weights_bytes,
            "kv_bytes": self.kv_bytes,
            "compute_bytes": self.compute_bytes,
            "total_bytes": self.total_bytes,
            "gpu_bytes": self.gpu_bytes,
        }


def padded_ctx(n_ctx: int) -> int:
    return max(N_CTX_PAD, (n_ctx + N_CTX_PAD - 1) // N_CTX_PAD * N_CTX_PAD)


def kv_cache_bytes(n_layer: int, n_ctx: int, n_head_kv: int, head_dim: int) -> int:
    """K and V for every layer and position, f16."""
    return 2 * n_layer * padded_ctx(n_ctx) * n_head_kv * head_dim * KV_BYTES_PER_ELEMENT


def compute_buffer_bytes(
    n_ctx: int, n_batch: int, n_embd: int, n_head: int, n_vocab: int, embedding: bool = False
) -> int:
    """Resident scratch for one micro-batch at a full context, plus output and token tables."""
    n_ubatch = max(1, min(n_batch, n_ctx))
    scores = 2 * padded_ctx(n_ctx) * n_ubatch * max(n_head, 1) * 4  # KQ and softmax(KQ)
    activations = 16 * n_ubatch * n_embd * 4
    if embedding:
        output = EMBEDDING_OUTPUT_ROWS * (n_vocab + n_embd) * 4
    else:
        output = n_vocab * 4
    return scores + activations + output + n_vocab * VOCAB_ENTRY_BYTES


def estimate(
    info: ModelInfo,
    n_ctx: int,
    n_gpu_layers: int = 0,
    *,
    n_batch: int = 512,
    n_vocab: int = 0,
    head_dim: int = 0,
) -> MemoryEstimate:
    """Memory to load `info` with a context of n_ctx tokens.

    n_vocab and head_dim are read from the header when known (engine.memory.shape_extras);
    head_dim defaults to n_embd / n_head, which is right for most models (Gemma 3 is not)."""
    n_ctx = max(1, n_ctx)
    weights = max(0, info.file_size)
    if not head_dim and info.n_head:
        head_dim = info.n_embd // info.n_head
    # Encoders (BERT) keep no KV cache: they see the whole input at once.
    kv = 0 if info.embedding else kv_cache_bytes(info.n_layer, n_ctx, info.n_head_kv, head_dim)
    compute = compute_buffer_bytes(
        n_ctx, n_batch, info.n_embd, info.n_head, n_vocab or DEFAULT_VOCAB, info.embedding
    )
    gpu = 0
    if n_gpu_layers and info.n_layer:
        layers = info.n_layer if n_gpu_layers < 0 else min(n_gpu_layers, info.n_layer)
        share = layers / info.n_layer
        gpu = int((weights + kv) * share)
        if layers == info.n_layer:
            gpu += compute  # the graph runs on the GPU; a small host copy remains
    total = weights + kv + compute + RUNTIME_OVERHEAD - gpu
    return MemoryEstimate(weights, kv, compute, max(total, RUNTIME_OVERHEAD), gpu)


def available_memory() -> int:
    """Memory the system can give a new program now, without swapping (psutil's estimate)."""
    import psutil

    return int(psutil.virtual_memory().available)


def total_memory() -> int:
    import psutil

    return int(psutil.virtual_memory().total)


def fit(est: MemoryEstimate, available: int) -> Fit:
    if est.total_bytes > available:
        return "does not fit"
    if est.total_bytes > available * TIGHT_SHARE:
        return "tight"
    return "fits"


@dataclass(frozen=True)
class ShapeExtras:
    n_vocab: int = 0
    head_dim: int = 0


def shape_extras(path: str) -> ShapeExtras:
    """Vocabulary size and attention head size from a GGUF header (cached by the catalog).

    Returns zeros when the file cannot be read: estimate() then falls back to defaults."""
    from pathlib import Path

    from engine.catalog import header_cached, header_count
    from engine.errors import ModelFileError

    try:
        h = header_cached(Path(path))
    except (ModelFileError, OSError):
        return ShapeExtras()
    n_vocab = int(h.array_lengths.get("tokenizer.ggml.tokens", 0) or 0)
    head_dim = header_count(h.arch_key("attention.key_length"))
    return ShapeExtras(n_vocab=n_vocab, head_dim=head_dim)


def estimate_for(
    info: ModelInfo, n_ctx: int, n_gpu_layers: int = 0, n_batch: int = 512
) -> MemoryEstimate:
    """estimate() with the vocabulary and head size read from the file's header."""
    extras = shape_extras(info.path)
    return estimate(
        info,
        n_ctx,
        n_gpu_layers,
        n_batch=n_batch,
        n_vocab=extras.n_vocab,
        head_dim=extras.head_dim,
    )


def rough_estimate(file_size: int, n_ctx: int = 4096) -> MemoryEstimate:
    """For a file not downloaded yet (its shapes unknown): weights plus a typical share for the
    KV cache and compute buffers of a small-to-mid model at n_ctx."""
    kv = int(file_size * 0.08 * max(n_ctx, 1) / 4096)
    compute = int(file_size * 0.05) + 64 * 1024 * 1024
    return MemoryEstimate(file_size, kv, compute, file_size + kv + compute + RUNTIME_OVERHEAD)
