"""Watched documents and the sources selector in the window, with the real document library on
the real documents thread (the chat engine is the scripted fake): the panel shows a file
changed on disk as "changed – re-indexing" and then searches its new text, a deleted one as
"missing" (not searched), a new file in a watched folder is indexed; and "Answer from" follows
documents that `hearth docs add` indexed from a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from test_documents_support import (  # noqa: F401  (docs_gui_fixture: the docs_gui fixture)
    docs_gui_fixture,
    facts_pdf,
    wait_statuses,
)
from ui_fakes import Script, fake_factory

from app.sources import SourceScope
from ui.documents_model import STATUS, status_text

HEARTH = Path(sys.executable).parent / "hearth"


def later(path: Path) -> None:
    t = time.time() + 10
    os.utime(path, (t, t))


def search_files(qtbot: Any, docs: Any, query: str) -> list[tuple[str, str]]:
    """(file name, text) of what the documents thread finds for `query`, over all documents."""
    with qtbot.waitSignal(docs.retrieved, timeout=60_000) as blocker:
        docs.retrieve(query, 5)
    return [(Path(h.file).name, h.text) for h in blocker.args[1]]


def shown_status(gui: Any, name: str) -> tuple[str, str]:
    """The panel's Status cell for a document: its text and tooltip."""
    model = gui.window.documents_ui.panel.model
    i = next(i for i, r in enumerate(model.rows()) if r.name == name)
    cell = model.index(i, STATUS)
    return cell.data(), cell.data(Qt.ItemDataRole.ToolTipRole)


def test_the_panel_follows_files_changed_deleted_and_added_on_disk(
    docs_gui: Any, qtbot: Any, tmp_path: Path
) -> None:
    gui = docs_gui(fake_factory(Script()))
    docs = gui.controller.docs
    folder = tmp_path / "docs"
    pdf = facts_pdf(folder)
    note = folder / "tides.md"
    note.write_text("# Tides\n\nThe tide tables for Varnholm are printed every March.\n")
    gui.window.documents_ui.add_paths([str(folder)])
    wait_statuses(qtbot, gui, {"varnholm.pdf": "ready", "tides.md": "ready"})
    assert any("March" in text for _name, text in search_files(qtbot, docs, "tide tables"))

    seen: list[str] = []  # the note's Status text each time the list is shown
    docs.documentsChanged.connect(
        lambda: seen.extend(status_text(r) for r in docs.documents() if r.name == "tides.md")
    )
    note.write_text("# Tides\n\nSince 2024 the tide tables are printed every September.\n")
    later(note)
    qtbot.waitUntil(lambda: "changed – re-indexing" in seen, timeout=30_000)
    wait_statuses(qtbot, gui, {"tides.md": "ready"})
    found = search_files(qtbot, docs, "when are the tide tables printed")
    texts = [text for name, text in found if name == "tides.md"]
    assert texts and "September" in texts[0] and not any("March" in t for t in texts)

    pdf.unlink()
    wait_statuses(qtbot, gui, {"varnholm.pdf": "missing"})
    text, tip = shown_status(gui, "varnholm.pdf")
    assert text == "missing" and str(pdf) in tip and "not used" in tip
    label = gui.window.documents_ui.panel.overall_label
    qtbot.waitUntil(lambda: label.text() == "1 document ready · 1 missing", timeout=10_000)
    names = {name for name, _text in search_files(qtbot, docs, "copper kettle Agnethe Brusk")}
    assert "varnholm.pdf" not in names

    (folder / "ferry.md").write_text("# Ferry\n\nFerries leave on Tuesdays and Fridays only.\n")
    wait_statuses(qtbot, gui, {"ferry.md": "ready"})
    assert "ferry.md" in {name for name, _ in search_files(qtbot, docs, "ferries Tuesdays")}

    facts_pdf(folder)  # the PDF is back: ready again, its passages answer again
    wait_statuses(qtbot, gui, {"varnholm.pdf": "ready"})
    names = {name for name, _text in search_files(qtbot, docs, "copper kettle Agnethe Brusk")}
    assert "varnholm.pdf" in names


def hearth_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`hearth ...` in another process, as a user in a terminal (HEARTH_HOME from the test)."""
    return subprocess.run(
        [str(HEARTH), *args], capture_output=True, text=True, timeout=600, check=False
    )


def test_answer_from_follows_documents_indexed_from_the_command_line(
    docs_gui: Any, qtbot: Any, tmp_path: Path
) -> None:
    gui = docs_gui(fake_factory(Script()), start=False)
    c = gui.controller
    bar = gui.window.documents_ui.sources_bar
    with qtbot.waitSignal(c.docs.documentsChanged, timeout=30_000):  # the (empty) library
        c.start()
    assert c.new_chat() is not None
    assert bar.combo.currentData() == "none"

    note = tmp_path / "tides.md"
    note.write_text("# Tides\n\nThe tide tables for Varnholm are printed every March.\n")
    added = hearth_cli("docs", "add", "-q", str(note))
    assert added.returncode == 0, added.stderr
    # The chat had not chosen its sources: it answers from all documents now, and says so.
    qtbot.waitUntil(lambda: bar.combo.currentData() == "all", timeout=30_000)
    assert bar.scope() == SourceScope("all")
    wait_statuses(qtbot, gui, {"tides.md": "ready"})
    qtbot.waitUntil(lambda: bar.summary.text() == "1 document", timeout=10_000)

    # A chat that chose "No documents" keeps its choice.
    bar.set_scope(SourceScope("none"))
    other = tmp_path / "ferry.md"
    other.write_text("# Ferry\n\nFerries leave on Tuesdays and Fridays only.\n")
    assert hearth_cli("docs", "add", "-q", str(other)).returncode == 0
    wait_statuses(qtbot, gui, {"ferry.md": "ready"})
    assert bar.combo.currentData() == "none" and bar.scope().mode == "none"
