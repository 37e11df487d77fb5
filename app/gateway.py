"""The generation gateway: how the API server reaches the one thread that owns the model.

The HTTP server (app/api_server.py) never calls llama.cpp. It hands each request to a
`Gateway` and reads the answer from a `Ticket`, which the engine thread fills. Two gateways
implement it:

- `EngineThread` (here, no Qt): `hearth serve`'s engine thread, a plain Python thread that
  owns the backend and takes requests from a first-come, first-served queue;
- `app.server_host.WindowGateway`: the window's engine thread (app.engine_worker.EngineHost),
  where API requests and chat turns take turns as queued slots on the same thread.

Requests run one at a time, in arrival order (fair: nobody overtakes, nobody starves); no
parallel sequences in one llama.cpp context yet. A client that goes away sets its ticket's
cancel event, which the engine's token loop checks, so its generation stops at once and
the next request starts.

Embeddings come from `EmbeddingThread`, a plain thread that owns the embedding model
(loaded on the first request) and serves both the window and `hearth serve`.
"""

from __future__ import annotations

import logging
import queue
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from engine.errors import GenerationError, HearthError, InvalidRequestError
from engine.types import ChatBackend, GenerationRequest, GenerationStats

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

MAX_WAITING = 16  # requests queued behind the running one; more are answered "busy" (503)
# Undelivered deltas a ticket holds before it gives up on its reader: a client that stopped
# reading (its socket buffer full, the HTTP thread blocked in a write) must not keep the
# engine generating for nobody while others wait.
MAX_BACKLOG = 1024


class GatewayBusy(HearthError):
    """Too many requests are waiting, or the engine is closing (HTTP 503)."""


class GenerationSink(Protocol):
    """Receives one generation's results, on the engine thread."""

    def token(self, text: str) -> None: ...

    def finished(self, stats: GenerationStats) -> None: ...

    def failed(self, error: HearthError) -> None: ...


EventKind = Literal["token", "done", "error"]


class Ticket:
    """One request in flight: its cancel event, and its results as a queue the HTTP thread
    reads while the engine thread fills it (a GenerationSink)."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self._events: queue.SimpleQueue[tuple[EventKind, Any]] = queue.SimpleQueue()

    # -- engine thread ---------------------------------------------------------------------

    def token(self, text: str) -> None:
        if self._events.qsize() >= MAX_BACKLOG:
            self.cancel.set()  # nobody reads: stop generating for them
        self._events.put(("token", text))

    def finished(self, stats: GenerationStats) -> None:
        self._events.put(("done", stats))

    def failed(self, error: HearthError) -> None:
        self._events.put(("error", error))

    # -- HTTP thread -----------------------------------------------------------------------

    def next(self, timeout: float) -> tuple[EventKind, Any] | None:
        """The next event, or None after `timeout` seconds without one."""
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None


@dataclass(frozen=True)
class ServedModels:
    """What a gateway serves now: the chat model's name and context ("" when none is
    loaded), and the embedding model's name ("" when there is none)."""

    chat: str = ""
    n_ctx: int = 0
    embedding: str = ""
    embedding_dim: int = 0


@dataclass(frozen=True)
class Embeddings:
    vectors: npt.NDArray[np.float32]  # one L2-normalised row per text
    tokens: int  # tokens read, for the answer's usage


class Gateway(Protocol):
    def models(self) -> ServedModels: ...

    def submit(self, request: GenerationRequest, ticket: Ticket) -> None:
        """Queue a generation; results go to `ticket`. Raises GatewayBusy when full."""
        ...

    def embed(self, texts: list[str]) -> Embeddings:
        """Normalised embeddings, one row per text (blocks the calling thread)."""
        ...


class ObservedGateway:
    """A gateway that also reports how each generation ended on the engine side (its
    GenerationStats) to `on_finished`, on the engine thread: what benchmarks and tests
    compare with what a client saw."""

    def __init__(self, inner: Gateway, on_finished: Callable[[GenerationStats], None]) -> None:
        self.inner = inner
        self._on_finished = on_finished

    def models(self) -> ServedModels:
        return self.inner.models()

    def embed(self, texts: list[str]) -> Embeddings:
        return self.inner.embed(texts)

    def submit(self, request: GenerationRequest, ticket: Ticket) -> None:
        finished = ticket.finished

        def observed(stats: GenerationStats) -> None:
            self._on_finished(stats)
            finished(stats)

        ticket.finished = observed  # type: ignore[method-assign]
        self.inner.submit(request, ticket)


def run_generation(
    engine: ChatBackend | None,
    request: GenerationRequest,
    cancel: threading.Event,
    sink: GenerationSink,
    no_engine: Callable[[], HearthError] | None = None,
) -> None:
    """One generation on the thread that owns `engine`, results to `sink` (shared by both
    engine threads, so a chat turn and an API request are run the same way)."""
    if cancel.is_set():  # stopped, or the client left, while it waited in the queue
        sink.finished(GenerationStats(stop_reason="cancelled"))
        return
    if engine is None:
        sink.failed(no_engine() if no_engine else GenerationError("No model is loaded."))
        return
    try:
        generation = engine.generate(request, cancel)
        for delta in generation:
            if delta:
                sink.token(delta)
    except HearthError as exc:
        sink.failed(exc)
        return
    except Exception as exc:
        log.exception("generation %d failed", request.request_id)
        details = "".join(traceback.format_exception(exc))
        sink.failed(
            GenerationError(f"Unexpected error while generating the answer: {exc}", details)
        )
        return
    sink.finished(generation.stats)


