"""Typed settings with defaults, saved as JSON in the user config folder."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from app.errors import SettingsError
from engine.types import SamplingParams


@dataclass
class Settings:
    default_model: str = ""  # name or path; "" = the bundled default chat model
    system_prompt: str = "You are Hearth, a helpful assistant running offline on this computer."
    sampling: SamplingParams = field(default_factory=SamplingParams)
    n_ctx: int = 4096
    n_threads: int = 0  # 0 = physical cores
    n_gpu_layers: int = 0  # -1 = all
    n_batch: int = 512
    # Documents
    rag_top_k: int = 6
    chunk_tokens: int = 128  # measured best on the retrieval eval (MiniLM was trained on ≤128)
    chunk_overlap: int = 24
    embedding_model: str = ""  # "" = converted all-MiniLM-L6-v2
    chroma_url: str = ""  # "" = Hearth's own store on this computer; else a Chroma server
    chroma_token: str = ""  # that server's token, when it asks for one
    # Model hub
    hub_endpoint: str = ""  # "" = huggingface_hub's default (or HF_ENDPOINT)
    hub_token: str = ""
    # Which engine answers: a kind in engine.backends' registry ("llama": this computer;
    # "openai": the OpenAI-compatible server below, Settings ▸ Engine)
    backend: str = "llama"
    remote_base_url: str = ""
    remote_api_key: str = ""
    remote_model: str = ""  # "" = the first model the server lists
    # Hearth's own API server in the window (Settings ▸ Server; `hearth serve` takes options)
    server_enabled: bool = False
    server_host: str = "127.0.0.1"  # any other address needs an API key
    server_port: int = 8770
    server_api_key: str = ""
    server_cors_origin: str = ""  # "" = no CORS headers
    # Window state (geometry, splitters) as opaque strings
    ui_state: dict[str, str] = field(default_factory=dict)
    # Per-model presets (app.presets): model name -> the values that model uses instead of
    # the ones above (n_ctx, n_gpu_layers, system_prompt, sampling). Entries and keys this
    # version does not know are kept as they are, for the version that wrote them.
    model_presets: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def vector_store(self) -> str:
        """Where the library's vectors live, as `rag.config.LibraryConfig.vector_store` takes
        it: the user's Chroma server, else "process" (VECTOR_STORE_PROCESS: this computer's
        store, served by one Chroma process that every Hearth process shares)."""
        return self.chroma_url or "process"

    @classmethod
    def load(cls, path: Path) -> Settings:
        """Read settings; unknown keys are ignored and bad or missing values keep defaults."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        return cls.from_dict(raw if isinstance(raw, dict) else {})

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Settings:
        settings = cls()
        for f in fields(cls):
            if f.name not in raw:
                continue
            value = raw[f.name]
            if f.name == "sampling":
                settings.sampling = _merge_dataclass(SamplingParams(), value)
            elif f.name == "model_presets":
                settings.model_presets = _presets(value)
            elif f.name == "ui_state":  # the window reads these as text ("geometry": 5 crashed it)
                settings.ui_state = _texts(value)
            elif _same_kind(getattr(settings, f.name), value) and _in_range(f.name, value):
                setattr(settings, f.name, value)
        if settings.chunk_overlap >= settings.chunk_tokens:  # chunks must move forward
            settings.chunk_overlap = min(cls.chunk_overlap, settings.chunk_tokens // 4)
        return settings

    def save(self, path: Path) -> None:
        """Atomic write: a crash mid-save never leaves a half-written settings file."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".settings-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(asdict(self), fh, indent=2)
            os.replace(tmp, path)
        except OSError as exc:
            raise SettingsError(
                f"Could not save settings to {path}: {exc.strerror}", str(exc)
            ) from exc

    def copy(self) -> Settings:
        return Settings.from_dict(json.loads(json.dumps(asdict(self))))


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float)
    return isinstance(value, type(default))


def _presets(raw: Any) -> dict[str, dict[str, Any]]:
    """The presets whose shape is right (a name and a dict); what is inside is checked where
    a preset is used (`app.presets.with_preset`), so a value this version cannot read is
    skipped there, not lost here."""
    if not isinstance(raw, dict):
        return {}
    return {k: dict(v) for k, v in raw.items() if isinstance(k, str) and isinstance(v, dict)}


# Whole-number settings outside these bounds keep their defaults: the settings file is the
# user's to edit, and "chunk_tokens": 0 stopped `hearth docs add` with a traceback, "server_port":
# 99999 aborted the window (the dialogs' spin boxes never offer such values).
_INT_RANGES = {
    "n_batch": (1, 1 << 16),
    "rag_top_k": (1, 50),
    "chunk_tokens": (16, 512),  # the embedding model reads at most 512 word pieces
    "chunk_overlap": (0, 256),
    "server_port": (1, 65535),
}


def _in_range(name: str, value: Any) -> bool:
    low, high = _INT_RANGES.get(name, (None, None))
    return low is None or low <= value <= high


def _texts(raw: Any) -> dict[str, str]:
    """The entries of a dict whose name and value are text; the rest is dropped."""
    if not isinstance(raw, dict):
        return {}
    return {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, str)}


def _merge_dataclass(obj: Any, raw: Any) -> Any:
    if not isinstance(raw, dict):
        return obj
    for f in dataclasses.fields(obj):
        if f.name in raw and _same_kind(getattr(obj, f.name), raw[f.name]):
            value = raw[f.name]
            setattr(obj, f.name, float(value) if isinstance(getattr(obj, f.name), float) else value)
    return obj
