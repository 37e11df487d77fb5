"""The user's document library, opened as the settings describe it.

The command line (`hearth docs ...`, `hearth ask`) and the benchmarks open it here; the
window's documents thread builds its `Library` from `DocsConfig`, made from the same settings.
This is where settings and folders (app/) meet the library (rag/), which knows neither.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.paths import get_paths
from app.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from rag.library import Library


def embedding_model_path(settings: Settings, models_dir: Path) -> Path:
    """The embedding model the settings choose, prepared on first use (the default is
    converted from the shipped safetensors)."""
    from engine.catalog import Catalog

    return Path(Catalog(models_dir).resolve(settings.embedding_model, embedding=True).path)


def open_user_library(*, with_model: bool = True, **kwargs: Any) -> Library:
    """The user's library (`<data>/documents`) with the settings' chunking and vector store.

    with_model: load the embedding model and the vector store now, which also notices a changed
    embedding model (every document then needs embedding again: `has_work()` becomes true).
    Without it only the SQLite store opens (listing and removing need no model; Chroma opens
    when a removal needs it). Keyword arguments override the settings."""
    from rag.library import Library

    paths = get_paths()
    settings = Settings.load(paths.settings_file)
    kwargs.setdefault("vector_store", settings.vector_store)
    if not with_model:
        return Library(paths.documents_dir, **kwargs)
    kwargs.setdefault("chunk_tokens", settings.chunk_tokens)
    kwargs.setdefault("chunk_overlap", settings.chunk_overlap)
    if "embedding_model" not in kwargs and "embedder" not in kwargs:
        kwargs["embedding_model"] = embedding_model_path(settings, paths.models)
    lib = Library(paths.documents_dir, **kwargs)
    try:
        lib.vectors  # noqa: B018
    except BaseException:
        lib.close()
        raise
    return lib
