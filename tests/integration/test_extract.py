"""Extraction of real and deliberately broken files, in-process and through the pool."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pdf_factory as F
import pytest
from data_files import LARGE_PDF_ID, REPO, MissingTestData, data_pdf

from rag.chunking import chunk_pages, joined_text_from
from rag.extract import Extractor, _Worker
from rag.extraction import ExtractionThread, ExtractJob
from rag.file_text import ExtractResult, extract_file, unreadable


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One file per case; the expected status is the key's first word."""
    d = tmp_path_factory.mktemp("docs")
    good = F.text_pdf(d / "good.pdf", F.lorem_pages(4))
    (d / "notes.txt").write_text("First page of notes.\n\n\nStill first.\fSecond   page.\n")
    (d / "readme.md").write_text("# Title\n\nSome *markdown* text with a hyphen-\nated word.\n")
    (d / "latin1.txt").write_bytes("Caf\xe9 au lait, na\xefve r\xe9sum\xe9.".encode("cp1252"))
    (d / "binary.txt").write_bytes(b"\x00\x01\x02BINARY\x00" * 100)
    (d / "slides.pptx").write_bytes(b"PK\x03\x04 not really")
    return {
        "ok good": good,
        "ok txt": d / "notes.txt",
        "ok md": d / "readme.md",
        "ok latin1": d / "latin1.txt",
        "ok owner-password-only": F.encrypted_pdf(d / "owner.pdf", user_password=""),
        "ok owner-password-only-rc4": F.encrypted_pdf(
            d / "owner-rc4.pdf", user_password="", algorithm="RC4-128"
        ),
        "encrypted aes256": F.encrypted_pdf(d / "aes256.pdf"),
        "encrypted aes128": F.encrypted_pdf(d / "aes128.pdf", algorithm="AES-128"),
        "encrypted rc4": F.encrypted_pdf(d / "rc4.pdf", algorithm="RC4-128"),
        "scanned": F.image_only_pdf(d / "scan.pdf"),
        "empty zero-pages": F.zero_page_pdf(d / "zero.pdf"),
        "empty file": F.empty_file(d / "empty.pdf"),
        "empty blank-txt": _write(d / "blank.txt", " \n\n \f \n"),
        "malformed truncated-real": F.truncated_pdf(
            d / "truncated.pdf", data_pdf("libtasn1-doc/libtasn1.pdf")
        ),
        "malformed truncated-small": F.truncated_pdf(d / "cut.pdf", good, keep=0.3),
        "malformed garbage": F.garbage_pdf(d / "garbage.pdf"),
        "malformed text-named-pdf": F.text_file_named_pdf(d / "fake.pdf"),
        # pypdf's LimitReachedError, a PyPdfError but not a PdfReadError (issue 23)
        "malformed deep-page-tree": F.deep_page_tree_pdf(d / "deep.pdf"),
        "malformed huge-text-array": F.huge_array_pdf(d / "array.pdf"),
        "not_supported pptx": d / "slides.pptx",
        "not_supported binary-txt": d / "binary.txt",
        "error missing": d / "gone.pdf",
    }


_REAL: dict[str, ExtractResult] = {}


def _real(pdf_id: str) -> ExtractResult:
    """extract_file of a real PDF, once per test session (they take seconds each)."""
    if pdf_id not in _REAL:
        _REAL[pdf_id] = extract_file(data_pdf(pdf_id))
    return _REAL[pdf_id]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _expected(key: str) -> str:
    return key.split()[0]


CASES = [
    "ok good",
    "ok txt",
    "ok md",
    "ok latin1",
    "ok owner-password-only",
    "ok owner-password-only-rc4",
    "encrypted aes256",
    "encrypted aes128",
    "encrypted rc4",
    "scanned",
    "empty zero-pages",
    "empty file",
    "empty blank-txt",
    "malformed truncated-real",
    "malformed truncated-small",
    "malformed garbage",
    "malformed text-named-pdf",
    "malformed deep-page-tree",
    "malformed huge-text-array",
    "not_supported pptx",
    "not_supported binary-txt",
    "error missing",
]


