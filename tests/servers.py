"""Real OpenAI-compatible servers for tests: llama.cpp's own (`python -m llama_cpp.server`)
and Hearth's (`hearth serve` as a subprocess of this venv). tests/conftest.py makes them
the module-scoped fixtures `llama_cpp_server` and `hearth_server`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HEARTH = Path(sys.executable).with_name("hearth")
SERVE_KEY = "test-serve-key-42"  # hearth_server's API key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@contextmanager
def llama_server(model: Path, n_ctx: int = 2048) -> Iterator[str]:
    """llama-cpp-python's server on a free loopback port; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", str(n_ctx), "--verbose", "False"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode(errors="replace")[-2000:])  # type: ignore[union-attr]
            try:
                urllib.request.urlopen(url + "/v1/models", timeout=1).read()
                break
            except OSError:
                time.sleep(0.3)
        yield url
    finally:
        _stop(proc)


@contextmanager
def hearth_serve(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`hearth serve --port 0 ARGS` as a subprocess; yields the base URL it prints first
    (…/v1). Its HEARTH_HOME and models folder are the test's (from the environment)."""
    proc = subprocess.Popen(
        [str(HEARTH), "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("http://"):
            _stop(proc)
            raise RuntimeError(f"hearth serve did not start: {proc.stderr.read()[-3000:]}")  # type: ignore[union-attr]
        yield line
    finally:
        _stop(proc)
