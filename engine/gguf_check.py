"""What llama.cpp asserts on, checked before it sees the file.

llama.cpp stops the whole process (GGML_ASSERT, SIGABRT) on some inconsistent model files
instead of returning an error: a block count of 0 or over 512, more experts used than there
are, an unknown RoPE scaling type, a negative norm epsilon (only when the first token is
computed), duplicate tokens, a SentencePiece vocabulary without its byte tokens (when text
needs them). Each rule below was found by changing one header field of the bundled models
(SmolLM2, Gemma 3, all-MiniLM-L6-v2) and loading the result in a child process
(tests/integration/test_model_fuzz.py keeps doing it). The rules that llama.cpp itself turns
into a load error (tensor shapes, missing tensors) are checked here too, so that the model
list can say "damaged" with a reason a person can read instead of "fits".

What this cannot foresee (an assert in one architecture's own code) is caught by loading the
file once in a child process first (engine.load_probe).

Cheap by design: metadata and the tensor table only, never the token list (0.3 s for Gemma's
262,144 tokens; duplicate and missing byte tokens are the probe's to find).
"""

from __future__ import annotations

import math
import re
from typing import Any

from engine.errors import ModelFileError
from engine.gguf_file import GGUFHeader

# llama.cpp's limits (src/llama-hparams.h) and names (llama-model.cpp, llama-vocab.cpp).
MAX_LAYERS = 512
MAX_EXPERTS = 1024
ROPE_SCALING_TYPES = {"none", "linear", "yarn", "longrope"}
MAX_POOLING_TYPE = 4  # none, mean, cls, last, rank
TOKENIZER_MODELS = {"llama", "bert", "gpt2", "hybriddna", "whitespace", "t5", "rwkv", "plamo2"}
TOKENIZER_MODELS |= {"gemma4"}
NO_TOKENIZER = {"none", "no_vocab"}
# Architectures whose attention tensors are the plain attn_q/attn_k/attn_v, shaped by the
# head counts and head size (checked against llama.cpp's create_tensor calls for each).
PLAIN_ATTENTION = {"llama", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "granite", "bert"}
PLAIN_ATTENTION |= {"mistral3", "olmo2", "smollm3", "nomic-bert", "jina-bert-v2"}
# Architectures where one expert is as good as none (llama.cpp resets the count).
_SINGLE_EXPERT_IS_NONE = {"hunyuan-vl", "hunyuan-dense"}

_LAYER = re.compile(r"^blk\.(\d+)\.")


def _damaged(h: GGUFHeader, reason: str, details: str = "") -> ModelFileError:
    return ModelFileError(
        f"{h.path.name} is damaged: {reason}. llama.cpp would stop Hearth on it or refuse it, "
        "so it is not loaded. Download or convert it again.",
        f"{h.path}: {details or reason}",
    )


def _int(h: GGUFHeader, key: str, default: int | None = None) -> int | None:
    value = h.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise _damaged(h, f"its field {key} is not a whole number", f"{key} = {value!r}")
    return value


def _per_layer(h: GGUFHeader, key: str) -> list[int] | None:
    """A field that is one number or one per layer (llama.cpp's get_key_or_arr)."""
    if key in h.array_lengths and key not in h.metadata:
        # Longer than any model's layer count (gguf_file keeps arrays of up to 1,024).
        raise _damaged(h, f"its field {key} has {h.array_lengths[key]} values")
    value = h.get(key)
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise _damaged(h, f"its field {key} is not made of whole numbers", f"{key} = {value!r}")
    return values