@pytest.mark.parametrize("key", CASES)
def test_extract_file_status(files: dict[str, Path], key: str) -> None:
    result = extract_file(files[key])
    assert result.status == _expected(key), result.message
    if result.status == "ok":
        assert result.message == ""
        assert result.pages and all(p.text for p in result.pages[:1])
        assert [p.page for p in result.pages] == list(range(1, result.n_pages + 1))
    else:
        assert result.pages == []
        assert files[key].name in result.message  # says which file and why
        assert len(result.message) > len(files[key].name) + 10


def test_status_messages_are_specific(files: dict[str, Path]) -> None:
    assert "password" in extract_file(files["encrypted aes256"]).message
    assert "scanned" in extract_file(files["scanned"]).message
    assert "OCR" in extract_file(files["scanned"]).message
    assert "not a PDF" in extract_file(files["malformed text-named-pdf"]).message
    assert "no pages" in extract_file(files["empty zero-pages"]).message


def test_pypdf_limits_are_a_damaged_pdf_without_a_traceback(
    files: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    deep = extract_file(files["malformed deep-page-tree"])
    assert "damaged" in deep.message and "page tree depth" in deep.message
    assert "no page can be read" in extract_file(files["malformed huge-text-array"]).message
    keys = ["malformed deep-page-tree", "malformed huge-text-array"]
    with Extractor(max_workers=1, timeout_s=120) as extractor:
        pooled = list(extractor.extract_many([files[k] for k in keys]))
    assert [r.status for r in pooled] == ["malformed", "malformed"]
    err = capfd.readouterr().err
    assert "Traceback" not in err and "unexpected error" not in err


def test_too_large(files: dict[str, Path]) -> None:
    result = extract_file(files["ok good"], max_bytes=1000)
    assert result.status == "too_large"
    assert "MB" in result.message


def test_text_files_pages_and_cleanup(files: dict[str, Path]) -> None:
    notes = extract_file(files["ok txt"])
    assert [p.text for p in notes.pages] == ["First page of notes.\n\nStill first.", "Second page."]
    md = extract_file(files["ok md"])
    # every Markdown heading is read as "## " (rag.markdown_text); single * emphasis stays
    assert md.pages[0].text == "## Title\n\nSome markdown text with a hyphenated word."
    assert extract_file(files["ok latin1"]).pages[0].text == "Café au lait, naïve résumé."


def test_markdown_html_comments_and_link_targets_are_not_text(tmp_path: Path) -> None:
    """Node.js's API docs put "<!-- YAML added: ... -->" before every entry: a reader never
    sees it, so it is no passage; a comment inside a code block is the code's own."""
    doc = tmp_path / "path.md"
    doc.write_text(
        "## `path.join([...paths])`\n\n<!-- YAML\nadded: v0.1.16\n-->\n\n"
        "The `path.join()` method joins all given `path` segments, as [`path.resolve()`][] "
        "does ([see below](#pathresolvepaths)).\n\n"
        "```html\n<!-- kept -->\n```\n\n[`path.resolve()`]: #pathresolvepaths\n",
        encoding="utf-8",
    )
    text = extract_file(doc).pages[0].text
    assert "YAML" not in text and "v0.1.16" not in text and "#pathresolvepaths" not in text
    assert (
        "The `path.join()` method joins all given `path` segments, as `path.resolve()` "
        "does (see below)." in text
    )
    assert "<!-- kept -->" in text
    (tmp_path / "notes.txt").write_text("<!-- a plain text file keeps this -->", "utf-8")
    assert "keeps this" in extract_file(tmp_path / "notes.txt").pages[0].text


def test_markdown_with_private_use_characters_reads_as_written(tmp_path: Path) -> None:
    """A file that holds the characters Hearth once used as placeholders for code spans is
    read as written: it failed ("the PDF is damaged ... IndexError") or had another code
    span's text put in their place."""
    doc = tmp_path / "hostile.md"
    doc.write_text("Safe \ue0000\ue001 here, `secret code`, \ue0009\ue001.\n", "utf-8")
    result = extract_file(doc)
    assert result.status == "ok", result.message
    assert result.pages[0].text.count("secret code") == 1
    message = unreadable(doc, IndexError("x"))
    assert message.startswith("hostile.md: Hearth could not read this text file")


def test_markdown_code_keeps_its_indentation(tmp_path: Path) -> None:
    """Python in a fenced block loses its meaning without its indentation; the prose around
    it is tidied as before, and a .txt file as before."""
    body = (
        "  Stream   events with:\n\n"
        "```python\n"
        "async def stream():\n"
        "\tyield  first\n"
        "        yield last   \n"
        "```\n"
        "   Done.\n"
    )
    (tmp_path / "sse.md").write_text(body, encoding="utf-8")
    (tmp_path / "sse.txt").write_text(body, encoding="utf-8")
    md = extract_file(tmp_path / "sse.md").pages[0].text
    assert md == (
        "Stream events with:\n\n```python\nasync def stream():\n    yield  first\n"
        "        yield last\n```\nDone."
    )
    assert "\nyield first\nyield last\n" in extract_file(tmp_path / "sse.txt").pages[0].text


def test_owner_password_pdf_text(files: dict[str, Path]) -> None:
    result = extract_file(files["ok owner-password-only"])
    assert result.pages[0].text == "This document is protected by a password."


def test_generated_pdf_text_round_trip(files: dict[str, Path]) -> None:
    result = extract_file(files["ok good"])
    assert result.n_pages == 4
    expected = F.lorem_pages(4)
    for page, lines in zip(result.pages, expected, strict=True):
        assert page.text.split("\n")[:3] == lines[:3]


# --- real PDFs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pdf_id", "page", "phrase"),
    [
        ("libtasn1-doc/libtasn1.pdf", 10, "asn1Decoding generates an ASN.1 structure"),
        ("shared-mime-info/shared-mime-info-spec.pdf", 1, "Shared MIME-info Database"),
        # OT1 ligature "fi" repaired, line-end hyphenation joined
        ("glpk-doc/glpk.pdf", 30, "stores their row indices"),
        ("glpk-doc/glpk.pdf", 30, "specified problem object"),
        ("r-doc-pdf/R-intro.pdf", 11, "It is case sensitive"),
    ],
)
def test_real_pdfs(pdf_id: str, page: int, phrase: str) -> None:
    from data_files import DATA_PDFS

    result = _real(pdf_id)
    assert result.status == "ok", result.message
    assert result.n_pages == DATA_PDFS[pdf_id].pages
    text = result.pages[page - 1].text
    assert phrase in " ".join(text.split())
    # running heads and page numbers are gone, control characters too
    assert not any(ch < " " and ch != "\n" for ch in text)


