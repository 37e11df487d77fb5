"""The engine thread: one worker QObject, living on its own QThread, owns the only engine.

Requests reach the worker as queued signals, so its slots (load, generate, unload, shutdown)
run one at a time on the engine thread and a model is never freed mid-generation. The GUI
thread never calls llama.cpp.

Cancel is not a queued slot (a busy worker would only see it after the generation it should
stop): every generation gets its own `threading.Event`, set directly from the GUI thread by
`EngineHost.cancel`. The engine checks it in its token loop and in llama.cpp's abort callback
while the prompt is being processed.

Every request carries an id. The worker reports `started`, `tokens` and `finished`/`failed`
with that id, so the receiver can drop late tokens of a cancelled or superseded request.
Tokens reach the GUI thread in batches (`TokenBatch`): `EngineHost.tokens` carries all the
text that came since the GUI thread last took it, one signal per batch, not per token.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from app.gateway import GenerationSink, run_generation
from app.worker_thread import ThreadHost
from engine.errors import HearthError, ModelLoadError
from engine.types import ChatBackend, GenerationRequest, GenerationStats, ModelInfo

log = logging.getLogger(__name__)

#: Builds an engine: called as ``factory(model_path, n_ctx=, n_threads=, n_gpu_layers=,
#: n_batch=)``, like `engine.llama_engine.LlamaEngine` (which also takes n_threads_batch).
#: Runs on the engine thread.
EngineFactory = Callable[..., ChatBackend]


@dataclass(frozen=True)
class LoadSpec:
    """What to load: a model name or path ("" = the default chat model) and the options.

    The name is resolved on the engine thread (reading GGUF headers is file I/O), so the
    GUI thread never touches model files."""

    model: str = ""
    models_dir: str = ""
    n_ctx: int = 4096
    n_threads: int = 0
    n_gpu_layers: int = 0
    n_batch: int = 512
    load_id: int = 0  # set by EngineHost; excluded from `same_request`
    # Which kind of backend (engine.backends; "" = the local default) and, for a server, its
    # address and key; `model` then names the server's model.
    backend: str = ""
    server: str = ""
    api_key: str = ""

    def backend_options(self) -> dict[str, str]:
        """What a server backend needs besides the common options (nothing for the local
        default, so its factory is called as before)."""
        if not self.backend:
            return {}
        return {"backend": self.backend, "api_key": self.api_key, "model": self.model}

    def same_request(self, other: LoadSpec | None) -> bool:
        return other is not None and replace(self, load_id=0) == replace(other, load_id=0)


@dataclass(frozen=True)
class LoadedModel:
    spec: LoadSpec
    info: ModelInfo | None
    n_ctx: int
    load_s: float


@dataclass(frozen=True)
class GenerationJob:
    request: GenerationRequest
    cancel: threading.Event
    # Where results go: None = this host's signals (a chat turn); else a sink called on the
    # engine thread (an API request: app.gateway.Ticket, read by an HTTP thread, so its
    # tokens never pass through the GUI thread).
    sink: GenerationSink | None = None


#: Turns LoadSpec.model (name or path) into a ModelInfo; runs on the engine thread.
ModelResolver = Callable[[str, str], ModelInfo]


def default_engine_factory(target: str, backend: str = "", **options: Any) -> ChatBackend:
    """A backend from the registry (engine/backends.py): by default a local llama.cpp engine
    for the model file `target`; `backend` names another kind (a server at `target`). Imported
    here, on the engine thread, so llama_cpp stays out of start-up."""
    from engine import backends, runtime

    if backend:
        return backends.create(backend, target, **options)
    if options.get("n_threads", 0) <= 0:  # "automatic" in Settings
        # Tokens one at a time: one core is left for the GUI thread, which shows each one.
        options["n_threads"] = runtime.interactive_threads()
        # A prompt (history and document passages, read in batches): every core. Nothing
        # streams meanwhile, and the GUI thread still gets its turn from the scheduler; with
        # one core fewer a 1,350-token question over documents took twice as long to answer
        # (`hearth bench ui`: prompt_* figures).
        options.setdefault("n_threads_batch", runtime.default_threads())
    return backends.create(backends.LOCAL, target, **options)


def catalog_resolver(model: str, models_dir: str) -> ModelInfo:
    """The installed chat model named `model` (engine.catalog rules; "" = the default).

    The first time in a process, the default chat models are prepared first (Gemma is
    joined from its packages on first use: seconds, here on the engine thread, never on the
    GUI thread); the documents thread prepares the embedding model."""
    from pathlib import Path

    from engine.catalog import Catalog

    if models_dir not in _PREPARED:
        _PREPARED.add(models_dir)
        from app.user_library import prepare_default_models

        try:
            prepare_default_models(Path(models_dir), log.info, embedding=False)
        except (HearthError, OSError) as exc:  # e.g. a full disk: the others still load
            log.warning("preparing the default chat models failed: %r", exc)
    return Catalog(Path(models_dir)).resolve(model)


_PREPARED: set[str] = set()  # models folders whose default chat models were prepared


class TokenBatch:
    """Text from the engine thread, taken by the GUI thread in batches. The engine thread posts
    one event for all the tokens that come before the GUI thread takes them, instead of one
    per token: each event is a queued call into Python on the GUI thread, and while that
    thread is busy (laying out and painting the answer) the events only pile up, each
    needing the GIL the token loop needs too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[int, str]] = []  # (request id, text), in order

    def put(self, rid: int, text: str) -> bool:
        """Add text; True when the batch was empty (the taker must be told)."""
        with self._lock:
            self._items.append((rid, text))
            return len(self._items) == 1

    def take(self) -> list[tuple[int, str]]:
        """Everything put since the last take, one entry per request (in order)."""
        with self._lock:
            items, self._items = self._items, []
        out: list[tuple[int, str]] = []
        for rid, text in items:
            if out and out[-1][0] == rid:
                out[-1] = (rid, out[-1][1] + text)
            else:
                out.append((rid, text))
        return out


