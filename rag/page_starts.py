"""Where each page of a document starts in its text (the page texts joined as rag.chunking
joins them), so that a sentence is cited with its own page.

A chunk records where its first page starts (`doc_offset`), so pages that some chunk starts
on were always known; a page that begins and ends inside one chunk (a slide, a title page,
any page shorter than a chunk) was not, and a sentence on it was cited with the page before.
The reader records every page's start when it chunks a document (`record`); a library
indexed before this still has the chunks' own (`offsets` reads both).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.index import Store


def record(store: Store, doc_id: int, starts: Mapping[int, int]) -> None:
    """Replace the document's page starts (page number -> offset in its joined text)."""
    with store.transaction() as conn:
        conn.execute("DELETE FROM page_starts WHERE doc_id = ?", (doc_id,))
        conn.executemany(
            "INSERT INTO page_starts (doc_id, page, doc_offset) VALUES (?, ?, ?)",
            [(doc_id, int(page), int(offset)) for page, offset in starts.items()],
        )


def offsets(store: Store, doc_id: int, first: int, last: int) -> dict[int, int]:
    """Where pages first..last start, for every page recorded (or that a chunk starts on)."""
    rows = store.conn.execute(
        "SELECT page, MIN(o) FROM ("
        " SELECT page, doc_offset AS o FROM page_starts"
        " WHERE doc_id = ? AND page BETWEEN ? AND ?"
        " UNION ALL SELECT page_start, doc_offset FROM chunks"
        " WHERE doc_id = ? AND page_start BETWEEN ? AND ?"
        ") GROUP BY page",
        (doc_id, first, last, doc_id, first, last),
    ).fetchall()
    return {int(p): int(o) for p, o in rows}