def test_justified_tex_lines_keep_their_word_gaps(tmp_path: Path) -> None:
    """Sphinx's LaTeX sets the Kerberos guide in TeX Gyre fonts whose /Widths give code 32
    the width of an "n": pypdf alone reads 25 of its 35 pages with words run together
    ("SupposeyourKerberosticketsallowyou"). rag.space_width makes them words again."""
    from data_files import gunzipped

    try:
        pdf = gunzipped("krb5-doc/user.pdf.gz", tmp_path)
    except MissingTestData as exc:
        pytest.skip(str(exc))
    result = extract_file(pdf)
    assert result.status == "ok" and result.n_pages == 35
    text = " ".join(" ".join(p.text.split()) for p in result.pages)
    assert "Suppose your Kerberos tickets allow you to log into a host in another domain" in text
    assert "Your password is the only way Kerberos has of verifying your identity." in text
    assert "kinit -f -l 3h david@EXAMPLE.COM" in text  # options and code as they were
    # no run of glued words left (its longest word, "preauthentication", has 17 letters)
    assert max(len(w) for w in re.findall(r"[A-Za-z]+", text)) < 30


def test_real_pdf_running_heads_removed() -> None:
    result = _real("r-doc-pdf/R-intro.pdf")
    tops = [p.text.split("\n", 1)[0] for p in result.pages[8:40]]
    assert not any(t.startswith("Chapter ") and t[-1].isdigit() for t in tops), tops


