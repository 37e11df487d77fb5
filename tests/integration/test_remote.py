"""The remote backend against a real OpenAI-compatible server: llama-cpp-python's own
server (`python -m llama_cpp.server`) serving the bundled SmolLM2."""

from __future__ import annotations

import threading

import pytest
from servers import free_port

from engine.errors import BackendUnavailableError
from engine.remote import RemoteEngine
from engine.types import ChatMessage, GenerationRequest, SamplingParams

pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] extras not installed")


@pytest.fixture(scope="module")
def server(llama_cpp_server: str) -> str:
    return llama_cpp_server


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
        RemoteEngine(f"http://127.0.0.1:{free_port()}", timeout_s=2)
    assert "Cannot reach" in err.value.user_message


def test_not_a_url() -> None:
    with pytest.raises(BackendUnavailableError):
        RemoteEngine("localhost-8080")


def test_a_server_that_never_answers_is_a_clear_error() -> None:
    """A server that accepts the connection and then says nothing (hung, or not HTTP)."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # the kernel completes the handshake; nobody ever reads or answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(BackendUnavailableError) as err:
            RemoteEngine(url, timeout_s=1)
    assert err.value.user_message == f"The server at {url} did not answer in time."
