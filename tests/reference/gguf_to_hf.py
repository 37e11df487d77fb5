"""Build a Hugging Face Llama checkpoint from a llama-architecture GGUF file (test fixture).

The inverse of what a safetensors → GGUF converter does: tensors are dequantized with
`gguf.quants.dequantize`, renamed to Hugging Face names, and the Q/K rows are put back from
llama.cpp's interleaved rotary layout into Hugging Face's two-halves layout. The tokenizer is
rebuilt as a byte-level BPE tokenizer.json from the GGUF vocabulary and merges, with SmolLM's
pre-tokenizer (digits split one by one, then GPT-2 byte-level splitting).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize
from safetensors.numpy import save_file

_LAYER_NAMES = {
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_GLOBAL_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}


def hf_name(gguf_name: str) -> str:
    if gguf_name in _GLOBAL_NAMES:
        return _GLOBAL_NAMES[gguf_name]
    blk, layer, kind, suffix = gguf_name.split(".")
    assert blk == "blk", gguf_name
    return f"model.layers.{layer}.{_LAYER_NAMES[kind]}.{suffix}"


def unpermute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's per-head interleaved rotary pairs → Hugging Face's halves layout."""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _field(reader: GGUFReader, key: str):  # noqa: ANN202 - test helper
    f = reader.fields.get(key)
    return None if f is None else f.contents()


def gguf_to_hf(gguf_path: Path, out_dir: Path) -> Path:
    reader = GGUFReader(gguf_path)
    arch = _field(reader, "general.architecture")
    assert arch == "llama", arch
    n_head = int(_field(reader, "llama.attention.head_count"))
    n_head_kv = int(_field(reader, "llama.attention.head_count_kv") or n_head)
    out_dir.mkdir(parents=True, exist_ok=True)

    tensors: dict[str, np.ndarray] = {}
    for t in reader.tensors:
        w = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32)
        w = w.reshape(tuple(int(d) for d in reversed(t.shape)))
        if t.name.endswith("attn_q.weight"):
            w = unpermute_rows(w, n_head)
        elif t.name.endswith("attn_k.weight"):
            w = unpermute_rows(w, n_head_kv)
        tensors[hf_name(t.name)] = np.ascontiguousarray(w)
    save_file(tensors, str(out_dir / "model.safetensors"), metadata={"format": "pt"})

    tokens: list[str] = list(_field(reader, "tokenizer.ggml.tokens"))
    types: list[int] = list(_field(reader, "tokenizer.ggml.token_type"))
    merges: list[str] = list(_field(reader, "tokenizer.ggml.merges"))
    bos = int(_field(reader, "tokenizer.ggml.bos_token_id"))
    eos = int(_field(reader, "tokenizer.ggml.eos_token_id"))
    unk = _field(reader, "tokenizer.ggml.unknown_token_id")
    pad = _field(reader, "tokenizer.ggml.padding_token_id")
    add_bos = bool(_field(reader, "tokenizer.ggml.add_bos_token") or False)
    template = _field(reader, "tokenizer.chat_template")

    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": int(_field(reader, "llama.embedding_length")),
        "intermediate_size": int(_field(reader, "llama.feed_forward_length")),
        "num_hidden_layers": int(_field(reader, "llama.block_count")),
        "num_attention_heads": n_head,
        "num_key_value_heads": n_head_kv,
        "max_position_embeddings": int(_field(reader, "llama.context_length")),
        "rms_norm_eps": float(_field(reader, "llama.attention.layer_norm_rms_epsilon")),
        "rope_theta": float(_field(reader, "llama.rope.freq_base")),
        "vocab_size": len(tokens),
        "tie_word_embeddings": "lm_head.weight" not in tensors,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "hidden_act": "silu",
        "torch_dtype": "float32",
        "_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct",
    }
    (out_dir / "config.json").write_text(json.dumps(config, indent=2))

    added = [
        {
            "id": i,
            "content": tok,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for i, (tok, ty) in enumerate(zip(tokens, types, strict=True))
        if ty == 3  # CONTROL
    ]
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Digits", "individual_digits": True},
                {
                    "type": "ByteLevel",
                    "add_prefix_space": False,
                    "trim_offsets": True,
                    "use_regex": True,
                },
            ],
        },
        "post_processor": {
            "type": "ByteLevel",
            "add_prefix_space": True,
            "trim_offsets": False,
            "use_regex": True,
        },
        "decoder": {
            "type": "ByteLevel",
            "add_prefix_space": True,
            "trim_offsets": True,
            "use_regex": True,
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "vocab": {tok: i for i, tok in enumerate(tokens)},
            "merges": [m.split(" ") for m in merges],
        },
    }
    (out_dir / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False))
    tok_config = {
        "add_prefix_space": False,
        "add_bos_token": add_bos,
        "bos_token": tokens[bos],
        "eos_token": tokens[eos],
        "unk_token": tokens[int(unk)] if unk is not None else None,
        "pad_token": tokens[int(pad)] if pad is not None else None,
        "chat_template": template,
        "model_max_length": config["max_position_embeddings"],
        "tokenizer_class": "GPT2Tokenizer",
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2))
    return out_dir