def test_a_listing_set_letter_by_letter_reads_as_words(tmp_path: Path) -> None:
    """pdfTeX's `listings` moves each letter to its own column, and pypdf's plain text has
    a space between every two letters ("r e t u r n"): the page is read as words."""
    pdf = F.listing_pdf(
        tmp_path / "crc.pdf",
        ["Listing 1 updates the checksum.", "Its table has a b c d columns."],
        [
            "uint32_t update(uint32_t crc, int n) {",
            "    // fold the next byte into the running value",
            "    for (int i = 0; i < n; ++i) {",
            "        crc = step(crc);",
            "    }",
            "    return crc;",
            "}",
        ],
    )
    result = extract_file(pdf)
    assert result.status == "ok", result.message
    text = result.pages[0].text
    assert "// fold the next byte into the running value" in text
    assert "return crc" in text
    assert "for (int i = 0" in text
    assert "update(uint32_t crc" in text
    assert "Its table has a b c d columns." in text  # single letters of prose stay


def test_a_heading_drawn_twice_reads_once(tmp_path: Path) -> None:
    """A web page printed by a browser draws a heading with a CSS text-shadow twice; pypdf's
    plain text has it twice ("Installing the toolsInstalling the tools")."""
    pdf = F.shadowed_pdf(
        tmp_path / "page.pdf", "Installing the tools", ["Run the installer.", "It is quick."]
    )
    result = extract_file(pdf)
    assert result.status == "ok", result.message
    assert result.pages[0].text == "Installing the tools\nRun the installer.\nIt is quick."


# --- the pool --------------------------------------------------------------------------


def test_pool_batch_mixes_good_and_bad(files: dict[str, Path]) -> None:
    paths = [files[k] for k in CASES] + [data_pdf("libtasn1-doc/libtasn1.pdf")]
    with Extractor(max_workers=2, timeout_s=120) as extractor:
        results = list(extractor.extract_many(paths))
    by_path = {r.path: r for r in results}
    assert len(results) == len(paths) and set(by_path) == set(paths)
    for key in CASES:
        assert by_path[files[key]].status == _expected(key), (key, by_path[files[key]].message)
    real = by_path[data_pdf("libtasn1-doc/libtasn1.pdf")]
    assert real.status == "ok"
    in_process = _real("libtasn1-doc/libtasn1.pdf")
    assert [p.text for p in real.pages] == [p.text for p in in_process.pages]


def test_pool_splits_a_large_pdf_into_page_ranges() -> None:
    path = data_pdf("glpk-doc/glpk.pdf")
    with Extractor(max_workers=2, split_pages=25) as extractor:
        [pooled] = list(extractor.extract_many([path]))
    single = _real("glpk-doc/glpk.pdf")
    assert pooled.status == "ok"
    assert pooled.n_pages == single.n_pages == 177
    assert [(p.page, p.text) for p in pooled.pages] == [(p.page, p.text) for p in single.pages]
    # the worker that split it read the outline: the same as in one process
    assert len(pooled.outline) > 100 and pooled.outline == single.outline


def test_real_pdf_outline_flattened_in_reading_order() -> None:
    outline = _real("bash-doc/bashref.pdf").outline
    assert outline[:3] == [(7, "Introduction"), (7, "What is Bash?"), (7, "What is a shell?")]
    assert (32, "Shell Parameter Expansion") in outline
    assert [p for p, _ in outline] == sorted(p for p, _ in outline)


