"""Sections of documents, for citations: a .md file is one "page", so "page 1" says nothing
about where a passage stands in it; the heading it stands under does ("§ path.join"). A PDF
with an outline (bookmarks) is cited with its page and the outline entry it stands under
("page 33, § Shell Parameter Expansion"), which tells at a glance whether a quote comes from
the chapter the question is about or from an appendix that mentions it.

A passage learns the heading in effect where its text starts and where each heading inside
its text starts (`Hit.sections`, as `Hit.page_breaks` for pages); `Hit.section_at` gives the
heading in effect at any offset of its text. Markdown headings are read from the chunks
before it; a PDF's outline entries are placed in its text when it is read (`place_outline`,
`record_outline`): where the title stands as a heading on the entry's page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rag.formats import reading_format
from rag.retrieve import has_dot_leaders
from rag.sentences import is_heading, markdown_headings

if TYPE_CHECKING:
    from rag.index import Store
    from rag.retrieve import Hit

LOOK_BACK = 64  # chunks read back at most for the heading a passage starts under
MAX_TITLE = 80  # characters of a heading shown in a citation


def title(heading: str) -> str:
    """A heading as a citation shows it: Markdown emphasis and code marks dropped."""
    text = " ".join(heading.replace("`", "").replace("**", "").split())
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1].rstrip() + "…"


def sections(store: Store, hit: Hit) -> tuple[tuple[int, str], ...]:
    """(offset in the hit's text, heading) for the heading in effect at its start (offset 0)
    and every heading inside it; () when no heading precedes it."""
    if not hit.chunk_ids:
        return ()
    start = _start(store, hit.chunk_ids[0])
    if start is None:
        return ()
    find: Callable[[str], list[tuple[int, str]]] = markdown_headings
    fmt = reading_format(hit.file)
    if fmt == "text":
        find = text_headings
    elif fmt not in ("markdown", "rst"):
        found = _outline_sections(store, hit.doc_id, start, start + len(hit.text))
        if found or _has_outline(store, hit.doc_id):
            return found
        find = numbered_headings  # a PDF without bookmarks: its numbered headings
    inside = [(offset, title(h)) for offset, h in find(hit.text)]
    if inside and inside[0][0] == 0:
        return tuple(inside)
    before = _heading_before(store, hit.doc_id, start, find)
    return tuple(([(0, before)] if before else []) + inside)


# A numbered section heading on a line of its own, in a PDF without bookmarks: "2.3.
# DESCRIPTION", "3.5.1. BZ2_bzBuffToBuffCompress", "4.1 Limitations of the format". At least
# two levels of numbering ("2. Load the data" may be a step of a list), a title that starts
# with a capital letter ("3.14 is the value"), no closing punctuation (rag.sentences.is_heading)
# and no dot leaders or page number (a table of contents).
_NUMBERED = re.compile(r"^(?:\d+\.)+\d+\.?\s+[A-Z_][^\n]*$")
_PAGE_NUMBER_END = re.compile(r"\s\d+\s*$")


def text_headings(text: str) -> list[tuple[int, str]]:
    """(offset, title) of each heading of a plain text file: its underlined titles, read as
    "## Title" (rag.text_titles.underlined_titles), and its numbered headings."""
    return sorted(dict(numbered_headings(text) + markdown_headings(text)).items())


def numbered_headings(text: str) -> list[tuple[int, str]]:
    """(offset, line) of each numbered heading in a PDF's text (see `_NUMBERED`)."""
    out = []
    pos = 0
    for line in text.split("\n"):
        s = line.strip()
        if _NUMBERED.match(s) and is_heading(s) and not _contents_entry(s):
            out.append((pos + line.index(s[0]), s))
        pos += len(line) + 1
    return out


def _contents_entry(line: str) -> bool:
    return has_dot_leaders(line) or _PAGE_NUMBER_END.search(line) is not None


def _has_outline(store: Store, doc_id: int) -> bool:
    row = store.conn.execute("SELECT 1 FROM outline WHERE doc_id = ? LIMIT 1", (doc_id,))
    return row.fetchone() is not None


def _start(store: Store, chunk_id: int) -> int | None:
    row = store.conn.execute(
        "SELECT doc_offset + char_start FROM chunks WHERE id = ?", (chunk_id,)
    ).fetchone()
    return None if row is None else int(row[0])


def _heading_before(
    store: Store, doc_id: int, start: int, find: Callable[[str], list[tuple[int, str]]]
) -> str:
    """The last heading (as `find` finds them) that starts before document offset `start`."""
    rows = store.conn.execute(
        "SELECT doc_offset + char_start AS at, text FROM chunks"
        " WHERE doc_id = ? AND doc_offset + char_start < ? ORDER BY at DESC LIMIT ?",
        (doc_id, start, LOOK_BACK),
    )
    for at, text in rows:
        found = [h for offset, h in find(str(text)) if int(at) + offset < start]
        if found:
            return title(found[-1])
    return ""


# A heading's number before its title on the line: "3.5.3 ", "D.3 ", "Chapter 4 ", "A ".
_NUMBERING = re.compile(
    r"(?:(?:chapter|section|part|appendix)\s+)?(?:[A-Z]|\d+)?(?:\.\d+)*\.?\s*", re.IGNORECASE
)


def _title_pattern(title: str) -> re.Pattern[str]:
    words = title.split()
    return re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE)


