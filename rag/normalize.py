"""Clean up text extracted from PDFs. Pure functions, no I/O.

`normalize_pages` is the one the extractor calls; the smaller functions are public so that
each rule can be tested on its own:

- `fix_control_chars`: NFKC (splits ligature code points such as "ﬁ"), maps the control
  characters that TeX's OT1 fonts use for ligatures ("speci\\x0ced" -> "specified") and drops
  other control characters.
- `join_hyphenation`: "infor-\\nmation" -> "information", but "well-\\nknown" stays
  "well-known" when the document spells it with a hyphen elsewhere, and "COVID-\\n19" keeps
  its hyphen.
- `strip_headers_footers`: drops running heads, running feet and page numbers, found as edge
  lines repeated on most pages or carrying the page's own printed number, and a chapter's
  running head atop a run of its pages (`chapter_heads`).
- `collapse_whitespace`: one space between words, lines kept, blank-line runs collapsed to a
  single paragraph break.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable

from rag.markdown_text import is_fence

# OT1 (Computer Modern) puts the ligatures at these code points; pypdf reports them as-is
# when a Type 1 font has no ToUnicode map (common in older dvipdfm output).
_OT1_LIGATURES = {"\x0b": "ff", "\x0c": "fi", "\x0d": "fl", "\x0e": "ffi", "\x0f": "ffl"}
_LIGATURE_RE = re.compile(r"(?<=[A-Za-z])[\x0b-\x0f]|[\x0b-\x0f](?=[a-z])")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

_WORD_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
# a word (maybe a hyphenated compound), a hyphen at the end of a line, then a word or number
_HYPHEN_BREAK_RE = re.compile(r"([^\W\d_]+(?:-[^\W\d_]+)*)-[ \t]*\n[ \t]*([^\W_]+)")

_PAGE_NUMBER_LINE_RE = re.compile(
    r"^(?:page\s+)?[-\u2013\u2014(\[]?\s*(?:\d{1,5}|[ivxlcdm]{1,8})\s*[-\u2013\u2014)\]]?"
    r"(?:\s*(?:of|/)\s*\d{1,5})?$",
    re.IGNORECASE,
)
# A code block's mark where a page breaks it ("(continues on next page)", "(continued from
# previous page)": Sphinx's PDFs), at a page's edge: furniture, not a line of the example.
_CONTINUED_RE = re.compile(
    r"^\(?(?:continues|continued)(?: (?:on|from) (?:the )?(?:next|previous) page)?\)?$",
    re.IGNORECASE,
)
# a line's leading page number ("12 Chapter 2: Vectors"), not a section's ("3. Python
# Packaging", "3.4.4 Sets" in a table of contents)
_LEADING_NUMBER_RE = re.compile(r"^(\d{1,5})\b(?!\.)")
# a line's trailing page number, alone or out of the page count: "... 12", a browser's
# printed foot "file:///C:/notes/report.html 3/17", "Confidential - Page 3 of 20"
_TRAILING_NUMBER_RE = re.compile(r"\b(\d{1,5})(?:\s*(?:/|of)\s*\d{1,5})?$")
_SPACES_RE = re.compile(r"[^\S\n]+")
_BLANK_LINES_RE = re.compile(r"\n{3,}")

EDGE_LINES = 2  # how many lines at the top and at the bottom of a page can be head or foot
# A chapter's running head: the same title line atop CHAPTER_RUN pages or more, each within
# CHAPTER_GAP pages of the one before (left and right pages may carry different heads).
CHAPTER_RUN = 3
CHAPTER_GAP = 2
_TITLE_END_RE = re.compile(r"[.,;:!?]$")

# Explicit bidirectional formatting: embeddings, overrides and isolates (U+202A-U+202E,
# U+2066-U+2069). Arabic or Hebrew text shows in its direction without them; with them a
# document or a file name can make a quote or a citation read otherwise than its characters
# ("Trojan Source": "pass \u202edrow" shows as "pass word" reversed).
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


# TeX's opening quote drawn with a glyph that the font's ToUnicode map gives as a combining
# grave accent (U+0300): with no letter before it, it accents nothing ("in \u0300stable\u2019",
# the Debian FAQ) and is the quote.
_LONE_GRAVE_RE = re.compile(r"(?<![^\W\d_])\u0300")


def without_bidi_controls(text: str) -> str:
    """`text` with each explicit bidirectional control as a space: what is shown reads in the
    order the characters are stored, and offsets into the text still hold."""
    return _BIDI_CONTROLS.sub(" ", text)


def fix_control_chars(text: str, tex_ligatures: bool = True) -> str:
    """NFKC-normalise, turn OT1 ligature control characters next to letters into letters
    (PDF text only: in OT1 0x0D is "fl", elsewhere it is a carriage return; so is a combining
    grave accent after no letter, TeX's opening quote: `_LONE_GRAVE_RE`), make line ends
    "\\n" and drop the remaining control characters (tab and newline are kept; a form feed
    becomes a newline)."""
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n")
    if tex_ligatures:
        text = _LIGATURE_RE.sub(lambda m: _OT1_LIGATURES[m.group(0)], text)
        text = _LONE_GRAVE_RE.sub("\u2018", text)
    text = text.replace("\x0c", "\n").replace("\r", "\n")
    return _CONTROL_RE.sub("", text)


def word_forms(texts: Iterable[str]) -> Counter[str]:
    """Lower-cased words (hyphenated compounds kept whole) with their counts, for
    `join_hyphenation` to tell a typographic hyphen from a real one."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(w.lower() for w in _WORD_RE.findall(text))
    return counts


def join_hyphenation(text: str, vocabulary: Counter[str] | None = None) -> str:
    """Join words split by a hyphen at the end of a line.

    A break is joined without the hyphen ("infor-\\nmation" -> "information") unless the
    continuation starts with a capital or a digit ("Jean-\\nPaul", "COVID-\\n19"), the left
    part is already a compound ("state-of-the-\\nart"), or the document spells the compound
    with a hyphen more often than without ("well-known"); in those cases the hyphen stays and
    only the line break goes. `vocabulary` is the document's `word_forms`; by default the
    text's own.
    """
    if "-" not in text:
        return text
    vocab = vocabulary if vocabulary is not None else word_forms([text])

    def repl(m: re.Match[str]) -> str:
        left, right = m.group(1), m.group(2)
        if not right[0].islower() or "-" in left:
            return f"{left}-{right}"
        last_left = left.lower()
        hyphenated = vocab.get(f"{last_left}-{right.lower()}", 0)
        joined = vocab.get(f"{last_left}{right.lower()}", 0)
        if hyphenated > joined:
            return f"{left}-{right}"
        return f"{left}{right}"

    return _HYPHEN_BREAK_RE.sub(repl, text)


def _key(line: str) -> str:
    return " ".join(line.split()).lower()


def _page_number_of(line: str, index: int, offset: int | None) -> bool:
    """Whether the line carries this page's printed number at its start or end."""
    if offset is None:
        return False
    for regex in (_LEADING_NUMBER_RE, _TRAILING_NUMBER_RE):
        m = regex.search(line)
        if m and int(m.group(1)) - index == offset:
            return True
    return False


def _edge_candidates(lines: list[str]) -> list[int]:
    """Indices of the first and last EDGE_LINES non-blank lines, outermost first."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return filled[:EDGE_LINES] + filled[::-1][:EDGE_LINES]


def _page_number_offset(pages_lines: list[list[str]]) -> int | None:
    """The constant `printed number - page index` that most pages' edge lines agree on (a
    running head "Chapter 2: Vectors 12" or a foot "12"), or None when no offset is shared
    by at least half of the pages (and at least 3)."""
    votes: Counter[int] = Counter()
    for index, lines in enumerate(pages_lines):
        offsets: set[int] = set()
        for i in _edge_candidates(lines):
            line = lines[i].strip()
            for regex in (_LEADING_NUMBER_RE, _TRAILING_NUMBER_RE):
                m = regex.search(line)
                if m:
                    offsets.add(int(m.group(1)) - index)
        votes.update(offsets)
    if not votes:
        return None
    offset, count = votes.most_common(1)[0]
    if count >= max(3, (len(pages_lines) + 1) // 2):
        return offset
    return None


def _title_like(line: str) -> bool:
    """A line that could be a running head: a few words, more letters than digits, no
    closing punctuation ("How to use bzip2"; not a repeated caption's "... interleaved
    manner." nor a table's header row "Input size 64 256 1K 4K 16K")."""
    letters = sum(ch.isalpha() for ch in line)
    return (
        0 < len(line) <= 80
        and letters > 2 * sum(ch.isdigit() for ch in line)
        and not _TITLE_END_RE.search(line)
    )


def chapter_heads(
    pages_lines: list[list[str]], furniture: Callable[[str, int], bool]
) -> set[tuple[int, str]]:
    """(page index, line key) of the chapter running heads: each page's first line that is
    not `furniture` already (a page number line, a head on most pages), when it is
    title-like and the first line of at least CHAPTER_RUN pages in a row (gaps of up to
    CHAPTER_GAP pages). Repeated on fewer pages than `strip_headers_footers`' share and
    without a page number, these are the heads of DocBook/PassiveTeX manuals ("How to use
    bzip2" atop pages 6-10 of bzip2's manual), which otherwise end up inside the sentence
    that crosses the page. Only the first line: GLPK's "Synopsis" under the routine's
    heading atop most pages of a chapter is text. Only the top: a repeated last line is more
    often a caption or code than a running foot."""
    where: dict[str, list[int]] = {}
    firsts: dict[int, str] = {}
    for index, lines in enumerate(pages_lines):
        filled = [line.strip() for line in lines if line.strip()][:EDGE_LINES]
        first = next((line for line in filled if not furniture(line, index)), "")
        group = _NUMBERED_GROUP if _numbered_head(first) else _key(first)
        if group == _NUMBERED_GROUP or _title_like(first):
            where.setdefault(group, []).append(index)
            firsts[index] = _key(first)
    heads: set[tuple[int, str]] = set()
    for indices in where.values():
        for run in _runs(indices):
            if len(run) >= CHAPTER_RUN:
                heads.update((i, firsts[i]) for i in run)
    return heads


# A LaTeX book's running head: its chapter's or section's number and title in capitals,
# different on every page ("CHAPTER 3. CHOOSING A DEBIAN ... 3.2. BUT WHAT ABOUT KNOPPIX,
# LINUX ...", "2.4. GLOB FILES"); such heads count as one head for CHAPTER_RUN.
_NUMBERED_HEAD_RE = re.compile(
    r"^(?:(?:CHAPTER|APPENDIX|PART)\s+[0-9A-Z]{1,4}\.?|[0-9A-Z]{1,3}(?:\.[0-9]{1,3})+\.?)\s+\S"
)
_NUMBERED_GROUP = "\0numbered head"


def _numbered_head(line: str) -> bool:
    letters = [ch for ch in line if ch.isalpha()]
    upper = len(letters) >= 4 and sum(ch.isupper() for ch in letters) >= 0.9 * len(letters)
    return upper and len(line) <= 120 and _NUMBERED_HEAD_RE.match(line) is not None


def _runs(indices: list[int]) -> list[list[int]]:
    """Ascending page indices grouped into runs with gaps of at most CHAPTER_GAP."""
    runs: list[list[int]] = []
    for index in indices:
        if runs and index - runs[-1][-1] <= CHAPTER_GAP:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


def strip_headers_footers(pages: list[str], min_fraction: float = 0.5) -> list[str]:
    """Drop running heads and feet from each page.

    Lines are peeled from the top and from the bottom of each page, at most EDGE_LINES from
    each side, while the outermost remaining line is:
    - the same line (ignoring case and spacing) found at an edge of at least `min_fraction`
      of the pages, and at least 3 ("Company Confidential", "gnuplot 5.4"); or
    - a line whose leading or trailing number is the page's own printed number, i.e. page
      index plus the offset that most pages agree on (running heads that name the chapter,
      "Chapter 2: Vectors 12"); or
    - only a page number: "12", "- 12 -", "xii", "Page 12", "Page 3 of 20"; or
    - a code block's "(continues on next page)" / "(continued from previous page)"; or
    - (at the top) a chapter's running head, `chapter_heads`.
    A body line is never removed unless everything above it (or below it) was. Documents of
    fewer than 3 pages are returned unchanged.
    """
    if len(pages) < 3:
        return list(pages)
    pages_lines = [page.split("\n") for page in pages]
    counts: Counter[str] = Counter()
    for lines in pages_lines:
        counts.update({_key(lines[i]) for i in _edge_candidates(lines)})
    threshold = max(3, int(min_fraction * len(pages) + 0.999))
    repeated = {k for k, c in counts.items() if c >= threshold and k}
    offset = _page_number_offset(pages_lines)

    def on_every_page(line: str, index: int) -> bool:
        line = line.strip()
        return (
            _key(line) in repeated
            or bool(_PAGE_NUMBER_LINE_RE.match(line))
            or bool(_CONTINUED_RE.match(line))
            or _page_number_of(line, index, offset)
        )

    heads = chapter_heads(pages_lines, on_every_page)

    def is_furniture(line: str, index: int, top: bool = False) -> bool:
        return on_every_page(line, index) or (top and (index, _key(line)) in heads)

    out: list[str] = []
    for index, lines in enumerate(pages_lines):
        filled = [i for i, line in enumerate(lines) if line.strip()]
        drop: set[int] = set()
        for i in filled[:EDGE_LINES]:
            if not is_furniture(lines[i], index, top=True):
                break
            drop.add(i)
        for i in filled[::-1][:EDGE_LINES]:
            if i in drop or not is_furniture(lines[i], index):
                break
            drop.add(i)
        out.append("\n".join(line for i, line in enumerate(lines) if i not in drop))
    return out


def collapse_whitespace(text: str, fenced_code: bool = False) -> str:
    """Collapse runs of spaces and tabs to one space, strip each line, keep line breaks and
    keep paragraph breaks as exactly one blank line. `fenced_code` (Markdown): the lines
    between fence lines keep their indentation and spacing (tabs as 4 spaces), because
    there they are the code's ("    yield event" in a Python function)."""
    lines = []
    inside = False
    for line in text.split("\n"):
        fence = fenced_code and is_fence(line)
        if inside and not fence:
            lines.append(line.expandtabs(4).rstrip())
        else:
            lines.append(_SPACES_RE.sub(" ", line).strip())
        inside = inside != fence
    return _BLANK_LINES_RE.sub("\n\n", "\n".join(lines)).strip()


def normalize_pages(pages: list[str]) -> list[str]:
    """The whole clean-up for one document's pages, in order: control characters,
    headers/footers (needs line structure and all pages), hyphenation (with the document's
    vocabulary), whitespace."""
    cleaned = [fix_control_chars(p) for p in pages]
    cleaned = strip_headers_footers(cleaned)
    vocab = word_forms(cleaned)
    return [collapse_whitespace(join_hyphenation(p, vocab)) for p in cleaned]


def normalize_text(text: str, markdown: bool = False) -> str:
    """Clean-up for a single text with no page structure (a .txt or .md file; Markdown's
    fenced code keeps its indentation)."""
    text = fix_control_chars(text, tex_ligatures=False)
    return collapse_whitespace(join_hyphenation(text), fenced_code=markdown)
