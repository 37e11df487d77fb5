"""A font's space width as pypdf should see it, where the PDF's own figure is not a space's.

pypdf's plain text puts a space between two words of a TJ array ("[(Suppose)-197(your)]")
when the gap is at least about half the font's space width, and it takes that width from the
font's /Widths entry for code 32. TeX never draws a space glyph (a word gap is glue), and a
pdfTeX font subset in a TeX encoding has no glyph named "space" at all; its /Widths still
holds a figure for code 32, that of whatever glyph the encoding puts there (500 units in the
TeX Gyre fonts that Sphinx's LaTeX output uses, as wide as an "n"). pypdf then wants a gap of
238 units before it sees a space, and every justified line whose gaps TeX shrank below that
runs its words together: "SupposeyourKerberosticketsallowyoutologintoahost" (MIT Kerberos's
user guide; no search finds "tickets" there, and a quote shows the line as is).

A real space is about half as wide as a lower-case letter in every proportional font (Times
250 to 444-500, Helvetica 278 to 556, Computer Modern 333 to 500-556, Calibri 226 to 525,
Verdana 352 to 633). So a figure for code 32 of 0.8 of the median lower-case width or more,
in a font that is not monospaced, is not a space's: it is replaced, in the reader's copy of
the font in memory (the file is not touched), by half that median, before pypdf reads the
page. Only simple fonts (Type1, TrueType) carry /Widths indexed by code; Type0 and Type3
fonts are left as they are.
"""

from __future__ import annotations

import statistics
from typing import Any

from rag.formats import BAD_INPUT

NOT_A_SPACE = 0.8  # code 32's width, as a share of the median lower-case width, above which
SPACE_SHARE = 0.5  # ... it is replaced by this share of that median
_SIMPLE = frozenset({"/Type1", "/TrueType", "/MMType1"})
_FIXED_PITCH = 1  # FontDescriptor /Flags bit 1
_MAX_DEPTH = 4  # form XObjects inside form XObjects: fonts looked for this deep
_MAX_FONTS = 512  # fonts looked at per page, at most (a hostile page may list thousands)
# What a damaged object raises as pypdf resolves and reads it (PyPdfError too), and a chain
# of references too deep to follow
_DAMAGED = (*BAD_INPUT, RecursionError)


def fix_space_widths(page: Any) -> int:
    """Correct, in memory, the space width of each simple font the page (or a form on it)
    uses whose code 32 is not a space's width; the number of fonts corrected. Never raises
    for a damaged font: such a font is left as it is."""
    fonts: list[Any] = []
    _collect(page.get("/Resources"), fonts, set(), 0)
    return sum(_fix(font) for font in fonts[:_MAX_FONTS])


def _obj(value: Any) -> Any:
    return value.get_object() if hasattr(value, "get_object") else value


def _collect(resources: Any, out: list[Any], seen: set[int], depth: int) -> None:
    from pypdf.errors import PyPdfError  # pypdf is imported where pages are read

    try:
        res = _obj(resources)
        if not hasattr(res, "get") or id(res) in seen or len(out) >= _MAX_FONTS:
            return
        seen.add(id(res))
        font_dict = _obj(res.get("/Font"))
        if hasattr(font_dict, "values"):
            out.extend(_obj(f) for f in list(font_dict.values())[:_MAX_FONTS])
        xobjects = _obj(res.get("/XObject"))
        if depth >= _MAX_DEPTH or not hasattr(xobjects, "values"):
            return
        for xobj in list(xobjects.values())[:_MAX_FONTS]:
            form = _obj(xobj)
            if hasattr(form, "get") and form.get("/Subtype") == "/Form":
                _collect(form.get("/Resources"), out, seen, depth + 1)
    except (PyPdfError, *_DAMAGED):  # a damaged resource dictionary: its fonts stay as they are
        return


def _fix(font: Any) -> int:
    from pypdf.errors import PyPdfError

    try:
        return _fix_font(font)
    except (PyPdfError, *_DAMAGED):  # a damaged font: pypdf reads it as it would have
        return 0


def _fix_font(font: Any) -> int:
    if not hasattr(font, "get") or font.get("/Subtype") not in _SIMPLE:
        return 0
    widths, first = _obj(font.get("/Widths")), _obj(font.get("/FirstChar"))
    if widths is None or first is None or not hasattr(widths, "__len__"):
        return 0
    first = int(first)
    descriptor = _obj(font.get("/FontDescriptor"))
    flags = int(_obj(descriptor.get("/Flags", 0))) if hasattr(descriptor, "get") else 0
    if flags & _FIXED_PITCH or not _code_32_is_space(_obj(font.get("/Encoding"))):
        return 0
    space = 32 - first
    if not 0 <= space < len(widths):
        return 0
    lower = [w for c in range(ord("a"), ord("z") + 1) if (w := _width(widths, c - first)) > 0]
    if len(lower) < 10 or len(set(lower)) == 1:  # too few letters to say, or monospaced
        return 0
    median = statistics.median(lower)
    if _width(widths, space) < NOT_A_SPACE * median:
        return 0
    from pypdf.generic import FloatObject

    widths[space] = FloatObject(round(SPACE_SHARE * median, 1))
    return 1


def _width(widths: Any, index: int) -> float:
    if not 0 <= index < len(widths):
        return 0.0
    try:
        return float(_obj(widths[index]))
    except (TypeError, ValueError):
        return 0.0


def _code_32_is_space(encoding: Any) -> bool:
    """Whether the font's encoding leaves code 32 a space: its /Differences do not name
    another glyph for it (a named encoding, or none, keeps the standard space)."""
    if not hasattr(encoding, "get"):
        return True
    code = -1
    for item in _obj(encoding.get("/Differences")) or []:
        item = _obj(item)
        if isinstance(item, int) or (isinstance(item, float) and item.is_integer()):
            code = int(item)
            continue
        if code == 32:
            return str(item) == "/space"
        code += 1
    return True
