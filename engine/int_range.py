"""A GBNF expression that matches exactly the whole numbers of a range, as JSON writes them.

llama-cpp-python's schema converter ignores "minimum" and "maximum" on integers, and writing a
range out as its values only works for small ranges (1,000 values make an 8 KB rule). Here a
range becomes alternatives of digit classes, one group per number length:
[7, 1234] -> [7-9] | [1-9] [0-9] | [1-9] [0-9]{2} | "1" [0-1] [0-9]{2} | "1" "2" [0-2] [0-9]
| "1" "2" "3" [0-4] (before merging). Its size grows with the number of digits, not with the
width of the range. Pure; no llama.cpp.
"""

from __future__ import annotations

# Whole numbers are at most this many digits long, as in the converter's own integer rule
# ([1-9] [0-9]{0,15}): a one-sided bound ("minimum": 1) reaches up to the largest of them.
MAX_DIGITS = 16
LARGEST = 10**MAX_DIGITS - 1


def integer_range_gbnf(low: int | None, high: int | None) -> str:
    """The GBNF alternatives (in parentheses) for low <= n <= high; None: unbounded on that
    side (up to MAX_DIGITS digits). ValueError when the range is empty."""
    lo = -LARGEST if low is None else max(low, -LARGEST)
    hi = LARGEST if high is None else min(high, LARGEST)
    if lo > hi:
        raise ValueError(f"no whole number lies between {low} and {high}")
    parts = []
    if lo < 0:  # the negative part, as "-" and its magnitudes
        magnitudes = _natural(max(1, -hi), -lo)
        parts.append('"-" (' + " | ".join(magnitudes) + ")")
    if hi >= 0:
        parts.extend(_natural(max(lo, 0), hi))
    return "(" + " | ".join(parts) + ")"


def _natural(lo: int, hi: int) -> list[str]:
    """Alternatives for lo <= n <= hi (0 <= lo <= hi), without leading zeros."""
    out: list[str] = []
    for n in range(len(str(lo)), len(str(hi)) + 1):
        first = 0 if n == 1 else 10 ** (n - 1)
        a, b = max(lo, first), min(hi, 10**n - 1)
        out.extend(" ".join(seq) for seq in _same_length(str(a), str(b)))
    return out


def _same_length(lo: str, hi: str) -> list[list[str]]:
    """Digit sequences for the numbers between lo and hi, which have the same length (leading
    zeros allowed: they stand after a first digit)."""
    if not lo:
        return [[]]
    rest = len(lo) - 1
    a, b = int(lo[0]), int(hi[0])
    if a == b:
        return [[f'"{a}"', *seq] for seq in _same_length(lo[1:], hi[1:])]
    out: list[list[str]] = []
    # the first digit's lowest and highest values join the middle class when the rest of
    # the bound is all zeros (or all nines), so [100, 399] is [1-3] [0-9]{2}
    mid_lo = a if lo[1:] == "0" * rest else a + 1
    mid_hi = b if hi[1:] == "9" * rest else b - 1
    if mid_lo > a:
        out.extend([f'"{a}"', *seq] for seq in _same_length(lo[1:], "9" * rest))
    if mid_lo <= mid_hi:
        out.append([_digit_class(mid_lo, mid_hi), *_any_digits(rest)])
    if mid_hi < b:
        out.extend([f'"{b}"', *seq] for seq in _same_length("0" * rest, hi[1:]))
    return out


def _digit_class(a: int, b: int) -> str:
    return f'"{a}"' if a == b else f"[{a}-{b}]"


def _any_digits(n: int) -> list[str]:
    if n == 0:
        return []
    return ["[0-9]"] if n == 1 else [f"[0-9]{{{n}}}"]