def _find_heading(text: str, title: str, start: int) -> int | None:
    """Where `title` stands in `text` (from `start`) as a heading: at the start of a line,
    after at most a section number; else where it stands at all; None when it does not."""
    if not title.split():
        return None
    anywhere = None
    for m in _title_pattern(title).finditer(text, start):
        line_start = text.rfind("\n", 0, m.start()) + 1
        if _NUMBERING.fullmatch(text, line_start, m.start()):
            return line_start
        if anywhere is None:
            anywhere = m.start()
    return anywhere


# Characters of page text searched for titles per document, at most (the library's thread
# places them): a real manual needs a few MB (gnuplot's 648 entries: 19 ms); 5,000 entries on
# one hostile 1 MB page would take half a minute. Past it, entries stand at their page's start.
SEARCH_BUDGET = 50_000_000


def place_outline(
    outline: Sequence[tuple[int, str]], pages: Sequence[Any], offsets: Mapping[int, int]
) -> list[tuple[int, str]]:
    """(offset in the document's text, title) for each outline entry (page, title): where
    the title stands as a heading on its page (`_find_heading`), else (or past
    SEARCH_BUDGET) at the page's start, never before the entry before it. `pages`: the
    document's PageText; `offsets`: where each page starts in the text
    (rag.reading.page_offsets)."""
    texts = {int(p.page): str(p.text) for p in pages}
    placed: list[tuple[int, str]] = []
    floor, budget = 0, SEARCH_BUDGET
    for page, raw in sorted(outline, key=lambda entry: entry[0]):
        base, text = offsets.get(page), texts.get(page)
        if base is None or text is None:
            continue
        lo = max(0, min(floor - base, len(text)))  # after the entry before, on its page
        budget -= len(text) - lo
        found = _find_heading(text, raw, lo) if budget > 0 else None
        at = max(base + (found if found is not None else lo), floor)
        placed.append((at, title(raw)))
        floor = at
    return placed


def record_outline(store: Store, doc_id: int, placed: Sequence[tuple[int, str]]) -> None:
    """Replace the document's outline entries (`place_outline`)."""
    with store.transaction() as conn:
        conn.execute("DELETE FROM outline WHERE doc_id = ?", (doc_id,))
        conn.executemany(
            "INSERT INTO outline (doc_id, position, doc_offset, title) VALUES (?, ?, ?, ?)",
            [(doc_id, i, int(at), str(t)) for i, (at, t) in enumerate(placed)],
        )


def _outline_sections(
    store: Store, doc_id: int, start: int, end: int
) -> tuple[tuple[int, str], ...]:
    """A PDF passage's sections from its outline entries: the last one placed before `start`
    (the passage's first character in the document's text) and those inside it."""
    before = store.conn.execute(
        "SELECT title FROM outline WHERE doc_id = ? AND doc_offset <= ?"
        " ORDER BY doc_offset DESC, position DESC LIMIT 1",
        (doc_id, start),
    ).fetchone()
    inside = store.conn.execute(
        "SELECT doc_offset - ?, title FROM outline WHERE doc_id = ?"
        " AND doc_offset > ? AND doc_offset < ? ORDER BY doc_offset, position",
        (start, doc_id, start, end),
    ).fetchall()
    head = [(0, str(before[0]))] if before else []
    return tuple(head + [(int(at), str(t)) for at, t in inside])
