"""Test PDFs made with pypdf, good and bad: text pages, encrypted (AES with a user password,
RC4/AES with only an owner password), image-only (a "scan"), zero pages, truncated bytes, a
text file named .pdf, an empty file, a page that keeps pypdf busy for a minute. Each helper
writes one file and returns its path."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

from pypdf import PageObject, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    StreamObject,
)

PAGE_W, PAGE_H = 612, 792


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _font(writer: PdfWriter) -> DictionaryObject:
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
            NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
        }
    )
    return DictionaryObject({NameObject("/F1"): writer._add_object(font)})


def text_page(writer: PdfWriter, lines: Sequence[str], font_size: int = 11) -> PageObject:
    """Add a page showing `lines` in Helvetica, top to bottom, and return it."""
    page = writer.add_blank_page(PAGE_W, PAGE_H)
    leading = font_size + 3
    ops = [f"BT /F1 {font_size} Tf {leading} TL 56 {PAGE_H - 60} Td"]
    for line in lines:
        ops.append(f"({_escape(line)}) Tj T*")
    ops.append("ET")
    stream = DecodedStreamObject()
    stream.set_data("\n".join(ops).encode("latin-1"))
    page[NameObject("/Contents")] = writer._add_object(stream)
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): _font(writer)})
    return page


def text_pdf(path: Path, pages: Sequence[Sequence[str]]) -> Path:
    """A PDF with one page per list of lines."""
    writer = PdfWriter()
    for lines in pages:
        text_page(writer, lines)
    with path.open("wb") as f:
        writer.write(f)
    return path


def outlined_pdf(
    path: Path,
    pages: Sequence[Sequence[str]],
    outline: Sequence[tuple[str, int, int | None]],
) -> Path:
    """A PDF with one page per list of lines and an outline (bookmarks): (title, 0-based
    page index, index of the parent entry in `outline` or None for a top-level entry)."""
    writer = PdfWriter()
    for lines in pages:
        text_page(writer, lines)
    items: list[object] = []
    for title, page, parent in outline:
        up = None if parent is None else items[parent]
        items.append(writer.add_outline_item(title=title, page_number=page, parent=up))
    with path.open("wb") as f:
        writer.write(f)
    return path


def lorem_pages(n_pages: int, lines_per_page: int = 40) -> list[list[str]]:
    """Distinct, readable filler text for n pages (each line names its page)."""
    sentence = (
        "the river carries water from the hills to the sea and every town along its banks "
        "draws on it for drinking farming and trade while floods in spring remind people "
        "how much power moves quietly beneath the surface"
    )
    words = sentence.split(" ")
    pages = []
    for p in range(n_pages):
        lines = []
        for i in range(lines_per_page):
            start = (p * 7 + i * 3) % len(words)
            chunk = (words[start:] + words[:start])[:12]
            lines.append(f"Page {p + 1} line {i + 1}: " + " ".join(chunk) + ".")
        pages.append(lines)
    return pages


def encrypted_pdf(
    path: Path,
    user_password: str = "secret",
    owner_password: str = "owner",
    algorithm: str = "AES-256",
    lines: Sequence[str] = ("This document is protected by a password.",),
) -> Path:
    """An encrypted PDF. With user_password="" anyone can open it (owner password only)."""
    writer = PdfWriter()
    text_page(writer, lines)
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm=algorithm)
    with path.open("wb") as f:
        writer.write(f)
    return path


def image_only_pdf(path: Path, n_pages: int = 2) -> Path:
    """Pages that hold only a grey image: what a scan without OCR looks like to pypdf."""
    writer = PdfWriter()
    w, h = 64, 64
    pixels = bytes((x * 4 + y) % 256 for y in range(h) for x in range(w))
    for _ in range(n_pages):
        page = writer.add_blank_page(PAGE_W, PAGE_H)
        image = StreamObject()
        image._data = zlib.compress(pixels)
        image.update(
            {
                NameObject("/Type"): NameObject("/XObject"),
                NameObject("/Subtype"): NameObject("/Image"),
                NameObject("/Width"): NumberObject(w),
                NameObject("/Height"): NumberObject(h),
                NameObject("/ColorSpace"): NameObject("/DeviceGray"),
                NameObject("/BitsPerComponent"): NumberObject(8),
                NameObject("/Filter"): NameObject("/FlateDecode"),
            }
        )
        content = DecodedStreamObject()
        content.set_data(f"q {PAGE_W - 100} 0 0 {PAGE_H - 100} 50 50 cm /Im0 Do Q".encode())
        page[NameObject("/Contents")] = writer._add_object(content)
        page[NameObject("/Resources")] = DictionaryObject(
            {
                NameObject("/XObject"): DictionaryObject(
                    {NameObject("/Im0"): writer._add_object(image)}
                ),
                NameObject("/ProcSet"): ArrayObject([NameObject("/PDF"), NameObject("/ImageB")]),
            }
        )
    with path.open("wb") as f:
        writer.write(f)
    return path


def zero_page_pdf(path: Path) -> Path:
    """A valid PDF with an empty page tree."""
    with path.open("wb") as f:
        PdfWriter().write(f)
    return path


def truncated_pdf(path: Path, source: Path, keep: float = 0.5) -> Path:
    """The first `keep` fraction of another PDF's bytes (a download cut short)."""
    data = source.read_bytes()
    path.write_bytes(data[: max(16, int(len(data) * keep))])
    return path


