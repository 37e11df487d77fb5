"""One window per data folder: a second start brings the first window to the front and exits
(real QLockFile and QLocalServer; real processes for a crash and for `python -m app.main`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from app.single_instance import LOCK_NAME, SingleInstance, server_name

REPO = Path(__file__).resolve().parents[2]


def test_second_start_asks_the_first_to_show(qtbot: Any, tmp_path: Path) -> None:
    first = SingleInstance(tmp_path)
    assert first.acquire()
    second = SingleInstance(tmp_path)
    assert not second.acquire()
    with qtbot.waitSignal(first.showRequested, timeout=5000):
        assert second.notify_running()
    first.release()
    # Once the first window is gone, the next start is the window.
    third = SingleInstance(tmp_path)
    assert third.acquire()
    third.release()


def test_each_data_folder_has_its_own_window(qapp: Any, tmp_path: Path) -> None:
    a, b = SingleInstance(tmp_path / "a"), SingleInstance(tmp_path / "b")
    assert server_name(a.data_dir) != server_name(b.data_dir)
    assert a.acquire() and b.acquire()
    a.release()
    b.release()


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux's read-only /sys")
def test_a_lock_that_cannot_be_written_does_not_stop_the_window(qapp: Any) -> None:
    # Nobody, not even root, can create a file in /sys: like a full disk or a read-only
    # folder, that is not "another window is running".
    guard = SingleInstance(Path("/sys"))
    assert guard.acquire()
    assert not (Path("/sys") / LOCK_NAME).exists()
    guard.release()


def test_lock_of_a_killed_window_does_not_block_the_next_start(qapp: Any, tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from PySide6.QtCore import QCoreApplication
        from app.single_instance import SingleInstance
        app = QCoreApplication([])
        guard = SingleInstance(__import__("pathlib").Path({str(tmp_path)!r}))
        print("locked" if guard.acquire() else "refused", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        assert not SingleInstance(tmp_path).acquire()  # held by a live process
        proc.send_signal(signal.SIGKILL)  # no clean-up at all: lock and socket files stay
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (tmp_path / LOCK_NAME).exists()
    guard = SingleInstance(tmp_path)
    assert guard.acquire()  # the dead PID makes the lock stale; the old socket is replaced
    other = SingleInstance(tmp_path)
    assert not other.acquire()
    guard.release()


def test_starting_hearth_twice_keeps_one_window(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")  # HEARTH_HOME from the fixtures
    first = subprocess.Popen(
        [sys.executable, "-m", "app.main"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lock = Path(env["HEARTH_HOME"]) / "data" / LOCK_NAME
        deadline = time.monotonic() + 60
        while not lock.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert lock.exists(), "the first window took no lock"
        second = subprocess.run(
            [sys.executable, "-m", "app.main"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stdout
        assert first.poll() is None, "the first window must keep running"
    finally:
        first.terminate()
        try:
            first.wait(30)
        except subprocess.TimeoutExpired:
            first.kill()
            first.wait(10)
