"""A models folder of a test's own, as Hearth's first use leaves it.

Every command that needs a model, and the window, prepare the default models in the models
folder on first use (app.user_library.prepare_default_models): Gemma joined from its parts
(seconds, 253 MB) and all-MiniLM-L6-v2 converted and timed (about 15 s on 2 cores). A test
that needs a folder of its own (downloads, new variants) gets the shared prepared files
linked in instead, so that it does not pay for that again; first use then finds them and
only records that it is done."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def like_first_use(folder: Path, minilm_gguf: Path, gemma: Path | None = None) -> Path:
    """`folder` with the prepared embedding model (and its tuning record) and, given its
    file, Gemma, as first use would leave them. Returns the folder."""
    from app.user_library import prepare_default_models
    from rag.embedder import tuning_path

    folder.mkdir(parents=True, exist_ok=True)
    for src in (minilm_gguf, tuning_path(minilm_gguf), *([gemma] if gemma else [])):
        link_or_copy(src, folder / src.name)
    # Finds them in place (a few file checks) and records Gemma as made once.
    prepare_default_models(folder, chat=gemma is not None)
    return folder
