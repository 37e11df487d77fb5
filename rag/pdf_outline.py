"""A PDF's outline (its bookmarks) as (page, title) in reading order, for citations
(`rag.sections`). Runs in the extraction workers (`rag.extract`), on untrusted files.

pypdf's `PdfReader.outline` builds every entry before returning: 12 s for a file with 100,000
entries (measured, pypdf 7.1), and a larger one would use up the worker's time limit and fail
a PDF whose text reads well. An outline only labels citations, so this walks the entries'
/First and /Next links itself and stops after MAX_NODES of them, a loop (an entry seen
before) or too deep a nesting; an entry whose destination cannot be resolved is left out.
Nothing here raises for bad input: a damaged outline gives the entries read before the damage.
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Any

from rag.normalize import fix_control_chars

logger = logging.getLogger(__name__)

Outline = list[tuple[int, str]]  # (1-based page, title)

MAX_NODES = 5000  # entries visited (a manual has hundreds; gnuplot's, 648)
MAX_DEPTH = 16
MAX_TITLE = 200  # characters of a title kept


def read_outline(reader: Any) -> Outline:
    """The outline of an open pypdf reader, every level flattened, in reading order."""
    out: Outline = []
    try:
        _walk(reader, out)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - an outline only labels: any damage, keep what was read
        logger.debug("outline unreadable: %r", exc)
    return out


def _raw(node: Any, key: str) -> Any:
    """A dictionary entry as stored (an indirect reference stays one, so loops can be seen)."""
    return dict.get(node, key)


def _resolve(value: Any) -> Any:
    return value.get_object() if hasattr(value, "get_object") else value


def _identity(ref: Any) -> object:
    idnum = getattr(ref, "idnum", None)
    return (idnum, getattr(ref, "generation", 0)) if idnum is not None else id(ref)


def _walk(reader: Any, out: Outline) -> None:
    from pypdf.generic import DictionaryObject

    root = _resolve(_raw(_resolve(reader.trailer["/Root"]), "/Outlines"))
    if not isinstance(root, DictionaryObject):
        return
    dests = _Destinations(reader)
    stack: list[tuple[Any, int]] = [(_raw(root, "/First"), 0)]
    seen: set[object] = set()
    while stack:
        ref, depth = stack.pop()
        while ref is not None and len(seen) < MAX_NODES:
            key = _identity(ref)
            if key in seen:
                break  # a loop
            seen.add(key)
            node = _resolve(ref)
            if not isinstance(node, DictionaryObject):
                break
            entry = _entry(node, dests)
            if entry is not None:
                out.append(entry)
            child, ref = _raw(node, "/First"), _raw(node, "/Next")
            if child is not None and depth < MAX_DEPTH:
                stack.append((ref, depth))  # its next sibling, after its children
                ref, depth = child, depth + 1


def _entry(node: Any, dests: _Destinations) -> tuple[int, str] | None:
    from pypdf.generic import DictionaryObject

    title = clean_title(str(_resolve(_raw(node, "/Title")) or ""))
    if not title:
        return None
    dest = _resolve(_raw(node, "/Dest"))
    if dest is None:
        action = _resolve(_raw(node, "/A"))
        if isinstance(action, DictionaryObject) and _resolve(_raw(action, "/S")) == "/GoTo":
            dest = _resolve(_raw(action, "/D"))
    page = dests.page_of(dest)
    return None if page is None else (page + 1, title)


def clean_title(raw: str) -> str:
    """A title as the page text reads (NFKC, as `rag.normalize` makes it: "ﬁ" is "fi"),
    without control or format characters (a right-to-left override would turn the rest of a
    citation around), on one line, at most MAX_TITLE characters."""
    text = fix_control_chars(raw[: 4 * MAX_TITLE], tex_ligatures=False)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return " ".join(text.split())[:MAX_TITLE]


class _Destinations:
    """0-based page indexes of destinations: explicit ([page, /Fit ...]) or named."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.n_pages = len(reader.pages)
        self._by_ref: dict[object, int] | None = None
        self._named: dict[str, Any] | None = None

    def page_of(self, dest: Any, hops: int = 0) -> int | None:
        from pypdf.generic import ArrayObject, DictionaryObject

        if isinstance(dest, ArrayObject) and len(dest):
            return self._page(list.__getitem__(dest, 0))
        if isinstance(dest, DictionaryObject) and hops < 2:  # a named destination's << /D [...] >>
            return self.page_of(_resolve(_raw(dest, "/D")), hops + 1)
        if isinstance(dest, (str, bytes)) and hops < 2:
            name = dest.decode("latin-1") if isinstance(dest, bytes) else str(dest)
            target = self.named().get(name)
            if target is None:
                return None
            index = self.reader.get_destination_page_number(target)
            return index if isinstance(index, int) and 0 <= index < self.n_pages else None
        return None

    def _page(self, ref: Any) -> int | None:
        if isinstance(ref, int) and not isinstance(ref, bool):  # a page index (remote style)
            return ref if 0 <= ref < self.n_pages else None
        if self._by_ref is None:
            self._by_ref = {}
            for i, page in enumerate(self.reader.pages):
                if page.indirect_reference is not None:
                    self._by_ref[_identity(page.indirect_reference)] = i
        return self._by_ref.get(_identity(ref))

    def named(self) -> dict[str, Any]:
        if self._named is None:
            self._named = dict(self.reader.named_destinations)
        return self._named