def garbage_pdf(path: Path) -> Path:
    """A PDF header followed by junk: the parser gives up."""
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n%%EOF\n")
    return path


def text_file_named_pdf(path: Path) -> Path:
    """A plain text file whose name ends in .pdf."""
    path.write_text("This is not a PDF at all, only text with a misleading name.\n")
    return path


def empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def slow_page_pdf(path: Path, operators: int = 1_000_000) -> Path:
    """One page whose (compressed) content stream shows `operators` short strings: pypdf
    takes about 5 s per 100,000 of them to extract the text on a 2-core laptop, so the
    default is about a minute there, and far more than a few seconds on any machine. For
    the extraction pool's "no progress" time limit, which then does not depend on how fast
    the machine happens to be."""
    ops = b"BT /F1 11 Tf 56 700 Td " + b"(lighthouse keeper) Tj 0 -1 Td " * operators + b"ET"
    return _one_compressed_page(path, "A page that takes long to read.", ops)


def _one_compressed_page(path: Path, line: str, ops: bytes) -> Path:
    """A PDF of one text page whose content stream is `ops`, compressed."""
    writer = PdfWriter()
    page = text_page(writer, [line])
    stream = StreamObject()
    stream._data = zlib.compress(ops)
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    page[NameObject("/Contents")] = writer._add_object(stream)
    with path.open("wb") as f:
        writer.write(f)
    return path


def deep_page_tree_pdf(path: Path, depth: int = 150) -> Path:
    """A readable page under `depth` nested /Pages nodes: pypdf refuses page trees deeper
    than 100 with LimitReachedError (a PyPdfError that is not a PdfReadError)."""
    writer = PdfWriter()
    text_page(writer, ["A page at the bottom of a very deep page tree."])
    root_pages = writer._root_object["/Pages"]
    page_ref = root_pages["/Kids"][0]
    child = page_ref
    for _ in range(depth):
        node = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Pages"),
                NameObject("/Kids"): ArrayObject([child]),
                NameObject("/Count"): NumberObject(1),
            }
        )
        child = writer._add_object(node)
    root_pages[NameObject("/Kids")] = ArrayObject([child])
    with path.open("wb") as f:
        writer.write(f)
    return path


def huge_array_pdf(path: Path, items: int = 100_001) -> Path:
    """One page whose text is shown with a TJ array of more items than pypdf allows."""
    ops = b"BT /F1 11 Tf 56 700 Td [" + b"(a) " * items + b"] TJ ET"
    return _one_compressed_page(path, "A page with an enormous text array.", ops)