class _SignalSink:
    """A chat turn's results as the worker's signals, tagged with the request id; its text
    goes through the worker's TokenBatch."""

    def __init__(self, worker: EngineWorker, rid: int) -> None:
        self.worker, self.rid = worker, rid

    def token(self, text: str) -> None:
        if self.worker.batch.put(self.rid, text):
            self.worker.tokensWaiting.emit()

    def finished(self, stats: GenerationStats) -> None:
        self.worker.finished.emit(self.rid, stats)

    def failed(self, error: HearthError) -> None:
        self.worker.failed.emit(self.rid, error)


class EngineWorker(QObject):
    """Lives on the engine thread. Only `EngineHost` should talk to it."""

    loading = Signal(object, object)  # LoadSpec, ModelInfo (resolved, about to load)
    loaded = Signal(object)  # LoadedModel
    loadFailed = Signal(object, object)  # LoadSpec, HearthError
    unloaded = Signal()
    started = Signal(int)  # request id
    tokensWaiting = Signal()  # text is waiting in `batch` (sent once until it is taken)
    promptProgress = Signal(int, int, int)  # request id, prompt tokens read, tokens to read
    finished = Signal(int, object)  # request id, GenerationStats
    failed = Signal(int, object)  # request id, HearthError
    stopped = Signal()  # shutdown done: the engine is closed

    def __init__(
        self,
        engine_factory: EngineFactory | None = None,
        latest_load: Callable[[], int] | None = None,
        resolver: ModelResolver | None = None,
    ) -> None:
        super().__init__()
        self._factory = engine_factory or default_engine_factory
        self._resolve = resolver or catalog_resolver
        self._latest_load = latest_load or (lambda: 0)
        self._engine: ChatBackend | None = None
        self._loaded_key: tuple | None = None  # (path, options) of the engine held
        self._load_error: HearthError | None = None
        self.batch = TokenBatch()  # a chat turn's text, on its way to the GUI thread

    # -- slots (engine thread) ------------------------------------------------------------

    @Slot(object)
    def load(self, spec: LoadSpec) -> None:
        if spec.load_id and spec.load_id < self._latest_load():
            return  # a newer load is queued behind this one: skip the wasted work
        try:
            info, target = self._target(spec)
        except HearthError as exc:
            self._fail_load(spec, exc)
            return
        key = (spec.backend, target, info.name, spec.api_key, spec.n_ctx, spec.n_threads,
               spec.n_gpu_layers, spec.n_batch)  # fmt: skip
        if self._engine is not None and key == self._loaded_key:
            self.loaded.emit(LoadedModel(spec, self._engine.model_info, self._engine.n_ctx, 0.0))
            return
        self.loading.emit(spec, info)
        self._close_engine()
        self._load_error = None
        t0 = time.perf_counter()
        try:
            engine = self._factory(
                target,
                n_ctx=spec.n_ctx,
                n_threads=spec.n_threads,
                n_gpu_layers=spec.n_gpu_layers,
                n_batch=spec.n_batch,
                **spec.backend_options(),
            )
        except HearthError as exc:
            self._fail_load(spec, exc)
            return
        except Exception as exc:
            log.exception("loading %s failed", target)
            details = "".join(traceback.format_exception(exc))
            self._fail_load(spec, ModelLoadError(f"The model could not be loaded: {exc}", details))
            return
        self._engine, self._loaded_key = engine, key
        elapsed = time.perf_counter() - t0
        self.loaded.emit(LoadedModel(spec, engine.model_info or info, engine.n_ctx, elapsed))

    def _target(self, spec: LoadSpec) -> tuple[ModelInfo, str]:
        """What to load: a local kind's model file found by name in the models folder (read
        from its header), or a server's address as it is (the registry says which)."""
        from engine import backends

        if backends.kind(spec.backend).local:
            info = self._resolve(spec.model, spec.models_dir)
            return info, info.path
        name = spec.model or "the server's model"
        placeholder = ModelInfo(f"{spec.server}/{spec.model}", name, "remote", 0, "remote", 0,
                                spec.n_ctx, True)  # fmt: skip
        return placeholder, spec.server

    def _fail_load(self, spec: LoadSpec, error: HearthError) -> None:
        self._load_error = error
        self.loadFailed.emit(spec, error)

    def _no_engine(self) -> HearthError:
        reason = self._load_error.user_message if self._load_error else "no model is loaded."
        details = self._load_error.details if self._load_error else ""
        return ModelLoadError(f"Cannot answer: {reason}", details)

    @Slot(object)
    def generate(self, job: GenerationJob) -> None:
        """A chat turn (results as this worker's signals) or an API request (results to its
        sink), run the same way (app.gateway.run_generation)."""
        rid = job.request.request_id
        sink = job.sink
        if sink is None:
            self.started.emit(rid)
            sink = _SignalSink(self, rid)
            if job.request.on_prompt_progress is None:  # a chat turn: the window shows it
                job.request.on_prompt_progress = lambda done, total: self.promptProgress.emit(
                    rid, done, total
                )
        run_generation(self._engine, job.request, job.cancel, sink, self._no_engine)

    @Slot()
    def unload(self) -> None:
        self._close_engine()
        self.unloaded.emit()

    @Slot()
    def shutdown(self) -> None:
        self._close_engine()
        self.stopped.emit()
        ThreadHost.quit_current(self)

    def _close_engine(self) -> None:
        engine, self._engine, self._loaded_key = self._engine, None, None
        if engine is None:
            return
        try:
            engine.close()
        except Exception:
            log.exception("closing the engine failed")


