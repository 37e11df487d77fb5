"""The window's first run on a fresh models folder: Gemma is joined from its packages on the
engine thread before the first model is resolved, never on the GUI thread, and is then
offered with the other chat models. (The embedding model is prepared by the documents
thread: test_documents.py.) The chat engine is the scripted fake; resolving the model, and
so the first-use preparation, is the real one."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from prepared_models import like_first_use
from ui_fakes import Script, wait_ready

from engine.catalog import GEMMA_FILE


def test_first_run_joins_gemma_on_the_engine_thread(
    make_gui: Any,
    qtbot: Any,
    tmp_path: Path,
    minilm_gguf: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    models = like_first_use(tmp_path / "models", minilm_gguf)  # no Gemma yet
    monkeypatch.setenv("HEARTH_MODELS_DIR", str(models))
    caplog.set_level(logging.INFO, logger="app.engine_worker")

    gui = make_gui(Script())
    wait_ready(qtbot, gui, 120_000)

    assert (models / GEMMA_FILE).is_file()
    joined = [r for r in caplog.records if "assembling Gemma" in r.getMessage()]
    assert len(joined) == 1
    assert joined[0].thread != threading.main_thread().ident  # not the GUI thread
    names = [m.name for m in gui.controller.installed_models()]
    assert GEMMA_FILE.removesuffix(".gguf") in names and "SmolLM2-135M-Instruct.Q4_1" in names
