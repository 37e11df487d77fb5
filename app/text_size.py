"""Text files too large to index without asking first.

A 500 MB log saved as .txt is read in seconds but embedded for hours (every 104 tokens of it
are a passage, and this computer embeds some passages a second), so the window asks before
it adds a .txt or .md file over CONFIRM_BYTES and `hearth docs add` wants --force; both say
how long it would take here. Standard library only (rag.formats is too): the window asks on
its GUI thread.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from rag.formats import TEXT_SUFFIXES

CONFIRM_BYTES = 20 * 2**20
BYTES_PER_TOKEN = 4.0  # English text in a WordPiece vocabulary, about
NEW_TOKENS_PER_PASSAGE = 104  # 128-token passages overlapping by 24 (rag.chunking)
FALLBACK_PASSAGES_PER_S = 10.0
# Beside the embedding model: what preparing it measured on this computer (rag.embedding_model)
TUNING_FILE = "all-MiniLM-L6-v2.gguf.tuning.json"


def large_text_files(paths: Iterable[str | Path]) -> list[tuple[Path, int]]:
    """The .txt and .md files over CONFIRM_BYTES among `paths` (folders searched, hidden
    entries left out as adding leaves them out), with their sizes."""
    found: list[tuple[Path, int]] = []
    for raw in paths:
        top = Path(raw).expanduser()
        files = [top] if top.is_file() else []
        if top.is_dir():
            for root, dirs, names in os.walk(top):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                files += [Path(root, n) for n in names if not n.startswith(".")]
        for f in files:
            if f.suffix.lower() in TEXT_SUFFIXES:
                try:
                    size = f.stat().st_size
                except OSError:
                    continue
                if size > CONFIRM_BYTES:
                    found.append((f, size))
    return found


def passages_per_second(models_dir: Path) -> float:
    """How fast this computer embeds, as measured when the embedding model was prepared."""
    try:
        record = json.loads((models_dir / TUNING_FILE).read_text(encoding="utf-8"))
        rates = [float(t["chunks_per_s"]) for t in record.get("trials", [])]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return FALLBACK_PASSAGES_PER_S
    return max(rates, default=FALLBACK_PASSAGES_PER_S) or FALLBACK_PASSAGES_PER_S


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"about {max(1, round(seconds))} seconds"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} minutes"
    return f"about {seconds / 3600:.1f} hours"


def describe(large: list[tuple[Path, int]], rate: float) -> str:
    """ "notes.txt is 48 MB of text: about 120,000 passages, about 3.3 hours of indexing on
    this computer." for each file."""
    lines = []
    for path, size in large:
        passages = size / BYTES_PER_TOKEN / NEW_TOKENS_PER_PASSAGE
        lines.append(
            f"{path.name} is {size / 2**20:.0f} MB of text: about {passages:,.0f} passages, "
            f"{_duration(passages / rate)} of indexing on this computer."
        )
    return "\n".join(lines)
