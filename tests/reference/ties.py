"""Comparing the logits of two computations that may round differently: another CPU's kernels
(AVX2, AVX-512, NEON, the unpatched llama.cpp release), or an F16 copy against a quantized
original. Tokens whose logits are within `tie` of each other count as tied: their order is
not the converter's doing, so a test must not depend on it. A wrong converter (a missing
permutation, a wrong norm or RoPE setting) moves logits by far more than any tie."""

from __future__ import annotations

import numpy as np


def near_tie(logits: np.ndarray, token: int, tie: float) -> bool:
    """`token` is the best next token up to a tie: a greedy choice could fall on it."""
    return bool(logits[token] >= logits.max() - tie)


def ranking_differences(a: np.ndarray, b: np.ndarray, k: int, tie: float) -> list[str]:
    """How the top k tokens of logits `a` and `b` disagree beyond ties; empty if they agree.

    They disagree when a token of one side's top k lies more than `tie` below the other
    side's k-th best logit (a different set, not a boundary tie), or when one side orders
    two of its top k by more than `tie` and the other side orders them the other way."""
    problems: list[str] = []
    for name, x, y in (("a", a, b), ("b", b, a)):
        top = [int(t) for t in np.argsort(x)[::-1][:k]]
        kth = float(np.sort(y)[::-1][k - 1])
        for t in top:
            if y[t] < kth - tie:
                problems.append(
                    f"token {t} is in {name}'s top {k} ({x[t]:.3f}) but the other side gives "
                    f"it {y[t]:.3f}, more than {tie} below its own {k}th best ({kth:.3f})"
                )
        for i, s in enumerate(top):
            for t in top[i + 1 :]:
                if x[s] - x[t] > tie and y[s] < y[t]:
                    problems.append(
                        f"{name} ranks token {s} above {t} by {x[s] - x[t]:.3f}, "
                        f"the other side below it ({y[s]:.3f} < {y[t]:.3f})"
                    )
    return problems


def first_divergence(a: list[int], b: list[int]) -> int:
    """Index of the first token where two continuations differ (their length if none)."""
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)
