"""Word gaps of justified TeX lines read as spaces (rag.space_width)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfReader
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    FloatObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

from rag.file_text import extract_file
from rag.space_width import fix_space_widths
from tests.pdf_factory import tex_font_pdf

LINES = ["Suppose your Kerberos tickets allow you to log into a host", "in another realm."]


def test_a_tex_font_whose_code_32_is_not_a_space_keeps_its_word_gaps(tmp_path: Path) -> None:
    pdf = tex_font_pdf(tmp_path / "guide.pdf", LINES)
    # what pypdf alone reads: the gaps (0.197 em) are under half of code 32's 500 units
    assert "Supposeyour" in (PdfReader(pdf).pages[0].extract_text() or "")
    page = extract_file(pdf).pages[0]
    assert page.text.splitlines()[:2] == LINES


def test_a_real_space_width_is_left_as_it_is(tmp_path: Path) -> None:
    # Times' own space (250 units): pypdf reads the gaps already, and nothing changes
    reader = PdfReader(tex_font_pdf(tmp_path / "times.pdf", LINES, space=250))
    assert fix_space_widths(reader.pages[0]) == 0
    lines = (reader.pages[0].extract_text() or "").splitlines()
    assert [line.rstrip() for line in lines[:2]] == LINES


def test_a_monospaced_font_is_left_as_it_is(tmp_path: Path) -> None:
    reader = PdfReader(tex_font_pdf(tmp_path / "mono.pdf", LINES, mono=True))
    assert fix_space_widths(reader.pages[0]) == 0


def test_the_correction_is_made_once_and_in_memory(tmp_path: Path) -> None:
    pdf = tex_font_pdf(tmp_path / "guide.pdf", LINES)
    before = pdf.read_bytes()
    reader = PdfReader(pdf)
    assert fix_space_widths(reader.pages[0]) == 1
    font = reader.pages[0]["/Resources"]["/Font"]["/F1"].get_object()
    # half the median lower-case width of Times (500, 444, ... -> 500)
    assert float(font["/Widths"][0]) == pytest.approx(250.0)
    assert fix_space_widths(reader.pages[0]) == 0  # already a space's width
    assert pdf.read_bytes() == before


def _font(widths: object, encoding: object = None, first: object = 32) -> DictionaryObject:
    font = DictionaryObject(
        {
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/FirstChar"): first,
            NameObject("/Widths"): widths,
        }
    )
    if encoding is not None:
        font[NameObject("/Encoding")] = encoding
    return font


def _page(*fonts: DictionaryObject) -> DictionaryObject:
    named = DictionaryObject({NameObject(f"/F{i}"): f for i, f in enumerate(fonts)})
    return DictionaryObject(
        {NameObject("/Resources"): DictionaryObject({NameObject("/Font"): named})}
    )


def _widths(space: float) -> ArrayObject:
    letters = [NumberObject((444, 500, 278, 333)[i % 4]) for i in range(90)]  # proportional
    return ArrayObject([FloatObject(space), *letters])


def test_code_32_named_as_another_glyph_is_not_a_space_to_correct() -> None:
    differences = ArrayObject([NumberObject(32), NameObject("/visiblespace")])
    encoding = DictionaryObject({NameObject("/Differences"): differences})
    assert fix_space_widths(_page(_font(_widths(500), encoding))) == 0
    space = DictionaryObject(
        {NameObject("/Differences"): ArrayObject([NumberObject(32), NameObject("/space")])}
    )
    assert fix_space_widths(_page(_font(_widths(500), space))) == 1


def test_damaged_fonts_are_left_as_they_are() -> None:
    bad = [
        _font(ArrayObject([TextStringObject("wide")] * 91)),  # widths that are not numbers
        _font(ArrayObject([NumberObject(500)] * 3)),  # too few to say
        _font(_widths(500), first=TextStringObject("x")),  # a first code that is no number
        _font(NumberObject(7)),  # /Widths not an array
        DictionaryObject({NameObject("/Subtype"): NameObject("/Type3")}),
    ]
    assert fix_space_widths(_page(*bad)) == 0
    assert fix_space_widths(DictionaryObject()) == 0  # no resources at all


def test_forms_that_hold_each_other_are_looked_into_once() -> None:
    form = DictionaryObject({NameObject("/Subtype"): NameObject("/Form")})
    resources = DictionaryObject(
        {
            NameObject("/Font"): DictionaryObject({NameObject("/F1"): _font(_widths(500))}),
            NameObject("/XObject"): DictionaryObject({NameObject("/X1"): form}),
        }
    )
    form[NameObject("/Resources")] = resources  # a form whose resources name itself
    page = DictionaryObject({NameObject("/Resources"): resources})
    assert fix_space_widths(page) == 1


def test_a_composite_fonts_word_gaps_are_spaces(tmp_path: Path) -> None:
    """XeTeX's CharisSIL in the Debian FAQ: pypdf took the glyph with code 32 (1000 units)
    for the space, and every line ran its words together."""
    from tests.pdf_factory import cid_font_pdf

    lines = ["These distributions are Debian based.", "But they are not Debian!"]
    pdf = cid_font_pdf(tmp_path / "faq.pdf", lines)
    assert "Thesedistributions" in (PdfReader(pdf).pages[0].extract_text() or "")
    assert extract_file(pdf).pages[0].text.splitlines()[:2] == lines
    before = pdf.read_bytes()
    reader = PdfReader(pdf)
    assert fix_space_widths(reader.pages[0]) == 1
    assert fix_space_widths(reader.pages[0]) == 0  # read once
    assert pdf.read_bytes() == before  # corrected in memory only


def test_a_composite_font_with_a_real_space_is_left_as_it_is(tmp_path: Path) -> None:
    from tests.pdf_factory import cid_font_pdf

    pdf = cid_font_pdf(tmp_path / "faq.pdf", ["These are Debian based."], mapped_space=True)
    assert fix_space_widths(PdfReader(pdf).pages[0]) == 0


def test_a_hostile_composite_font_is_read_within_bounds() -> None:
    """A /W array or a ToUnicode map that names millions of codes is read only so far, and
    a damaged one leaves the font as it is."""
    from pypdf.generic import DecodedStreamObject

    from rag.space_width import _MAX_CODES, _cid_widths, _to_unicode

    cmap = DecodedStreamObject()
    cmap.set_data(b"beginbfrange\n" + b"<0000> <FFFFFFFF> <0000>\n" * 5000 + b"endbfrange")
    assert len(_to_unicode(cmap) or {}) <= _MAX_CODES + 1
    huge = ArrayObject(NumberObject(x) for _ in range(5000) for x in (0, 10**9, 500))
    assert len(_cid_widths(huge)) <= _MAX_CODES
    assert _cid_widths(ArrayObject([NumberObject(0), TextStringObject("x")])) == {}
    broken = DictionaryObject(
        {
            NameObject("/Subtype"): NameObject("/Type0"),
            NameObject("/Encoding"): NameObject("/Identity-H"),
            NameObject("/DescendantFonts"): ArrayObject([NumberObject(3)]),
        }
    )
    assert fix_space_widths(_page(broken)) == 0
