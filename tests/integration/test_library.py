"""The document library with real files, the real embedding model and real Chroma: add,
resume, re-add, change, remove; bad files among good ones; a SIGKILL mid-ingestion."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pdf_factory
import pytest

from engine.errors import DocumentError, InvalidRequestError
from rag.config import LibraryConfig
from rag.formats import READ_AGAIN, READING_VERSIONS, RELABEL
from rag.index import DocRow
from rag.library import Library

REPO = Path(__file__).resolve().parents[2]

FACTS = [
    [
        "Chapter one. The lighthouse keeper of Varnholm island counts exactly 412 steps",
        "from the harbour to the lamp room every evening before sunset.",
    ],
    [
        "Chapter two. The copper kettle in the keeper's kitchen was forged in 1887",
        "by a smith called Agnethe Brusk who lived in the village of Skarnes.",
    ],
    [
        "Chapter three. Ferries to the mainland leave on Tuesdays and Fridays only,",
        "weather permitting, and the crossing takes about ninety minutes.",
    ],
]


@pytest.fixture(scope="module")
def embedder(minilm_gguf: Path) -> Iterator[object]:
    from rag.embedder import Embedder

    emb = Embedder(minilm_gguf)
    yield emb
    emb.close()


def make_library(path: Path, embedder: object, **config: Any) -> Library:
    config.setdefault("batch_size", 8)
    config.setdefault("extract_workers", 1)
    return Library(path, LibraryConfig(**config), embedder=embedder)  # type: ignore[arg-type]


def query(lib: Library, sql: str, *params: object) -> list[Any]:
    """Rows of the library's file, read as another process would (the library's own
    connection is its store's)."""
    db = lib.data_dir / "library.sqlite3"
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def consistent_counts(lib: Library) -> dict[str, int]:
    """Counts from SQLite and Chroma; asserts both indexes hold exactly the embedded chunks."""
    counts = lib.counts()
    assert counts["embedded"] == counts["fts_rows"] == counts["vectors"], counts
    got = lib.vectors.collection.get(include=[])
    chroma_ids = sorted(int(i) for i in got["ids"])
    rows = query(lib, "SELECT id FROM chunks WHERE embedded = 1 ORDER BY id")
    assert chroma_ids == [int(r[0]) for r in rows]
    fts_ids = [int(r[0]) for r in query(lib, "SELECT rowid FROM chunks_fts")]
    assert sorted(fts_ids) == chroma_ids
    return counts


def assert_chunked_once(lib: Library, *docs: DocRow) -> None:
    """Each document's chunks are numbered 0..chunks-1: none is missing or stored twice."""
    for doc in docs or tuple(lib.documents()):
        ordinals = [
            r[0]
            for r in query(
                lib, "SELECT ordinal FROM chunks WHERE doc_id = ? ORDER BY ordinal", doc.id
            )
        ]
        assert ordinals == list(range(doc.chunks)), doc.name


