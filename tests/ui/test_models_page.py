"""The Models window's installed part: the bundled models with their memory fit, delete with
its refusals, and new variants made by llama.cpp's real quantizer (in a child process) and by
Hearth's converter. The chat engine is a scripted fake: these tests are not about generation."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from hubserver import BASE, smollm2_f16, smollm2_variant
from ui_fakes import Script, wait_ready

from app.model_jobs import JobProgress
from engine.gguf_file import read_header

FIT_TEXTS = ("✔ fits", "⚠ tight", "✖ does not fit")


def _open(gui: Any) -> Any:
    from ui.models_page import ModelsUi

    return gui.window.findChild(ModelsUi).open()


def _rows(tab: Any) -> dict[str, dict[str, str]]:
    """Variant rows by model name, each as {column title: text}."""
    from ui.models_installed import INSTALLED_COLUMNS

    return {
        r[0].split("  [")[0]: dict(zip(INSTALLED_COLUMNS, r, strict=True)) for r in tab.row_texts()
    }


def _cells(row: dict[str, str], *columns: str) -> list[str]:
    return [row[c] for c in columns]


def _hidden(folder: Path) -> list[str]:
    """Hidden files (partial downloads, quantizer output) other than first use's record."""
    from app.user_library import FIRST_USE_RECORD

    return sorted(
        p.name for p in folder.iterdir() if p.name.startswith(".") and p.name != FIRST_USE_RECORD
    )


def test_bundled_models_are_listed_with_fit_and_the_model_in_use_is_not_deleted(
    make_gui: Any, qtbot: Any, smollm2_path: Path, gemma_path: Path, minilm_gguf: Path
) -> None:
    gui = make_gui(Script())
    wait_ready(qtbot, gui)
    tab = _open(gui).installed
    rows = _rows(tab)
    smol = rows["SmolLM2-135M-Instruct.Q4_1"]
    columns = ("Quant", "Architecture", "Parameters", "Size", "Context", "Licence")
    assert _cells(smol, *columns) == ["Q4_1", "llama", "135M", "98.4 MB", "8,192", "apache-2.0"]
    assert smol["Chat template"] == "yes"
    assert "in use" in smol["Model / variant"] and "bundled" in smol["Model / variant"]
    assert smol["Memory"].endswith("@ 4,096") and smol["Fit"] in FIT_TEXTS
    gemma = rows["gemma-3-270m-q4_k_m"]
    assert _cells(gemma, "Quant", "Architecture", "Context") == ["Q4_K_M", "gemma3", "32,768"]
    assert gemma["Chat template"] == "no (built-in)" and gemma["Fit"] in FIT_TEXTS
    assert rows[minilm_gguf.name.removesuffix(".gguf")]["Chat template"] == "embedding model"
    assert "Memory free now:" in tab.summary.text()
    # the group row names the model and counts its variants
    heads = [tab.model.item(r, 0).text() for r in range(tab.model.rowCount())]
    assert "SmolLM2-135M-Instruct  (1 variant)" in heads

    assert tab.select_path(str(smollm2_path))
    assert not tab.delete_button.isEnabled()
    assert "in use" in tab.delete_button.toolTip()
    assert tab.delete_selected(ask=False) is False
    assert "in use" in gui.presenter.history[-1].message
    assert smollm2_path.exists()


def test_delete_a_downloaded_variant_after_confirmation(
    make_gui: Any, qtbot: Any, models: Path
) -> None:
    target = models / f"{BASE}.Q8_0.gguf"
    shutil.copyfile(smollm2_variant("Q8_0"), target)
    gui = make_gui(Script())
    wait_ready(qtbot, gui)
    tab = _open(gui).installed
    assert f"{BASE}.Q8_0" in _rows(tab)
    assert tab.select_path(str(target)) and tab.delete_button.isEnabled()
    assert tab.delete_selected(ask=False) is True
    assert not target.exists()
    assert f"{BASE}.Q8_0" not in _rows(tab)


