"""Which chat model the engine thread holds, and the state the window shows for it (loading,
ready, failed). GUI thread only: names are resolved and files read on the engine thread."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from app.engine_worker import EngineHost, LoadedModel, LoadSpec
from app.paths import Paths
from app.settings import Settings
from engine.errors import HearthError
from engine.types import ModelInfo

if TYPE_CHECKING:
    from engine.catalog import Catalog


class ModelState(StrEnum):
    NONE = "none"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


def load_spec_for(model: str, models_dir: str, settings: Settings) -> LoadSpec:
    """What to load for `model`: a model file on this computer, or, when Settings ▸ Engine
    chooses a server kind of the backend registry, the server's model (the window's model
    choices name local files, so they do not apply there)."""
    from engine import backends

    spec = LoadSpec(
        model=model,
        models_dir=models_dir,
        n_ctx=settings.n_ctx,
        n_threads=settings.n_threads,
        n_gpu_layers=settings.n_gpu_layers,
        n_batch=settings.n_batch,
    )
    try:
        kind = backends.kind(settings.backend)
    except HearthError:  # a kind this version does not know (a newer Hearth wrote it)
        return spec
    if kind.local:
        return spec
    return LoadSpec(
        model=settings.remote_model,
        models_dir=models_dir,
        n_ctx=0,  # the server's own context
        backend=kind.name,
        server=settings.remote_base_url,
        api_key=settings.remote_api_key,
    )


def describe_model(info: ModelInfo | None, fallback: str = "") -> str:
    if info is None:
        return fallback
    return f"{info.name} · {info.file_type}" if info.file_type else info.name


class ModelSlot(QObject):
    stateChanged = Signal(str, str)  # ModelState value, text for the status bar

    def __init__(self, engine: EngineHost, paths: Paths, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.paths = paths
        self.state = ModelState.NONE
        self.text = ""
        self.loaded: LoadedModel | None = None
        self.info: ModelInfo | None = None  # of the requested model (from its header)
        self._requested: LoadSpec | None = None
        self._catalog: Catalog | None = None
        engine.loading.connect(self._on_loading)
        engine.loaded.connect(self._on_loaded)
        engine.loadFailed.connect(self._on_load_failed)

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            from engine.catalog import Catalog

            self._catalog = Catalog(self.paths.models)
        return self._catalog

    def ensure(self, name: str, settings: Settings) -> None:
        """Queue a load of `name` ("" = the default) unless it is loaded or loading."""
        spec = load_spec_for(name, str(self.paths.models), settings)
        if spec.same_request(self._requested) and self.state != ModelState.FAILED:
            return
        self._requested = self.engine.load(spec)
        self._set_state(ModelState.LOADING, f"Loading {name or 'the default model'}…")

    def forget(self) -> None:
        """The next `ensure` loads again, even the same model with the same options."""
        self._requested = None

    def _is_requested(self, spec: LoadSpec) -> bool:
        return self._requested is not None and spec.load_id == self._requested.load_id

    @Slot(object, object)
    def _on_loading(self, spec: LoadSpec, info: ModelInfo) -> None:
        if self._is_requested(spec):
            self.info = info
            self._set_state(ModelState.LOADING, f"Loading {describe_model(info)}…")

    @Slot(object)
    def _on_loaded(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        if not self._is_requested(loaded.spec):
            return
        self.info = loaded.info or self.info
        self._set_state(ModelState.READY, describe_model(self.info, loaded.spec.model))

    @Slot(object, object)
    def _on_load_failed(self, spec: LoadSpec, error: HearthError) -> None:
        self.loaded = None
        if self._is_requested(spec):
            self.info = None
            self._set_state(ModelState.FAILED, error.user_message)

    def _set_state(self, state: ModelState, text: str) -> None:
        self.state, self.text = state, text
        self.stateChanged.emit(state.value, text)