@pytest.mark.parametrize("vector_store", ["", "process"], ids=["in-process", "chroma-server"])
def test_add_readd_change_remove_cycle(tmp_path: Path, embedder: object, vector_store: str) -> None:
    """The whole cycle, with Chroma in this process (the CLI) and as a child server process
    (the window)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    pdf = pdf_factory.text_pdf(docs / "island.pdf", FACTS)
    note = docs / "notes.md"
    note.write_text("# Notes\n\nThe tide tables for Varnholm are printed every March.\n")
    (docs / ".hidden").mkdir()
    (docs / ".hidden" / "skip.txt").write_text("never indexed")
    (docs / "image.png").write_bytes(b"\x89PNG not a document")

    lib = make_library(tmp_path / "lib", embedder, vector_store=vector_store)
    try:
        rows = lib.add([docs])  # a folder: .pdf/.txt/.md only, hidden folders skipped
        assert sorted(r.name for r in rows) == ["island.pdf", "notes.md"]
        assert {r.status for r in rows} == {"queued"}
        lib.ingest()
        by_name = {d.name: d for d in lib.documents()}
        assert by_name["island.pdf"].status == "ready"
        assert by_name["island.pdf"].pages == 3
        assert by_name["notes.md"].status == "ready"
        first = consistent_counts(lib)
        assert first["chunks"] == first["embedded"] >= 2

        hits = lib.search("In which year was the copper kettle forged?", k=3)
        assert hits and hits[0].file == str(pdf) and hits[0].covers_page(2)
        assert "1887" in hits[0].text

        # Re-adding unchanged files does nothing at all.
        again = lib.add([pdf, note])
        assert {r.status for r in again} == {"ready"}
        assert not lib.has_work()
        assert consistent_counts(lib) == first

        # Same content, new mtime: the hash is checked, nothing is embedded again.
        os.utime(pdf, (time.time() + 5, time.time() + 5))
        assert lib.add([pdf])[0].status == "queued"
        stats = lib.ingest()
        assert stats.chunks == 0
        assert lib.resolve("island.pdf").status == "ready"
        assert consistent_counts(lib) == first

        # Changed content: old chunks leave both indexes, the new text is found.
        changed = [FACTS[0], ["Chapter two. The kettle is now made of brass, bought in 1999."]]
        pdf_factory.text_pdf(pdf, changed)
        os.utime(pdf, (time.time() + 10, time.time() + 10))
        lib.add([pdf])
        lib.ingest()
        doc = lib.resolve(str(pdf))
        assert doc.status == "ready" and doc.pages == 2
        consistent_counts(lib)
        assert lib.search("Agnethe Brusk Skarnes", k=5, mode="keyword") == []
        hits = lib.search("brass kettle", k=2, mode="keyword")
        assert hits and hits[0].file == str(pdf) and hits[0].covers_page(2)

        # Remove: gone from both indexes and from the list.
        lib.remove(doc.id)
        assert [d.name for d in lib.documents()] == ["notes.md"]
        after = consistent_counts(lib)
        assert after["documents"] == 1
        assert after["embedded"] == lib.resolve("notes.md").chunks
        assert all(h.file == str(note) for h in lib.search("kettle lighthouse", k=5))
        with pytest.raises(DocumentError):
            lib.resolve("island.pdf")
    finally:
        lib.close()


def test_a_file_edited_on_one_page_embeds_only_the_chunks_that_changed(
    tmp_path: Path, embedder: object
) -> None:
    """Read again (changed on disk, or Re-index), a document keeps the vectors of the chunks
    whose text is what it was (rag.kept_vectors): one page edited in a long manual is a few
    chunks embedded, not the whole manual."""
    pages = pdf_factory.lorem_pages(8)
    pdf = pdf_factory.text_pdf(tmp_path / "manual.pdf", pages)
    lib = make_library(tmp_path / "lib", embedder)
    try:
        lib.add([pdf])
        lib.ingest()
        before = {r[1]: r[0] for r in query(lib, "SELECT id, content_hash FROM chunks")}
        old = lib.vectors.embeddings(list(before.values()))
        total = len(before)
        assert total >= 8

        edited = [list(p) for p in pages]
        edited[4][3] = "The harbour master of Varnholm keeps the lighthouse keys in a tin box."
        pdf_factory.text_pdf(pdf, edited)
        os.utime(pdf, (time.time() + 10, time.time() + 10))
        lib.add([pdf])
        stats = lib.ingest()
        after = {r[1]: r[0] for r in query(lib, "SELECT id, content_hash FROM chunks")}
        new = lib.vectors.embeddings(list(after.values()))
        unchanged = set(before) & set(after)
        assert stats.chunks == len(after) and stats.chunks_reused == len(unchanged)
        assert len(after) - 3 <= len(unchanged) < len(after)  # one page's chunks embedded
        for h in unchanged:  # the vectors they had (Chroma may give back the last bit changed)
            assert abs(new[after[h]] - old[before[h]]).max() < 1e-6
        consistent_counts(lib)
        [hit] = lib.search("Where are the lighthouse keys kept?", k=1)
        assert "tin box" in hit.text and hit.covers_page(5)

        lib.reindex(lib.resolve("manual.pdf").id)  # Re-index: the text is what it was
        stats = lib.ingest()
        assert stats.chunks == stats.chunks_reused == len(after)
        assert len(lib.ingestor.ctx.kept) == 0  # nothing held once the document is ready
        consistent_counts(lib)
    finally:
        lib.close()


def test_a_pdf_with_an_outline_is_cited_with_the_section_a_passage_stands_in(
    tmp_path: Path, embedder: object
) -> None:
    """Bookmarks label citations: "page 2, § Tides", the heading where the passage starts,
    and the heading in effect at each of its sentences, not a mere mention of a title."""
    pages = [
        ["1 The Harbour", "Boats moor at the north quay; the harbour master keeps the keys."],
        [
            "The island's tides are described below.",
            "2 Tides",
            "High water at Varnholm comes about forty minutes after Bergen.",
            "2.1 Spring tides",
            "Spring tides flood the lower road twice a month.",
        ],
    ]
    outline = [("The Harbour", 0, None), ("Tides", 1, None), ("Spring tides", 1, 1)]
    pdf = pdf_factory.outlined_pdf(tmp_path / "island.pdf", pages, outline)
    lib = make_library(tmp_path / "lib", embedder)
    try:
        lib.add([pdf])
        lib.ingest()
        [hit] = lib.search("When do spring tides flood the lower road?", k=1)
        assert hit.page == 1 and hit.page_end == 2
        assert hit.section == "The Harbour" and hit.label().endswith("pages 1-2, § The Harbour")
        at = {title: hit.text[offset:].split("\n", 1)[0] for offset, title in hit.sections}
        assert at == {"The Harbour": "1 The Harbour", "Tides": "2 Tides",
                      "Spring tides": "2.1 Spring tides"}  # fmt: skip
        assert hit.section_at(hit.text.index("twice a month")) == "Spring tides"
        assert hit.section_at(hit.text.index("described below")) == "The Harbour"
    finally:
        lib.close()


def test_a_pdf_without_an_outline_is_cited_with_its_numbered_headings(
    tmp_path: Path, embedder: object
) -> None:
    """No bookmarks (bzip2's manual has none): the numbered headings in its text label the
    citations instead; a numbered step of a list, a number in running text and a table of
    contents line are not headings."""
    pages = [
        ["Contents", "2.1 Spring tides . . . . . . . . 2", "1.1 The Harbour",
         "Boats moor at the north quay; the harbour master keeps the keys.",
         "2. Ask the harbour master for the key to the boat shed"],
        ["The island's tides are described below.", "2.1 Spring tides",
         "Spring tides flood the lower road twice a month.",
         "3.14 is not a heading but a number that starts a wrapped line of text"],
    ]  # fmt: skip
    pdf = pdf_factory.text_pdf(tmp_path / "island.pdf", pages)
    lib = make_library(tmp_path / "lib", embedder)
    try:
        lib.add([pdf])
        lib.ingest()
        [hit] = lib.search("When do spring tides flood the lower road?", k=1)
        assert [title for _, title in hit.sections] == ["1.1 The Harbour", "2.1 Spring tides"]
        assert hit.section_at(hit.text.index("twice a month")) == "2.1 Spring tides"
        assert hit.section_at(hit.text.index("harbour master keeps")) == "1.1 The Harbour"
        assert hit.section_at(hit.text.index("not a heading")) == "2.1 Spring tides"
    finally:
        lib.close()


def _library_before_outlines(tmp_path: Path, embedder: object) -> tuple[Path, list[int]]:
    """A PDF with an outline, indexed as a library written before outlines labelled
    citations (pdf reading 1, no outline stored); its chunk ids."""
    pages = [["1 The Harbour", "Boats moor at the north quay of Varnholm."]] + [
        lines for lines in pdf_factory.lorem_pages(5)
    ]
    pdf = pdf_factory.outlined_pdf(tmp_path / "island.pdf", pages, [("The Harbour", 0, None)])
    lib = make_library(tmp_path / "lib", embedder)
    try:
        lib.add([pdf])
        lib.ingest()
        ids = lib.store.chunk_ids(lib.resolve("island.pdf").id)
        lib.store.conn.execute("DELETE FROM outline")
        lib.store.set_meta("reading_version.pdf", "1")
    finally:
        lib.close()
    return pdf, ids


def test_pdfs_read_before_outlines_are_read_again_and_answer_meanwhile(
    tmp_path: Path, embedder: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PDFs indexed before outlines labelled citations are read again once (pdf reading 2
    only adds labels): all their passages keep answering at every step of it, nothing is
    embedded again (the same reading cuts the same chunks, which stay), and afterwards their
    citations carry the section."""
    import rag.reading

    monkeypatch.setattr(rag.reading, "CHUNK_WINDOW_PAGES", 1)  # a step per page
    pdf, ids = _library_before_outlines(tmp_path, embedder)
    lib = make_library(tmp_path / "lib", embedder)
    try:
        [doc] = lib.documents()
        assert (doc.status, doc.changed, doc.rereading, doc.old_text_hidden) == (
            "queued", RELABEL, True, False)  # fmt: skip
        [hit] = lib.search("Where do boats moor?", k=1)  # still answers, as read before
        assert hit.file == str(pdf) and hit.section == ""
        seen: list[tuple[int, bool, int]] = []

        def step(_report: object) -> None:
            now = lib.document(doc.id)
            assert now is not None
            found = lib.search("Where do boats moor?", k=1)
            seen.append((len(lib.store.chunk_ids(doc.id)), now.answers, len(found)))

        stats = lib.ingest(on_progress=step)
        assert len(seen) >= 6 and set(seen) == {(len(ids), True, 1)}  # whole, at every step
        assert stats.chunks == 0 and lib.store.chunk_ids(doc.id) == ids  # nothing replaced
        [doc] = lib.documents()
        assert (doc.status, doc.changed, doc.embedded, doc.chunks) == (
            "ready", 0, len(ids), len(ids))  # fmt: skip
        [hit] = lib.search("Where do boats moor?", k=1)
        assert hit.label().endswith("§ The Harbour")
        assert lib.store.get_meta("reading_version.pdf") == str(READING_VERSIONS["pdf"])
    finally:
        lib.close()


@pytest.mark.parametrize("difference", ["altered", "left over"])
def test_a_relabelled_pdf_that_reads_differently_now_is_replaced(
    tmp_path: Path, embedder: object, difference: str
) -> None:
    """Read again for labels, a PDF whose stored chunks are not what today's reading cuts
    (one of them altered here, or one more stored after its last) is read as any other: its
    chunks are replaced, the unchanged ones' vectors copied, an altered one embedded again."""
    pdf, ids = _library_before_outlines(tmp_path, embedder)
    con = sqlite3.connect(tmp_path / "lib" / "library.sqlite3")
    with con:
        if difference == "altered":
            con.execute("UPDATE chunks SET content_hash = 'altered' WHERE id = ?", (ids[-1],))
        else:
            con.execute(
                "INSERT INTO chunks (doc_id, ordinal, page_start, page_end, char_start, "
                "char_end, doc_offset, n_tokens, text, content_hash, embedded) "
                "SELECT doc_id, ordinal + 1, page_end, page_end, 0, 5, doc_offset, 2, 'extra', "
                "'left over', 1 FROM chunks WHERE id = ?",
                (ids[-1],),
            )
            con.execute("UPDATE documents SET chunks = chunks + 1")
    con.close()
    lib = make_library(tmp_path / "lib", embedder)
    try:
        [doc] = lib.documents()
        assert doc.relabelling  # every stored chunk embedded, as far as the library knows
        stats = lib.ingest()
        [doc] = lib.documents()
        assert (doc.status, doc.changed, doc.embedded, doc.chunks) == (
            "ready", 0, len(ids), len(ids))  # fmt: skip
        reused = len(ids) - 1 if difference == "altered" else len(ids)
        assert stats.chunks == len(ids) and stats.chunks_reused == reused
        hashes = lib.store.conn.execute("SELECT content_hash FROM chunks").fetchall()
        assert (difference,) not in hashes
        [hit] = lib.search("Where do boats moor?", k=1)
        assert hit.file == str(pdf) and hit.label().endswith("§ The Harbour")
    finally:
        lib.close()


def test_a_relabelled_pdf_that_cannot_be_read_now_keeps_its_text(
    tmp_path: Path, embedder: object
) -> None:
    """Read again for labels only, a PDF that fails to read this time keeps the chunks it has
    (the file is as it was: same size and time) and says why it has no labels; one whose
    file changed meanwhile fails as any other would."""
    pdf, ids = _library_before_outlines(tmp_path, embedder)
    st = pdf.stat()
    pdf.write_bytes(b"%" + b"x" * (st.st_size - 1))  # same size, not a PDF any more
    os.utime(pdf, ns=(st.st_atime_ns, st.st_mtime_ns))
    lib = make_library(tmp_path / "lib", embedder)
    try:
        lib.ingest()
        [doc] = lib.documents()
        assert (doc.status, doc.changed, doc.chunks, doc.embedded) == (
            "ready", 0, len(ids), len(ids))  # fmt: skip
        assert doc.message.endswith("as read before this version of Hearth.") and doc.answers
        assert lib.store.chunk_ids(doc.id) == ids
        [hit] = lib.search("Where do boats moor?", k=1)
        assert hit.file == str(pdf)
        lib.store.set_meta("reading_version.pdf", "1")
    finally:
        lib.close()
    pdf.write_bytes(b"%" + b"x" * 10)  # changed: its stored text is not this file's
    lib = make_library(tmp_path / "lib", embedder)
    try:
        lib.ingest()
        [doc] = lib.documents()
        assert (doc.status, doc.chunks) == ("failed", 0)
    finally:
        lib.close()


def test_documents_read_by_an_older_reading_of_their_format_are_read_again(
    tmp_path: Path, embedder: object
) -> None:
    """A library whose Markdown files were read before HTML comments were dropped reads
    them again when it opens (once); its PDFs, read as they would be today, stay."""
    pdf = pdf_factory.text_pdf(tmp_path / "island.pdf", FACTS)
    note = tmp_path / "notes.md"
    note.write_text(
        "# Notes\n\n<!-- draft: the harbour master's door code is 7731 -->\n"
        "The tide tables for Varnholm are printed every March.\n"
    )
    lib = make_library(tmp_path / "lib", embedder)
    try:
        lib.add([pdf, note])
        lib.ingest()
        hits = lib.search("harbour master door code 7731", k=5, mode="keyword")
        assert not any("7731" in h.text for h in hits)
        lib.store.set_meta("reading_version.markdown", "1")  # as a library written before
    finally:
        lib.close()
    lib = make_library(tmp_path / "lib", embedder)
    try:
        status = {d.name: (d.status, d.changed, d.rereading) for d in lib.documents()}
        # read again for Hearth's sake, not because the file changed: it says so
        assert status == {
            "island.pdf": ("ready", 0, False),
            "notes.md": ("queued", READ_AGAIN, True),
        }
        assert {h.file for h in lib.search("tide tables", k=5)} == {str(pdf)}  # old text hidden
        lib.ingest()
        assert {d.status for d in lib.documents()} == {"ready"}
        consistent_counts(lib)
        hits = lib.search("When are the tide tables printed?", k=1)
        assert hits and hits[0].file == str(note) and "March" in hits[0].text
    finally:
        lib.close()
    lib = make_library(tmp_path / "lib", embedder)
    try:  # read once: the next opening leaves everything as it is
        assert {d.status for d in lib.documents()} == {"ready"} and not lib.has_work()
    finally:
        lib.close()


def test_cancel_then_resume_in_a_new_library_object(tmp_path: Path, embedder: object) -> None:
    pdf = pdf_factory.text_pdf(tmp_path / "river.pdf", pdf_factory.lorem_pages(6))
    lib = make_library(tmp_path / "lib", embedder, batch_size=4)
    cancel = threading.Event()
    seen: list[int] = []

    def on_progress(report: object) -> None:
        done = report.progress.chunks_done  # type: ignore[attr-defined]
        seen.append(done)
        if done >= 4:
            cancel.set()

    lib.add([pdf])
    lib.ingest(cancel=cancel, on_progress=on_progress)
    partial = lib.counts()
    doc = lib.resolve("river.pdf")
    lib.close()
    assert doc.status == "indexing" and 0 < partial["embedded"] < doc.chunks
    assert 0 < doc.progress < 1

    lib = make_library(tmp_path / "lib", embedder, batch_size=4)
    try:
        assert lib.has_work()
        stats = lib.ingest()
        assert stats.chunks == doc.chunks - partial["embedded"]  # only what was missing
        counts = consistent_counts(lib)
        assert counts["chunks"] == counts["embedded"] == doc.chunks
        assert lib.resolve("river.pdf").status == "ready"
    finally:
        lib.close()


def test_bad_files_get_statuses_and_good_files_still_index(
    tmp_path: Path, embedder: object
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    good = pdf_factory.text_pdf(tmp_path / "good.pdf", FACTS)
    files = {
        "encrypted.pdf": pdf_factory.encrypted_pdf(bad / "encrypted.pdf"),
        "scan.pdf": pdf_factory.image_only_pdf(bad / "scan.pdf"),
        "zero.pdf": pdf_factory.zero_page_pdf(bad / "zero.pdf"),
        "truncated.pdf": pdf_factory.truncated_pdf(bad / "truncated.pdf", good, keep=0.4),
        "garbage.pdf": pdf_factory.garbage_pdf(bad / "garbage.pdf"),
        "empty.txt": pdf_factory.empty_file(bad / "empty.txt"),
    }
    lib = make_library(tmp_path / "lib", embedder)
    try:
        lib.add([bad, good])
        lib.ingest()
        by_name = {d.name: d for d in lib.documents()}
        assert by_name["good.pdf"].status == "ready"
        for name in files:
            doc = by_name[name]
            assert doc.status == "failed", (name, doc)
            assert doc.message, name
            assert doc.chunks == 0
        assert "password" in by_name["encrypted.pdf"].message.lower()
        counts = consistent_counts(lib)
        assert counts["embedded"] == by_name["good.pdf"].chunks
        hits = lib.search("ferries to the mainland", k=2)
        assert hits[0].file == str(good) and hits[0].covers_page(3)
    finally:
        lib.close()


def test_source_filter_and_bad_queries(tmp_path: Path, embedder: object) -> None:
    a = pdf_factory.text_pdf(tmp_path / "a.pdf", FACTS)
    b = tmp_path / "b.txt"
    b.write_text("The lighthouse on Korsholm has 98 steps and a red lamp.\n")
    lib = make_library(tmp_path / "lib", embedder)
    try:
        lib.add([a, b])
        lib.ingest()
        doc_a, doc_b = lib.resolve("a.pdf"), lib.resolve("b.txt")
        both = {h.doc_id for h in lib.search("lighthouse steps", k=6)}
        assert both == {doc_a.id, doc_b.id}
        for mode in ("hybrid", "vector", "keyword"):
            only_b = lib.search("lighthouse steps", k=6, doc_ids=[doc_b.id], mode=mode)
            assert only_b and {h.doc_id for h in only_b} == {doc_b.id}
        assert lib.search("lighthouse", k=3, doc_ids=[]) == []
        # FTS5 syntax in a query is just text; an empty query is a clear error.
        assert lib.search('"steps" AND NEAR(lamp', k=3)
        with pytest.raises(InvalidRequestError):
            lib.search("   ")
        with pytest.raises(DocumentError):
            lib.add([tmp_path / "missing.pdf"])
    finally:
        lib.close()


CHILD = """
import sys
from pathlib import Path
from rag.config import LibraryConfig
from rag.library import Library
from rag.embedder import Embedder

def main():
    store = sys.argv[4] if len(sys.argv) > 4 else ""
    config = LibraryConfig(batch_size=4, extract_workers=1, vector_store=store)
    lib = Library(Path(sys.argv[1]), config, embedder=Embedder(Path(sys.argv[2])))
    lib.add([Path(sys.argv[3])])
    lib.ingest()
    print("finished", flush=True)

if __name__ == "__main__":
    main()
"""


def _index_in_child(
    tmp_path: Path, lib_dir: Path, minilm_gguf: Path, pdf: Path, *store: str
) -> subprocess.Popen[bytes]:
    """Another Hearth process indexing `pdf` into the library (prints "finished" when done)."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return subprocess.Popen(
        [sys.executable, str(script), str(lib_dir), str(minilm_gguf), str(pdf), *store],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        start_new_session=True,  # its extraction workers are killed with it
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def _wait_embedded(lib_dir: Path, child: subprocess.Popen[bytes], n: int) -> tuple[int, int]:
    """Watch the library file (read-only) until the child has embedded n chunks, or it ended;
    returns (embedded, total) chunks."""
    db = lib_dir / "library.sqlite3"
    embedded = total = 0
    deadline = time.monotonic() + 240
    while embedded < n and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
        if db.exists():
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            try:
                embedded = conn.execute(
                    "SELECT count(*) FROM chunks WHERE embedded = 1"
                ).fetchone()[0]
                total = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
            except sqlite3.OperationalError:
                pass  # tables not created yet
            finally:
                conn.close()
    return embedded, total


def test_sigkill_mid_ingestion_resumes_without_duplicates(
    tmp_path: Path, embedder: object, minilm_gguf: Path
) -> None:
    pdf = pdf_factory.text_pdf(tmp_path / "long.pdf", pdf_factory.lorem_pages(20))
    lib_dir = tmp_path / "lib"
    child = _index_in_child(tmp_path, lib_dir, minilm_gguf, pdf)
    try:
        embedded, total = _wait_embedded(lib_dir, child, 8)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(30)
    assert child.returncode == -signal.SIGKILL, "the child finished before it could be killed"
    assert 8 <= embedded < total

    lib = make_library(lib_dir, embedder, batch_size=16)
    try:
        doc = lib.resolve("long.pdf")
        assert doc.status == "indexing"
        stats = lib.ingest()
        assert 0 < stats.chunks <= total - embedded + 4  # at most one batch redone
        counts = consistent_counts(lib)
        assert counts["chunks"] == counts["embedded"] == total
        assert lib.resolve("long.pdf").status == "ready"
        ordinals = [r[0] for r in query(lib, "SELECT ordinal FROM chunks ORDER BY ordinal")]
        assert ordinals == list(range(total))
    finally:
        lib.close()


def test_another_embedding_model_file_reembeds_into_its_own_collection(
    tmp_path: Path, embedder: object, minilm_gguf: Path
) -> None:
    import shutil

    from rag.embedder import Embedder

    pdf = pdf_factory.text_pdf(tmp_path / "island.pdf", FACTS)
    lib = make_library(tmp_path / "lib", embedder)
    lib.add([pdf])
    lib.ingest()
    first = consistent_counts(lib)
    first_collection = lib.vectors.name
    lib.close()

    other_file = tmp_path / "models" / "renamed-minilm.gguf"
    other_file.parent.mkdir()
    shutil.copyfile(minilm_gguf, other_file)
    other = Embedder(other_file)
    lib = make_library(tmp_path / "lib", other)
    try:
        assert lib.vectors.name != first_collection
        assert lib.has_work() and lib.resolve("island.pdf").status == "indexing"
        stats = lib.ingest()
        assert stats.chunks == first["chunks"]
        consistent_counts(lib)
        assert lib.resolve("island.pdf").status == "ready"
        kept = lib.client.get_collection(first_collection, embedding_function=None)
        assert kept.count() == first["embedded"]  # the first model's vectors stay
    finally:
        lib.close()
        other.close()


def test_big_documents_are_chunked_a_window_at_a_time_between_searches(
    tmp_path: Path, embedder: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rag.reading

    monkeypatch.setattr(rag.reading, "CHUNK_WINDOW_PAGES", 2)
    ready = tmp_path / "ready.txt"
    ready.write_text("The lighthouse on Korsholm has 98 steps and a red lamp.\n")
    big = pdf_factory.text_pdf(tmp_path / "big.pdf", pdf_factory.lorem_pages(7, 12))
    lib = make_library(tmp_path / "lib", embedder)
    try:
        lib.add([ready])
        lib.ingest()
        lib.add([big])
        windows = 0
        while lib.has_work():
            report = lib.ingest_step()
            if lib.ingestor.reader.chunking is not None:  # between two windows: searches are served
                windows += 1
                doc = lib.resolve("big.pdf")
                assert doc.status == "indexing" and doc.message == "reading pages"
                assert lib.search("Korsholm steps", k=1)[0].file == str(ready)
            if not report.did_work:
                lib.wait_for_extraction(0.05)
        assert windows >= 3  # 7 pages, 2 a step
        doc = lib.resolve("big.pdf")
        assert doc.status == "ready" and doc.pages == 7
        consistent_counts(lib)
        assert_chunked_once(lib, doc)
        pages = {h.page for h in lib.search("river floods spring", k=10, doc_ids=[doc.id])}
        assert len(pages) > 1
    finally:
        lib.close()


@pytest.mark.parametrize("vector_store", ["", "process"], ids=["in-process", "chroma-server"])
def test_unreadable_vector_store_is_rebuilt_from_the_stored_text(
    tmp_path: Path, embedder: object, vector_store: str
) -> None:
    """A newer Hearth (or a damaged disk) meets a Chroma store it cannot open: the documents
    stay listed, the old store is kept aside, and the vectors are rebuilt from SQLite."""
    from rag.vector_store import STORE_RECORD, chroma_version

    docs = tmp_path / "docs"
    docs.mkdir()
    pdf = pdf_factory.text_pdf(docs / "island.pdf", FACTS)
    lib = make_library(tmp_path / "lib", embedder, vector_store=vector_store)
    try:
        lib.add([pdf])
        lib.ingest()
        record = tmp_path / "lib" / "chroma" / STORE_RECORD
        assert chroma_version() in record.read_text()
    finally:
        lib.close()
    chroma_db = tmp_path / "lib" / "chroma" / "chroma.sqlite3"
    chroma_db.write_bytes(b"not a database, as if written by an incompatible version" * 100)

    lib = make_library(tmp_path / "lib", embedder, vector_store=vector_store)
    try:
        assert [d.name for d in lib.documents()] == ["island.pdf"]
        lib.vectors  # noqa: B018 - opens the store
        assert "re-indexing" in lib.rebuilt_vectors
        assert list((tmp_path / "lib").glob("chroma.unreadable-*"))
        assert lib.has_work()
        lib.ingest()
        counts = consistent_counts(lib)
        assert counts["chunks"] == counts["embedded"] > 0
        hits = lib.search("In which year was the copper kettle forged?", k=3)
        assert hits and "1887" in hits[0].text
    finally:
        lib.close()


def assert_long_and_island_indexed_once(lib: Library) -> None:
    """long.pdf and island.pdf are ready, every chunk is in both indexes once, and the fact
    on the island is found."""
    assert [d.status for d in lib.documents()] == ["ready", "ready"]
    counts = consistent_counts(lib)
    assert counts["chunks"] == counts["embedded"]
    assert_chunked_once(lib)
    hits = lib.search("When was the copper kettle forged?", k=2)
    assert hits and "1887" in hits[0].text


def test_one_process_indexes_a_library_at_a_time(
    tmp_path: Path, embedder: object, minilm_gguf: Path
) -> None:
    """`hearth docs add` is indexing when the window opens the same library (or the other way
    round): the second process does not read the same documents again (it would replace the
    first one's chunks); it waits, and a file it adds meanwhile is indexed by the first."""
    long_pdf = pdf_factory.text_pdf(tmp_path / "long.pdf", pdf_factory.lorem_pages(12))
    lib_dir = tmp_path / "lib"
    child = _index_in_child(tmp_path, lib_dir, minilm_gguf, long_pdf, "process")
    try:
        embedded, _ = _wait_embedded(lib_dir, child, 4)
        assert child.poll() is None and embedded >= 4, "the child finished too soon"
        lib = make_library(lib_dir, embedder, vector_store="process")
        try:
            lib.add([pdf_factory.text_pdf(tmp_path / "island.pdf", FACTS)])
            report = lib.ingest_step()
            assert report.elsewhere and report.more and not report.did_work
            assert report.progress.elsewhere
            long_id = lib.resolve("long.pdf").id
            assert long_id in report.changed
            reader = lib.ingestor.reader
            assert not reader.in_flight and reader.chunking is None  # it read nothing itself
            assert child.stdout is not None
            assert child.stdout.readline().strip() == b"finished"  # it indexed both files
            assert child.wait(60) == 0
            stats = lib.ingest()  # the lock is free again: nothing is left to do
            assert stats.chunks == 0
            assert_long_and_island_indexed_once(lib)
        finally:
            lib.close()
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(30)


def test_a_paused_library_lets_another_process_index(
    tmp_path: Path, embedder: object, minilm_gguf: Path
) -> None:
    """The window is paused with a file half indexed and another being read when `hearth docs
    add` runs: reading stops at once, the command indexes at once instead of waiting for a
    resume, and on resume the window neither redoes nor duplicates the command's work."""
    long_pdf = pdf_factory.text_pdf(tmp_path / "long.pdf", pdf_factory.lorem_pages(12))
    lib_dir = tmp_path / "lib"
    lib = make_library(lib_dir, embedder, batch_size=4, vector_store="process")
    child: subprocess.Popen[bytes] | None = None
    try:
        lib.add([long_pdf])
        while lib.counts()["embedded"] < 4:
            if not lib.ingest_step().did_work:
                lib.wait_for_extraction(0.05)
        lib.add([pdf_factory.text_pdf(tmp_path / "island.pdf", FACTS)])
        lib.ingest_step()
        reader = lib.ingestor.reader
        assert reader.in_flight, "the second file is being read"

        lib.pause()
        assert not reader.in_flight and reader.extraction is None  # no pypdf worker runs
        assert lib.progress().elsewhere is False
        child = _index_in_child(tmp_path, lib_dir, minilm_gguf, long_pdf, "process")
        assert child.wait(180) == 0, "the command waited for the paused library"
        assert child.stdout is not None and child.stdout.read().strip() == b"finished"

        stats = lib.ingest()  # resume: the command did everything meanwhile
        assert stats.chunks == 0 and not reader.in_flight
        assert_long_and_island_indexed_once(lib)
    finally:
        if child is not None and child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(30)
        lib.close()


def test_a_half_chunked_document_survives_a_pause_unless_another_process_wrote(
    tmp_path: Path, embedder: object
) -> None:
    """Pause and resume keep a document that is half chunked (its pages are in memory); if
    another process wrote to the library meanwhile, the next step starts again from what is
    stored instead."""
    from rag.index import Store
    from rag.reading import CHUNK_WINDOW_PAGES

    pdf = pdf_factory.text_pdf(
        tmp_path / "long.pdf", pdf_factory.lorem_pages(CHUNK_WINDOW_PAGES + 8, 10)
    )
    lib = make_library(tmp_path / "lib", embedder)
    try:
        lib.add([pdf])
        deadline = time.monotonic() + 120
        reader = lib.ingestor.reader
        while reader.chunking is None:
            assert time.monotonic() < deadline, "the file was never read"
            if not lib.ingest_step().did_work:
                lib.wait_for_extraction(0.05)
        job = reader.chunking

        lib.pause()
        assert lib.ingestor.hold_lease() and reader.chunking is job  # nobody else wrote: kept

        lib.pause()
        other = Store(lib.data_dir / "library.sqlite3")  # another process's connection
        try:
            other.set_meta("touched", "1")
        finally:
            other.close()
        assert lib.ingestor.hold_lease() and reader.chunking is None and not reader.in_flight

        lib.ingest()  # starts again from the stored statuses
        doc = lib.resolve("long.pdf")
        assert doc.status == "ready"
        assert_chunked_once(lib, doc)
        consistent_counts(lib)
    finally:
        lib.close()


def test_a_document_removed_by_another_process_during_a_batch(
    tmp_path: Path, embedder: object
) -> None:
    """The window removes (or cancels) a document while `hearth docs add` is embedding a batch
    of it: the command stores no vectors for it and does not stop."""
    lib_dir = tmp_path / "lib"
    window = make_library(lib_dir, embedder)

    class RemovedMidBatch:
        """The real embedder; while it embeds one batch the other process removes the file."""

        def __init__(self, real: Any) -> None:
            self.real = real
            self.fired = False

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

        def embed(self, texts: list[str]) -> Any:
            vectors = self.real.embed(texts)
            if not self.fired and command.store.counts()["embedded"] >= 4:
                self.fired = True
                window.remove(window.resolve("long.pdf").id)
            return vectors

    emb = RemovedMidBatch(embedder)
    command = make_library(lib_dir, emb, batch_size=4)
    try:
        command.add([pdf_factory.text_pdf(tmp_path / "long.pdf", pdf_factory.lorem_pages(4))])
        command.add([pdf_factory.text_pdf(tmp_path / "island.pdf", FACTS)])
        command.ingest()
        assert emb.fired
        assert [d.name for d in command.documents()] == ["island.pdf"]
        assert command.documents()[0].status == "ready"
        counts = consistent_counts(command)
        assert counts["vectors"] == counts["embedded"] == counts["chunks"] > 0
    finally:
        command.close()
        window.close()


def assert_carries_on_to_the_end(lib: Library, name: str) -> None:
    """Indexing after a stop finishes the document: each chunk stored and embedded once."""
    lib.ingest()
    doc = lib.resolve(name)
    assert doc.status == "ready"
    assert_chunked_once(lib, doc)
    counts = consistent_counts(lib)
    assert counts["embedded"] == counts["chunks"] == doc.chunks


def test_a_full_disk_stops_indexing_with_a_reason_and_loses_nothing(
    tmp_path: Path, embedder: object
) -> None:
    """The disk fills up while a manual is indexed: the step says so (not a traceback), the
    library stays consistent, and once there is room again indexing carries on where it
    stopped, without redoing or duplicating anything."""
    pdf = pdf_factory.text_pdf(tmp_path / "long.pdf", pdf_factory.lorem_pages(12))
    lib = make_library(tmp_path / "lib", embedder, batch_size=4)
    try:
        lib.add([pdf])
        while lib.counts()["embedded"] < 8:
            if not lib.ingest_step().did_work:
                lib.wait_for_extraction(0.05)
        before = lib.counts()
        # A real SQLITE_FULL from SQLite: the file may not grow past its size now (a limit of
        # the library's own connection).
        pages = lib.store.conn.execute("PRAGMA page_count").fetchone()[0]
        lib.store.conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(DocumentError) as info:
            for _ in range(200):  # the next write that needs a new page
                if not lib.ingest_step().did_work:
                    lib.wait_for_extraction(0.05)
        message = info.value.user_message
        assert message.startswith("Indexing stopped: the disk is full")
        assert "free some disk space" in message and str(lib.data_dir) in message
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        assert not lib.store.conn.in_transaction  # the failed write was rolled back
        counts = lib.counts()
        assert counts["embedded"] == counts["fts_rows"] >= before["embedded"]
        # Vectors are stored before the flags: the failed batch's vectors may be there, for
        # chunks still pending (redoing the batch upserts the same ids). Nothing else.
        vectors = {int(i) for i in lib.vectors.collection.get(include=[])["ids"]}
        rows = dict(query(lib, "SELECT id, embedded FROM chunks"))
        assert {i for i, e in rows.items() if e} <= vectors <= set(rows)

        lib.cancel()  # as the window does after a failure
        lib.store.conn.execute("PRAGMA max_page_count = 1073741823")  # room again
        assert_carries_on_to_the_end(lib, "long.pdf")
    finally:
        lib.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real, small file system (a 48 MB tmpfs), to fill up. Mounting needs root; elsewhere
    the test is skipped (the SQLITE_FULL test above still runs)."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    got = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mnt)], capture_output=True
    )
    if got.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {got.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_disk_filling_up_stops_indexing_before_it_is_full(
    small_disk: Path, tmp_path: Path, embedder: object
) -> None:
    """The library and its Chroma server on a disk that fills up while a manual is indexed:
    indexing stops with the reason while there is still room to write safely (Chroma's server,
    on a really full disk, fails saying only "Error in compaction", or hangs). Once the user
    frees space, indexing carries on and both indexes agree."""
    import shutil

    from rag.ingest import LOW_DISK_BYTES

    pdf = pdf_factory.text_pdf(tmp_path / "long.pdf", pdf_factory.lorem_pages(80))
    lib = make_library(small_disk / "lib", embedder, batch_size=16, vector_store="process")
    try:
        lib.add([pdf])
        lib.vectors  # noqa: B018 - the Chroma server has started and written its files
        ballast = small_disk / "other-files.bin"  # the user's other files: 3 MB left to use
        room = shutil.disk_usage(small_disk).free - LOW_DISK_BYTES - 3 * 2**20
        with ballast.open("wb") as f:
            for _ in range(room // 2**20):
                f.write(b"\0" * 2**20)
        with pytest.raises(DocumentError) as info:
            lib.ingest()
        message = info.value.user_message
        assert message.startswith("Indexing stopped: the disk is full"), info.value.details
        assert shutil.disk_usage(small_disk).free > LOW_DISK_BYTES // 2  # stopped in time
        doc = lib.resolve("long.pdf")
        assert 0 < doc.progress < 1

        lib.cancel()
        ballast.unlink()  # the user frees space
        assert_carries_on_to_the_end(lib, "long.pdf")
    finally:
        lib.close()


KILLED_AFTER_STORING = """
import os, signal, sys
from pathlib import Path
from rag import vector_store
from rag.config import LibraryConfig
from rag.embedder import Embedder
from rag.library import Library

def main():
    lib_dir, model, long_pdf, island = (Path(a) for a in sys.argv[1:5])
    embedder = Embedder(model)
    window = Library(lib_dir, LibraryConfig(extract_workers=1), embedder=embedder)
    command = Library(lib_dir, LibraryConfig(batch_size=4, extract_workers=1), embedder=embedder)
    removed = []
    real_embed, real_upsert = embedder.embed, vector_store.VectorIndex.upsert

    def embed(texts):  # the window removes long.pdf while the command embeds a batch of it
        vectors = real_embed(texts)
        if not removed and command.store.counts()["embedded"] >= 4:
            doc = window.resolve("long.pdf")
            window.remove(doc.id)
            removed.append(doc.id)
            print(doc.id, flush=True)
        return vectors

    def upsert(self, ids, embeddings, doc_ids):  # killed right after the vectors are stored
        real_upsert(self, ids, embeddings, doc_ids)
        if removed:
            os.kill(os.getpid(), signal.SIGKILL)

    embedder.embed = embed
    vector_store.VectorIndex.upsert = upsert
    command.add([long_pdf, island])
    command.ingest()
    print("finished", flush=True)

if __name__ == "__main__":  # the extraction workers import this file again
    main()
"""


def test_vectors_of_a_removed_document_left_by_a_killed_process_are_deleted(
    tmp_path: Path, embedder: object, minilm_gguf: Path
) -> None:
    """`hearth docs add` is killed just after storing the vectors of a batch whose document the
    window removed meanwhile, before it could delete them again: the next process to open the
    library deletes them, and indexing goes on."""
    from rag.batches import IN_FLIGHT_KEY
    from rag.vector_store import open_chroma

    lib_dir = tmp_path / "lib"
    long_pdf = pdf_factory.text_pdf(tmp_path / "long.pdf", pdf_factory.lorem_pages(4))
    island = pdf_factory.text_pdf(tmp_path / "island.pdf", FACTS)
    script = tmp_path / "killed.py"
    script.write_text(KILLED_AFTER_STORING)
    child = subprocess.run(
        [sys.executable, str(script), str(lib_dir), str(minilm_gguf), str(long_pdf), str(island)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    removed = int(child.stdout.split()[0])

    def left_behind() -> int:  # the removed document's vectors, counted by Chroma itself
        client = open_chroma(lib_dir / "chroma")
        return sum(
            len(client.get_collection(c.name).get(where={"doc_id": removed}, include=[])["ids"])
            for c in client.list_collections()
        )

    assert left_behind() > 0  # what the killed process left
    lib = make_library(lib_dir, embedder)
    try:
        assert left_behind() == 0
        assert lib.store.get_meta(IN_FLIGHT_KEY) == ""
        assert [d.name for d in lib.documents()] == ["island.pdf"]
        lib.ingest()
        assert lib.documents()[0].status == "ready"
        assert_chunked_once(lib)
        counts = consistent_counts(lib)
        assert counts["vectors"] == counts["embedded"] == counts["chunks"] > 0
    finally:
        lib.close()


def test_quotes_and_citations_show_text_in_the_order_it_is_stored(
    tmp_path: Path, embedder: object
) -> None:
    """A document (or its file name) with explicit bidirectional controls cannot make a
    quote or a citation read otherwise than its characters ("Trojan Source"): they show as
    spaces, and the passage's offsets still hold (its page is found as before)."""
    note = tmp_path / "door\u202etxt.md"
    note.write_text(
        "# Harbour\n\nThe harbour master's door code is \u202e7731\u202c, kept \u2066here\u2069.\n",
        encoding="utf-8",
    )
    lib = make_library(tmp_path / "lib", embedder)
    try:
        lib.add([note])
        lib.ingest()
        [hit] = lib.search("What is the harbour master's door code?", k=1)
        assert "door code is  7731 , kept  here ." in hit.text
        assert not any(c in hit.text + hit.label() for c in "\u202a\u202b\u202c\u202d\u202e")
        assert hit.name == "door txt.md" and hit.file == str(note)  # the file still opens
        assert hit.label() == "door txt.md, § Harbour"
    finally:
        lib.close()


def _manual_with_chapter_heads(path: Path) -> Path:
    """A DocBook-style manual: each chapter's title atop its pages but the first, too few
    pages for a head on most of them; one sentence goes on over a page break under it."""
    boats = [f"Boat {n} is moored at berth {n * 3} of the north quay." for n in range(1, 9)]
    pages = [
        ["The Varnholm Manual", "A guide for the keepers of the island's harbour and light."],
        ["1. Caring for the boats", *boats[:4]],
        ["Caring for the boats", *boats[4:]],
        [
            "Caring for the boats",
            "Nets are dried on the racks behind the fish market every Saturday.",
            "The harbour master keeps the spare lamp wicks in a locked oak chest that stands in",
        ],
        ["Caring for the boats", "the north corner of the boat shed, beside the oars."],
        ["2. The light", "The lamp is lit every evening half an hour before sunset."],
        ["The light", "The keeper writes the weather into the log book at noon."],
    ]
    return pdf_factory.text_pdf(path, pages)


def test_a_chapters_running_head_is_left_out_and_older_libraries_answer_while_read_again(
    tmp_path: Path, embedder: object
) -> None:
    """pdf reading 3: a chapter's title atop its pages is not text, so the sentence that
    crosses a page reads whole. A library read before (its text still holding the head)
    reads its PDFs again and they answer meanwhile; only the chunks that differ are
    embedded again."""
    pdf = _manual_with_chapter_heads(tmp_path / "manual.pdf")
    question = "Where are the spare lamp wicks kept?"
    lib = make_library(tmp_path / "lib", embedder, chunk_tokens=48, chunk_overlap=8)
    try:
        lib.add([pdf])
        lib.ingest()
        texts = [r[0] for r in query(lib, "SELECT text FROM chunks ORDER BY ordinal")]
        assert not any("Caring for the boats" in t.split("\n") for t in texts)
        assert any("1. Caring for the boats" in t for t in texts)  # the heading is text
        whole = re.compile(r"that stands in\s+the north corner of the boat shed")
        assert any(whole.search(h.text) for h in lib.search(question, k=10))
        n_chunks = len(texts)
        with lib.store.conn:  # as read before: the head between the sentence's halves
            old = lib.store.conn.execute(
                "UPDATE chunks SET content_hash = 'old', text = replace(text, "
                "'the north corner', 'Caring for the boats' || char(10) || 'the north corner') "
                "WHERE text LIKE '%the north corner%'"
            ).rowcount
        assert 1 <= old < n_chunks
        lib.store.set_meta("reading_version.pdf", "2")
    finally:
        lib.close()
    lib = make_library(tmp_path / "lib", embedder, chunk_tokens=48, chunk_overlap=8)
    try:
        [doc] = lib.documents()
        assert (doc.status, doc.changed, doc.old_text_hidden, doc.answers) == (
            "queued", RELABEL, False, True)  # fmt: skip
        hits = lib.search(question, k=10)  # the old text answers meanwhile
        assert any("Caring for the boats\nthe north corner" in h.text for h in hits)
        stats = lib.ingest()
        assert (stats.chunks, stats.chunks_reused) == (n_chunks, n_chunks - old)
        [doc] = lib.documents()
        assert (doc.status, doc.changed, doc.chunks, doc.embedded) == (
            "ready", 0, n_chunks, n_chunks)  # fmt: skip
        texts = [r[0] for r in query(lib, "SELECT text FROM chunks ORDER BY ordinal")]
        assert not any("Caring for the boats" in t.split("\n") for t in texts)
        assert any(whole.search(h.text) for h in lib.search(question, k=10))
        assert lib.store.get_meta("reading_version.pdf") == str(READING_VERSIONS["pdf"])
    finally:
        lib.close()
