"""Per-model presets in the window, with the scripted fake engine on the real engine thread:
Settings ▸ Model edits the preset of the model chosen in it; choosing a model (as the default,
or for one chat) loads it with its context length and GPU layers and answers with its system
prompt and sampling; a chat's own settings still win; presets come back from the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ui_fakes import Script, wait_ready

from app.presets import with_preset
from app.settings import Settings
from engine.types import ChatMessage


def edit_preset(page: Any, model: str, n_ctx: int, gpu: int, prompt: str, temp: float) -> None:
    """Choose `model` on Settings ▸ Model and set its preset."""
    page.model.setCurrentIndex(page.model.findData(model))
    page.n_ctx.setValue(n_ctx)
    page.n_gpu_layers.setValue(gpu)
    page.system_prompt.setPlainText(prompt)
    page.sampling.temperature.setValue(temp)


def answer(qtbot: Any, gui: Any, text: str, script: Script) -> Any:
    with qtbot.waitSignal(gui.controller.generationFinished, timeout=10_000):
        assert gui.controller.send(text)
    return script.requests[-1]


def test_switching_models_switches_presets_and_a_chat_override_still_wins(
    make_gui: Any, qtbot: Any, models: Path
) -> None:
    script = Script()
    gui = make_gui(script)
    wait_ready(qtbot, gui)
    c = gui.controller
    names = [m.name for m in c.installed_models()]
    assert len(names) >= 2, names  # SmolLM2 and Gemma, as first use leaves them
    first, second = names[0], names[1]

    dialog = gui.window.settings_dialog()
    page = dialog.page("Model")
    edit_preset(page, second, 2048, 3, "You are the second model.", 0.3)
    edit_preset(page, first, 1024, 0, "You are the first model.", 0.1)
    page.model.setCurrentIndex(page.model.findData(second))  # its preset is shown again
    assert (page.n_ctx.value(), page.n_gpu_layers.value()) == (2048, 3)
    assert page.system_prompt.toPlainText() == "You are the second model."
    page.model.setCurrentIndex(page.model.findData(first))  # the default model: the first
    with qtbot.waitSignal(c.engine.loaded, timeout=10_000):
        c.apply_settings(dialog.result_settings())
    assert Path(script.loads[-1]["model_path"]).name.startswith(first)
    assert script.loads[-1]["n_ctx"] == 1024
    request = answer(qtbot, gui, "Who are you?", script)
    assert request.messages[0] == ChatMessage("system", "You are the first model.")
    assert request.sampling.temperature == 0.1

    # Another model for this chat: its own preset is loaded and answers.
    with qtbot.waitSignal(c.engine.loaded, timeout=10_000):
        c.set_chat_settings(c.chat_id, {"model": second})
    assert (script.loads[-1]["n_ctx"], script.loads[-1]["n_gpu_layers"]) == (2048, 3)
    request = answer(qtbot, gui, "And now?", script)
    assert request.messages[0] == ChatMessage("system", "You are the second model.")
    assert request.sampling.temperature == 0.3

    # The chat's own system prompt and sampling still win over the preset.
    c.set_chat_settings(
        c.chat_id,
        {"model": second, "system_prompt": "Talk like a pirate.", "sampling": {"temperature": 1.3}},
    )
    request = answer(qtbot, gui, "Arr?", script)
    assert request.messages[0] == ChatMessage("system", "Talk like a pirate.")
    assert request.sampling.temperature == 1.3
    assert script.loads[-1]["n_ctx"] == 2048  # the model's preset still sets its context

    # The per-chat dialog starts from the model's preset, not from the bare defaults.
    base = c.model_settings(c.current_chat())
    assert base.n_ctx == 2048 and base.sampling.temperature == 0.3

    # From the file, in a new window: the presets are there and apply again.
    saved = Settings.load(c.paths.settings_file)
    assert with_preset(saved, first).system_prompt == "You are the first model."
    assert with_preset(saved, second).n_gpu_layers == 3
    assert saved.n_ctx == Settings().n_ctx  # the defaults themselves did not change
    gui.window.close()
    again_script = Script()
    again = make_gui(again_script)
    wait_ready(qtbot, again)
    assert again_script.loads[-1]["n_ctx"] == 2048  # the last chat (the second model) is open
    again.controller.new_chat()
    with qtbot.waitSignal(again.controller.engine.loaded, timeout=10_000):
        again.controller.ensure_model()  # a new chat: the default model, the first
    assert again_script.loads[-1]["n_ctx"] == 1024
    reopened = again.window.settings_dialog().page("Model")
    reopened.model.setCurrentIndex(reopened.model.findData(second))
    assert reopened.n_ctx.value() == 2048 and reopened.sampling.temperature.value() == 0.3


def test_use_the_defaults_forgets_a_models_preset(make_gui: Any, qtbot: Any, models: Path) -> None:
    gui = make_gui(Script())
    wait_ready(qtbot, gui)
    c = gui.controller
    name = c.installed_models()[0].name
    dialog = gui.window.settings_dialog()
    edit_preset(dialog.page("Model"), name, 1024, 0, "Short.", 0.1)
    c.apply_settings(dialog.result_settings())
    assert c.settings.model_presets
    dialog = gui.window.settings_dialog()
    page = dialog.page("Model")
    page.model.setCurrentIndex(page.model.findData(name))
    assert page.n_ctx.value() == 1024
    page.reset_preset()
    assert page.n_ctx.value() == c.settings.n_ctx
    c.apply_settings(dialog.result_settings())
    assert c.settings.model_presets == {}
