"""Per-model presets in the settings file (`app.presets`, `Settings.model_presets`): what a
preset changes, what it keeps for a newer Hearth, and the file round trip."""

from __future__ import annotations

import json
from pathlib import Path

from app.presets import preset_key, set_preset, with_preset
from app.settings import Settings
from engine.catalog import DEFAULT_CHAT_MODEL
from engine.types import SamplingParams


def test_a_preset_applies_to_its_model_only() -> None:
    settings = Settings(n_ctx=4096, system_prompt="Default prompt.")
    settings.model_presets["gemma"] = {
        "n_ctx": 8192,
        "n_gpu_layers": -1,
        "system_prompt": "Gemma's prompt.",
        "sampling": {"temperature": 0.2},
    }
    gemma = with_preset(settings, "gemma")
    assert (gemma.n_ctx, gemma.n_gpu_layers, gemma.system_prompt) == (8192, -1, "Gemma's prompt.")
    assert gemma.sampling.temperature == 0.2
    assert gemma.sampling.max_tokens == settings.sampling.max_tokens  # not set: the default
    other = with_preset(settings, "SmolLM2")
    assert (other.n_ctx, other.system_prompt) == (4096, "Default prompt.")
    assert settings.n_ctx == 4096  # the settings themselves are untouched


def test_names_paths_and_the_default_share_one_key() -> None:
    assert preset_key("") == preset_key(DEFAULT_CHAT_MODEL) == DEFAULT_CHAT_MODEL
    assert preset_key("/models/gemma-3-270m.Q4_K_M.gguf") == "gemma-3-270m.Q4_K_M"
    assert preset_key("gemma-3-270m.Q4_K_M.gguf") == "gemma-3-270m.Q4_K_M"


def test_a_preset_keeps_only_what_differs_and_what_it_does_not_know() -> None:
    settings = Settings()
    settings.model_presets["m"] = {"future_option": [1, 2], "sampling": {"future_knob": 3}}
    values = settings.copy()
    values.n_ctx = 2048
    values.sampling = SamplingParams(temperature=0.1)
    set_preset(settings, "m", values)
    assert settings.model_presets["m"] == {
        "future_option": [1, 2],
        "n_ctx": 2048,
        "sampling": {"future_knob": 3, "temperature": 0.1},
    }
    set_preset(settings, "m", settings.copy())  # back to the defaults: only the unknown stays
    assert settings.model_presets["m"] == {"future_option": [1, 2], "sampling": {"future_knob": 3}}
    set_preset(settings, "plain", settings.copy())
    assert "plain" not in settings.model_presets


def test_presets_survive_the_file_and_bad_values_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    settings = Settings()
    settings.model_presets["gemma"] = {"n_ctx": 8192, "system_prompt": "Be brief."}
    settings.save(path)
    again = Settings.load(path)
    assert again.model_presets == settings.model_presets
    assert with_preset(again, "gemma").n_ctx == 8192

    raw = json.loads(path.read_text())
    raw["model_presets"] = {
        "gemma": {"n_ctx": "big", "n_gpu_layers": True, "sampling": {"temperature": "hot"}},
        "broken": "not a preset",
        "newer": {"n_ctx": 1024, "unknown": {"x": 1}},
    }
    path.write_text(json.dumps(raw))
    loaded = Settings.load(path)
    assert set(loaded.model_presets) == {"gemma", "newer"}
    gemma = with_preset(loaded, "gemma")  # values of the wrong type: the defaults apply
    assert (gemma.n_ctx, gemma.n_gpu_layers) == (4096, 0)
    assert gemma.sampling == loaded.sampling
    loaded.save(path)
    assert json.loads(path.read_text())["model_presets"]["newer"]["unknown"] == {"x": 1}


def test_window_state_of_the_wrong_type_is_dropped_not_fatal(tmp_path: Path) -> None:
    """The window reads Settings.ui_state as text (base64 geometry, JSON sources); a settings
    file edited by hand, or by another version, with other types there used to stop the
    window at start-up ("geometry": 5 has no .encode)."""
    path = tmp_path / "settings.json"
    state = {"geometry": 5, "splitter": ["x"], "new_chat_sources": {"mode": "all"}}
    state["last_chat"] = "3"
    path.write_text(json.dumps({"ui_state": state, "n_ctx": 2048}))
    loaded = Settings.load(path)
    assert loaded.ui_state == {"last_chat": "3"} and loaded.n_ctx == 2048
    path.write_text(json.dumps({"ui_state": ["not", "a", "dict"]}))
    assert Settings.load(path).ui_state == {}


def test_numbers_out_of_their_range_keep_the_defaults() -> None:
    """A hand-edited settings file: "chunk_tokens": 0 stopped `hearth docs add` with a
    traceback, "server_port": 99999 aborted the window."""
    bad = {"chunk_tokens": 0, "rag_top_k": -3, "server_port": 99999, "n_batch": 0}
    loaded = Settings.from_dict(bad)
    default = Settings()
    for name in bad:
        assert getattr(loaded, name) == getattr(default, name), name
    ok = Settings.from_dict({"chunk_tokens": 256, "chunk_overlap": 60, "rag_top_k": 12})
    assert (ok.chunk_tokens, ok.chunk_overlap, ok.rag_top_k) == (256, 60, 12)
    # an overlap as long as the chunk would never move on: a quarter of the chunk instead
    assert Settings.from_dict({"chunk_tokens": 40, "chunk_overlap": 40}).chunk_overlap == 10
