"""Watched documents (`rag.watch`) with real PDFs, the real embedding model and the real
library: a file changed on disk is indexed again and answers with its new text, a deleted one
is marked missing and not searched (and comes back with its file), a new file in a watched
folder is indexed, a file the user removed from a watched folder stays out."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from data_files import data_pdf

from rag.config import LibraryConfig
from rag.library import Library

TASN1 = "libtasn1-doc/libtasn1.pdf"  # 36 pages: "asn1Parser reads a single file ..."
MIME = "shared-mime-info/shared-mime-info-spec.pdf"  # 17 pages: "The globs2 file is ..."


@pytest.fixture(scope="module")
def embedder(minilm_gguf: Path) -> Iterator[object]:
    from rag.embedder import Embedder

    emb = Embedder(minilm_gguf)
    yield emb
    emb.close()


@pytest.fixture
def library(tmp_path: Path, embedder: object) -> Iterator[Library]:
    config = LibraryConfig(batch_size=16, extract_workers=1)
    lib = Library(tmp_path / "lib", config, embedder=embedder)  # type: ignore[arg-type]
    yield lib
    lib.close()


def real_pdf(pdf_id: str, target: Path) -> Path:
    """A copy of one of the real test PDFs (`data_files`), its folders made."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(data_pdf(pdf_id), target)
    return target


def replace_file(target: Path, source: Path) -> None:
    """Write another file's bytes over `target`, with a later modification time (a copy
    within the file system's time resolution could otherwise keep the old one)."""
    shutil.copyfile(source, target)
    later = time.time() + 10
    os.utime(target, (later, later))


def files_found(lib: Library, words: str) -> set[str]:
    return {Path(h.file).name for h in lib.search(words, k=5, mode="keyword")}


def statuses(lib: Library) -> dict[str, str]:
    return {d.name: d.status for d in lib.documents()}


def test_a_changed_file_is_indexed_again_and_answers_with_its_new_text(
    tmp_path: Path, library: Library
) -> None:
    folder = tmp_path / "docs"
    manual = real_pdf(TASN1, folder / "manual.pdf")
    library.add([folder])
    library.ingest()
    assert statuses(library) == {"manual.pdf": "ready"}
    assert files_found(library, "asn1Parser") == {"manual.pdf"}
    assert not library.check_files()  # nothing changed: nothing to do

    # Touched, same bytes: the stored hash says it is the same file, nothing is queued.
    later = time.time() + 5
    os.utime(manual, (later, later))
    assert not library.check_files()
    assert statuses(library) == {"manual.pdf": "ready"} and not library.has_work()

    replace_file(manual, data_pdf(MIME))
    report = library.check_files()
    doc = library.resolve("manual.pdf")
    assert report.changed == [doc.id] and doc.status == "queued" and doc.changed
    # Its old text no longer answers while it waits to be read again.
    assert files_found(library, "asn1Parser") == set()
    assert [h for h in library.search("asn1Parser reads ASN.1 definitions", k=5)] == []

    library.ingest()
    doc = library.resolve("manual.pdf")
    assert (doc.status, doc.changed, doc.pages) == ("ready", 0, 17)
    assert files_found(library, "globs2") == {"manual.pdf"}
    assert files_found(library, "asn1Parser") == set()
    hits = library.search("What is on each line of the globs2 file?", k=5)
    assert hits and Path(hits[0].file).name == "manual.pdf"
    assert any("globs2" in h.text for h in hits)


def test_a_deleted_file_is_missing_not_searched_and_comes_back_with_its_file(
    tmp_path: Path, library: Library
) -> None:
    mime = real_pdf(MIME, tmp_path / "kept" / "mime.pdf")
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nThe globs2 file is mentioned here too, in a note.\n")
    library.add([mime, note])
    library.ingest()
    assert files_found(library, "globs2") == {"mime.pdf", "note.md"}
    before = library.resolve("mime.pdf")

    moved = tmp_path / "elsewhere.pdf"
    mime.rename(moved)
    report = library.check_files()
    assert report.missing == [before.id]
    assert statuses(library) == {"mime.pdf": "missing", "note.md": "ready"}
    assert files_found(library, "globs2") == {"note.md"}  # listed, but not searched
    assert {Path(h.file).name for h in library.search("globs2 file lines", k=8)} == {"note.md"}
    only = library.search("globs2", k=5, doc_ids=[before.id], mode="keyword")
    assert only == []  # not even when a chat names it
    assert library.progress().missing == 1
    assert not library.check_files()  # still missing: reported once

    moved.rename(mime)  # the same file again: ready at once, nothing read or embedded
    report = library.check_files()
    assert report.back == [before.id] and not report.changed
    assert statuses(library) == {"mime.pdf": "ready", "note.md": "ready"}
    assert not library.has_work()
    assert files_found(library, "globs2") == {"mime.pdf", "note.md"}
    again = library.resolve("mime.pdf")
    assert (again.chunks, again.embedded, again.sha256) == (
        before.chunks,
        before.embedded,
        before.sha256,
    )


def test_new_files_in_a_watched_folder_are_indexed_removed_ones_stay_out(
    tmp_path: Path, library: Library
) -> None:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    first = folder / "first.md"
    first.write_text("# First\n\nThe lighthouse keeper counts 412 steps every evening.\n")
    library.add([folder])
    library.ingest()
    assert library.folders() == [str(folder)]
    assert statuses(library) == {"first.md": "ready"}

    real_pdf(TASN1, folder / "sub" / "tasn1.pdf")
    (folder / "skip.png").write_bytes(b"\x89PNG not a document")
    report = library.check_files()
    assert len(report.added) == 1 and report.needs_indexing
    library.ingest()
    assert statuses(library) == {"first.md": "ready", "tasn1.pdf": "ready"}
    assert files_found(library, "asn1Parser") == {"tasn1.pdf"}

    # Removed by the user: not added again while its folder is watched...
    library.remove(library.resolve("tasn1.pdf").id)
    assert not library.check_files()
    assert statuses(library) == {"first.md": "ready"}
    # ...unless it is added again by hand.
    library.add([folder / "sub" / "tasn1.pdf"])
    library.ingest()
    assert statuses(library)["tasn1.pdf"] == "ready"

    # The folder's last document removed: the folder is no longer watched.
    for doc in library.documents():
        library.remove(doc.id)
    assert library.folders() == []
    (folder / "later.md").write_text("# Later\n\nWritten after the folder was let go.\n")
    assert not library.check_files() and library.documents() == []


def test_a_watched_folder_can_be_removed_with_its_documents(
    tmp_path: Path, library: Library
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    for name in ("a.md", "b.txt"):
        (folder / name).write_text(f"{name}: the tide tables are printed every March.\n")
    other = tmp_path / "other.md"
    other.write_text("Ferries leave on Tuesdays.\n")
    library.add([folder, other])
    library.ingest()
    removed = library.remove_folder(folder)
    assert sorted(d.name for d in removed) == ["a.md", "b.txt"]
    assert library.folders() == [] and statuses(library) == {"other.md": "ready"}
    (folder / "c.md").write_text("new, in a folder no longer watched\n")
    assert not library.check_files()
