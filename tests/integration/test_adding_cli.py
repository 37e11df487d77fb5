"""What `hearth docs add` says about what it leaves out or would take hours: files a folder
holds that are not PDF, .txt or .md are reported with the reason, and a text file over 20 MB
needs --force, with an estimate of the time it takes on this computer."""

from __future__ import annotations

from pathlib import Path

from test_retrieve import hearth
from test_watch_cli import listed as _listed

from app.text_size import CONFIRM_BYTES


def test_a_huge_text_file_needs_force_and_skipped_files_are_reported(
    tmp_path: Path, minilm_gguf: Path
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "lamp.md").write_text("# Lamp\n\nThe lamp is lit every evening at sunset.\n")
    for name in ("minutes.docx", "budget.docx", "photo.jpg"):
        (folder / name).write_bytes(b"PK\x03\x04")
    log = folder / "server-log.txt"
    with log.open("wb") as fh:
        fh.truncate(CONFIRM_BYTES + 2**20)

    refused = hearth("docs", "add", str(folder))
    assert refused.returncode == 2
    assert "server-log.txt is 21 MB of text: about" in refused.stderr
    assert "of indexing on this computer" in refused.stderr
    assert "Nothing was added: add --force" in refused.stderr
    assert _listed() == {}

    added = hearth("docs", "add", "--force", "--no-index", str(folder))
    assert added.returncode == 0, added.stderr
    assert (
        "2 .docx files, 1 .jpg file skipped: format not supported (Hearth reads PDF, .txt, "
        ".md and .rst)." in added.stderr
    )
    assert set(_listed()) == {"lamp.md", "server-log.txt"}
