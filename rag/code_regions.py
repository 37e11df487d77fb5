"""Code whose marks the text lost or that only its neighbours show (pure, for
`rag.sentences`): a Markdown fence's inside, a comment's lines of words, an example file's
first line. `Line` is one line of a text as `rag.sentences` classifies it."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from rag.line_roles import FUNCTION_WORDS


@dataclass
class Line:
    text: str  # stripped
    start: int
    end: int
    kind: str  # prose | code | blank | heading (Markdown "## ...") | fence (Markdown ```)


def regions(lines: list[Line], kind_of: Callable[[str], str]) -> list[Line]:
    """The lines with the code that their marks or their neighbours show made code: fenced
    blocks, comments, listings printed with line numbers, a script's lines among its
    comments (`kind_of`: a line's kind as rag.sentences reads it)."""
    return among_code(numbered_listings(comments(fenced(lines)), kind_of))


def fenced(lines: list[Line]) -> list[Line]:
    """Lines inside a Markdown code fence are code whatever they look like; the fences
    themselves end the sentence before them (as a blank line does) and are dropped."""
    out: list[Line] = []
    inside = _starts_in_code(lines)
    for line in lines:
        if line.kind == "fence":
            inside = not inside
            out.append(Line("", line.start, line.start, "blank"))
        elif inside:
            out.append(Line(line.text, line.start, line.end, "code" if line.text else "blank"))
        else:
            out.append(line)
    return out


# A comment in code that the text lost the fence of (a PDF's example file): its lines of words
# ("<!--\nFind fonts in these directories\n-->") are code too, to the line that closes it.
_COMMENTS = (("<!--", "-->"), ("/*", "*/"))
COMMENT_LINES = 20  # ... when that line comes within this many lines
# The first line of an example file ("<?xml version="1.0"?>", "<!DOCTYPE fontconfig ...>")
# starts a code block, even after a sentence without its period ("This is an example of a
# system-wide configuration file"): kept inside that sentence, the whole file was quoted. Not
# a script's "#!/bin/sh": R's manual shows one inside its sentence ("a here document like").
FILE_START = re.compile(r"<\?xml\b|<!DOCTYPE\b", re.IGNORECASE)


def comments(lines: list[Line]) -> list[Line]:
    """The lines with each comment that a code line opens made code up to the line that
    closes it (see `_COMMENTS`)."""
    out = list(lines)
    i = 0
    while i < len(out):
        close = _opens_comment(out[i])
        end = None
        if close is not None:
            ahead = range(i + 1, min(i + 1 + COMMENT_LINES, len(out)))
            end = next((j for j in ahead if close in out[j].text), None)
        if end is None:
            i += 1
            continue
        for j in range(i + 1, end + 1):
            if out[j].kind != "blank":
                out[j] = replace(out[j], kind="code")
        i = end + 1
    return out


# A listing printed with its line numbers ("1 \\documentclass[a4paper]{article}", "2", "3
# \\usepackage[utf8x]{inputenc}": LaTeX's listings, DocBook's line numbering): each line alone
# looks like a numbered heading or the start of a sentence, so a listing was read as headings
# and prose with code spans. A run of at least LISTING_LINES lines numbered one after the other
# is code when one of them is its number alone (an empty line of the listing; never so in a
# contents page or a numbered list of steps) or when most of what follows the numbers is code.
# A number may be missing where a blank line breaks the run (a page break took it).
LISTING_LINES = 3
_LINE_NUMBER = re.compile(r"^([0-9]{1,4})(?:\s+(\S.*))?$")


def numbered_listings(lines: list[Line], kind_of: Callable[[str], str]) -> list[Line]:
    """The lines with each listing printed with its line numbers made code (`kind_of`: a
    line's kind as rag.sentences reads it)."""
    out = list(lines)
    i = 0
    while i < len(out):
        run = _numbered_run(out, i)
        if len(run) < LISTING_LINES:
            i += 1
            continue
        if _is_listing([out[j] for j in run], kind_of):
            for j in range(run[0], run[-1] + 1):
                if out[j].kind != "blank":
                    out[j] = replace(out[j], kind="code")
        i = run[-1] + 1  # linear: a run is read once
    return out


def without_line_numbers(code: str) -> str:
    """A listing's code as it would be typed: without the line numbers it was printed with,
    when every line of it carries one (see `numbered_listings`)."""
    rows = code.split("\n")
    lines = [Line(r.strip(), 0, 0, "code" if r.strip() else "blank") for r in rows]
    numbered = [i for i, line in enumerate(lines) if line.kind != "blank"]
    if len(numbered) < LISTING_LINES or _numbered_run(lines, numbered[0]) != numbered:
        return code
    return "\n".join(_LINE_NUMBER.sub(lambda m: m.group(2) or "", r.strip()) for r in rows)


def _numbered_run(lines: Sequence[Line], i: int) -> list[int]:
    """The indexes of the lines from `i` on that are numbered one after the other."""
    m = _LINE_NUMBER.match(lines[i].text)
    if m is None:
        return []
    run, expect, gap = [i], int(m.group(1)) + 1, False
    for j in range(i + 1, len(lines)):
        if lines[j].kind == "blank":
            gap = True
            continue
        m = _LINE_NUMBER.match(lines[j].text)
        if m is None or int(m.group(1)) not in (expect, expect + gap):
            break
        run.append(j)
        expect, gap = int(m.group(1)) + 1, False
    return run


def _is_listing(run: Sequence[Line], kind_of: Callable[[str], str]) -> bool:
    rests = [m.group(2) for m in (_LINE_NUMBER.match(line.text) for line in run) if m]
    if any(rest is None for rest in rests):
        return True
    return 2 * sum(kind_of(rest) == "code" for rest in rests if rest) >= len(rests)


# A script's own lines between its comments ("# Set the tics to be 1.5 mm." / "set tic size
# 0.15 # centimetres" / "# Draw axes and frame ..." / "draw axes 1", Gri's manual): alone
# each reads as words, so the example was quoted as a sentence with code spans in it. A run of
# at most AMONG_CODE_LINES lines between two code lines is code too when none of them ends a
# sentence or clause, none starts one in upper case and few of their words are function words
# (R's "For example with\nz <- 0:9\nwe could put\ndigits <- as.character(z)" goes on in prose).
AMONG_CODE_LINES = 4
SCRIPT_GLUE = 0.25  # "draw label for last curve": 1 in 5; "giving a means vector ...": 5 in 11
_CLAUSE_END = re.compile(r"[.!?:;,][\"'\u201d\u2019)\]]*$")


def among_code(lines: list[Line]) -> list[Line]:
    out = list(lines)
    solid = [i for i, line in enumerate(lines) if line.kind != "blank"]
    n = 0
    while n < len(solid):
        m = n
        while m < len(solid) and lines[solid[m]].kind == "prose" and _script_like(lines[solid[m]]):
            m += 1
        inside = 0 < n < m < len(solid) and m - n <= AMONG_CODE_LINES
        if inside and lines[solid[n - 1]].kind == "code" and lines[solid[m]].kind == "code":
            for k in solid[n:m]:
                out[k] = replace(out[k], kind="code")
        n = max(m, n + 1)
    return out


def _script_like(line: Line) -> bool:
    words = line.text.lower().split()
    glue = sum(w in FUNCTION_WORDS for w in words)
    return (
        not line.text[:1].isupper()
        and _CLAUSE_END.search(line.text) is None
        and glue <= SCRIPT_GLUE * len(words)
    )


def _opens_comment(line: Line) -> str | None:
    """The mark that closes the comment a code line opens and leaves open, if it does ("/*"
    only at the line's start: "ls /etc/*" opens none)."""
    if line.kind != "code":
        return None
    for opening, closing in _COMMENTS:
        at = line.text.rfind(opening)
        if opening == "/*" and not line.text.startswith("/*"):
            continue
        if at >= 0 and closing not in line.text[at + len(opening) :]:
            return closing
    return None


def _starts_in_code(lines: Sequence[Line]) -> bool:
    """Whether the text starts inside a fenced block: a chunk of a Markdown file may begin
    in the middle of one, and reading its closing fence as an opening one would turn the
    prose after it into code (seen on Node.js's API docs: no sentence left to quote). A
    fence with an info string ("```js") always opens; when every fence is bare and their
    number is odd, the side that looks more like code (before the first fence, or after
    the last one) is the one inside the block."""
    fences = [i for i, line in enumerate(lines) if line.kind == "fence"]
    if not fences:
        return False
    opener = next((n for n, i in enumerate(fences) if len(lines[i].text.strip("`~ ")) > 0), None)
    if opener is not None:
        return opener % 2 == 1  # an odd number of bare fences before an opener: one closes
    if len(fences) % 2 == 0:
        return False
    return _code_share(lines[: fences[0]]) > _code_share(lines[fences[-1] + 1 :])


def _code_share(lines: Sequence[Line]) -> float:
    kinds = [line.kind for line in lines if line.kind != "blank"]
    return sum(1 for k in kinds if k == "code") / len(kinds) if kinds else 0.0