def check_loadable(h: GGUFHeader) -> None:
    """Raise ModelFileError when llama.cpp would abort on this file, or refuse it for an
    inconsistency that can be named. Split files are checked for what their first part
    holds (their tensors are spread over the parts)."""
    if h.architecture == "unknown":
        raise _damaged(h, "it does not say which architecture it is (general.architecture)")
    if h.architecture == "clip" or h.get("general.type") == "adapter":
        what = "a LoRA adapter" if h.get("general.type") == "adapter" else "a vision projector"
        raise ModelFileError(
            f"{h.path.name} is {what}, not a model on its own; Hearth cannot load it.",
            f"{h.path}: architecture {h.architecture}, type {h.get('general.type')}",
        )
    n_layer = _check_layers(h)
    _check_experts(h, n_layer)
    _check_rope_and_norms(h)
    _check_pooling(h)
    _check_vocabulary(h)
    if int(h.get("split.count", 1) or 1) <= 1:
        _check_tensors(h, n_layer)


def _check_layers(h: GGUFHeader) -> int:
    key = f"{h.architecture}.block_count"
    n_layer = _int(h, key)
    if n_layer is None:
        raise _damaged(h, f"its layer count ({key}) is missing")
    if not 0 < n_layer <= MAX_LAYERS:
        raise _damaged(h, f"it says it has {n_layer} layers (llama.cpp allows 1 to {MAX_LAYERS})")
    nextn = _int(h, f"{h.architecture}.nextn_predict_layers", 0) or 0
    if nextn > n_layer:
        raise _damaged(h, f"{nextn} of its {n_layer} layers are said to predict further tokens")
    for suffix in ("attention.head_count", "attention.head_count_kv", "feed_forward_length"):
        values = _per_layer(h, f"{h.architecture}.{suffix}")
        if values is not None and len(values) not in (1, n_layer):
            raise _damaged(
                h, f"it gives {suffix} for {len(values)} layers, and it has {n_layer} layers"
            )
    return n_layer


def _check_experts(h: GGUFHeader, n_layer: int) -> None:
    arch = h.architecture
    n_expert = _int(h, f"{arch}.expert_count", 0) or 0
    used = _per_layer(h, f"{arch}.expert_used_count") or [0]
    groups = _int(h, f"{arch}.expert_group_count", 0) or 0
    group_used = _int(h, f"{arch}.expert_group_used_count", 0) or 0
    if arch in _SINGLE_EXPERT_IS_NONE and n_expert <= 1:
        n_expert, used = 0, [0]
    used_max = max(used)
    if n_expert > MAX_EXPERTS:
        raise _damaged(h, f"it says it has {n_expert} experts (llama.cpp allows {MAX_EXPERTS})")
    if used_max > n_expert:
        raise _damaged(h, f"it uses {used_max} experts per token and has only {n_expert}")
    if n_expert > 0:
        if used_max == 0:
            raise _damaged(h, f"it has {n_expert} experts and uses none of them")
        if groups >= n_expert:
            raise _damaged(h, f"its {n_expert} experts are in {groups} groups")
        if groups > 1 and (n_expert % groups or not 0 < group_used < groups):
            raise _damaged(
                h, f"its {n_expert} experts in {groups} groups, {group_used} used, do not add up"
            )
    elif groups:
        raise _damaged(h, f"it has expert groups ({groups}) and no experts")


def _check_pooling(h: GGUFHeader) -> None:
    pooling = _int(h, f"{h.architecture}.pooling_type")
    if pooling is not None and not 0 <= pooling <= MAX_POOLING_TYPE:
        raise _damaged(h, f"its pooling type {pooling} is not one llama.cpp knows")


def _check_rope_and_norms(h: GGUFHeader) -> None:
    scaling = h.get(f"{h.architecture}.rope.scaling.type")
    if scaling is not None and scaling not in ROPE_SCALING_TYPES:
        raise _damaged(h, f"its RoPE scaling type {scaling!r} is not one llama.cpp knows")
    for key, value in h.metadata.items():
        if key.endswith("epsilon") and not _non_negative(value):
            raise _damaged(h, f"its {key.rsplit('.', 1)[-1]} is {value!r}", f"{key} = {value!r}")


def _non_negative(value: Any) -> bool:
    return isinstance(value, int | float) and not math.isnan(value) and value >= 0


