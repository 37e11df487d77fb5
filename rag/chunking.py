"""Split a document's pages into overlapping chunks sized in the embedding model's tokens.
Pure: no I/O, no model; the caller passes the embedder's `count_tokens`.

How a document is cut:
1. Each page's (normalised) text is cut into units: paragraphs (blank-line separated), then
   sentences. A sentence longer than `target_tokens` is cut at line breaks, then at word
   boundaries, and a single "word" that is still too long is cut hard by characters.
   `count_tokens` is called once per unit (and a few times more, by bisection, for overlong
   sentences), never per character.
2. Units are packed greedily into a chunk until the next one would pass `target_tokens`
   (a chunk still under half the target takes one more unit as long as it stays within
   `max_tokens`, so that a long sentence after a short one does not leave a tiny chunk).
   When the chunk would overflow, it ends at its last paragraph end instead if that keeps at
   least half of the target.
3. The next chunk starts with the previous chunk's trailing units that fit in
   `overlap_tokens` (whole sentences; no overlap when the last sentence alone is bigger).
4. Each chunk is counted once for real; if it is over `max_tokens` (token counts of parts
   do not always add up exactly), units are given back to the next chunk until it fits.

Offsets. The document is seen as one string, its page texts joined by `PAGE_SEPARATOR`.
`char_start` and `char_end` are offsets from the start of the `page_start` page's text in
that string, so that always

    joined_text_from(pages, page_start)[chunk.char_start:chunk.char_end] == chunk.text

For a chunk on a single page this is simply `page.text[char_start:char_end] == text`. For a
chunk that runs onto the next page(s), `char_end` is past the end of the first page's text:
the chunk's text holds the rest of `page_start`, the separator, and the start of the
following page(s) up to `page_end`. Chunks do cross pages so that a sentence pair split by a
page break still lands together; the citation then names both pages. `page_spans` turns a
chunk back into (page, start, end) offsets into each page's own text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

PAGE_SEPARATOR = "\n\n"

_PARAGRAPH_RE = re.compile(r"\n\s*\n")
# sentence end: . ! ? (maybe closed by quotes/brackets) then whitespace
_SENTENCE_END_RE = re.compile(r"[.!?][\"'\u201d\u2019)\]]*\s+")
_WORD_RE = re.compile(r"\S+")


class _HasPageText(Protocol):
    page: int
    text: str


@dataclass
class Chunk:
    text: str
    page_start: int  # 1-based page number (PageText.page) of the first character
    page_end: int  # page number of the last character
    char_start: int  # offset into page_start's text (see the module docstring)
    char_end: int  # exclusive; may run past page_start's text for multi-page chunks
    n_tokens: int  # count_tokens(text), as the embedder counts it


@dataclass(frozen=True)
class _Unit:
    index: int  # page index in the list given
    start: int  # absolute offsets in the joined document string
    end: int
    tokens: int  # count_tokens(text) minus the counter's fixed overhead
    paragraph_end: bool


def joined_text_from(pages: Sequence[_HasPageText], page: int) -> str:
    """The document string from the start of page number `page` to the end: the reference
    that `Chunk.char_start`/`char_end` index into."""
    texts = [p.text for p in pages]
    for i, p in enumerate(pages):
        if p.page == page:
            return PAGE_SEPARATOR.join(texts[i:])
    raise ValueError(f"no page {page}")


def page_spans(pages: Sequence[_HasPageText], chunk: Chunk) -> list[tuple[int, int, int]]:
    """The chunk's text as (page number, start, end) offsets into each page's own text, for
    highlighting a citation on each page it covers."""
    out: list[tuple[int, int, int]] = []
    numbers = [p.page for p in pages]
    first = numbers.index(chunk.page_start)
    pos = chunk.char_start  # offset within the current page
    remaining = chunk.char_end - chunk.char_start
    for p in pages[first:]:
        end = min(len(p.text), pos + remaining)
        if end > pos:
            out.append((p.page, pos, end))
        remaining -= (len(p.text) - pos) + len(PAGE_SEPARATOR)
        if remaining <= 0 or p.page == chunk.page_end:
            break
        pos = 0
    return out


def _spans(text: str, start: int, end: int, regex: re.Pattern[str]) -> list[tuple[int, int]]:
    """Pieces of text[start:end] cut after each match of `regex`, trimmed of whitespace,
    empty pieces left out."""
    out: list[tuple[int, int]] = []
    pos = start
    for m in regex.finditer(text, start, end):
        out.append((pos, m.start() + len(m.group(0).rstrip())))
        pos = m.end()
    out.append((pos, end))
    trimmed: list[tuple[int, int]] = []
    for a, b in out:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            trimmed.append((a, b))
    return trimmed


def _largest_fit(n: int, fits: Callable[[int], bool]) -> int:
    """Largest k in [1, n] with fits(k), assuming fits is monotone; 1 if none fits."""
    lo, hi = 1, n
    if fits(n):
        return n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


class _Splitter:
    def __init__(self, text: str, count: Callable[[str], int], limit: int) -> None:
        self.text = text
        self.count = count
        self.limit = limit

    def split(self, start: int, end: int) -> list[tuple[int, int, int]]:
        """(start, end, tokens) pieces of text[start:end], each at most `limit` tokens if
        at all possible: sentence as is, else by lines, else by words, else by characters."""
        tokens = self.count(self.text[start:end])
        if tokens <= self.limit:
            return [(start, end, tokens)]
        lines = _spans(self.text, start, end, re.compile(r"\n"))
        if len(lines) > 1:
            return self._pack(lines)
        return self._by_words(start, end)

    def _pack(self, spans: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
        """Group consecutive spans (lines) into pieces under the limit."""
        out: list[tuple[int, int, int]] = []
        i = 0
        while i < len(spans):
            first = spans[i][0]

            def fits(k: int, i: int = i, first: int = first) -> bool:
                return self.count(self.text[first : spans[i + k - 1][1]]) <= self.limit

            k = _largest_fit(len(spans) - i, fits)
            piece_end = spans[i + k - 1][1]
            if k == 1 and not fits(1):
                out.extend(self._by_words(first, piece_end))
            else:
                out.append((first, piece_end, self.count(self.text[first:piece_end])))
            i += k
        return out

    def _by_words(self, start: int, end: int) -> list[tuple[int, int, int]]:
        words = [(m.start(), m.end()) for m in _WORD_RE.finditer(self.text, start, end)]
        out: list[tuple[int, int, int]] = []
        i = 0
        while i < len(words):
            first = words[i][0]

            def fits(k: int, i: int = i, first: int = first) -> bool:
                return self.count(self.text[first : words[i + k - 1][1]]) <= self.limit

            k = _largest_fit(len(words) - i, fits)
            piece_end = words[i + k - 1][1]
            if k == 1 and not fits(1):
                out.extend(self._by_chars(first, piece_end))
            else:
                out.append((first, piece_end, self.count(self.text[first:piece_end])))
            i += k
        return out

    def _by_chars(self, start: int, end: int) -> list[tuple[int, int, int]]:
        out: list[tuple[int, int, int]] = []
        pos = start
        while pos < end:

            def fits(k: int, pos: int = pos) -> bool:
                return self.count(self.text[pos : pos + k]) <= self.limit

            k = _largest_fit(end - pos, fits)
            out.append((pos, pos + k, self.count(self.text[pos : pos + k])))
            pos += k
        return out


def _units(
    pages: Sequence[_HasPageText],
    count: Callable[[str], int],
    overhead: int,
    unit_limit: int,
) -> tuple[str, list[int], list[_Unit]]:
    """The joined document, each page's base offset in it, and its units in order."""
    doc = PAGE_SEPARATOR.join(p.text for p in pages)
    bases: list[int] = []
    pos = 0
    for p in pages:
        bases.append(pos)
        pos += len(p.text) + len(PAGE_SEPARATOR)
    splitter = _Splitter(doc, count, unit_limit)
    units: list[_Unit] = []
    for index, p in enumerate(pages):
        base = bases[index]
        for pa, pb in _spans(doc, base, base + len(p.text), _PARAGRAPH_RE):
            sentences = _spans(doc, pa, pb, _SENTENCE_END_RE)
            pieces = [piece for sa, sb in sentences for piece in splitter.split(sa, sb)]
            for j, (a, b, tokens) in enumerate(pieces):
                units.append(_Unit(index, a, b, max(tokens - overhead, 0), j == len(pieces) - 1))
    return doc, bases, units


