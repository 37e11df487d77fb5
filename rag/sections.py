"""Sections of Markdown documents, for citations: a .md file is one "page", so "page 1" says
nothing about where a passage stands in it; the heading it stands under does ("§ path.join").

A passage learns the heading in effect where its text starts (read from the chunks before it)
and where each heading inside its text starts (`Hit.sections`, as `Hit.page_breaks` for
pages); `Hit.section_at` gives the heading in effect at any offset of its text.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rag.formats import MARKDOWN_SUFFIXES
from rag.sentences import markdown_headings

if TYPE_CHECKING:
    from rag.index import Store
    from rag.retrieve import Hit

LOOK_BACK = 64  # chunks read back at most for the heading a passage starts under
MAX_TITLE = 80  # characters of a heading shown in a citation


def is_markdown(file: str) -> bool:
    return Path(file).suffix.lower() in MARKDOWN_SUFFIXES


def title(heading: str) -> str:
    """A heading as a citation shows it: Markdown emphasis and code marks dropped."""
    text = " ".join(heading.replace("`", "").replace("**", "").split())
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1].rstrip() + "…"


def sections(store: Store, hit: Hit) -> tuple[tuple[int, str], ...]:
    """(offset in the hit's text, heading) for the heading in effect at its start (offset 0)
    and every heading inside it; () for other files or when no heading precedes it."""
    if not is_markdown(hit.file) or not hit.chunk_ids:
        return ()
    start = _start(store, hit.chunk_ids[0])
    if start is None:
        return ()
    inside = [(offset, title(h)) for offset, h in markdown_headings(hit.text)]
    if inside and inside[0][0] == 0:
        return tuple(inside)
    before = _heading_before(store, hit.doc_id, start)
    return tuple(([(0, before)] if before else []) + inside)


def _start(store: Store, chunk_id: int) -> int | None:
    row = store.conn.execute(
        "SELECT doc_offset + char_start FROM chunks WHERE id = ?", (chunk_id,)
    ).fetchone()
    return None if row is None else int(row[0])


def _heading_before(store: Store, doc_id: int, start: int) -> str:
    """The last heading that starts before document offset `start`."""
    rows = store.conn.execute(
        "SELECT doc_offset + char_start AS at, text FROM chunks"
        " WHERE doc_id = ? AND doc_offset + char_start < ? ORDER BY at DESC LIMIT ?",
        (doc_id, start, LOOK_BACK),
    )
    for at, text in rows:
        found = [h for offset, h in markdown_headings(str(text)) if int(at) + offset < start]
        if found:
            return title(found[-1])
    return ""
