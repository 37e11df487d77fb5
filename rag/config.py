"""What a `rag.library.Library` is made from: its settings (`LibraryConfig`), what it needs
of an embedding model (`EmbedderLike`), and what its parts share (`LibraryContext`).
Importing this pulls in neither numpy nor chromadb, so app/ can build a configuration before
the documents thread opens the library."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from rag.kept_vectors import KeptVectors
from rag.retrieve import FUSION, FUSIONS, RRF_K, Fusion

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from rag.index import Store
    from rag.vector_store import VectorStore

# Tuned with `hearth docs eval` (see rag/evaluate.py): all-MiniLM-L6-v2 was trained on inputs
# of up to 128 word pieces, and 128-token chunks beat 200-token ones for vector *and* keyword
# search. 20 candidates from each index: with score fusion every depth from 10 to 100 had the
# same hit@5 on the 51 questions; 40 had a better hit@1 with 128-token chunks but a worse one
# with 200-token chunks (noise). With RRF, 20 fused better than 40.
CHUNK_TOKENS = 128
CHUNK_OVERLAP = 24
CANDIDATES = 20
VECTOR_STORE_PROCESS = "process"  # LibraryConfig.vector_store: Chroma in a child process


@dataclass(frozen=True)
class LibraryConfig:
    """How a library chunks, embeds, stores and searches. The defaults are the tools' (eval,
    bench, tests: Chroma in-process); the app's come from its settings."""

    embedding_model: Path | None = None  # the GGUF file; or pass Library(embedder=...)
    # "": Chroma in this process; "process" (VECTOR_STORE_PROCESS): a Chroma server of our own
    # or shared with another Hearth process; else the URL of the user's Chroma server.
    vector_store: str = ""
    vector_store_token: str = ""  # the token the user's Chroma server asks for, if any
    # -- ingestion
    batch_size: int = 32  # most chunks embedded in one step
    chunk_tokens: int = CHUNK_TOKENS
    chunk_overlap: int = CHUNK_OVERLAP
    extract_workers: int = 0  # 0: the extractor's default (cores, at most 4)
    extract_timeout_s: float = 600.0  # per file; a 2,400-page manual needs minutes
    extract_memory_mb: int = 2048
    embed_threads: int = 0  # 0: the embedder's default
    # Batches adapt so one step embeds for about step_target_s (at most batch_size chunks):
    # a search queued behind a step waits about that long, on any machine.
    step_target_s: float = 0.5
    # -- search
    candidates: int = CANDIDATES  # from each index
    fusion: Fusion = FUSION
    rrf_k: float = RRF_K
    merge_max_chunks: int = 3  # neighbouring chunks merged into one passage, at most
    vector_weight: float = 1.0
    keyword_weight: float = 1.0
    # Sentence-level evidence: passages re-ranked by their best sentence, each hit carrying
    # its scored sentences (rag.evidence); False: the fused ranking alone, as before.
    sentences: bool = True

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}")

    @property
    def vectors_on_this_computer(self) -> bool:
        """Hearth's own Chroma store (in-process or its server), not the user's server."""
        return self.vector_store in ("", VECTOR_STORE_PROCESS)


class EmbedderLike(Protocol):
    """What the library needs from rag.embedder.Embedder."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...

    def embed(self, texts: list[str]) -> np.ndarray: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class LibraryContext:
    """What the library's parts (`rag.ingest`, `rag.reading`, `rag.batches`, `rag.search`)
    share; all of it belongs to the library's thread."""

    data_dir: Path
    store: Store  # the SQLite store
    vector_store: VectorStore  # the Chroma store
    embedder: Callable[[], EmbedderLike]  # the embedding model, loaded on first use
    config: LibraryConfig
    # old vectors of documents being read again (rag.kept_vectors)
    kept: KeptVectors = field(default_factory=KeptVectors)