def chunk_pages(
    pages: Sequence[_HasPageText],
    count_tokens: Callable[[str], int],
    target_tokens: int = 200,
    overlap_tokens: int = 40,
    max_tokens: int = 510,
) -> list[Chunk]:
    """Cut pages into chunks of about `target_tokens` tokens, each sharing up to
    `overlap_tokens` tokens of whole sentences with the one before, never more than
    `max_tokens` (as `count_tokens` counts them). See the module docstring."""
    if not 0 < target_tokens <= max_tokens:
        raise ValueError("need 0 < target_tokens <= max_tokens")
    if not 0 <= overlap_tokens < target_tokens:
        raise ValueError("need 0 <= overlap_tokens < target_tokens")
    # A counter may add fixed tokens per call ([CLS] and [SEP] for BERT): count them once.
    overhead = count_tokens("")
    if overhead >= max_tokens:
        raise ValueError("count_tokens('') is already max_tokens or more")
    target = min(target_tokens, max_tokens - overhead)
    doc, bases, units = _units(pages, count_tokens, overhead, target)
    page_numbers = [p.page for p in pages]

    chunks: list[Chunk] = []
    i = 0  # first unit of the next chunk (maybe overlap)
    fresh = 0  # first unit not yet in any chunk
    while fresh < len(units):
        j = i
        total = overhead
        while j < len(units):
            t = units[j].tokens
            # a chunk still under half the target may take one more unit up to the max
            over = total + t > target and (total >= target // 2 or total + t > max_tokens)
            if j > fresh and over:
                break
            if j == fresh and j > i and total + t > max_tokens:
                # overlap plus this unit is too big: give the overlap up
                i = j
                total = overhead
            total += t
            j += 1
        # prefer ending at a paragraph end when the chunk had to stop early
        if j < len(units):
            for k in range(j - 1, fresh - 1, -1):
                if units[k].paragraph_end:
                    kept = overhead + sum(u.tokens for u in units[i : k + 1])
                    if kept >= target // 2:
                        j = k + 1
                    break
        # verify with a real count; hand units back while over the limit
        while True:
            text = doc[units[i].start : units[j - 1].end]
            n = count_tokens(text)
            if n <= max_tokens or j - 1 <= fresh and i == j - 1:
                break
            if j - 1 > fresh:
                j -= 1
            else:
                i += 1
        first, last = units[i], units[j - 1]
        base = bases[first.index]
        chunks.append(
            Chunk(
                text=text,
                page_start=page_numbers[first.index],
                page_end=page_numbers[last.index],
                char_start=first.start - base,
                char_end=last.end - base,
                n_tokens=n,
            )
        )
        chunk_fresh, fresh = fresh, j
        # overlap: trailing whole units first seen in this chunk, within overlap_tokens
        back = j
        acc = 0
        while back - 1 > chunk_fresh and acc + units[back - 1].tokens <= overlap_tokens:
            back -= 1
            acc += units[back].tokens
        i = back
    return chunks
