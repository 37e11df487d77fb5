"""Watched documents through the command line, as a user runs it: `hearth docs list` shows a
file changed on disk as "changed – re-indexing" and a deleted one as "missing", `hearth docs
search` indexes the changed file first and finds its new text, `hearth docs refresh` picks up a
new file in a watched folder, `hearth docs rm FOLDER` stops watching it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from test_retrieve import hearth


def later(path: Path, seconds: float = 10) -> None:
    t = time.time() + seconds
    os.utime(path, (t, t))


def listed(*extra: str) -> dict[str, dict]:
    out = hearth("docs", "list", "--json", *extra)
    assert out.returncode == 0, out.stderr
    return {d["name"]: d for d in json.loads(out.stdout)}


def test_cli_follows_files_changed_deleted_and_added_on_disk(
    tmp_path: Path, minilm_gguf: Path
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    tides = folder / "tides.md"
    tides.write_text("# Tides\n\nThe tide tables for Varnholm are printed every March.\n")
    ferry = folder / "ferry.txt"
    ferry.write_text("Ferries to the mainland leave on Tuesdays and Fridays only.\n")
    added = hearth("docs", "add", str(folder))
    assert added.returncode == 0, added.stderr

    tides.write_text("# Tides\n\nSince 2024 the tide tables are printed every September.\n")
    later(tides)
    plain = hearth("docs", "list")
    assert plain.returncode == 0, plain.stderr
    line = next(x for x in plain.stdout.splitlines() if x.endswith(str(tides)))
    assert "changed – re-indexing" in line
    assert f"watching {folder}" in plain.stdout
    assert "1 changed" in plain.stderr and "hearth docs refresh" in plain.stderr

    found = hearth("docs", "search", "tide tables printed", "-k", "3", "--json")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert hits and hits[0]["file"] == str(tides) and "September" in hits[0]["text"]
    assert all("March" not in h["text"] for h in hits)
    assert listed()["tides.md"]["status"] == "ready"

    ferry.unlink()
    (folder / "lamp.md").write_text("# Lamp\n\nThe lamp is lit every evening before sunset.\n")
    docs = listed()
    assert docs["ferry.txt"]["status"] == "missing"
    assert docs["lamp.md"]["status"] == "queued"  # found by `list`, indexed by `refresh`
    refreshed = hearth("docs", "refresh", "-q")
    assert refreshed.returncode == 0, refreshed.stderr
    assert "missing" in next(x for x in refreshed.stdout.splitlines() if "ferry.txt" in x)
    assert listed()["lamp.md"]["status"] == "ready"
    none = hearth("docs", "search", "ferries mainland Tuesdays", "--mode", "keyword", "--json")
    assert json.loads(none.stdout) == []  # the missing file is not searched

    gone = hearth("docs", "rm", str(folder))
    assert gone.returncode == 0, gone.stderr
    assert f"stopped watching {folder}" in gone.stderr
    assert listed() == {}