class EngineHost(ThreadHost):
    """GUI-thread handle on the engine thread: starts it, sends it work, cancels, stops it.

    Worker signals are re-emitted here unchanged (they arrive queued on the GUI thread)."""

    loading = Signal(object, object)
    loaded = Signal(object)
    loadFailed = Signal(object, object)
    unloaded = Signal()
    started = Signal(int)
    tokens = Signal(int, str)
    promptProgress = Signal(int, int, int)  # request id, prompt tokens read, tokens to read
    finished = Signal(int, object)
    failed = Signal(int, object)

    _requestLoad = Signal(object)
    _requestGenerate = Signal(object)
    _requestUnload = Signal()
    _requestShutdown = Signal()

    def __init__(
        self,
        engine_factory: EngineFactory | None = None,
        parent: QObject | None = None,
        resolver: ModelResolver | None = None,
    ) -> None:
        worker = EngineWorker(
            engine_factory, latest_load=lambda: self._latest_load_id, resolver=resolver
        )
        super().__init__(worker, "hearth-engine", parent)
        self.worker: EngineWorker = worker
        self._ids = itertools.count(1)
        self._load_ids = itertools.count(1)
        self._latest_load_id = 0
        self._cancels: dict[int, threading.Event] = {}
        self._requestLoad.connect(self.worker.load)
        self._requestGenerate.connect(self.worker.generate)
        self._requestUnload.connect(self.worker.unload)
        self._requestShutdown.connect(self.worker.shutdown)
        self.worker.loading.connect(self.loading)
        self.worker.loaded.connect(self.loaded)
        self.worker.loadFailed.connect(self.loadFailed)
        self.worker.unloaded.connect(self.unloaded)
        self.worker.started.connect(self.started)
        self.worker.promptProgress.connect(self.promptProgress)
        self.worker.tokensWaiting.connect(self._take_tokens)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.start_thread()

    def load(self, spec: LoadSpec) -> LoadSpec:
        """Queue a load; a later load supersedes an earlier one not yet started."""
        spec = replace(spec, load_id=next(self._load_ids))
        self._latest_load_id = spec.load_id
        if not self._closed:
            self._requestLoad.emit(spec)
        return spec

    def generate(self, request: GenerationRequest) -> int:
        """Queue a generation; returns its request id."""
        rid = next(self._ids)
        request.request_id = rid
        cancel = threading.Event()
        self._cancels[rid] = cancel
        if not self._closed:
            self._requestGenerate.emit(GenerationJob(request, cancel))
        return rid

    def submit(
        self, request: GenerationRequest, cancel: threading.Event, sink: GenerationSink
    ) -> None:
        """Queue a generation whose results go to `sink`, on the engine thread (the API
        server's requests). Callable from any thread: the queued signal crosses to the
        engine thread by itself. Raises GatewayBusy once the host is closing."""
        from app.gateway import GatewayBusy

        if self._closed:
            raise GatewayBusy("Hearth is closing.")
        request.request_id = next(self._ids)
        self._requestGenerate.emit(GenerationJob(request, cancel, sink))

    def cancel(self, request_id: int | None = None) -> None:
        """Stop one request (or all). Thread-safe and immediate: no queue is involved."""
        if request_id is None:
            for event in self._cancels.values():
                event.set()
        elif request_id in self._cancels:
            self._cancels[request_id].set()

    def unload(self) -> None:
        if not self._closed:
            self._requestUnload.emit()

    def _request_shutdown(self) -> None:
        """Cancel everything; the worker closes the engine on its thread and stops it."""
        self.cancel()
        self._requestShutdown.emit()

    @Slot()
    def _take_tokens(self) -> None:
        # Queued before the request's `finished`, so all its text is out before that.
        for rid, text in self.worker.batch.take():
            self.tokens.emit(rid, text)

    @Slot(int, object)
    def _on_finished(self, rid: int, stats: GenerationStats) -> None:
        self._cancels.pop(rid, None)
        self.finished.emit(rid, stats)

    @Slot(int, object)
    def _on_failed(self, rid: int, error: HearthError) -> None:
        self._cancels.pop(rid, None)
        self.failed.emit(rid, error)
