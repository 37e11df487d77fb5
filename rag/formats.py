"""Which files the document library takes, known without its heavy parts (numpy, chromadb,
pypdf): the window's drop target and the documents thread use this before the library is
open. Nothing here imports more than the standard library and engine.errors."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from engine.errors import DocumentError

# What adding a folder picks up, and what the window accepts when files are dropped on it.
PDF_SUFFIXES = frozenset({".pdf"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
RST_SUFFIXES = frozenset({".rst"})  # reStructuredText, read as Markdown (rag.rst_text)
TEXT_SUFFIXES = frozenset({".txt"}) | MARKDOWN_SUFFIXES | RST_SUFFIXES
SUPPORTED_SUFFIXES = PDF_SUFFIXES | TEXT_SUFFIXES

# What pypdf raises on bad input: its own errors all derive from PyPdfError (LimitReachedError
# too, which is not a PdfReadError), the rest are Python's own on structures it trusted
# (rag.file_text, rag.space_width).
BAD_INPUT = (ValueError, KeyError, TypeError, IndexError, AttributeError, ZeroDivisionError)

# How each format is read, versioned: bump a number when reading that format yields other
# text than before (markdown 2: HTML comments dropped, a passage that starts inside a fenced
# block read as code; 3: fenced code keeps its indentation; 4: links read as their text,
# rag.markdown_text; 5: underlined titles are headings, thematic breaks no text; 6: strong
# emphasis read without its asterisks, "# Title" a heading; 7: backslash escapes read as the
# character, "{string\\[]}" as "{string[]}"; 8: a table of contents' entries are no text, a
# footnote's first word is; 9: "_word_" and "*word*" emphasis read without its marks), and a
# library opened afterwards reads its documents of that
# format again
# (`rag.library.Library`), instead of quoting what the old reading let through. pdf 2: the
# outline's entries label citations (rag.sections), the text is what it was; pdf 3: a
# chapter's running head is left out of its pages' text (rag.normalize.chapter_heads); pdf 4:
# words set letter by letter ("r e t u r n") are read as words (rag.letter_spacing); pdf 5:
# text drawn twice in one place is read once (rag.overdraw), a foot that ends in "3/17" or
# "Page 3 of 20" is furniture, a numbered heading "3. Python" is not a page's number; pdf 6:
# a TeX font's code 32 does not pass for its space width, so the words of a justified line
# keep their gaps (rag.space_width); pdf 7: so does a composite (Identity-H) font's, as
# XeTeX and LuaTeX write them (the Debian FAQ); pdf 8: a LaTeX book's running head in
# capitals, its chapter's and section's number and title, different on every page
# (rag.normalize.chapter_heads), is left out; pdf 9: a combining grave accent after no letter
# is TeX's opening quote (rag.normalize.fix_control_chars); pdf 10: a code block's "(continues
# on next page)" and "(continued from previous page)" at a page's edge are furniture. text 2:
# a title underlined with a rule is a heading, cited as a Markdown file's are, and a rule no
# text (rag.text_titles.underlined_titles). rst 2: a definition list's term opens an item of its own
# ("- max_attempts: How many attempts to make.", rag.rst_text); rst 3: as markdown 9.
READING_VERSIONS = {"pdf": 10, "text": 2, "markdown": 9, "rst": 3}
# Versions that only add labels: a document read by the version before is read again in the
# background while its old text still answers (its vectors are kept: rag.kept_vectors).
LABELS_ONLY = frozenset({("pdf", 2)})
# Versions whose text differs from the one before only by page furniture left out (a running
# head inside a sentence that crosses a page, a table of contents' links, a plain text's
# rules; Markdown 8 also gives a footnote back the first word it lost, 9 drops emphasis marks)
# or by spaces and copies
# (pdf 4 joins the letters of a word set letter by letter, pdf 5 reads a heading drawn twice
# once and leaves a browser's printed foot out, pdf 6 and 7 put back the spaces of justified
# TeX lines, pdf 8 leaves a running head out, pdf 9 reads a quote mark as one, pdf 10 leaves
# a code block's continuation marks out): nothing the old text holds needs hiding, so it
# answers as for LABELS_ONLY; the chunks that differ are replaced when it is read (the others
# stay, vectors and all: rag.reading's `ChunkJob.verify`).
FURNITURE_ONLY = frozenset(
    {
        ("pdf", 3),
        ("pdf", 4),
        ("pdf", 5),
        ("pdf", 6),
        ("pdf", 7),
        ("pdf", 8),
        ("pdf", 9),
        ("pdf", 10),
        ("markdown", 8),
        ("markdown", 9),
        ("text", 2),
    }
)


def old_text_answers(fmt: str, since: int) -> bool:
    """Whether every reading of `fmt` after version `since` only added labels or left page
    furniture out, so that a document read by `since` answers while it is read again."""
    harmless = LABELS_ONLY | FURNITURE_ONLY
    return all((fmt, v) in harmless for v in range(since + 1, READING_VERSIONS[fmt] + 1))


# Why a document is read again (`rag.index.DocRow.changed`); its old chunks answer meanwhile
# only for RELABEL:
CHANGED_ON_DISK = 1  # its file changed (rag.watch)
READ_AGAIN = 2  # Hearth reads its format differently now (rag.formats.READING_VERSIONS)
RELABEL = 3  # ... but only labels or page furniture changed: its old text answers meanwhile


def again_label(status: str, changed: int) -> str:
    """What a document's status reads while it is read again ("" otherwise): the window's
    Status column and `hearth docs list` say the same."""
    if not changed or status not in ("queued", "indexing"):
        return ""
    return "changed – re-indexing" if changed == CHANGED_ON_DISK else "re-reading"


def reading_format(path: str | Path) -> str:
    """ "pdf", "markdown", "rst" or "text" (the keys of READING_VERSIONS) for a document's
    path."""
    suffix = Path(path).suffix.lower()
    if suffix in PDF_SUFFIXES:
        return "pdf"
    if suffix in RST_SUFFIXES:
        return "rst"
    return "markdown" if suffix in MARKDOWN_SUFFIXES else "text"


def discover(paths: Iterable[Path | str]) -> list[Path]:
    """Files to add: files as given, folders searched recursively for .pdf .txt .md
    .markdown (hidden files and folders skipped). Missing paths raise DocumentError before
    anything is added."""
    found: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            found.extend(supported_files(p))
        else:
            missing.append(str(raw))
    if missing:
        raise DocumentError(f"No such file or folder: {', '.join(missing)}")
    seen: dict[str, Path] = {}
    for f in found:
        seen.setdefault(os.path.abspath(f), f)
    return [Path(k) for k in seen]


def supported_files(folder: Path) -> list[Path]:
    """A folder's .pdf .txt .md files, recursively, hidden files and folders skipped (what
    adding the folder picks up, and what watching it picks up later)."""
    out: list[Path] = []
    for sub in sorted(folder.rglob("*")):
        rel = sub.relative_to(folder).parts
        if any(part.startswith(".") for part in rel):
            continue
        if sub.is_file() and sub.suffix.lower() in SUPPORTED_SUFFIXES:
            out.append(sub)
    return out


def skipped_files(paths: Iterable[Path | str], given_files: bool = True) -> list[Path]:
    """What adding `paths` leaves out, to be reported, never dropped in silence: in folders,
    files that are not .pdf .txt .md and hidden files and folders (one entry each, not what
    they hold); with `given_files`, files given by name that are not .pdf .txt .md."""
    out: list[Path] = []
    for raw in paths:
        top = Path(raw).expanduser()
        if top.is_file() and given_files and top.suffix.lower() not in SUPPORTED_SUFFIXES:
            out.append(top)
        if not top.is_dir():
            continue
        for root, dirs, files in os.walk(top):
            hidden = sorted(d for d in dirs if d.startswith("."))
            out += [Path(root, d) for d in hidden]
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if name.startswith(".") or Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
                    out.append(Path(root, name))
    return out


def skipped_summary(skipped: Sequence[Path]) -> str:
    """ "16 .docx files skipped: format not supported (Hearth reads PDF, .txt, .md and
    .rst).
    2 hidden files or folders skipped." for the panel and the command line."""
    hidden = [p for p in skipped if p.name.startswith(".")]
    kinds = Counter(p.suffix.lower() or "no-extension" for p in skipped if p not in hidden)
    parts = []
    if kinds:
        counted = ", ".join(
            f"{n} {kind} file{'' if n == 1 else 's'}"
            for kind, n in sorted(kinds.items(), key=lambda kn: (-kn[1], kn[0]))
        )
        parts.append(
            f"{counted} skipped: format not supported (Hearth reads PDF, .txt, .md and .rst)."
        )
    if hidden:
        s = "" if len(hidden) == 1 else "s"
        parts.append(f"{len(hidden)} hidden file{s} or folder{s} skipped.")
    return " ".join(parts)
