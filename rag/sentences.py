"""Sentences of a retrieved passage, as text extracted from a PDF holds them. Pure.

A grounded answer quotes sentences, so the splitter has to undo what PDF extraction does to
running text, without gluing together what is not one sentence:

- Line breaks inside a paragraph are spaces; a word hyphenated at a line end is joined
  ("docu-\\nment" -> "document") unless the hyphen belongs to the word ("X-\\nWindow").
- A sentence ends at . ! or ? followed by a space and a capital, a digit, a quote, a bracket
  or a command-line option ("exists. -e file True if ..."), and at a period carrying a
  footnote mark ("tableau.4 It", the mark dropped); not after an abbreviation ("e.g.",
  "Fig.") or a section number ("Section 2.1. The"), nor inside a number or a file name.
- A list item (a bullet, "1." or "(a)" at the start of a line) is a sentence of its own, and
  so is a heading (a short line with no closing punctuation: "2.4. The glob files"), with a
  tail wrapped onto a line of its own ("up-to-date").
- Code lines (a prompt such as "> " or "$ ", braces, semicolons, "key:value" records) are never
  split at their dots. A run of code inside an unfinished sentence ("executed with the command
  > source(...)") belongs to that sentence; a run after a finished one is a sentence of its own
  (kind "code"), which quoting attaches to the sentence that introduced it.

Offsets (`start`, `end`) index the text given, so a quote can be traced back to its page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from rag.code_regions import FILE_START, fenced, regions
from rag.code_regions import Line as _Line
from rag.line_joins import join_lines as _join
from rag.line_roles import (
    FUNCTION_WORDS,
    command_lines,
    is_data_line,
    is_numbered_section,
    is_plain_title,
    is_title_tail,
)
from rag.markdown_text import is_fence

Kind = Literal["prose", "heading", "list", "code"]

# Abbreviations after which a period ends no sentence (compared lower-cased, no final period).
ABBREVIATIONS = frozenset(
    [
        "e.g",
        "i.e",
        "eg",  # "(eg. 20 to 30 times)", "ie. they are counted": Valgrind's manual
        "ie",
        "etc",
        "cf",
        "vs",
        "al",
        "fig",
        "figs",
        "eq",
        "eqs",
        "sec",
        "secs",
        "ch",
        "no",
        "nos",
        "vol",
        "pp",
        "p",
        "approx",
        "resp",
        "incl",
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "jr",
        "sr",
        "inc",
        "ltd",
        "co",
        "corp",
        "dept",
        "est",
        "min",
        "max",
        "ref",
        "refs",
        "sect",
        "viz",
        "esp",
    ]
)

# A bullet: the usual glyphs, or what a symbol font's bullet becomes in extracted text (a C1
# control character such as U+0088 in gnuplot's manual, or a private-use code point); "•"
# even without its space ("•“Crop”each image": XeTeX's quotes from another font).
_BULLET = re.compile(r"^\s*(?:[\u2022\u2023\u25e6\u2043\u2219\u25aa\u25cf*\-\u2013\u2014"
                     r"\u0080-\u009f\ue000-\uf8ff]\s+|[\u2022\u25cf](?=[^\s\d])|"
                     r"\(?[0-9]{1,2}[.)]\s+(?=[A-Za-z])|\([a-z]\)\s+)")  # fmt: skip
_NUMBERED_HEADING = re.compile(r"^\s*(?:[0-9]+(?:\.[0-9]+)*\.?|[A-Z]\.[0-9.]*)\s+\S")
_CODE_PROMPT = re.compile(r"^\s*(?:>|\$|#|>>>|\+|%)\s")
# Also a line that opens a bracket it does not close ("stdio: [") and code with a line comment
# after it ("0, // Use parent's stdin for child."): a passage cut from the middle of a fenced
# block has no fence to say so, and such lines were quoted as a sentence.
_CODE_SHAPE = re.compile(
    r"[{};]\s*$|[:=(,]\s*\[\s*$|^\s*[})\]]|^\s*\S+\s*(?:<-|:=|==|=>|\+=)\s|^[\w.+-]+(?::[^\s:]+){2,}$"
    r"|[,;(){}\[\]]\s+//(?:\s|$)"
    r"|[;)}\]]\s?copy$"  # a code line with a web page's Copy button after it, printed to PDF
)
# A list item naming a parameter and its JSDoc-style type, as JavaScript API docs write them
# ("* `options` {Object}", "- `args` {string[]}"), with or without a description after it.
_TYPED_ITEM = re.compile(r"^[*+-]\s+`[^`]+`\s+\{[\w.|\[\]<>, ]+\}(?:\s|$)")
# A line of six words or more that ends in ";" and holds no operator, quote or brace: an item
# of a list that a manual separates with semicolons (GLPK's "or for dual feasible solution
# using the dual simplex;"), not a statement ("int x = 5;", "glp_create_prob(P);") nor a
# prototype ("void glp_set_row_name(glp_prob *P, int i, const char *name);").
_PROSE_WORD = r"[\w'\u2019(),*/.-]"
_PROSE_SEMICOLON = re.compile(
    rf"^(?!.*(?:\w\(|\*\w))[A-Za-z(]{_PROSE_WORD}*(?: {_PROSE_WORD}+){{5,}};$"
)
_ONE_NAME = re.compile(r"[a-z][\w.-]{0,39}")  # one word or name, nothing after it
_MD_HEADING = re.compile(r"^#{1,6}\s+(\S.*?)\s*#*$")
SHORT_LINE = 0.6  # a line under this share of the longest prose line did not wrap
# A web page's heading with its permalink mark after it, as a page printed to PDF keeps it
# ("Asynchronous vs. synchronous#" in Node's API pages, "Versions\u00b6" in Sphinx's).
_ANCHORED_HEADING = re.compile(r"^([^#\s][^#]{0,100}?[\w'\")\]])[#\u00b6]$")
_LINK_DEFINITION = re.compile(r"^\[[^\]]+\]:\s*\S+(?:\s+[\"'(].*)?$")
_RECORD = re.compile(r"^[^\s]*:[^\s]*:[^\s]*$")  # "50:text/x-diff:*.diff"
_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*$")
# ... or by a command-line option that starts the next definition ("exists. -e file True if"),
# or by a lower-case word after a period that closes a word (`_ends_word`): manuals start
# sentences with a command or file name ("in the stream. bzcat (or bzip2 -dc) decompresses").
_SPLIT = re.compile(
    r"(?<=[.!?])([\"'\u201d\u2019)\]]*)\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9]|--?[A-Za-z]|[a-z])"
)
# The word a period closes, for a split before a lower-case word: two letters at least, no
# period inside ("a.k.a. the", "w.r.t. x", an ellipsis), letters or digits only; or a bracket
# that closes ("with versions 1.0.0/1.0.1). exit(3) is then called").
_WORD_BEFORE_DOT = re.compile(r"(?:(?:^|[\s(])[A-Za-z][a-z0-9]+|\S\))$")
# ... and only before a name: a word holding a digit, "_" or "." ("bzip2", "fonts.conf",
# "asn1_create_element"), or one followed by an opening bracket ("bzcat (or", "sink(").
_NAME_AFTER = re.compile(r"\s+[a-z][\w-]*(?:\.[A-Za-z][\w-]*|[\d_][\w-]*|\s?\()")
# A footnote mark after a sentence's period ("... simplex tableau.4 It shows"): dropped; and a
# footnote at a page's foot ("3 If a proxy ..."), never part of the list item above it.
_FOOTNOTE = re.compile(r"(?<=[a-z][a-z)])\.([0-9]{1,2})\s+(?=[A-Z])")
_FOOTNOTE_BODY = re.compile(r"[0-9]{1,2} [A-Z]")
_WORD_ENDING = re.compile(r"[A-Za-z][A-Za-z'\u2019-]*[)\]}\"'\u201d\u2019]*[.,;:!?]*")
_URL = re.compile(r"[(<\"']?(?:(?:https?|ftp)://|www\.)\S+")


@dataclass(frozen=True)
class Sentence:
    """One sentence (or list item, heading, code run) of a passage. `text` is clean: one
    line, single spaces, hyphenation undone; `start`/`end` index the original text."""

    text: str
    start: int
    end: int
    kind: Kind = "prose"


def _line_kind(line: str) -> str:
    stripped = line.strip()
    if not stripped:
        return "blank"
    m = _MD_HEADING.match(stripped)
    if m and (stripped.startswith("##") and not m.group(1)[:1].islower() or is_heading(m.group(1))):
        # "## Example: Read a file line-by-line"; "# apt-get install x" is a root prompt
        return "heading"
    if m and stripped.startswith("##") and _ONE_NAME.fullmatch(m.group(1)):
        return "heading"  # "## max_bandwidth", "## usage": a title in lower case, one name
    if m and stripped.startswith("##") and len(m.group(1).split()) >= 5:
        # "## convert decimal point to comma in output": R's comment; a short one in lower
        # case may be a title ("## max_bandwidth", "## npm install"), left as it was read
        return "code"
    if _heading_text(stripped) != stripped:
        return "heading"
    if _LINK_DEFINITION.match(stripped):
        return "code"  # "[`fs.ReadStream`]: fs.md#class-fsreadstream": a link's target
    if is_fence(stripped):
        return "fence"
    if stripped.startswith("|") and stripped.endswith("|") and len(stripped) > 1:
        return "code"  # a Markdown table row: not a sentence to quote
    if _TYPED_ITEM.match(stripped):
        return "prose"  # "* `options` {Object}": a parameter and its type, ends in "}"
    if _PROSE_SEMICOLON.match(stripped):
        return "prose"  # an item of a list whose items end in ";": words, no operators
    if _CODE_PROMPT.match(line) or _CODE_SHAPE.search(stripped) or _RECORD.match(stripped):
        return "code"
    if stripped == "..." or stripped.startswith(("#include", "//", "/*", "<?", "<!--", "</")):
        return "code"
    if stripped.startswith("<") and stripped.endswith(">"):
        return "code"
    if _URL.fullmatch(stripped):
        return "prose"  # a link wrapped onto its own line, part of the sentence around it
    if " " not in stripped and re.search(r"[:/*=_(){}\[\]<>]", stripped[:-1]):
        if (
            _WORD_ENDING.fullmatch(stripped)
            or stripped.count("`") % 2
            or _WRAPPED_END.match(stripped)
        ):
            # prose wrapped onto one more line: "installed).", "1.0.0/1.0.1).", the end of a
            # code span begun on the line before ("`git help\n<commandname>`.")
            return "prose"
        return "code"  # "text/x-diff:*.patch", "glp_create_prob(P);"
    if is_data_line(stripped):
        return "code"
    return "prose"


# "1.0.0/1.0.1).", "(terminal).", "`options.detached`).": a sentence's end on a line of its own
_INLINE_PROMPT = re.compile(r"^(?:>>>|[>$])(?:\s+|$)")
_WRAPPED_END = re.compile(r"^(?:\(?[\w./-]+\)|`[^`]+`\)?)[.,;:]$")


def _lines(text: str) -> list[_Line]:
    out: list[_Line] = []
    pos = 0
    unclosed = 0  # brackets the code lines just before left open (a call over several lines)
    for raw in text.split("\n"):
        start = pos + (len(raw) - len(raw.lstrip()))
        end = pos + len(raw.rstrip())
        kind = _line_kind(raw)
        if kind == "prose" and out and out[-1].kind == "code" and _closes(unclosed, raw):
            kind = "code"
        unclosed = unclosed + raw.count("(") - raw.count(")") if kind == "code" else 0
        out.append(_Line(raw.strip(), start, max(start, end), kind))
        pos += len(raw) + 1
    return out


def _closes(unclosed: int, line: str) -> bool:
    """Whether `line` closes a parenthesis that the code lines before it left open
    (`unclosed` of them): the rest of a wrapped function signature ("[Function]void
    sha256_digest (struct sha256_ctx *ctx, ..., uint8_t" / "*digest )") or call ("incomes <-
    c(60, 49," / "61, 61," / "59, 46)"), not the start of the sentence after it."""
    if unclosed <= 0:
        return False
    closing = line.find(")")
    return closing >= 0 and "(" not in line[:closing]


def _heading_text(stripped: str) -> str:
    """A heading line's text without its permalink mark ("Error events#" is "Error events");
    any other line as it is. Twelve words at most, no closing punctuation before the mark."""
    m = _ANCHORED_HEADING.match(stripped)
    if m is None or len(m.group(1).split()) > 12 or _END.search(m.group(1)):
        return stripped
    last = m.group(1).split()[-1]
    if "/" in last or len(last) == 1:  # a link cut at its fragment ("wiki/R_language#"), C#
        return stripped
    return m.group(1)


def is_heading(line: str) -> bool:
    """A section heading: short, no closing punctuation, numbered or in title form."""
    s = line.strip()
    words = s.split()
    if _NUMBERED_HEADING.match(s) and len(words) <= 12 and s.endswith("?") and len(s) <= 90:
        return True  # an FAQ's entry: "7.10 How do I convert factors to numeric?"
    if not s or len(s) > 90 or _END.search(s) or s.endswith((",", ":", ";")):
        return False
    if _NUMBERED_HEADING.match(s) and len(words) <= 12:
        return True
    caps = sum(1 for w in words if w[:1].isupper())
    return len(words) <= 8 and caps >= max(1, (len(words) + 1) // 2) and not s[:1].islower()


def _abbreviation_before(text: str, dot: int) -> bool:
    """Whether the period at text[dot] closes an abbreviation or a section number (read from
    the 40 characters before it: reading all of them made a passage's splitting quadratic)."""
    m = re.search(r"([A-Za-z][A-Za-z.]*)$", text[max(0, dot - 40) : dot])
    if m is None:
        return bool(re.search(r"(?:^|\s)[0-9]+(?:\.[0-9]+)*$", text[max(0, dot - 40) : dot]))
    # Not initials: "in R. See" ends a sentence in manuals far more often than "J. Smith" goes on
    return m.group(1).lower().rstrip(".") in ABBREVIATIONS


def _ends_word(text: str, dot: int, closing: str) -> bool:
    """Whether the mark at text[dot] ends a sentence that a lower-case word follows: a period
    right after a plain word. "is it? yes", "the value 3. x" and "done.) and" go on."""
    if text[dot] != "." or closing:
        return False
    return _WORD_BEFORE_DOT.search(text, max(0, dot - 40), dot) is not None and bool(
        _NAME_AFTER.match(text, dot + 1)
    )


_WORD_GAP = 40  # the most characters between two words of a piece in the original (a word
# joined from "docu-\nment", a prompt stripped from inline code, line breaks and indents)


def _locate(original: str, piece: str, lo: int, hi: int) -> tuple[int, int]:
    """Where `piece` (joined, so its spaces may be line breaks in the original) lies in
    original[lo:hi]: from its first word to its last, each word found after the one before
    (a last word such as "." also ends the sentences after it); the whole range when its first
    word is not found."""
    words = piece.replace("`", " ").split()
    if not words:
        return lo, hi
    first = original.find(words[0], lo, hi)
    if first < 0:
        return lo, hi
    end = first + len(words[0])
    for word in words[1:]:
        word = word.rstrip("-")  # "docu-" of "docu-\nment" is "document" in the piece
        at = original.find(word, end, min(hi, end + _WORD_GAP + len(word)))
        if at < 0:
            continue  # joined hyphenation ("document"): the next word still moves the end
        end = at + len(word)
    return first, max(end, first + 1)


def _split_prose(
    original: str, text: str, start: int, end: int, out: list[Sentence], kind: Kind
) -> None:
    """Split a run of prose (already joined into one line) into sentences, each with its
    span in `original` (the run is original[start:end])."""
    text = _FOOTNOTE.sub(". ", text)
    pieces: list[str] = []
    last = 0
    for m in _SPLIT.finditer(text):
        dot = m.start() - 1
        if _abbreviation_before(text, dot) or text.count("`", 0, dot) % 2:
            continue  # an abbreviation, or a dot inside code kept inline (`...`)
        if text[m.end()].islower() and not _ends_word(text, dot, m.group(1)):
            continue
        pieces.append(text[last : m.start() + len(m.group(1))])
        last = m.end()
    pieces.append(text[last:])
    cursor = start
    for piece in pieces:
        piece = piece.strip()
        if piece:
            a, z = _locate(original, piece, cursor, end)
            out.append(Sentence(piece, a, z, kind))
            cursor = z


class _Builder:
    """Collects the lines of the sentence being read, then splits it."""

    def __init__(self, original: str) -> None:
        self.original = original
        self.out: list[Sentence] = []
        self.parts: list[str] = []
        self.start = 0
        self.end = 0
        self.kind: Kind = "prose"
        self.code: list[_Line] = []

    def open(self) -> bool:
        return bool(self.parts)

    def add(self, line: _Line, kind: Kind = "prose") -> None:
        if not self.parts:
            self.start, self.kind = line.start, kind
        self.parts.append(line.text)
        self.end = line.end

    def add_code_inline(self, line: _Line) -> None:
        # Code inside a sentence is kept as code: `...`, never split at its dots.
        # A prompt ("$ ", "> ") is left out; a variable is not ("$XDG_CONFIG_HOME/fonts.conf").
        self.parts.append("`" + _INLINE_PROMPT.sub("", line.text.strip()) + "`")
        self.end = line.end

    def flush(self) -> None:
        if self.parts:
            text = _join(self.parts)
            if self.kind in ("prose", "list"):
                _split_prose(self.original, text, self.start, self.end, self.out, self.kind)
            elif text:
                self.out.append(Sentence(text, self.start, self.end, self.kind))
        self.parts = []

    def flush_code(self) -> None:
        if self.code:
            text = " ".join(c.text for c in self.code)
            self.out.append(Sentence(text, self.code[0].start, self.code[-1].end, "code"))
        self.code = []


def opens_item(original: str, sentence: Sentence) -> bool:
    """Whether `sentence` (of `original`) opens a list item: only its bullet and opening marks
    stand before it on its line ("* File triggers.", "* `max_bandwidth` - ..."; not "These")."""
    line = original.rfind("\n", 0, sentence.start) + 1
    m = _BULLET.match(original[line : sentence.start + 1])
    marks = original[line + m.end() : sentence.start] if m else "-"
    return sentence.kind == "list" and not marks.strip("`*_\"'(\u201c\u2018")


def split_sentences(text: str) -> list[Sentence]:
    """The sentences of `text` in order (see the module docstring)."""
    b = _Builder(text)
    lines = regions(_lines(text), _line_kind)
    commands = command_lines([ln.text for ln in lines], [ln.kind for ln in lines])
    lines = [replace(ln, kind="code") if i in commands else ln for i, ln in enumerate(lines)]
    width = max((len(ln.text) for ln in lines if ln.kind == "prose"), default=0)
    following = _next_non_blank(lines)
    heads: set[int] = set()  # running heads inside a sentence broken by a page break
    for i, line in enumerate(lines):
        if i in heads:
            continue
        nxt = following[i]
        if line.kind == "blank" and b.open() and b.kind == "prose" and _unfinished(b):
            head = _running_head(lines, i)
            if head is not None:
                heads.add(head)
                continue
        if line.kind == "heading":
            b.flush()
            b.flush_code()
            title = _MD_HEADING.match(line.text)
            text = title.group(1) if title else _heading_text(line.text)
            b.out.append(Sentence(text, *_span(line), "heading"))
            continue
        if line.kind == "blank":
            # A blank line ends a paragraph, unless the sentence plainly goes on after it (a
            # page break inside a sentence: no closing punctuation before it, and the next
            # line starts in lower case). A finished sentence ends there whatever follows: a
            # README's paragraph may start with its lower-case name ("pyenv lets you ...").
            goes_on = nxt is not None and nxt.text[:1].islower() and not _closed(b)
            if b.open() and not goes_on:
                b.flush()
            b.flush_code()
            continue
        if line.kind == "code":
            inside = b.open() and b.kind == "prose" and not _END.search(_join(b.parts))
            block = FILE_START.match(line.text) is not None
            introduced = _join(b.parts).rstrip("`").endswith(":")  # "... function `tapply():`"
            if inside and not b.code and not introduced and not block:
                b.add_code_inline(line)
            else:
                b.flush()
                b.code.append(line)
            continue
        b.flush_code()
        if _BULLET.match(line.text) and not _numbered_title(lines, i):
            b.flush()
            b.add(_Line(_BULLET.sub("", line.text), line.start, line.end, "prose"), "list")
            continue
        after_title = b.out and b.out[-1].kind == "heading" and b.out[-1].end == lines[i - 1].end
        if after_title and not b.open() and is_title_tail(line.text, nxt.text if nxt else None):
            b.out[-1] = replace(b.out[-1], text=f"{b.out[-1].text} {line.text}", end=line.end)
            continue
        if _heading_here(lines, i, b, nxt, width):
            b.flush()
            b.out.append(Sentence(_join([line.text]), line.start, line.end, "heading"))
            continue
        ended = b.open() and (
            b.parts[-1].startswith("`")
            or (b.kind == "list" and (_END.search(b.parts[-1]) or _short(b.parts[-1], width)))
        )
        if ended and (line.text[:1].isupper() or _FOOTNOTE_BODY.match(line.text)):
            b.flush()  # code ended the sentence, or a finished (or short) item ended the list
        b.add(line)
    b.flush()
    b.flush_code()
    return [s for s in b.out if s.text]


def _next_non_blank(lines: Sequence[_Line]) -> list[_Line | None]:
    """For each line, the first non-blank line after it (one pass, not quadratic)."""
    out: list[_Line | None] = [None] * len(lines)
    nxt: _Line | None = None
    for i in range(len(lines) - 1, -1, -1):
        out[i] = nxt
        if lines[i].kind != "blank":
            nxt = lines[i]
    return out


def _heading_here(
    lines: Sequence[_Line], i: int, b: _Builder, nxt: _Line | None, width: int
) -> bool:
    """Whether the prose line at `i` is a heading: in title form or numbered, unless it
    goes on with the sentence before or after it; in sentence case between two sentences
    (`is_plain_title`); numbered in two levels before a sentence, whatever is before it."""
    text = lines[i].text
    after = nxt.text if nxt is not None and nxt.kind == "prose" else None
    before = lines[i - 1].text if i > 0 and lines[i - 1].kind == "prose" else None
    if is_numbered_section(text, after, before):
        return True
    if b.open() and b.kind == "prose" and _unfinished(b):
        return False
    if is_heading(text):
        return not _title_goes_on(lines, i)
    return is_plain_title(text, before, after, _short(text, width))


def _short(line: str, width: int) -> bool:
    """Whether a list item's line ends well short of the text's width, so the item did not
    wrap there: "• listener <Function> The event handler function" before a paragraph that
    starts "The 'removeListener' event ..." (an API page's parameter list)."""
    return len(line) < SHORT_LINE * width


def _numbered_title(lines: Sequence[_Line], i: int) -> bool:
    """Whether a line that reads as a numbered list's item is a numbered heading ("1. Build
    Dependencies" / "Build dependencies for ...", an appendix's section): a few words in
    title form, and the next line starts a sentence. An item wrapped over two lines is
    longer than a title, or its next line goes on in lower case."""
    m = re.match(r"\(?[0-9]{1,2}[.)]\s+", lines[i].text)
    if m is None or i + 1 >= len(lines) or lines[i + 1].kind != "prose":
        return False
    title = lines[i].text[m.end() :]
    nxt = lines[i + 1].text
    return (
        len(title.split()) <= 6
        and not _NUMBERED_HEADING.match(title)
        and is_heading(title)
        and nxt[:1].isupper()
        and not _BULLET.match(nxt)
    )


def _title_goes_on(lines: Sequence[_Line], i: int) -> bool:
    """Whether a line that reads as a title is a sentence's start wrapped by the PDF: "This
    allows" / "an external GNU GDB debugger to control ...". The next line goes on in prose
    with a function word (an article, a preposition, a conjunction, an auxiliary verb). A
    numbered or upper-case title is one ("SYNOPSIS"), and so is a title whose text starts
    with a lower-case name ("Iteration" / "gnuplot supports command iteration", "Synopsis"
    / "void glp_load_matrix(...)": common in manuals, so a plain word is not enough)."""
    line = lines[i].text
    if i + 1 >= len(lines) or lines[i + 1].kind != "prose":
        return False
    if _NUMBERED_HEADING.match(line) or line.isupper():
        return False
    words = lines[i + 1].text.split(maxsplit=1)
    return bool(words) and words[0].rstrip(",;:") in FUNCTION_WORDS


def _running_head(lines: Sequence[_Line], blank: int) -> int | None:
    """The index of a running head after the blank line at `blank` (a page break) when the
    sentence before it goes on after it: "... has a constant overhead in the region of" /
    "How to use bzip2" (the chapter's title, atop each of its pages) / "50 bytes. Random
    data ...". A short unnumbered line with no closing punctuation, then a line that starts in
    lower case or with a digit; None otherwise."""
    if blank + 2 >= len(lines) or "blank" in (lines[blank + 1].kind, lines[blank + 2].kind):
        return None
    head, after = lines[blank + 1].text, lines[blank + 2].text
    if not head[:1].isupper() or len(head.split()) > 8 or len(head) > 60:
        return None
    if _END.search(head) or head.endswith((",", ":", ";")) or _NUMBERED_HEADING.match(head):
        return None
    return blank + 1 if after[:1].islower() or after[:1].isdigit() else None


def markdown_headings(text: str) -> list[tuple[int, str]]:
    """(offset, title) of each Markdown heading ("## Title") of `text`, outside fenced code."""
    return [
        (line.start, title.group(1))
        for line in fenced(_lines(text))
        if line.kind == "heading" and (title := _MD_HEADING.match(line.text))
    ]


def _span(line: _Line) -> tuple[int, int]:
    return line.start, line.end


def _closed(b: _Builder) -> bool:
    """Whether the text being read ends with a sentence's closing punctuation."""
    return bool(b.parts) and _END.search(b.parts[-1]) is not None


def _unfinished(b: _Builder) -> bool:
    """Whether the sentence being read stops mid-way (its last line ends without closing
    punctuation and is long, so the next line continues it rather than heading a section)."""
    return bool(b.parts) and not _closed(b) and len(b.parts[-1]) >= 40
