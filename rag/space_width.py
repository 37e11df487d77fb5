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

import re
import statistics
import weakref
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
    if hasattr(font, "get") and font.get("/Subtype") == "/Type0":
        return _fix_cid_font(font)
    if not hasattr(font, "get") or font.get("/Subtype") not in _SIMPLE:
        return 0
    widths, first = _obj(font.get("/Widths")), _obj(font.get("/FirstChar"))
    if widths is None or first is None or not hasattr(widths, "__len__"):
        return 0
    first = int(first)
    if _fixed_pitch(font) or not _code_32_is_space(_obj(font.get("/Encoding"))):
        return 0
    space = 32 - first
    if not 0 <= space < len(widths):
        return 0
    lower = [w for c in range(ord("a"), ord("z") + 1) if (w := _width(widths, c - first)) > 0]
    width = _space_width(lower, _width(widths, space))
    if width is None:
        return 0
    from pypdf.generic import FloatObject

    widths[space] = FloatObject(width)
    return 1


def _fixed_pitch(font: Any) -> bool:
    descriptor = _obj(font.get("/FontDescriptor"))
    flags = int(_obj(descriptor.get("/Flags", 0))) if hasattr(descriptor, "get") else 0
    return bool(flags & _FIXED_PITCH)


def _space_width(lower: list[float], code_32: float) -> float | None:
    """The width to give code 32, from the lower-case letters' widths; None when code 32's
    own is a space's already, or the letters are too few to say or all alike (monospaced)."""
    if len(lower) < 10 or len(set(lower)) == 1:
        return None
    median = statistics.median(lower)
    return round(SPACE_SHARE * median, 1) if code_32 >= NOT_A_SPACE * median else None


def _width(widths: Any, index: int) -> float:
    return _number(widths[index]) if 0 <= index < len(widths) else 0.0


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


def _fix_cid_font(font: Any) -> int:
    """The same correction for a composite font with two-byte codes (Identity-H, as XeTeX,
    LuaTeX and most PDF libraries write a TrueType or OpenType font): pypdf takes the glyph
    with code 32, whatever it is, for the space when the font's ToUnicode map names none
    (the Debian FAQ's CharisSIL: 1000 units, and its words run together). Corrected, in
    memory, by a last /W entry for code 32; the lower-case letters are those that the
    ToUnicode map gives as "a" to "z"."""
    seen = _CHECKED.get(id(font))
    if seen is not None and seen() is font:
        return 0  # a font that pages share is read once
    if len(_CHECKED) >= _MAX_CHECKED:
        _CHECKED.clear()
    _CHECKED[id(font)] = weakref.ref(font)
    descendants = _obj(font.get("/DescendantFonts"))
    if font.get("/Encoding") != "/Identity-H" or not descendants:
        return 0
    cid_font = _obj(descendants[0])
    w = _obj(cid_font.get("/W"))
    if _fixed_pitch(cid_font) or not hasattr(w, "__len__"):
        return 0
    unicode = _to_unicode(_obj(font.get("/ToUnicode")))
    if unicode is None or " " in unicode.values():
        return 0  # unreadable, or a real space that pypdf finds
    widths = _cid_widths(w)
    lower = [widths[c] for c, u in unicode.items() if "a" <= u <= "z" and widths.get(c, 0) > 0]
    width = _space_width(lower, widths[32]) if 32 in widths else None
    if width is None:
        return 0
    from pypdf.generic import ArrayObject, FloatObject, NumberObject

    w.extend([NumberObject(32), ArrayObject([FloatObject(width)])])
    return 1


_CHECKED: dict[int, weakref.ref[Any]] = {}  # the composite fonts looked at, by id
_MAX_CHECKED = 4096
_MAX_CODES = 65536  # entries read from a /W array or a ToUnicode map, at most
_HEX_PAIR = re.compile(rb"<([0-9A-Fa-f]{1,8})>\s*<([0-9A-Fa-f]{1,8})>")
_HEX_RANGE = re.compile(rb"<([0-9A-Fa-f]{1,8})>\s*<([0-9A-Fa-f]{1,8})>\s*<([0-9A-Fa-f]{1,8})>")
_SECTION = re.compile(rb"begin(bfchar|bfrange)(.*?)end\1", re.DOTALL)


def _to_unicode(stream: Any) -> dict[int, str] | None:
    """The one-character mappings of a ToUnicode CMap (bfchar, and bfrange with a start
    code), code -> character; None when it cannot be read."""
    try:
        data = stream.get_data()[: 1 << 20]
    except (AttributeError, *_DAMAGED):
        return None
    out: dict[int, str] = {}
    for kind, body in _SECTION.findall(data):
        if kind == b"bfchar":
            for src, dst in _HEX_PAIR.findall(body):
                if len(dst) <= 4:
                    out[int(src, 16)] = chr(int(dst, 16))
            continue
        for lo, hi, dst in _HEX_RANGE.findall(body):
            first, last, start = int(lo, 16), int(hi, 16), int(dst, 16)
            last = min(last, first + _MAX_CODES - len(out), first + 0x10FFFF - start)
            out.update((code, chr(start + code - first)) for code in range(first, last + 1))
            if len(out) >= _MAX_CODES:
                return out
    return out


def _cid_widths(w: Any) -> dict[int, float]:
    """A CID font's /W array as code -> width: "c [w1 w2 ...]" and "c_first c_last w"."""
    out: dict[int, float] = {}
    items = [_obj(x) for x in list(w)[: 3 * _MAX_CODES]]
    i, budget = 0, _MAX_CODES  # codes given a width, at most (a hostile /W names millions)
    while i < len(items) - 1 and budget > 0:
        start, nxt = int(_number(items[i])), items[i + 1]
        if isinstance(nxt, list):
            for k, width in enumerate(nxt[:budget]):
                out[start + k] = _number(width)
            budget -= len(nxt)
            i += 2
        elif i + 2 < len(items):
            last = min(int(_number(nxt)), start + budget - 1)
            out.update((code, _number(items[i + 2])) for code in range(start, last + 1))
            budget -= max(1, last - start + 1)
            i += 3
        else:
            break
    return out


def _number(value: Any) -> float:
    try:
        return float(_obj(value))
    except (TypeError, ValueError, OverflowError):
        return 0.0
