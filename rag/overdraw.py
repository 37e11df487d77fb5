"""Text a PDF draws twice in one place, read once.

A web page printed to PDF draws a heading with a CSS `text-shadow` twice: the shadow (often
white, one pixel off) and then the text ("3.1. 3.1. VersionsVersions" in pypdf's plain text
of a Sphinx page printed by Chrome). Other generators fake a bold face the same way, drawing
a word two or more times a fraction of a point apart. Poppler's pdftotext drops such copies;
pypdf keeps them, and a heading read twice is no heading for the sentence splitter and no
phrase for keyword search.

`Parts` collects what pypdf's `extract_text` hands its `visitor_text` callback: every piece
of the text it returns, in order, with where it was drawn (their concatenation is the
returned text, checked on Skia/Chrome, pdfTeX, dvipdfmx and PassiveTeX PDFs). `text()` is
that text without each piece that repeats one of the few before it at the same place. Pure
but for the callback's arguments; no pypdf import.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

# A copy is within this fraction of the font's size of the piece it repeats (Chrome's
# one-pixel shadow: 0.05 of a 16 pt heading, 0.075 of 10 pt text; a faked bold face: about
# 0.03); the next piece of text is a letter's width on (an "i" is 0.22 em wide or more) or a
# line away.
SAME_PLACE = 0.1
# How many pieces back a copy may be: the shadow of each run of text comes right before it;
# a faked bold face draws a word up to four times.
LOOK_BACK = 4


@dataclass(frozen=True)
class Piece:
    text: str
    x: float  # where the piece was drawn, in device space (points)
    y: float
    size: float  # the font's size there, in points (0 when unknown)


def device_origin(cm: Sequence[float], tm: Sequence[float], font_size: float) -> tuple[float, ...]:
    """The text matrix's origin and the font's size in device space."""
    x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
    y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
    a = tm[0] * cm[0] + tm[1] * cm[2]
    b = tm[0] * cm[1] + tm[1] * cm[3]
    c = tm[2] * cm[0] + tm[3] * cm[2]
    d = tm[2] * cm[1] + tm[3] * cm[3]
    return x, y, abs(font_size) * math.sqrt(abs(a * d - b * c))


def _repeats(piece: Piece, earlier: Piece) -> bool:
    if piece.text.strip() != earlier.text.strip() or piece.size <= 0:
        return False
    reach = SAME_PLACE * max(piece.size, earlier.size)
    return abs(piece.x - earlier.x) <= reach and abs(piece.y - earlier.y) <= reach


class _Copies:
    """Drops, as pieces come, each that repeats one of the LOOK_BACK drawn before it at the
    same place; keeps only what it needs (a page of a million pieces stays small)."""

    def __init__(self) -> None:
        self.kept: list[str] = []
        self.every: list[str] = []
        self.recent: deque[Piece] = deque(maxlen=LOOK_BACK)

    def add(self, piece: Piece) -> None:
        self.every.append(piece.text)
        if not piece.text.strip():
            self.kept.append(piece.text)
        elif not any(_repeats(piece, earlier) for earlier in self.recent):
            self.recent.append(piece)
            self.kept.append(piece.text)


def without_copies(pieces: Sequence[Piece]) -> str:
    """The pieces' text, each piece that repeats one of the LOOK_BACK drawn before it at the
    same place (`SAME_PLACE`) left out. Pieces of only white space are kept and are not
    counted as drawn."""
    copies = _Copies()
    for piece in pieces:
        copies.add(piece)
    return "".join(copies.kept)


class Parts:
    """pypdf's `visitor_text` callback: `page.extract_text(visitor_text=parts)`."""

    def __init__(self) -> None:
        self._copies = _Copies()

    def __call__(
        self, text: str, cm: Sequence[float], tm: Sequence[float], font: object, size: float
    ) -> None:
        try:
            x, y, scaled = device_origin(cm, tm, float(size or 0))
        except (TypeError, ValueError, IndexError):  # a hostile matrix: position unknown
            x = y = scaled = 0.0
        self._copies.add(Piece(text, x, y, scaled if math.isfinite(scaled) else 0.0))

    def text(self, extracted: str) -> str:
        """`extracted` (what extract_text returned) without the copies, or unchanged where
        the pieces do not add up to it (a pypdf that hands the callback other text)."""
        if "".join(self._copies.every) != extracted:
            return extracted
        return "".join(self._copies.kept)