def test_a_damaged_outline_never_fails_the_pdf(tmp_path: Path) -> None:
    """An outline that loops back on itself, or points at a page that is not there, is read
    as far as it makes sense; the text is read as always."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject, NullObject

    writer = PdfWriter()
    for i in range(3):
        F.text_page(writer, [f"{i + 1} Chapter {i + 1}", "The text of this chapter."])
    first = writer.add_outline_item(title="Chapter 1", page_number=0)
    second = writer.add_outline_item(title="Chapter 2", page_number=1)
    writer.add_outline_item(title="Section 2.1", page_number=2, parent=second)
    gone = writer.add_outline_item(title="Gone", page_number=2)
    gone.get_object()["/A"][NameObject("/D")][0] = NullObject()  # a page that is not there
    second.get_object()[NameObject("/Next")] = first  # Chapter 2 -> Chapter 1 -> Chapter 2 ...
    path = tmp_path / "damaged.pdf"
    with path.open("wb") as f:
        writer.write(f)
    outlines = PdfReader(path).trailer["/Root"]["/Outlines"]
    assert outlines["/First"]["/Next"]["/Next"]["/Title"] == "Chapter 1"  # the loop is there
    result = extract_file(path)
    assert result.status == "ok" and len(result.pages) == 3
    assert result.outline == [(1, "Chapter 1"), (2, "Chapter 2"), (3, "Section 2.1")]


def test_outline_entries_pointing_at_named_destinations(tmp_path: Path) -> None:
    """TeX and Texinfo manuals point their bookmarks at named destinations."""
    from pypdf import PdfWriter
    from pypdf.generic import NameObject, TextStringObject

    writer = PdfWriter()
    for i in range(3):
        F.text_page(writer, [f"{i + 1} Chapter {i + 1}", "The text of this chapter."])
    writer.add_named_destination(title="chapter.3", page_number=2)
    item = writer.add_outline_item(title="Chapter 3", page_number=0).get_object()
    del item["/A"]
    item[NameObject("/Dest")] = TextStringObject("chapter.3")
    unknown = writer.add_outline_item(title="Nowhere", page_number=0).get_object()
    del unknown["/A"]
    unknown[NameObject("/Dest")] = TextStringObject("no.such.name")
    path = tmp_path / "named.pdf"
    with path.open("wb") as f:
        writer.write(f)
    assert extract_file(path).outline == [(3, "Chapter 3")]


def test_a_huge_outline_is_read_only_as_far_as_citations_need(tmp_path: Path) -> None:
    """pypdf's own outline reading builds every entry first (12 s for 100,000): Hearth stops
    after MAX_NODES, so such a file is read like any other (nothing timed here)."""
    from pypdf import PdfWriter

    from rag.pdf_outline import MAX_NODES

    writer = PdfWriter()
    F.text_page(writer, F.lorem_pages(1)[0])
    chapter = writer.add_outline_item(title="Chapter 1", page_number=0)
    for i in range(MAX_NODES + 2000):
        writer.add_outline_item(title=f"Entry {i}", page_number=0, parent=chapter)
    path = tmp_path / "huge-outline.pdf"
    with path.open("wb") as f:
        writer.write(f)
    with Extractor(max_workers=1) as extractor:
        [result] = list(extractor.extract_many([path]))
    assert result.status == "ok"
    assert len(result.outline) == MAX_NODES
    assert result.outline[:2] == [(1, "Chapter 1"), (1, "Entry 0")]


def test_pool_timeout_replaces_worker_and_continues(files: dict[str, Path], tmp_path: Path) -> None:
    # One page that keeps pypdf busy for about a minute here (minutes on a slow laptop, far
    # more than 3 s on the fastest machine): the time limit is reached on every machine.
    # (The 2,415-page manual used before went 3.2 s without progress while pypdf counted its
    # pages: just over the limit here, and under it on a faster machine.)
    big = F.slow_page_pdf(tmp_path / "slow.pdf")
    small = files["ok good"]
    with Extractor(max_workers=1, timeout_s=3.0) as extractor:
        assert [r.status for r in extractor.extract_many([small])] == ["ok"]
        first_pid = extractor._workers[0].process.pid
        results = list(extractor.extract_many([big, small]))
        by_path = {r.path: r for r in results}
        assert by_path[big].status == "timeout"
        assert "stalled for more than 3 s" in by_path[big].message
        assert by_path[small].status == "ok"  # the queue went on after the timeout
        assert extractor._workers[0].process.pid != first_pid
        # the replaced worker is usable
        assert [r.status for r in extractor.extract_many([small])] == ["ok"]


def test_pool_cancel_stops_early(files: dict[str, Path]) -> None:
    cancel = threading.Event()
    paths = [data_pdf(LARGE_PDF_ID)] + [files["ok good"]] * 3
    got: list[ExtractResult] = []
    with Extractor(max_workers=1) as extractor:
        timer = threading.Timer(1.0, cancel.set)
        timer.start()
        for result in extractor.extract_many(paths, cancel=cancel):
            got.append(result)
        timer.cancel()
        # Stopped early: the 2,415-page manual (minutes of work) and the files queued
        # behind it were left, whatever the machine's speed.
        assert len(got) < len(paths)
        # still usable afterwards
        assert [r.status for r in extractor.extract_many([files["ok good"]])] == ["ok"]


def test_pool_memory_limit_reports_instead_of_crashing(files: dict[str, Path]) -> None:
    """A worker capped far below what pypdf needs for a 2,400-page PDF: the file gets a
    clear status and the pool goes on."""
    big = data_pdf(LARGE_PDF_ID)
    with Extractor(max_workers=1, memory_limit_mb=160, timeout_s=60) as extractor:
        results = {r.path: r for r in extractor.extract_many([big, files["ok good"]])}
    assert results[big].status in ("too_large", "error"), results[big].status
    assert "memory" in results[big].message
    assert results[files["ok good"]].status == "ok"


# --- chunking with the embedder's real tokenizer -----------------------------------------


def test_chunking_real_pdf_with_real_tokenizer(minilm_gguf: Path) -> None:
    from rag.embedder import Embedder

    embedder = Embedder(minilm_gguf)
    result = _real("libtasn1-doc/libtasn1.pdf")
    max_tokens = min(510, embedder.max_tokens)
    chunks = chunk_pages(result.pages, embedder.count_tokens, 200, 40, max_tokens)
    assert len(chunks) > 20
    for c in chunks:
        assert c.n_tokens <= max_tokens
        assert joined_text_from(result.pages, c.page_start)[c.char_start : c.char_end] == c.text
    sizes = sorted(c.n_tokens for c in chunks)
    assert sizes[len(sizes) // 2] > 120  # the median chunk is near the target
    # every page with text is in some chunk
    pages_with_text = {p.page for p in result.pages if p.text.strip()}
    covered = {n for c in chunks for n in range(c.page_start, c.page_end + 1)}
    assert pages_with_text <= covered


# --- the retrieval evaluation set ---------------------------------------------------------


def test_eval_questions_match_documents() -> None:
    """Every question's evidence is on one of its pages in the installed PDF. Only the cited
    pages are read (the 2,415-page manual would take minutes whole), with the same per-page
    clean-up as rag.normalize minus header removal, which needs every page."""
    import json
    from collections import defaultdict

    from pypdf import PdfReader

    from rag.normalize import collapse_whitespace, fix_control_chars, join_hyphenation

    data = json.loads((REPO / "resources" / "eval" / "questions.json").read_text())
    assert data["format"] == "hearth-eval/1"
    questions = data["questions"]
    assert len(questions) >= 40
    assert len({q["id"] for q in questions}) == len(questions)
    assert len({q["file"] for q in questions}) >= 4
    by_file: dict[str, list[dict]] = defaultdict(list)  # (file, pages, evidence) to check
    uncovered = [q for q in questions if q.get("covered", True) is False]
    assert len(uncovered) >= 10  # questions the documents do not answer: Hearth must abstain
    for q in uncovered:
        assert not q["file"] and not q["pages"] and not q.get("also") and q["question"]
    for q in questions:
        if q in uncovered:
            continue
        assert q["file"] in data["files"]
        for answer in [q, *q.get("also", [])]:  # its own pages, and other files' that answer
            assert answer["file"] in data["files"]
            assert answer["pages"] and all(isinstance(p, int) and p >= 1 for p in answer["pages"])
            assert answer["evidence"] not in q["question"]
            by_file[answer["file"]].append({"id": q["id"], **answer})
        assert all(a["file"] != q["file"] for a in q.get("also", []))
    for file_id, answers in by_file.items():
        reader = PdfReader(data_pdf(file_id))
        assert len(reader.pages) == data["files"][file_id]["pages"]
        for a in answers:
            texts = []
            for p in a["pages"]:
                raw = fix_control_chars(reader.pages[p - 1].extract_text())
                texts.append(" ".join(collapse_whitespace(join_hyphenation(raw)).split()))
            assert any(a["evidence"] in t for t in texts), (a["id"], a["evidence"])


@pytest.mark.slow
def test_pool_spreads_a_multi_file_workload_and_matches_one_process() -> None:
    """10 real manuals (1,166 pages) through a pool of two: every file comes back once, with
    the pages extract_file gives in this process, and both workers take part in the work
    (each gets one of the two largest files at the first hand-out). How evenly they share it
    is a speed measure, not behaviour: `hearth bench ingest --pool-ratio` reports it
    (extract_pool_cpu_ratio, one process's CPU seconds against the busiest worker's)."""
    import psutil
    from data_files import DATA_PDFS

    manuals = Path(DATA_PDFS["r-doc-pdf/R-intro.pdf"].path).parent
    paths = [
        manuals / f"R-{name}.pdf" for name in ("intro", "admin", "exts", "lang", "data", "ints")
    ] + [
        data_pdf(i)
        for i in (
            "glpk-doc/glpk.pdf",
            "gnuplot-doc/gnuplot.pdf",
            "libtasn1-doc/libtasn1.pdf",
            "shared-mime-info/shared-mime-info-spec.pdf",
        )
    ]
    single = {p: extract_file(p) for p in paths}

    with Extractor(max_workers=2) as extractor:
        assert extractor.start()
        pids = [w.process.pid for w in extractor._workers]
        procs = [psutil.Process(pid) for pid in pids]
        before = [sum(p.cpu_times()[:2]) for p in procs]
        results = list(extractor.extract_many(paths))
        after = [sum(p.cpu_times()[:2]) for p in procs]
        assert [w.process.pid for w in extractor._workers] == pids  # none was replaced

    assert sorted(r.path for r in results) == sorted(paths)  # each file once
    for r in results:
        want = single[r.path]
        assert (r.status, r.n_pages) == ("ok", want.n_pages), r.path
        assert [(p.page, p.text) for p in r.pages] == [(p.page, p.text) for p in want.pages]
    used = [b - a for a, b in zip(before, after, strict=True)]
    print(f"CPU seconds per worker: {', '.join(f'{u:.1f}' for u in used)}")
    # Both took part: a worker that got nothing (or only a page range) would be far below.
    assert min(used) > 0.1 * sum(used), used


def test_pool_workers_in_their_own_session(files: dict[str, Path]) -> None:
    import os

    with Extractor(max_workers=1, new_session=True) as extractor:
        assert extractor.start()
        pid = extractor._workers[0].process.pid
        assert pid is not None
        assert os.getsid(pid) == pid != os.getsid(0)
        assert [r.status for r in extractor.extract_many([files["ok good"]])] == ["ok"]


class _NeverReady(Extractor):
    """A pool whose processes start and never say they are ready (as one stuck importing
    pypdf would): each holds its pipe open, so nothing tells the pool it is gone."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.held: list[Any] = []
        kwargs.setdefault("start_timeout_s", 0.3)
        super().__init__(*args, **kwargs)

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(target=time.sleep, args=(600,), daemon=True)
        process.start()
        self.held.append(child)
        return _Worker(process, parent)

    def close(self) -> None:
        super().close()
        for conn in self.held:
            conn.close()


