"""The remote backend against a real OpenAI-compatible server: llama-cpp-python's own
server (`python -m llama_cpp.server`) serving the bundled SmolLM2."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from engine.errors import BackendUnavailableError
from engine.remote import RemoteEngine
from engine.types import ChatMessage, GenerationRequest, SamplingParams

pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] extras not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(smollm2_path: Path):
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(smollm2_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--verbose",
            "False",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode(errors="replace")[-2000:])  # type: ignore[union-attr]
        try:
            urllib.request.urlopen(url + "/v1/models", timeout=1).read()
            break
        except OSError:
            time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_streams_an_answer_from_the_server(server: str) -> None:
    backend = RemoteEngine(server, n_ctx=2048)
    assert backend.model
    gen = backend.generate(
        GenerationRequest(
            [ChatMessage("user", "Name a colour of the rainbow.")],
            SamplingParams(temperature=0.0, max_tokens=24),
        ),
        threading.Event(),
    )
    parts = list(gen)
    assert len(parts) > 1, "the answer should stream in pieces"
    assert "".join(parts).strip()
    assert gen.stats.generated_tokens > 0
    assert gen.stats.ttft_s > 0
    assert gen.stats.stop_reason in ("stop", "length")


def test_stop_ends_a_remote_answer_at_once(server: str) -> None:
    backend = RemoteEngine(server, n_ctx=2048)
    cancel = threading.Event()
    gen = backend.generate(
        GenerationRequest(
            [ChatMessage("user", "Count from one to two hundred in words.")],
            SamplingParams(temperature=0.0, max_tokens=400),
        ),
        cancel,
    )
    got = []
    for delta in gen:
        got.append(delta)
        if len(got) == 3:
            cancel.set()
    # stopped at once: at most the token already on its way, not the 400 asked for
    assert gen.stats.stop_reason == "cancelled"
    assert len(got) <= 4


def test_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(BackendUnavailableError) as err:
        RemoteEngine(f"http://127.0.0.1:{_free_port()}", timeout_s=2)
    assert "Cannot reach" in err.value.user_message


def test_not_a_url() -> None:
    with pytest.raises(BackendUnavailableError):
        RemoteEngine("localhost-8080")
