"""Temporary files of killed jobs are removed at the next start, and never those of a job that
is still running (engine.job_files): a real `hearth models quantize`, killed mid-way."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from hubserver import BASE, smollm2_f16
from prepared_models import like_first_use

from engine.job_files import UNLOCKED_STALE_S, JobFile, lock_path, sweep

REPO = Path(__file__).resolve().parents[2]


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*") if p.name != ".first-use.json")


def _hearth(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from app.cli import main; raise SystemExit(main())", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(predicate: object, what: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_quantize_leaves_nothing_once_hearth_starts_again(
    tmp_path: Path, minilm_gguf: Path, hearth_home: Path
) -> None:
    models = like_first_use(tmp_path / "models", minilm_gguf)
    src = models / f"{BASE}.F16.gguf"
    shutil.copyfile(smollm2_f16(), src)
    env = dict(os.environ, HEARTH_HOME=str(hearth_home), HEARTH_MODELS_DIR=str(models))
    job = _hearth("models", "quantize", str(src), "Q8_0", env=env)
    try:
        temp = lambda: [p for p in models.glob(".*.quantizing") if p.stat().st_size > 0]  # noqa: E731
        _wait_for(temp, "the quantizer's temporary file")
        (running,) = temp()
        children = psutil.Process(job.pid).children(recursive=True)
        assert children, "the quantizer runs in a child process"

        # A second Hearth starting now must leave the running job's file alone.
        assert sweep(models) == []
        assert running.exists() and lock_path(running).exists()

        job.send_signal(signal.SIGKILL)  # no clean-up of its own can run
        job.wait(timeout=60)
        gone, alive = psutil.wait_procs(children, timeout=60)
        assert alive == [], "the quantizer child outlived its parent"
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    assert running.exists()  # what this issue was about: left for good, 100 MB here

    listing = _hearth("models", env=env)  # any command that needs a model starts with a sweep
    out, err = listing.communicate(timeout=300)
    assert listing.returncode == 0, err
    assert "Removed 1 temporary file" in err and running.name in err
    assert _hidden(models) == []
    assert not (models / f"{BASE}.Q8_0.gguf").exists()  # nothing half-made was kept


def test_what_the_sweep_keeps_and_removes(tmp_path: Path) -> None:
    models = tmp_path / "models"
    sub = models / "family"
    sub.mkdir(parents=True)
    old = time.time() - UNLOCKED_STALE_S - 60

    # Owned by a running job (here, this process): kept, whatever its age.
    with JobFile(sub / ".Tiny.Q8_0.gguf.123.quantizing") as owned:
        owned.path.write_bytes(b"x" * 1000)
        os.utime(owned.path, (old, old))
        # Left by a killed job: the lock file is there, nobody holds it.
        killed = models / ".Tiny.F16.gguf.4242.ab12cd34.part"
        killed.write_bytes(b"y" * 2000)
        lock_path(killed).write_bytes(b"")
        # No lock file at all: an old one is abandoned, a fresh one may be starting.
        unlocked_old = models / ".assemble-999-deadbeef.part"
        unlocked_old.write_bytes(b"z")
        os.utime(unlocked_old, (old, old))
        unlocked_new = models / ".assemble-998-cafecafe.part"
        unlocked_new.write_bytes(b"z")
        # Downloads: resumable with its record; an orphan whose downloader is gone.
        partial = models / ".partial"
        partial.mkdir()
        (partial / "A.gguf.part").write_bytes(b"a" * 10)
        (partial / "A.gguf.json").write_text("{}", encoding="utf-8")
        (partial / "B.gguf.part").write_bytes(b"b" * 10)
        (partial / "B.gguf.lock").write_text("999999999", encoding="ascii")
        # Another download still running (this process's pid holds its lock).
        (partial / "C.gguf.part").write_bytes(b"c" * 10)
        (partial / "C.gguf.lock").write_text(str(os.getpid()), encoding="ascii")

        removed = {r.path.name: r.size for r in sweep(models)}
        assert removed == {killed.name: 2000, unlocked_old.name: 1, "B.gguf.part": 10}
        assert owned.path.exists() and lock_path(owned.path).exists()
        assert not lock_path(killed).exists()
        assert unlocked_new.exists()
        assert (partial / "A.gguf.part").exists() and (partial / "C.gguf.part").exists()
    # The job ended: its file and lock are gone with it.
    assert not owned.path.exists() and not lock_path(owned.path).exists()
