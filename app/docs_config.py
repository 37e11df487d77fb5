"""What the documents thread needs to open the user's library (`DocsConfig`, built from the
app's settings) and how many threads and processes indexing may use. Kept apart from the
worker (`app.docs_worker`, which re-exports both) so the worker module holds only the thread's
slots and its ingest loop."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.config import LibraryConfig

if TYPE_CHECKING:
    from app.paths import Paths
    from app.settings import Settings


@dataclass(frozen=True)
class DocsConfig:
    """What the worker needs to open the library; built from the app's settings."""

    data_dir: Path
    models_dir: Path
    embedding_model: str = ""  # "" = the converted all-MiniLM-L6-v2
    chunk_tokens: int = 200
    chunk_overlap: int = 40
    extract_workers: int = 0  # 0 = background_workers()
    embed_threads: int = 0  # 0 = background_workers()
    # "process": Hearth's own store, served by a Chroma child process (its Rust core holds
    # the GIL while writing, which stalled the window); or the URL of a Chroma server.
    vector_store: str = "process"
    vector_store_token: str = ""  # the user's Chroma server's token (Settings.chroma_token)

    @classmethod
    def from_settings(cls, paths: Paths, settings: Settings, **extra: Any) -> DocsConfig:
        return cls(data_dir=paths.documents_dir, models_dir=paths.models, **extra).with_settings(
            settings
        )

    def library_config(self, embedding_model: Path | None) -> LibraryConfig:
        """The library's configuration: this one, with background_workers() for the threads
        and processes left at 0."""
        return LibraryConfig(
            embedding_model=embedding_model,
            chunk_tokens=self.chunk_tokens,
            chunk_overlap=self.chunk_overlap,
            extract_workers=self.extract_workers or background_workers(),
            embed_threads=self.embed_threads or background_workers(),
            vector_store=self.vector_store,
            vector_store_token=self.vector_store_token,
        )

    def with_settings(self, settings: Settings) -> DocsConfig:
        """This configuration with the documents settings the user can change."""
        return dataclasses.replace(
            self,
            embedding_model=settings.embedding_model,
            chunk_tokens=settings.chunk_tokens,
            chunk_overlap=settings.chunk_overlap,
            vector_store=settings.vector_store,
            vector_store_token=settings.chroma_token,
        )


def background_workers() -> int:
    """Threads (and extraction processes) for indexing: the physical cores less one, so the
    window and the chat model keep a core while a book is indexed."""
    import os

    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
    except ImportError:
        physical = None
    logical = os.cpu_count() or 1
    return max(1, min(physical or logical, logical - 1))
