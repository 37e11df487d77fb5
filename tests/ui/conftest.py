"""Fixtures for window tests: build the real window, controller and store (in the per-test
HEARTH_HOME), with the real engine or a scripted fake, and always close them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_fakes import Script, fake_factory


@pytest.fixture
def make_gui(qapp: Any, qtbot: Any) -> Iterator[Callable[..., Any]]:
    from app.main import build_gui

    built: list[Any] = []

    def make(
        script: Script | None = None,
        real: bool = False,
        show: bool = True,
        start: bool = True,
        engine_factory: Any = None,  # any factory, instead of a scripted fake
    ) -> Any:
        factory = engine_factory or (None if real else fake_factory(script or Script()))
        gui = build_gui(engine_factory=factory, interactive_errors=False)
        built.append(gui)
        if show:
            gui.window.show()
            qtbot.waitExposed(gui.window)
        if start:
            gui.controller.start()
        return gui

    yield make
    for gui in built:
        gui.close()


@pytest.fixture
def models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, minilm_gguf: Path, gemma_path: Path
) -> Path:
    """A private models folder: downloads and new variants must not land in the shared test
    models. It holds the default models as first use prepares them (made once per session
    by the minilm_gguf and gemma_path fixtures), so the window's documents thread does not
    convert and time the embedding model again, nor its engine thread join Gemma, for every
    test."""
    from prepared_models import like_first_use

    folder = like_first_use(tmp_path / "models", minilm_gguf, gemma_path)
    monkeypatch.setenv("HEARTH_MODELS_DIR", str(folder))
    return folder