@dataclass
class _Job:
    request: GenerationRequest
    ticket: Ticket


class EngineThread:
    """`hearth serve`'s engine thread: owns the backend (opened and closed on this thread)
    and runs queued requests one at a time, first come first served."""

    def __init__(
        self,
        open_backend: Callable[[], ChatBackend],
        embeddings: EmbeddingThread | None = None,
        max_waiting: int = MAX_WAITING,
    ) -> None:
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._max_waiting = max_waiting
        self._closed = False
        self._lock = threading.Lock()
        self._embeddings = embeddings
        self._running: _Job | None = None
        self.backend: ChatBackend | None = None
        ready: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._main, args=(open_backend, ready), name="hearth-engine", daemon=True
        )
        self._thread.start()
        error = ready.get()
        if error is not None:
            self._thread.join()
            raise error

    def _main(self, open_backend: Callable[[], ChatBackend], ready: Any) -> None:
        try:
            self.backend = open_backend()
        except BaseException as exc:  # noqa: BLE001 - raised again by the constructor
            ready.put(exc)
            return
        ready.put(None)
        try:
            while (job := self._jobs.get()) is not None:
                self._running = job
                run_generation(self.backend, job.request, job.ticket.cancel, job.ticket)
                self._running = None
        finally:
            self.backend.close()

    def models(self) -> ServedModels:
        backend = self.backend
        chat = backend.model_info.name if backend is not None and backend.model_info else ""
        served = self._embeddings.served() if self._embeddings else ("", 0)
        return ServedModels(chat, backend.n_ctx if backend else 0, *served)

    def submit(self, request: GenerationRequest, ticket: Ticket) -> None:
        with self._lock:
            if self._closed:
                raise GatewayBusy("The server is shutting down.")
            if self._jobs.qsize() >= self._max_waiting:
                raise GatewayBusy(
                    f"The server is busy: {self._max_waiting} requests are already waiting."
                )
            self._jobs.put(_Job(request, ticket))

    def embed(self, texts: list[str]) -> Embeddings:
        if self._embeddings is None:
            raise InvalidRequestError("This server has no embedding model.")
        return self._embeddings.embed(texts)

    def close(self, timeout_s: float = 10.0) -> None:
        """Refuse new requests, cancel the waiting ones and the running one, close the model."""
        with self._lock:
            self._closed = True
            waiting: list[_Job] = []
            while True:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    waiting.append(job)
            for job in waiting:
                job.ticket.cancel.set()
                job.ticket.finished(GenerationStats(stop_reason="cancelled"))
            running = self._running
            if running is not None:
                running.ticket.cancel.set()
            self._jobs.put(None)
        self._thread.join(timeout_s)
        if self._embeddings is not None:
            self._embeddings.close()


@dataclass
class _EmbedJob:
    texts: list[str]
    done: queue.SimpleQueue[Any] = field(default_factory=queue.SimpleQueue)


class EmbeddingThread:
    """Owns the embedding model on its own thread; loads it on the first request."""

    def __init__(self, locate: Callable[[], Path], n_threads: int = 0) -> None:
        self._locate = locate
        self._n_threads = n_threads
        self._jobs: queue.Queue[_EmbedJob | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._served: tuple[str, int] | None = None

    def served(self) -> tuple[str, int]:
        """The model's name and dimensions (name only until it is loaded); ("", 0) if none."""
        if self._served is not None:
            return self._served
        try:
            return (self._locate().name.removesuffix(".gguf"), 0)
        except (HearthError, OSError):
            return ("", 0)

    def embed(self, texts: list[str]) -> Embeddings:
        job = _EmbedJob(texts)
        with self._lock:
            if self._closed:
                raise GatewayBusy("The server is shutting down.")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._main, name="hearth-embeddings", daemon=True
                )
                self._thread.start()
            self._jobs.put(job)
        result = job.done.get()
        if isinstance(result, BaseException):
            raise result
        assert isinstance(result, Embeddings)
        return result

    def _main(self) -> None:
        from rag.embedder import Embedder

        embedder: Embedder | None = None
        while (job := self._jobs.get()) is not None:
            try:
                if embedder is None:
                    path = self._locate()
                    embedder = Embedder(path, n_threads=self._n_threads)
                    self._served = (path.name.removesuffix(".gguf"), embedder.dim)
                tokens = sum(embedder.count_tokens(t) for t in job.texts)
                job.done.put(Embeddings(embedder.embed(job.texts), tokens))
            except HearthError as exc:
                job.done.put(exc)
            except Exception as exc:
                log.exception("embedding failed")
                job.done.put(GenerationError(f"Unexpected error while embedding: {exc}"))
        if embedder is not None:
            embedder.close()

    def close(self, timeout_s: float = 10.0) -> None:
        with self._lock:
            self._closed = True
            thread = self._thread
            self._jobs.put(None)
        if thread is not None:
            thread.join(timeout_s)
