"""What adding documents says before and after: text files of hours of indexing are asked
about first, with an estimate; every file a folder's adding leaves out is reported."""

from __future__ import annotations

import json
from pathlib import Path

from app.text_size import CONFIRM_BYTES, describe, large_text_files, passages_per_second
from rag.formats import skipped_files, skipped_summary


def _big(path: Path, size: int = CONFIRM_BYTES + 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.truncate(size)  # sparse: the size is what counts
    return path


def test_large_text_files_are_found_in_files_and_folders(tmp_path: Path) -> None:
    big = _big(tmp_path / "notes" / "server.log.txt")
    _big(tmp_path / "notes" / ".hidden" / "skipped.txt")  # adding leaves it out: not asked
    (tmp_path / "notes" / "small.md").write_text("# small\n")
    _big(tmp_path / "scan.pdf")  # a PDF's size says little of its text: not asked
    assert large_text_files([tmp_path / "notes", tmp_path / "scan.pdf"]) == [
        (big, CONFIRM_BYTES + 1)
    ]
    assert large_text_files([big]) == [(big, CONFIRM_BYTES + 1)]


def test_the_estimate_uses_what_this_computer_measured(tmp_path: Path) -> None:
    record = {"trials": [{"chunks_per_s": 6.0}, {"chunks_per_s": 12.5}]}
    (tmp_path / "all-MiniLM-L6-v2.gguf.tuning.json").write_text(json.dumps(record))
    assert passages_per_second(tmp_path) == 12.5
    assert passages_per_second(tmp_path / "elsewhere") == 10.0  # not measured: a guess
    said = describe([(Path("server.log.txt"), 48 * 2**20)], 12.5)
    assert said == (
        "server.log.txt is 48 MB of text: about 120,990 passages, about 2.7 hours of "
        "indexing on this computer."
    )


def test_every_file_a_folder_leaves_out_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    for i in range(16):
        (folder / f"report-{i}.docx").write_bytes(b"PK")
    (folder / "figures").mkdir()
    (folder / "figures" / "chart.png").write_bytes(b"\x89PNG")
    (folder / "README").write_text("no extension")
    (folder / ".git").mkdir()
    (folder / ".git" / "config").write_text("[core]")
    (folder / ".DS_Store").write_bytes(b"\0")
    (folder / "summary.pdf").write_bytes(b"%PDF-1.4")
    skipped = skipped_files([folder])
    assert len(skipped) == 16 + 1 + 1 + 2  # .git counts once, not what it holds
    assert skipped_summary(skipped) == (
        "16 .docx files, 1 .png file, 1 no-extension file skipped: format not supported "
        "(Hearth reads PDF, .txt, .md and .rst). 2 hidden files or folders skipped."
    )
    assert skipped_files([folder / "summary.pdf"]) == []
    assert skipped_files([folder / "report-1.docx"]) == [folder / "report-1.docx"]
    assert skipped_files([folder / "report-1.docx"], given_files=False) == []


def test_a_folder_gives_every_kind_of_file_extraction_reads(tmp_path: Path) -> None:
    from rag.file_text import extract_file
    from rag.formats import discover

    for name in ("a.pdf", "b.txt", "c.md", "d.markdown", "e.docx"):
        (tmp_path / name).write_text("# Notes\n\nThe boiler is serviced in May.\n")
    found = sorted(p.name for p in discover([tmp_path]))
    assert found == ["a.pdf", "b.txt", "c.md", "d.markdown"]
    assert [p.name for p in skipped_files([tmp_path])] == ["e.docx"]
    markdown = extract_file(tmp_path / "d.markdown")
    assert markdown.status == "ok" and "serviced in May" in markdown.pages[0].text
