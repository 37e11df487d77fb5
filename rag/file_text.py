"""Text out of one PDF (pypdf) or plain-text file, one page at a time, normalised.

`extract_file` works in the calling process and never raises for bad input: every problem
becomes an `ExtractResult` with a status and a message for the user. The pieces it is made
of (`precheck`, `open_pdf`, `page_texts`, `finish_pdf`) are also what `rag.extract`'s worker
processes run on page ranges of a large PDF.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rag.formats import (
    BAD_INPUT,
    PDF_SUFFIXES,
    SUPPORTED_SUFFIXES,
    TEXT_SUFFIXES,
    reading_format,
)
from rag.letter_spacing import looks_letter_spaced, respace
from rag.markdown_text import read_markdown
from rag.normalize import normalize_pages, normalize_text
from rag.overdraw import Parts
from rag.pdf_outline import Outline, read_outline
from rag.rst_text import rst_as_markdown
from rag.space_width import fix_space_widths
from rag.text_titles import underlined_titles

logger = logging.getLogger(__name__)
# pypdf reports every quirk it repairs as a logging warning; without any handler configured
# Python would print them on stderr. They stay available to the app's logging config.
logging.getLogger("pypdf").addHandler(logging.NullHandler())

Status = Literal[
    "ok", "encrypted", "scanned", "empty", "malformed", "not_supported", "too_large", "timeout",
    "error",
]  # fmt: skip

DEFAULT_MAX_BYTES = 512 * 2**20

# A PDF whose pages carry fewer letters and digits than this on average has no usable text
# layer: it is a scan (or only pictures).
MIN_CHARS_PER_PAGE = 16


@dataclass
class PageText:
    page: int  # 1-based, as pypdf numbers pages (index + 1); a text file's form-feed "pages"
    text: str  # normalised (rag.normalize)


@dataclass
class ExtractResult:
    path: Path
    status: Status
    pages: list[PageText] = field(default_factory=list)
    n_pages: int = 0
    message: str = ""  # why, for the user, when status != "ok"
    outline: Outline = field(default_factory=list)  # a PDF's (rag.sections cites it)


def failed(path: Path, status: Status, message: str, n_pages: int = 0) -> ExtractResult:
    return ExtractResult(path=path, status=status, pages=[], n_pages=n_pages, message=message)


# --- checks shared by the in-process and pool paths -------------------------------------


def precheck(path: Path, max_bytes: int) -> ExtractResult | None:
    """A result for files that need no parsing to be refused, else None."""
    name = path.name
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        return failed(
            path,
            "not_supported",
            f"{name}: this kind of file is not supported (only PDF, .txt and .md files are).",
        )
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return failed(path, "error", f"{name}: the file no longer exists.")
    except OSError as exc:
        return failed(path, "error", f"{name}: the file cannot be read ({exc.strerror}).")
    if not path.is_file():
        return failed(path, "not_supported", f"{name}: this is not a regular file.")
    if size == 0:
        return failed(path, "empty", f"{name}: the file is empty.")
    if size > max_bytes:
        return failed(
            path,
            "too_large",
            f"{name}: the file is too large ({size / 2**20:.0f} MB; the limit is "
            f"{max_bytes / 2**20:.0f} MB).",
        )
    if suffix in PDF_SUFFIXES:
        try:
            with path.open("rb") as f:
                head = f.read(1024)
        except OSError as exc:
            return failed(path, "error", f"{name}: the file cannot be read ({exc.strerror}).")
        if b"%PDF-" not in head:
            return failed(
                path,
                "malformed",
                f"{name}: this is not a PDF file, although its name ends in .pdf.",
            )
    return None


def _decode_text(data: bytes) -> str | None:
    """Text of a .txt/.md file: UTF-8 (with or without BOM), UTF-16 with a BOM, else
    Windows-1252/Latin-1. None for binary data."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        with contextlib.suppress(UnicodeDecodeError):
            return data.decode("utf-16")
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def extract_text_file(path: Path) -> ExtractResult:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return failed(path, "error", f"{path.name}: the file cannot be read ({exc.strerror}).")
    text = _decode_text(data)
    if text is None:
        return failed(
            path, "not_supported", f"{path.name}: this looks like a binary file, not text."
        )
    fmt = reading_format(path)
    markdown = fmt in ("markdown", "rst")
    if fmt == "rst":
        text = rst_as_markdown(text)  # then read as the Markdown it shows
    text = read_markdown(text) if markdown else underlined_titles(text)
    raw_pages = text.split("\f")
    pages = [PageText(i + 1, normalize_text(t, markdown)) for i, t in enumerate(raw_pages)]
    if not any(p.text for p in pages):
        return failed(path, "empty", f"{path.name}: the file holds no text.", len(pages))
    return ExtractResult(path, "ok", pages, len(pages), "")


# --- PDF -------------------------------------------------------------------------------

_FAILED_PAGE = "\x00"  # a page pypdf failed on (pypdf's text never is a lone NUL)


class PdfProblem(Exception):
    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status: Status = status
        self.message = message