def listing_pdf(path: Path, prose: Sequence[str], code: Sequence[str]) -> Path:
    """One page: `prose` lines as usual, then `code` set as LaTeX's `listings` package sets
    it (its default `columns=fixed`): each line one TJ array that moves every letter to its
    own fixed-width column (a gap of 0.15 em between two letters of a word, 0.7 em where
    the source has a space), as pdfTeX writes it."""
    writer = PdfWriter()
    page = text_page(writer, prose)
    y = PAGE_H - 60 - (len(prose) + 1) * 14
    ops = ["BT /F1 8 Tf 10 TL", f"56 {y} Td"]
    for line in code:
        parts: list[str] = []
        for word in line.split():
            letters = "-150".join(f"({_escape(ch)})" for ch in word)
            parts.append(letters)
        ops.append(f"[{'-700'.join(parts)}] TJ T*")
    ops.append("ET")
    stream = DecodedStreamObject()
    stream.set_data("\n".join(ops).encode("latin-1"))
    contents = ArrayObject([page[NameObject("/Contents")], writer._add_object(stream)])
    page[NameObject("/Contents")] = contents
    with path.open("wb") as f:
        writer.write(f)
    return path


def shadowed_pdf(path: Path, heading: str, body: Sequence[str], n_pages: int = 1) -> Path:
    """Pages as a browser prints a web page whose heading has a CSS text-shadow: the heading
    drawn in white 0.75 pt lower, then in black, then the body."""
    writer = PdfWriter()
    for _ in range(n_pages):
        page = text_page(writer, ["", "", *body])
        top = PAGE_H - 60
        ops = [
            f"q 1 1 1 rg BT /F1 16 Tf 56 {top - 0.75} Td ({_escape(heading)}) Tj ET Q",
            f"q 0 0 0 rg BT /F1 16 Tf 56 {top} Td ({_escape(heading)}) Tj ET Q",
        ]
        stream = DecodedStreamObject()
        stream.set_data("\n".join(ops).encode("latin-1"))
        page[NameObject("/Contents")] = ArrayObject(
            [writer._add_object(stream), page[NameObject("/Contents")]]
        )
    with path.open("wb") as f:
        writer.write(f)
    return path


# Times-Roman's lower-case widths (a..z), as a Type 1 font's /Widths gives them
_TIMES_LOWER = [444, 500, 444, 500, 444, 333, 500, 500, 278, 278, 500, 278, 778,
                500, 500, 500, 500, 333, 389, 278, 500, 500, 722, 500, 500, 444]  # fmt: skip


def tex_font_pdf(
    path: Path, lines: Sequence[str], gap: int = -197, space: int = 500, mono: bool = False
) -> Path:
    """One page as pdfTeX writes justified text in a TeX-encoded font subset: every line one
    TJ array whose words are moved apart by `gap` (thousandths of an em, TeX's shrunk glue)
    with no space glyph drawn, in a font whose /Widths gives code 32 the width `space` (a
    TeX encoding's glyph there, 500 in TeX Gyre Termes: not a space). `mono`: every glyph
    600 wide, code 32 too, flagged fixed-pitch."""
    writer = PdfWriter()
    page = writer.add_blank_page(PAGE_W, PAGE_H)
    widths = [600] * (123 - 32) if mono else [500] * (123 - 32)
    if not mono:
        widths[0] = space
        widths[97 - 32 :] = _TIMES_LOWER
    descriptor = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/FontDescriptor"),
            NameObject("/FontName"): NameObject("/ABCDEF+TeXGyreTermes-Regular"),
            NameObject("/Flags"): NumberObject(1 if mono else 4),
        }
    )
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/ABCDEF+TeXGyreTermes-Regular"),
            NameObject("/FirstChar"): NumberObject(32),
            NameObject("/LastChar"): NumberObject(122),
            NameObject("/Widths"): ArrayObject(NumberObject(w) for w in widths),
            NameObject("/FontDescriptor"): writer._add_object(descriptor),
        }
    )
    ops = [f"BT /F1 10 Tf 12 TL 56 {PAGE_H - 60} Td"]
    for line in lines:
        words = "".join(f"({_escape(w)}){gap}" for w in line.split())
        ops.append(f"[{words}] TJ T*")
    return _write_text_page(path, writer, page, font, ops)


