"""The user's models and document library, prepared and opened as the settings describe them.

First use: the default models ship as packages (engine.catalog): Gemma 3 270M in parts to be
joined, all-MiniLM-L6-v2 as safetensors to be converted (and timed on this CPU). They are put
in the models folder the first time something needs a model, by `prepare_default_models`:
`hearth setup`, every command that needs a model (`first_use`), the window's engine thread
(Gemma) and its documents thread (the embedding model).

The command line (`hearth docs ...`, `hearth ask`) and the benchmarks open the library here;
the window's documents thread builds its `Library` from `DocsConfig`, made from the same
settings. This is where settings and folders (app/) meet the library (rag/), which knows
neither.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.paths import get_paths
from app.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from rag.config import EmbedderLike
    from rag.library import Library

Progress = Callable[[str], None]
log = logging.getLogger(__name__)


FIRST_USE_RECORD = ".first-use.json"  # in the models folder: default models made there once


def prepare_default_models(
    models_dir: Path,
    progress: Progress | None = None,
    *,
    chat: bool = True,
    embedding: bool = True,
    retune: bool = False,
    restore: bool = False,
) -> list[Path]:
    """Put the default models whose packages are installed into `models_dir`: Gemma 3 270M
    joined from its parts and sha256-checked (with `chat`; seconds), all-MiniLM-L6-v2
    converted to GGUF as F16 and F32 and the faster kept (with `embedding`; about 15 s).
    Quick (a few file checks) when they are in place. `progress` hears each step that does
    work. Returns the default models' files in place.

    Gemma is made once per models folder (recorded in FIRST_USE_RECORD): deleted later, it
    stays deleted unless `restore` (`hearth setup`). The embedding model is made again when
    it is missing, since documents cannot be indexed without it. `retune`: convert and time
    the embedding model again."""
    from engine.catalog import GEMMA_FILE, ensure_default_models, ensure_embedding_model

    sweep_interrupted_jobs(models_dir)

    def convert(src: Path, out: Path) -> Path:
        from rag.embedding_model import prepare_default

        return prepare_default(src, out, progress=progress)

    if retune:
        ensure_embedding_model(models_dir, convert, force=True)
    made_once = _first_use_record(models_dir)
    kept: list[Path] = []
    if chat and GEMMA_FILE in made_once and not restore:
        chat = False
        kept = [p for p in [models_dir / GEMMA_FILE] if p.is_file()]
    made = ensure_default_models(
        models_dir, convert if embedding else None, progress=progress, chat=chat
    )
    if chat and GEMMA_FILE not in made_once and any(p.name == GEMMA_FILE for p in made):
        _record_first_use(models_dir, made_once | {GEMMA_FILE})
    return kept + made


def sweep_interrupted_jobs(models_dir: Path) -> str:
    """Remove the temporary files of quantizations, conversions and downloads that were
    killed (no running job owns them: engine.job_files); returns a line saying what was
    removed, or "" when nothing was. The window logs it, commands print it."""
    from engine.job_files import describe, sweep

    removed = sweep(models_dir)
    if not removed:
        return ""
    note = describe(removed)
    log.info("%s", note)
    return note


def on_first_step(callback: Callable[[], None]) -> Progress:
    """A progress function for `prepare_default_models` that calls `callback` once, at the
    first step that does work (the window's documents thread shows one notice)."""
    said: list[str] = []

    def progress(message: str) -> None:
        if not said:
            said.append(message)
            callback()

    return progress


def _first_use_record(models_dir: Path) -> set[str]:
    try:
        data = json.loads((models_dir / FIRST_USE_RECORD).read_text(encoding="utf-8"))
        return {str(name) for name in data.get("made", [])}
    except (OSError, ValueError, AttributeError):
        return set()


def _record_first_use(models_dir: Path, names: set[str]) -> None:
    record = models_dir / FIRST_USE_RECORD
    tmp = record.with_name(f"{record.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"made": sorted(names)}) + "\n", encoding="utf-8")
        os.replace(tmp, record)
    except OSError:  # a read-only folder: the model is checked again next time (a stat)
        tmp.unlink(missing_ok=True)


def first_use(models_dir: Path | None = None) -> list[Path]:
    """What a command that needs a model does first: `prepare_default_models` with its
    progress on stderr (nothing is written when the models are in place). A preparation
    that fails (a full disk) is reported and the command goes on with the models there
    are: `hearth chat` needs no embedding model, and a command that needs the missing one
    fails with the reason when it resolves it."""
    from engine.errors import HearthError

    folder = models_dir or get_paths().ensure().models
    note = sweep_interrupted_jobs(folder)
    if note:
        sys.stderr.write(f"hearth: {note}\n")
    said: list[str] = []

    def progress(message: str) -> None:
        if not said:
            sys.stderr.write(f"hearth: first use: preparing the default models in {folder}\n")
        said.append(message)
        sys.stderr.write(f"hearth:   {message}\n")
        sys.stderr.flush()

    try:
        made = prepare_default_models(folder, progress)
    except (HearthError, OSError) as exc:
        reason = exc.user_message if isinstance(exc, HearthError) else str(exc)
        sys.stderr.write(f"hearth: the default models could not all be prepared: {reason}\n")
        return []
    if said:
        sys.stderr.write(f"hearth: ready: {', '.join(p.name for p in made)}\n")
    return made


def embedding_model_path(
    settings: Settings, models_dir: Path, progress: Progress | None = None
) -> Path:
    """The embedding model the settings choose; the default one is prepared on first use
    (converted from the shipped safetensors)."""
    from engine.catalog import Catalog

    if not settings.embedding_model:
        prepare_default_models(models_dir, progress, chat=False)
    return Path(Catalog(models_dir).resolve(settings.embedding_model, embedding=True).path)


def open_user_library(
    *, with_model: bool = True, embedder: EmbedderLike | None = None, **overrides: Any
) -> Library:
    """The user's library (`<data>/documents`) with the settings' chunking and vector store.

    with_model: load the embedding model and the vector store now, which also notices a changed
    embedding model (every document then needs embedding again: `has_work()` becomes true).
    Without it only the SQLite store opens (listing and removing need no model; Chroma opens
    when a removal needs it). Keyword arguments are `LibraryConfig` fields that override the
    settings; `embedder`: a model the caller owns, instead of the settings' model file."""
    from rag.config import LibraryConfig
    from rag.library import Library

    paths = get_paths()
    settings = Settings.load(paths.settings_file)
    config = LibraryConfig(
        vector_store=settings.vector_store, vector_store_token=settings.chroma_token
    )
    if not with_model:
        return Library(paths.documents_dir, replace(config, **overrides), embedder=embedder)
    config = replace(
        config, chunk_tokens=settings.chunk_tokens, chunk_overlap=settings.chunk_overlap
    )
    config = replace(config, **overrides)
    if config.embedding_model is None and embedder is None:
        config = replace(config, embedding_model=embedding_model_path(settings, paths.models))
    lib = Library(paths.documents_dir, config, embedder=embedder)
    try:
        lib.vectors  # noqa: B018
    except BaseException:
        lib.close()
        raise
    return lib
