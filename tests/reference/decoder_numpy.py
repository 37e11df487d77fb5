"""A Llama / Mistral / Qwen2 / Qwen3 decoder forward pass in plain NumPy (Hugging Face layout).

Written from the models' published definitions: RMSNorm, rotary embeddings applied to the two
halves of each head (`rotate_half`), grouped-query causal attention, SwiGLU feed-forward.
Qwen2 adds biases to the Q/K/V projections; Qwen3 RMS-normalises each head of Q and K before
the rotation. Also builds small random checkpoints of these architectures for tests."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def rotate(x: np.ndarray, positions: np.ndarray, theta: float) -> np.ndarray:
    """x: (heads, seq, head_dim), HF convention."""
    d = x.shape[-1]
    inv = 1.0 / theta ** (np.arange(0, d, 2) / d)
    ang = positions[:, None] * inv[None, :]
    cos = np.concatenate([np.cos(ang)] * 2, -1)
    sin = np.concatenate([np.sin(ang)] * 2, -1)
    half = np.concatenate([-x[..., d // 2 :], x[..., : d // 2]], -1)
    return x * cos + half * sin


def forward(weights: dict[str, np.ndarray], cfg: dict, ids: list[int]) -> np.ndarray:
    """Logits (seq, vocab)."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    arch = cfg["architectures"][0]
    n_head, n_kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or cfg["hidden_size"] // n_head
    eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
    n = len(ids)
    pos = np.arange(n, dtype=np.float64)
    x = w["model.embed_tokens.weight"][ids]
    mask = np.triu(np.full((n, n), -np.inf), 1)
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)

        def proj(name: str, h: np.ndarray = h, p: str = p) -> np.ndarray:
            y = h @ w[p + f"self_attn.{name}.weight"].T
            bias = w.get(p + f"self_attn.{name}.bias")
            return y if bias is None else y + bias

        q = proj("q_proj").reshape(n, n_head, hd).transpose(1, 0, 2)
        k = proj("k_proj").reshape(n, n_kv, hd).transpose(1, 0, 2)
        v = proj("v_proj").reshape(n, n_kv, hd).transpose(1, 0, 2)
        if arch == "Qwen3ForCausalLM":
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q, k = rotate(q, pos, theta), rotate(k, pos, theta)
        k = np.repeat(k, n_head // n_kv, axis=0)
        v = np.repeat(v, n_head // n_kv, axis=0)
        s = q @ k.transpose(0, 2, 1) / math.sqrt(hd) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        att = (s @ v).transpose(1, 0, 2).reshape(n, n_head * hd)
        x = x + att @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = h @ w[p + "mlp.gate_proj.weight"].T
        up = h @ w[p + "mlp.up_proj.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ w[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["model.norm.weight"], eps)
    out = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return x @ out.T


def random_checkpoint(
    arch: str, out_dir: Path, tokenizer_dir: Path, seed: int = 0, tied: bool = True
) -> tuple[dict[str, np.ndarray], dict]:
    """A tiny random model of `arch` with the tokenizer files of `tokenizer_dir`."""
    rng = np.random.default_rng(seed)
    vocab = json.loads((tokenizer_dir / "config.json").read_text())["vocab_size"]
    hidden, n_head, n_kv, layers, ff = 64, 4, 2, 2, 128
    hd = 32 if arch == "Qwen3ForCausalLM" else hidden // n_head
    cfg = {
        "architectures": [arch],
        "hidden_size": hidden,
        "intermediate_size": ff,
        "num_hidden_layers": layers,
        "num_attention_heads": n_head,
        "num_key_value_heads": n_kv,
        "max_position_embeddings": 512,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0 if arch != "Qwen3ForCausalLM" else 1000000.0,
        "vocab_size": vocab,
        "tie_word_embeddings": tied,
    }
    if arch == "Qwen3ForCausalLM":
        cfg["head_dim"] = hd

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) / math.sqrt(cols)).astype(np.float32)

    def norm(d: int) -> np.ndarray:
        return (1.0 + 0.1 * rng.standard_normal(d)).astype(np.float32)

    w: dict[str, np.ndarray] = {
        "model.embed_tokens.weight": rng.standard_normal((vocab, hidden)).astype(np.float32),
        "model.norm.weight": norm(hidden),
    }
    if not tied:
        w["lm_head.weight"] = mat(vocab, hidden)
    for i in range(layers):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm(hidden)
        w[p + "post_attention_layernorm.weight"] = norm(hidden)
        w[p + "self_attn.q_proj.weight"] = mat(n_head * hd, hidden)
        w[p + "self_attn.k_proj.weight"] = mat(n_kv * hd, hidden)
        w[p + "self_attn.v_proj.weight"] = mat(n_kv * hd, hidden)
        w[p + "self_attn.o_proj.weight"] = mat(hidden, n_head * hd)
        if arch == "Qwen2ForCausalLM":
            for name, d in (("q_proj", n_head * hd), ("k_proj", n_kv * hd), ("v_proj", n_kv * hd)):
                w[p + f"self_attn.{name}.bias"] = (0.1 * rng.standard_normal(d)).astype(np.float32)
        if arch == "Qwen3ForCausalLM":
            w[p + "self_attn.q_norm.weight"] = norm(hd)
            w[p + "self_attn.k_norm.weight"] = norm(hd)
        w[p + "mlp.gate_proj.weight"] = mat(ff, hidden)
        w[p + "mlp.up_proj.weight"] = mat(ff, hidden)
        w[p + "mlp.down_proj.weight"] = mat(hidden, ff)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(w, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    (out_dir / "config.json").write_text(json.dumps(cfg))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tokenizer_dir / name, out_dir / name)
    return w, cfg