def cid_font_pdf(
    path: Path, lines: Sequence[str], gap: int = -292, mapped_space: bool = False
) -> Path:
    """One page as XeTeX writes justified text in an OpenType font: a composite font with
    two-byte codes (Identity-H) and a ToUnicode map, every line one TJ array whose words are
    moved apart by `gap` with no space glyph drawn. Code 32 is a glyph of its own ("!", 1000
    units wide: pypdf takes it for the space when the map names none); `mapped_space`: the
    map names a real space glyph too (code 3, 250 units)."""
    chars = sorted(set("".join(lines).replace(" ", "")))
    codes = {c: 33 + i for i, c in enumerate(chars)}
    codes["!"] = 32
    widths = {
        code: (_TIMES_LOWER[ord(c) - 97] if "a" <= c <= "z" else 600) for c, code in codes.items()
    }
    widths[32] = 1000
    mapping = {code: c for c, code in codes.items()}
    if mapped_space:
        widths[3], mapping[3] = 250, " "
    writer = PdfWriter()
    page = writer.add_blank_page(PAGE_W, PAGE_H)
    cmap = "\n".join(
        ["/CIDInit /ProcSet findresource begin 12 dict begin begincmap",
         f"{len(mapping)} beginbfchar"]
        + [f"<{code:04X}> <{ord(c):04X}>" for code, c in sorted(mapping.items())]
        + ["endbfchar endcmap end end"]
    )  # fmt: skip
    to_unicode = DecodedStreamObject()
    to_unicode.set_data(cmap.encode("ascii"))
    w = ArrayObject()
    for code, width in sorted(widths.items()):
        w.extend([NumberObject(code), ArrayObject([NumberObject(width)])])
    descriptor = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/FontDescriptor"),
            NameObject("/FontName"): NameObject("/ABCDEF+CharisSIL"),
            NameObject("/Flags"): NumberObject(4),
        }
    )
    cid_font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/CIDFontType2"),
            NameObject("/BaseFont"): NameObject("/ABCDEF+CharisSIL"),
            NameObject("/DW"): NumberObject(1000),
            NameObject("/W"): w,
            NameObject("/FontDescriptor"): writer._add_object(descriptor),
        }
    )
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type0"),
            NameObject("/BaseFont"): NameObject("/ABCDEF+CharisSIL"),
            NameObject("/Encoding"): NameObject("/Identity-H"),
            NameObject("/DescendantFonts"): ArrayObject([writer._add_object(cid_font)]),
            NameObject("/ToUnicode"): writer._add_object(to_unicode),
        }
    )
    ops = [f"BT /F1 10 Tf 12 TL 56 {PAGE_H - 60} Td"]
    for line in lines:
        words = ["<" + "".join(f"{codes[c]:04X}" for c in word) + ">" for word in line.split()]
        ops.append(f"[{f' {gap} '.join(words)}] TJ T*")
    return _write_text_page(path, writer, page, font, ops)


def _write_text_page(
    path: Path, writer: PdfWriter, page: PageObject, font: DictionaryObject, ops: list[str]
) -> Path:
    """The page's text operators (`ops`, BT ... open) in font /F1, written to `path`."""
    ops.append("ET")
    stream = DecodedStreamObject()
    stream.set_data("\n".join(ops).encode("latin-1"))
    page[NameObject("/Contents")] = writer._add_object(stream)
    fonts = DictionaryObject({NameObject("/F1"): writer._add_object(font)})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
    with path.open("wb") as f:
        writer.write(f)
    return path