def open_pdf(path: Path) -> Any:
    """An open, decrypted PdfReader, or PdfProblem."""
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError, PyPdfError

    name = path.name
    try:
        reader = PdfReader(path, strict=False)
        # Many PDFs are encrypted only with an owner password: the empty user password
        # opens them for reading.
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise PdfProblem(
                "encrypted",
                f"{name}: the PDF is password-protected; open it with its password and "
                "save an unprotected copy to add it.",
            )
        return reader
    except DependencyError as exc:
        raise PdfProblem(
            "not_supported", f"{name}: this PDF needs a component that is missing ({exc})."
        ) from exc
    except (PyPdfError, *BAD_INPUT) as exc:
        raise PdfProblem(
            "malformed", f"{name}: the PDF is damaged or incomplete and cannot be read ({exc})."
        ) from exc
    except NotImplementedError as exc:
        raise PdfProblem(
            "not_supported", f"{name}: this PDF uses a feature that is not supported ({exc})."
        ) from exc


def page_count(reader: Any, path: Path) -> int:
    from pypdf.errors import PyPdfError

    try:
        return len(reader.pages)
    except (PyPdfError, *BAD_INPUT) as exc:
        raise PdfProblem(
            "malformed", f"{path.name}: the PDF's page list is damaged ({exc})."
        ) from exc


def page_texts(
    reader: Any, start: int, stop: int, progress: Callable[[], None] | None = None
) -> list[str]:
    """Raw text of pages [start, stop) by 0-based index; a page that fails yields
    _FAILED_PAGE. `progress` is called after each page."""
    from pypdf.errors import PyPdfError

    out: list[str] = []
    for index in range(start, stop):
        if progress is not None and index > start:
            progress()
        try:
            out.append(_page_text(reader.pages[index]))
        except (PyPdfError, NotImplementedError, *BAD_INPUT) as exc:
            logger.debug("page %d: text extraction failed: %s", index + 1, exc)
            out.append(_FAILED_PAGE)
    return out


def _page_text(page: Any) -> str:
    """A page's plain text, once where the PDF draws text twice in one place
    (rag.overdraw), with words it sets letter by letter read as words: layout mode is asked
    only for a page whose plain text shows them (rag.letter_spacing); a TeX font's code 32
    does not pass for a space's width (rag.space_width), so justified lines keep their word
    gaps."""
    from pypdf.errors import PyPdfError

    fix_space_widths(page)
    parts = Parts()
    text = parts.text(page.extract_text(visitor_text=parts) or "")
    if not looks_letter_spaced(text):
        return text
    try:
        layout = page.extract_text(extraction_mode="layout") or ""
    except (PyPdfError, NotImplementedError, *BAD_INPUT) as exc:
        logger.debug("layout text failed, letter spacing kept: %s", exc)
        return text
    return respace(text, layout)


def finish_pdf(path: Path, raw_pages: list[str], outline: Outline | None = None) -> ExtractResult:
    """Normalise raw page texts and decide between ok / scanned / malformed."""
    n_pages = len(raw_pages)
    if raw_pages.count(_FAILED_PAGE) == n_pages:
        return failed(path, "malformed", f"{path.name}: the PDF is damaged: no page can be read.")
    if sum(sum(ch.isalnum() for ch in t) for t in raw_pages) < MIN_CHARS_PER_PAGE * n_pages:
        return failed(
            path,
            "scanned",
            f"{path.name}: the PDF has no text layer (it looks scanned); OCR is not offered, "
            "so it cannot be searched.",
            n_pages,
        )
    texts = normalize_pages([t.replace(_FAILED_PAGE, "") for t in raw_pages])
    pages = [PageText(i + 1, t) for i, t in enumerate(texts)]
    return ExtractResult(path, "ok", pages, n_pages, "", list(outline or ()))


def unreadable(path: Path, exc: Exception) -> str:
    if path.suffix.lower() in TEXT_SUFFIXES:  # a bug of Hearth's on odd text: say so plainly
        return f"{path.name}: Hearth could not read this text file ({exc!r})."
    return f"{path.name}: the PDF is damaged in a way pypdf cannot read ({exc!r})."


def empty_pdf(path: Path) -> ExtractResult:
    return failed(path, "empty", f"{path.name}: the PDF has no pages.")


def extract_file(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> ExtractResult:
    """Extract and normalise one file in this process. Never raises for bad input."""
    path = Path(path)
    refused = precheck(path, max_bytes)
    if refused is not None:
        return refused
    if path.suffix.lower() in TEXT_SUFFIXES:
        return extract_text_file(path)
    try:
        reader = open_pdf(path)
        n_pages = page_count(reader, path)
        if n_pages == 0:
            return empty_pdf(path)
        return finish_pdf(path, page_texts(reader, 0, n_pages), read_outline(reader))
    except PdfProblem as problem:
        return failed(path, problem.status, problem.message)
    except MemoryError:
        return failed(path, "too_large", f"{path.name}: reading it needs too much memory.")
    except RecursionError:
        return failed(path, "malformed", f"{path.name}: the PDF's structure is too deep.")
    except Exception as exc:  # a pypdf bug on odd input: report it, never crash the caller
        logger.debug("extracting %s failed", path, exc_info=True)
        return failed(path, "malformed", unreadable(path, exc))