def test_quantize_from_the_page_makes_a_variant_and_cancel_leaves_no_file(
    make_gui: Any, qtbot: Any, models: Path
) -> None:
    f16 = models / f"{BASE}.F16.gguf"
    shutil.copyfile(smollm2_f16(), f16)
    gui = make_gui(Script())
    wait_ready(qtbot, gui)
    dialog = _open(gui)
    tab = dialog.installed
    assert tab.select_path(str(f16))

    job = tab.quantize_selected("Q8_0", ask=False)
    assert job is not None
    seen: list[JobProgress] = []
    job.progress.connect(seen.append)
    with qtbot.waitSignal(job.succeeded, timeout=300000) as blocker:
        pass
    out = Path(blocker.args[0])
    assert out == models / f"{BASE}.Q8_0.gguf"
    assert read_header(out).file_type_name == "Q8_0"
    assert any(p.text.startswith("tensor ") and 0 < p.fraction <= 1 for p in seen)
    # a new variant of the same model, next to the F16 and the bundled Q4_1
    qtbot.waitUntil(lambda: f"{BASE}.Q8_0" in _rows(tab), timeout=5000)
    group = next(g for g in tab.groups if g.key == BASE.lower())
    assert sorted(v.quant for v in group.variants) == ["F16", "Q4_1", "Q8_0"]
    row = dialog.jobs.rows[id(job)]
    assert row.detail.text() == f"Done: {BASE}.Q8_0.gguf" and row.button.text() == "Dismiss"

    # cancel with the job's own Cancel button while llama.cpp is writing tensors
    assert tab.select_path(str(f16))
    job2 = tab.quantize_selected("Q4_K_M", ask=False)
    assert job2 is not None
    qtbot.waitUntil(lambda: job2.last_progress.fraction > 0, timeout=120000)
    with qtbot.waitSignal(job2.cancelled, timeout=30000):
        dialog.jobs.rows[id(job2)].button.click()
    assert not (models / f"{BASE}.Q4_K_M.gguf").exists()
    assert _hidden(models) == []
    qtbot.waitUntil(lambda: dialog.jobs.rows[id(job2)].detail.text() == "Cancelled", timeout=5000)


def test_convert_a_checkpoint_folder_from_the_page(make_gui: Any, qtbot: Any, models: Path) -> None:
    from engine.catalog import minilm_source_dir

    src = minilm_source_dir()
    assert src is not None
    gui = make_gui(Script())
    tab = _open(gui).installed
    not_a_checkpoint = tab.convert_folder(str(models), "f16")
    assert not_a_checkpoint is None
    assert "no config.json" in gui.presenter.history[-1].message
    job = tab.convert_folder(str(src), "f16")
    assert job is not None
    with qtbot.waitSignal(job.succeeded, timeout=300000) as blocker:
        pass
    out = Path(blocker.args[0])
    assert out == models / "all-MiniLM-L6-v2.F16.gguf"
    assert read_header(out).file_type_name == "F16"
    qtbot.waitUntil(lambda: "all-MiniLM-L6-v2.F16" in _rows(tab), timeout=5000)
    converted = _rows(tab)["all-MiniLM-L6-v2.F16"]
    assert _cells(converted, "Quant", "Architecture") == ["F16", "bert"]


def test_the_models_feature_is_one_object_and_closing_the_window_stops_its_jobs(
    make_gui: Any, qtbot: Any
) -> None:
    from app.model_jobs import Job
    from engine.errors import InvalidRequestError
    from ui.models_page import ModelsUi, install

    class WaitsForCancel(Job):  # stands in for a long download: the work is not the point
        def work(self) -> None:
            self.cancel_event.wait(60)

    gui = make_gui(Script())
    models_ui = gui.window.findChild(ModelsUi)
    assert models_ui is not None and install(gui.window, gui.services) is models_ui
    assert models_ui.action.shortcut().toString() == "Ctrl+M"
    models_ui.action.trigger()
    dialog = models_ui.dialog
    assert dialog is not None and dialog.isVisible() and models_ui.open() is dialog

    manager = gui.services.model_jobs
    job = manager.start(WaitsForCancel("wait"))
    qtbot.waitUntil(lambda: job.state == "running", timeout=5000)
    gui.window.close()
    assert job.state == "cancelled"  # the window's close waited for the pool
    with pytest.raises(InvalidRequestError):
        manager.start(WaitsForCancel("too late"))
