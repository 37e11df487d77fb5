"""Which engine answers: a registry of chat backends by kind. The app asks it for a backend;
nothing else names a backend class or special-cases one.

- "llama": a GGUF file run in this process by llama.cpp (`engine.llama_engine.LlamaEngine`),
  target = the model's path;
- "openai": an OpenAI-compatible server (llama.cpp's server, vLLM, another Hearth's
  `hearth serve`; `engine.remote.RemoteEngine`), target = the server's base URL.

Backends are imported only when one is made (llama_cpp is slow to import and must stay out of
the window's start-up).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.errors import InvalidRequestError
from engine.types import ChatBackend

BackendFactory = Callable[..., ChatBackend]

LOCAL = "llama"
OPENAI = "openai"


@dataclass(frozen=True)
class BackendKind:
    name: str
    description: str
    module: str  # imported when a backend of this kind is made
    attribute: str  # the class (or factory) in it: called as (target, **options)
    target: str  # what the target names, for messages
    # True: the target is a model file on this computer, found by name in the models folder
    # (engine.catalog); False: the target is given as it is (a server address).
    local: bool
    options: frozenset[str]  # the options it takes; others given to `create` are left out


_REGISTRY: dict[str, BackendKind] = {}


def register(kind: BackendKind) -> None:
    _REGISTRY[kind.name] = kind


register(BackendKind(LOCAL, "This computer (llama.cpp)", "engine.llama_engine", "LlamaEngine",
                     "model file", local=True,
                     options=frozenset({"n_ctx", "n_threads", "n_gpu_layers", "n_batch",
                                        "n_threads_batch"})))  # fmt: skip
register(BackendKind(OPENAI, "An OpenAI-compatible server", "engine.remote", "RemoteEngine",
                     "server address", local=False,
                     options=frozenset({"api_key", "model", "n_ctx", "timeout_s"})))  # fmt: skip


def kinds() -> list[BackendKind]:
    return list(_REGISTRY.values())


def kind(name: str) -> BackendKind:
    try:
        return _REGISTRY[name or LOCAL]
    except KeyError:
        known = ", ".join(_REGISTRY)
        raise InvalidRequestError(f"Unknown engine '{name}'; known engines: {known}.") from None


def factory(name: str) -> BackendFactory:
    """The constructor of a backend kind, imported now."""
    k = kind(name)
    made: BackendFactory = getattr(importlib.import_module(k.module), k.attribute)
    return made


def create(name: str, target: str, **options: Any) -> ChatBackend:
    """A backend of kind `name` for `target` (a model path or a server URL). Callers may pass
    every option they know (threads, an API key, ...): each kind takes only its own."""
    taken = kind(name).options
    return factory(name)(target, **{k: v for k, v in options.items() if k in taken})
