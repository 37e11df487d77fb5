"""Words that a PDF sets letter by letter, read as words.

LaTeX's `listings` package (its default `columns=fixed`) and other typesetters that put each
glyph in its own column give pypdf's plain text a space between every letter: "r e t u r n
r e s u l t ;", "// U n r o l l t h i s l o o p". Nobody searches for that, and a quote of it
is unreadable. pypdf's plain mode cannot tell those spaces from word gaps: they are the same
single space. Its layout mode places text by position, so a word gap there is wider than the
gap between two letters of a word set in columns ("Crc   r e s u l t  =  0 ;"), while in
ordinary prose a word gap is one space like any other.

`respace` takes the plain text (the one Hearth reads: it follows the content's order, where
layout mode sets columns side by side) and, for each run of single letters in it, finds the
same letters in the page's layout text and joins them where layout mode shows them set in
columns. Where layout mode does not (an alphabet in a table, "N x N x N", "a b c d" in prose)
the run is left as it is. Pure: the caller runs pypdf (`rag.file_text.page_texts`).
"""

from __future__ import annotations

import itertools
import re

# A run of single characters, each followed by one space: what plain mode gives a
# letter-spaced word ("u i n t 3 2 _ t"). A page is looked at again only if it holds a run of
# at least four letters (3-letter runs, "i n t", "a b c", are common in ordinary text); on
# such a page every run is checked ("f o r", "+ + i )").
_RUN = re.compile(r"(?<!\S)(?:\S )+\S(?!\S)")
_LONG_RUN = re.compile(r"(?<!\S)(?:[^\W\d_] ){3,}[^\W\d_](?!\S)")
_LINE_START = -1  # the gap before the first character of a line: not a word gap, unknown
_WORD_GAP = 2  # spaces between two letters in layout text that mean a word ends between them
TRIES = 8  # places in the layout text tried for one run, after the last one placed and before
MAX_RUNS = 2000  # runs looked at on one page (a listing's page has a few hundred)


def looks_letter_spaced(plain: str) -> bool:
    """Whether a page's plain text has a run of single letters worth checking by layout."""
    return _LONG_RUN.search(plain) is not None


def _stream(layout: str) -> tuple[str, list[int]]:
    """The layout text without spaces, and for each of its characters the number of spaces
    before it (_LINE_START at the start of a line); one more entry for the end."""
    chars: list[str] = []
    gaps: list[int] = []
    gap = _LINE_START
    for ch in layout:
        if ch in "\r\n":
            gap = _LINE_START
        elif ch.isspace():
            if gap != _LINE_START:
                gap += 1
        else:
            chars.append(ch)
            gaps.append(gap)
            gap = 0
    gaps.append(_LINE_START)
    return "".join(chars), gaps


def _words_apart(inner: list[int]) -> bool:
    """Letters with these gaps between them in layout text are words set in columns: the
    letters of a word at most one space apart, a wider gap between two words."""
    return _LINE_START not in inner and min(inner) < _WORD_GAP <= max(inner)


def _in_columns(letters: str, inner: list[int]) -> bool:
    """The sign that a page sets text letter by letter: words set in columns, one of them
    four letters or more. Single letters that are words of ordinary text ("size d p q a b
    c", "N x N x N", a monospaced "set -- a b c", "i = 4 j = 1" in a table) are as far
    apart as any other words."""
    if not _words_apart(inner):
        return False
    return any(sum(c.isalpha() for c in w) >= 4 for w in _words(letters, inner).split())


def _one_word(letters: str, inner: list[int], before: int, after: int) -> bool:
    """On a page that sets text letter by letter (`_in_columns`): four letters or more
    that layout mode sets touching, or one space apart with a wider gap on either side, are
    one word. Only there: at the edge of a table's cell ("dsa_public_key  p q g y") such a
    gap is no sign, and layout mode may set an italic letter touching the next one ("A y
    C" in Spanish prose)."""
    if _LINE_START in inner or max(inner) >= _WORD_GAP:
        return False
    if max(inner) == 0:
        return sum(c.isalpha() for c in letters) >= 4
    return max(before, after) >= _WORD_GAP


def _occurrences(text: str, letters: str, cursor: int) -> list[int]:
    """Where `letters` occurs in `text`: from `cursor` on first, then before it; at most
    TRIES of each (a hostile page of thousands of "a b" runs stays quick)."""
    found: list[int] = []
    for lo, hi in ((cursor, len(text)), (0, cursor + len(letters) - 1)):
        at = text.find(letters, lo, hi)
        tries = 0
        while at >= 0 and tries < TRIES:
            if not found or at != found[0]:
                found.append(at)
            tries += 1
            at = text.find(letters, at + 1, hi)
    return found


def _glued_before(plain: str, start: int, text: str, at: int, gap: int) -> bool:
    """Whether the run at plain[start:] goes on a word that plain mode ended one space
    earlier ("non−z" of "non−z e r o", "++b" of "++b y t e"): layout mode sets them as one."""
    return (
        gap == 0
        and at > 0
        and start >= 2
        and plain[start - 1] == " "
        and plain[start - 2] == text[at - 1]
    )


def _words(letters: str, inner: list[int]) -> str:
    return letters[0] + "".join(
        (" " if g >= _WORD_GAP else "") + c for c, g in zip(letters[1:], inner, strict=True)
    )


def _placed(
    runs: list[re.Match[str]], text: str, gaps: list[int]
) -> list[tuple[re.Match[str], str, int, list[int]]]:
    """Each run found in layout text set as words: its letters, where they are, and their
    inner gaps."""
    placed = []
    cursor = 0
    for run in runs:
        letters = run.group(0).replace(" ", "")
        for at in _occurrences(text, letters, cursor):
            end = at + len(letters)
            inner = gaps[at + 1 : end]
            if _words_apart(inner) or _one_word(letters, inner, gaps[at], gaps[end]):
                placed.append((run, letters, at, inner))
                cursor = end
                break
    return placed


def respace(plain: str, layout: str) -> str:
    """`plain` with each letter-spaced run that `layout` (the same page's layout-mode text)
    shows set in columns read as its words; every other character unchanged."""
    if not looks_letter_spaced(plain):
        return plain
    text, gaps = _stream(layout)
    placed = _placed(list(itertools.islice(_RUN.finditer(plain), MAX_RUNS)), text, gaps)
    if not any(_in_columns(letters, inner) for _, letters, _, inner in placed):
        return plain
    out: list[str] = []
    last = 0
    for run, letters, at, inner in placed:
        start = run.start()
        if _glued_before(plain, start, text, at, gaps[at]):  # "non−z e r o"
            start -= 1
        out += [plain[last:start], _words(letters, inner)]
        last = run.end()
    out.append(plain[last:])
    return "".join(out)
