"""The window asks before adding a text file of hours of indexing, with an estimate; 'no' adds
nothing, 'yes' adds it as usual."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_documents_support import docs_gui_fixture  # noqa: F401  (the docs_gui fixture)
from ui_fakes import Script

from app.text_size import CONFIRM_BYTES


@pytest.mark.parametrize("answer", [False, True])
def test_a_huge_text_file_is_asked_about_first(
    docs_gui: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: bool
) -> None:
    import ui.dialogs

    asked: list[str] = []

    def confirm(_parent: object, title: str, text: str, action: str) -> bool:
        asked.append(f"{title}|{text}|{action}")
        return answer

    monkeypatch.setattr(ui.dialogs, "confirm", confirm)
    gui = docs_gui(Script(), start=False)
    panel = gui.window.documents_ui
    added: list[list[str]] = []
    monkeypatch.setattr(panel.docs, "add", added.append)
    log = tmp_path / "server-log.txt"
    with log.open("wb") as fh:
        fh.truncate(CONFIRM_BYTES + 2**20)
    small = tmp_path / "notes.md"
    small.write_text("# Notes\n")

    panel.add_paths([str(small)])  # nothing large: not asked
    assert asked == [] and added == [[str(small)]]
    panel.add_paths([str(tmp_path)])
    (said,) = asked
    assert said.startswith("Large text files|server-log.txt is 21 MB of text: about")
    assert "of indexing on this computer." in said and said.endswith("|Index them")
    assert added[1:] == ([[str(tmp_path)]] if answer else [])
