"""Settings → Quantization (switch the current model's level, measured speeds, llama.cpp's
backend) and Settings → Model hub. The engine is a scripted fake driven by the real engine
thread: these tests are about the reload wiring, not about generation."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from hubserver import BASE, smollm2_f16, smollm2_variant
from ui_fakes import Script, wait_ready

from app.settings import Settings


def test_choosing_an_installed_level_reloads_the_engine_and_remembers_its_speed(
    make_gui: Any, qtbot: Any, models: Path, smollm2_path: Path
) -> None:
    q8 = models / f"{BASE}.Q8_0.gguf"
    shutil.copyfile(smollm2_variant("Q8_0"), q8)
    script = Script(replies=[["one", " two", " three", " four", " five", " six"]])
    gui = make_gui(script)
    wait_ready(qtbot, gui)
    assert script.loads[-1]["model_path"] == str(smollm2_path)

    dialog = gui.window.settings_dialog()
    page = dialog.page("Quantization")
    assert page is not None and dialog.page("Model hub") is not None
    assert "SmolLM2-135M-Instruct.Q4_1" in page.heading.text()
    rows = {
        page.model.item(r, 0).text(): page.model.item(r, 1).text()
        for r in range(page.model.rowCount())
    }
    assert rows["Q4_1"] == "installed  (current)"
    assert rows["Q8_0"] == "installed"
    assert rows["Q4_K_M"] == "make from Q8_0 (re-quantize)"
    assert page.selected_choice().quant == "Q4_1"  # the current level is preselected
    assert page.select_quant("Q8_0")
    with qtbot.waitSignal(
        gui.controller.engine.loaded,
        timeout=10000,
        check_params_cb=lambda m: m.info.path == str(q8),
    ):
        gui.controller.apply_settings(dialog.result_settings())
    assert gui.controller.settings.default_model == f"{BASE}.Q8_0"
    assert script.loads[-1]["model_path"] == str(q8)
    wait_ready(qtbot, gui)

    # an answer's decode speed is remembered for the file and shown next time
    with qtbot.waitSignal(gui.controller.generationFinished, timeout=10000):
        assert gui.controller.send("count")
    page2 = gui.window.settings_dialog().page("Quantization")
    speeds = {
        page2.model.item(r, 0).text(): page2.model.item(r, 5).text()
        for r in range(page2.model.rowCount())
    }
    assert speeds["Q8_0"].endswith(" tok/s") and speeds["Q4_1"] == "—"
    assert page2.selected_choice().quant == "Q8_0"


def test_choosing_a_level_to_make_quantizes_then_reloads(
    make_gui: Any, qtbot: Any, models: Path
) -> None:
    f16 = models / f"{BASE}.F16.gguf"
    shutil.copyfile(smollm2_f16(), f16)
    script = Script()
    gui = make_gui(script)
    wait_ready(qtbot, gui)
    gui.controller.apply_settings(Settings.from_dict({"default_model": f"{BASE}.F16"}))
    qtbot.waitUntil(lambda: script.loads[-1]["model_path"] == str(f16), timeout=10000)
    wait_ready(qtbot, gui)
    dialog = gui.window.settings_dialog()
    page = dialog.page("Quantization")
    choice = next(c for c in page.choices if c.quant == "Q8_0")
    assert choice.status == "make" and choice.source == str(f16) and not choice.requantize
    assert page.select_quant("Q8_0")
    target = models / f"{BASE}.Q8_0.gguf"
    with qtbot.waitSignal(
        gui.controller.engine.loaded,
        timeout=300000,
        check_params_cb=lambda m: m.info.path == str(target),
    ):
        gui.controller.apply_settings(dialog.result_settings())
    assert target.exists()
    assert gui.controller.settings.default_model == f"{BASE}.Q8_0"


def test_a_q4_1_only_model_is_never_requantized_without_the_explicit_confirm(
    make_gui: Any, qtbot: Any, models: Path
) -> None:
    """The bundled SmolLM2 exists only as Q4_1. Settings ▸ Quantization does not offer a
    Q4_K_M made from it (it would be larger and worse), asks before a level that needs
    re-quantizing, and makes nothing when the answer is no; the job manager itself refuses
    to re-quantize unless told so."""
    from engine.errors import InvalidRequestError

    gui = make_gui(Script())
    wait_ready(qtbot, gui)
    page = gui.window.settings_dialog().page("Quantization")
    assert {c.quant for c in page.choices} == {"Q4_1", "Q3_K_M", "Q2_K"}
    asked: list[str] = []

    def answer(yes: bool) -> Any:
        def ask(parent: Any, title: str, text: str, action: str) -> bool:
            asked.append(text)
            return yes

        return ask

    before = sorted(p.name for p in models.iterdir())
    page.confirm = answer(False)
    assert page.select_quant("Q2_K")
    page.apply(Settings())
    assert len(asked) == 1 and "already quantized (Q4_1" in asked[0]
    assert "lower quality" in asked[0]
    assert gui.services.model_jobs.active_jobs() == []
    assert sorted(p.name for p in models.iterdir()) == before  # nothing made
    choice = next(c for c in page.choices if c.quant == "Q2_K")
    try:
        gui.services.model_jobs.switch_to(choice)  # no explicit permission
        raise AssertionError("re-quantized without permission")
    except InvalidRequestError as exc:
        assert "already quantized" in exc.user_message
    page.confirm = answer(True)
    page.apply(Settings())
    jobs = gui.services.model_jobs.active_jobs()
    assert len(jobs) == 1 and jobs[0].allow_requantize and jobs[0].quant == "Q2_K"
    with qtbot.waitSignal(jobs[0].ended, timeout=120000):
        jobs[0].cancel()


def test_backend_and_offload_are_shown_without_blocking(make_gui: Any, qtbot: Any) -> None:
    gui = make_gui(Script())
    wait_ready(qtbot, gui)
    page = gui.window.settings_dialog().page("Quantization")
    qtbot.waitUntil(lambda: page.gpu_offload is not None, timeout=60000)
    assert page.backend.text().startswith("llama.cpp ")
    assert "backend" in page.backend.text() and "build 0.3.36" in page.backend.text()
    if not page.gpu_offload:
        assert (
            page.offload.text() == "GPU offload: CPU only (this llama.cpp build has no GPU backend)"
        )


def test_about_names_the_llama_cpp_build(make_gui: Any, qtbot: Any) -> None:
    """Settings ▸ About says which llama.cpp build runs (patched, or the release and why)."""
    from engine.runtime import llama_cpp_build

    gui = make_gui(Script())
    wait_ready(qtbot, gui)
    dialog = gui.window.settings_dialog()
    assert dialog.pages[-1].title == "About"
    page = dialog.page("About")
    assert page.rows["llama.cpp build"].text() == llama_cpp_build()
    assert page.rows["Hearth"].text() == "0.1.0"


def test_hub_endpoint_and_token_are_settings(make_gui: Any) -> None:
    gui = make_gui(Script())
    dialog = gui.window.settings_dialog()
    page = dialog.page("Model hub")
    page.endpoint.setText(" https://mirror.example/ ")
    page.token.setText("hf_secret")
    new = dialog.result_settings()
    assert (new.hub_endpoint, new.hub_token) == ("https://mirror.example/", "hf_secret")
    gui.controller.apply_settings(new)
    saved = Settings.load(gui.controller.paths.settings_file)
    assert saved.hub_endpoint == "https://mirror.example/" and saved.hub_token == "hf_secret"
    assert gui.services.model_jobs.hub().endpoint == "https://mirror.example"