def test_processes_stuck_starting_are_replaced_then_reported(tmp_path: Path) -> None:
    """A process that never becomes ready is replaced after the start time limit, like one
    that died starting; after a few, the pool says it cannot start instead of waiting."""
    pdf = F.text_pdf(tmp_path / "a.pdf", [["Boats moor at the north quay."]])
    with _NeverReady(max_workers=1) as extractor:
        with pytest.raises(RuntimeError, match="cannot start"):
            list(extractor.extract_many([pdf]))
        assert len(extractor.held) == 4  # the first and three replacements


def test_a_pool_that_cannot_start_fails_its_files_and_the_thread_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documents handed to a pool that cannot start get a failure each (they waited for
    an outcome forever), and the extraction thread serves the next ones with a new pool."""
    import rag.extract

    monkeypatch.setattr(rag.extract, "Extractor", _NeverReady)
    pdf = F.text_pdf(tmp_path / "a.pdf", [["Boats moor at the north quay."]])
    thread = ExtractionThread(1, 10.0, 2048)
    try:
        for doc_id in (7, 8):
            thread.submit(ExtractJob(doc_id, str(pdf), ""))
            outcome = thread.results.get(timeout=120)
            assert (outcome.doc_id, outcome.result) == (doc_id, None)
            assert "PDF reader could not run" in outcome.error and outcome.sha
    finally:
        thread.stop()
