"""Per-model presets: the context length, GPU layers, system prompt and sampling a model uses,
remembered for each model (as LM Studio and Jan do). When a model is chosen, for the default
or for one chat, its preset applies; a chat's own settings (its system prompt, its sampling)
still win over it; what a preset does not set comes from the settings' defaults.

Stored in the settings file, `Settings.model_presets`: model name -> {"n_ctx": 8192,
"n_gpu_layers": -1, "system_prompt": "...", "sampling": {"temperature": 0.2}}. The name is the
model's file name without ".gguf" (what the model pickers store; "" is the default chat model).
A preset holds only what differs from the defaults, so a default changed later still reaches
the models that did not set their own. Keys this version does not know, and values of the
wrong type, are kept in the file and ignored here (a newer Hearth may have written them).
"""

from __future__ import annotations

import dataclasses
from pathlib import PurePath
from typing import Any

from app.settings import Settings
from engine.types import SamplingParams

PRESET_KEYS = ("n_ctx", "n_gpu_layers", "system_prompt", "sampling")


def preset_key(model: str) -> str:
    """The name a model's preset is stored under: the file name without ".gguf" for a path
    or a file name, the default chat model's name for ""."""
    from engine.catalog import DEFAULT_CHAT_MODEL

    name = model.strip() or DEFAULT_CHAT_MODEL
    return PurePath(name).name.removesuffix(".gguf")


def preset_for(settings: Settings, model: str) -> dict[str, Any]:
    """The model's stored preset (a copy; {} when it has none)."""
    return dict(settings.model_presets.get(preset_key(model), {}))


def with_preset(settings: Settings, model: str) -> Settings:
    """A copy of `settings` with the model's preset applied: what loading the model and
    answering with it use."""
    preset = preset_for(settings, model)
    out = settings.copy()
    for key in ("n_ctx", "n_gpu_layers"):
        value = preset.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            setattr(out, key, value)
    if isinstance(preset.get("system_prompt"), str):
        out.system_prompt = preset["system_prompt"]
    out.sampling = merge_sampling(out.sampling, preset.get("sampling"))
    return out


def set_preset(
    settings: Settings, model: str, values: Settings, defaults: Settings | None = None
) -> None:
    """Make the model's preset in `settings` what `values` has where it differs from the
    defaults (`defaults`, else `settings`' own; a value equal to a default is left to follow
    it); keys this version does not know stay."""
    base = defaults or settings
    kept = {k: v for k, v in preset_for(settings, model).items() if k not in PRESET_KEYS}
    own: dict[str, Any] = {}
    for key in ("n_ctx", "n_gpu_layers", "system_prompt"):
        if getattr(values, key) != getattr(base, key):
            own[key] = getattr(values, key)
    known = {f.name for f in dataclasses.fields(SamplingParams)}
    old = preset_for(settings, model).get("sampling")
    sampling = {k: v for k, v in old.items() if k not in known} if isinstance(old, dict) else {}
    for name in sorted(known):
        if getattr(values.sampling, name) != getattr(base.sampling, name):
            sampling[name] = getattr(values.sampling, name)
    if sampling:
        own["sampling"] = sampling
    key = preset_key(model)
    if own or kept:
        settings.model_presets[key] = {**kept, **own}
    else:
        settings.model_presets.pop(key, None)


def merge_sampling(base: SamplingParams, overrides: Any) -> SamplingParams:
    """`base` with the valid keys of an override dict (a preset's, a chat's) applied."""
    result = dataclasses.replace(base)
    if not isinstance(overrides, dict):
        return result
    for f in dataclasses.fields(SamplingParams):
        if f.name not in overrides:
            continue
        value, default = overrides[f.name], getattr(base, f.name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        setattr(result, f.name, float(value) if isinstance(default, float) else int(value))
    return result
