"""Which files the document library takes, known without its heavy parts (numpy, chromadb,
pypdf): the window's drop target and the documents thread use this before the library is
open. Nothing here imports more than the standard library and engine.errors."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from engine.errors import DocumentError

# What adding a folder picks up, and what the window accepts when files are dropped on it.
SUPPORTED_SUFFIXES = (".pdf", ".txt", ".md")


def discover(paths: Iterable[Path | str]) -> list[Path]:
    """Files to add: files as given, folders searched recursively for .pdf .txt .md (hidden
    files and folders skipped). Missing paths raise DocumentError before anything is added."""
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
