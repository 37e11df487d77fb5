"""A BERT encoder forward pass in plain NumPy, from the Hugging Face safetensors weights.

Used to check Hearth's converter + llama.cpp embeddings against an implementation that shares
no code with either: post-LayerNorm BERT (embeddings → N × [self-attention, add & norm,
GELU feed-forward, add & norm]), then sentence-transformers' mean pooling and L2 normalisation.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

_erf = np.frompyfunc(math.erf, 1, 1)


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, as Hugging Face's "gelu" activation."""
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


class BertReference:
    def __init__(self, src_dir: Path) -> None:
        self.config = json.loads((src_dir / "config.json").read_text())
        raw = load_file(str(src_dir / "model.safetensors"))
        self.w = {k.removeprefix("bert."): v.astype(np.float64) for k, v in raw.items()}

    def hidden_states(self, ids: list[int]) -> np.ndarray:
        c, w = self.config, self.w
        eps = float(c.get("layer_norm_eps", 1e-12))
        n_head = int(c["num_attention_heads"])
        n = len(ids)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        d = x.shape[1]
        hd = d // n_head
        for layer in range(int(c["num_hidden_layers"])):
            p = f"encoder.layer.{layer}."

            def lin(name: str, h: np.ndarray, p: str = p) -> np.ndarray:
                return h @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            q = lin("attention.self.query", x).reshape(n, n_head, hd).transpose(1, 0, 2)
            k = lin("attention.self.key", x).reshape(n, n_head, hd).transpose(1, 0, 2)
            v = lin("attention.self.value", x).reshape(n, n_head, hd).transpose(1, 0, 2)
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
            scores = scores - scores.max(-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(-1, keepdims=True)
            ctx = (probs @ v).transpose(1, 0, 2).reshape(n, d)
            x = layer_norm(
                x + lin("attention.output.dense", ctx),
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                eps,
            )
            ff = lin("output.dense", gelu(lin("intermediate.dense", x)))
            x = layer_norm(
                x + ff, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps
            )
        return x

    def embed(self, ids: list[int]) -> np.ndarray:
        """Mean-pooled, L2-normalised sentence embedding (all-MiniLM-L6-v2's recipe)."""
        v = self.hidden_states(ids).mean(0)
        return (v / np.linalg.norm(v)).astype(np.float32)