def _check_vocabulary(h: GGUFHeader) -> None:
    model = h.get("tokenizer.ggml.model")
    if model is None:
        return  # llama.cpp refuses the file with its own message ("key not found")
    if model in NO_TOKENIZER:
        raise _damaged(h, "it has no tokenizer, and Hearth needs one to read text")
    if model not in TOKENIZER_MODELS:
        raise _damaged(h, f"its tokenizer type {model!r} is not one llama.cpp knows")
    if model == "rwkv" and not h.architecture.startswith("rwkv"):
        # Its tokenizer loops without end, allocating, on other vocabularies.
        raise _damaged(h, f"an RWKV tokenizer in a {h.architecture} model")
    if h.array_lengths.get("tokenizer.ggml.tokens", 0) == 0:
        raise _damaged(h, "its vocabulary is empty")


def _check_tensors(h: GGUFHeader, n_layer: int) -> None:
    shapes = {t.name: t.shape for t in h.tensors}
    layers = {int(m.group(1)) for name in shapes if (m := _LAYER.match(name))}
    if layers and layers != set(range(n_layer)):
        extra = sorted(layers - set(range(n_layer)))
        missing = sorted(set(range(n_layer)) - layers)
        what = f"layer {extra[0]}" if extra else f"no tensors for layer {missing[0]}"
        raise _damaged(
            h,
            f"it says it has {n_layer} layers and holds {what}",
            f"layers with tensors: {len(layers)}, block_count {n_layer}",
        )
    n_vocab = h.array_lengths.get("tokenizer.ggml.tokens", 0)
    embd = shapes.get("token_embd.weight")
    if n_vocab and embd is not None and len(embd) >= 2 and embd[1] != n_vocab:
        raise _damaged(
            h, f"its vocabulary has {n_vocab} tokens and its embedding table {embd[1]} rows"
        )
    if h.architecture in PLAIN_ATTENTION:
        _check_attention(h, shapes, n_layer)


def _check_attention(h: GGUFHeader, shapes: dict[str, tuple[int, ...]], n_layer: int) -> None:
    arch = h.architecture
    n_embd = _int(h, f"{arch}.embedding_length", 0) or 0
    heads = _per_layer(h, f"{arch}.attention.head_count") or [0]
    heads_kv = _per_layer(h, f"{arch}.attention.head_count_kv") or heads
    for il in range(n_layer):
        n_head = heads[il] if len(heads) > 1 else heads[0]
        n_head_kv = heads_kv[il] if len(heads_kv) > 1 else heads_kv[0]
        q = shapes.get(f"blk.{il}.attn_q.weight")
        if q is None or n_embd <= 0:
            continue
        if n_head <= 0 or n_head_kv <= 0 or n_head % n_head_kv:
            raise _damaged(h, f"layer {il} has {n_head} attention heads and {n_head_kv} KV heads")
        head_k = _int(h, f"{arch}.attention.key_length", n_embd // n_head) or 0
        head_v = _int(h, f"{arch}.attention.value_length", head_k) or 0
        if head_k <= 0 or head_k != head_v:  # the graphs of these assert they are equal
            raise _damaged(h, f"its attention heads have keys of {head_k} and values of {head_v}")
        want = {
            "attn_q": (n_embd, n_head * head_k),
            "attn_k": (n_embd, n_head_kv * head_k),
            "attn_v": (n_embd, n_head_kv * head_v),
            "attn_output": (n_head * head_v, n_embd),
        }
        for name, expected in want.items():
            got = shapes.get(f"blk.{il}.{name}.weight")
            if got is not None and tuple(got[:2]) != expected:
                raise _damaged(
                    h,
                    f"tensor blk.{il}.{name} is {_dims(got)}, and its head counts and sizes "
                    f"make it {_dims(expected)}",
                )


def _dims(shape: tuple[int, ...]) -> str:
    return " x ".join(str(d) for d in shape)
