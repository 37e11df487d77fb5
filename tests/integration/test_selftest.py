"""`hearth self-test` run from source: the same checks the installed build runs with
`--self-test` (tests/slow/test_installer.py runs those on the frozen program)."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app import selftest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(900)
def test_self_test_from_source_passes(hearth_home: Path, minilm_gguf: Path) -> None:
    """A real run in a child process (exit code and stdout as a user sees them): the default
    chat model generates, the embedding model loads, the bundled PDF is indexed and the
    question is answered from its second page."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-m", "app.selftest"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=850,
    )
    line = proc.stdout.strip()
    assert proc.returncode == 0, f"{line}\n{proc.stderr[-3000:]}"
    assert len(line.splitlines()) == 1
    assert line.startswith("Hearth self-test passed in ")
    steps = re.findall(r"(?:: |; )(\w+) [\d.]+ s", line)
    assert steps == ["paths", "runtime", "chat", "embedding", "index", "ask"], line
    from engine.catalog import MINILM_GGUF

    # the shared converted model (conftest's minilm_gguf fixture made it)
    assert f"(loaded {MINILM_GGUF.removesuffix('.gguf')}, 384 dims)" in line
    assert re.search(r"ask [\d.]+ s \(source hearth-selftest\.pdf, pages? [\d-]*2", line), line
    # Its temporary library is gone; user folders are the test's HEARTH_HOME.
    assert f"data in {hearth_home / 'data'}" in line
    assert not list((hearth_home / "cache").glob("selftest-*"))


def test_failure_names_the_step_and_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user folder that cannot be made: exit 1, the failing step and why, on one line."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    monkeypatch.setenv("HEARTH_HOME", str(blocker))
    code = selftest.main([])
    out = capsys.readouterr().out.strip()
    assert code == 1
    assert len(out.splitlines()) == 1
    assert out.startswith("Hearth self-test FAILED at step 'paths' after ")
    assert str(blocker) in out


def test_json_report_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("HEARTH_HOME", str(blocker))
    assert selftest.main(["--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["failed_step"] == "paths"
    assert report["steps"][0]["name"] == "paths" and report["steps"][0]["ok"] is False
    assert report["reason"]


def test_registered_as_hearth_command() -> None:
    from app.commands import selftest as command

    parser = argparse.ArgumentParser()
    parser.add_argument("-v", "--verbose", action="store_true")
    command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["-v", "self-test", "--json"])
    assert args.handler is command.run
    assert args.json is True and args.verbose is True


def test_bundled_pdf_is_readable() -> None:
    from pypdf import PdfReader

    with selftest.selftest_pdf() as pdf:
        pages = [p.extract_text() for p in PdfReader(pdf).pages]
    assert len(pages) == 2
    assert selftest.ANSWER_WORD in pages[1].lower()
    assert selftest.ANSWER_WORD not in pages[0].lower()


def test_models_help_depends_on_the_installation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "hearth setup" in selftest.models_help(tmp_path)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    frozen = selftest.models_help(tmp_path)
    assert "--with-models" in frozen and "hearth models pull" in frozen and str(tmp_path) in frozen
