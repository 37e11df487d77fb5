"""Hearth's OpenAI-compatible API server with the real models, driven by real clients: the
official `openai` package and plain `http.client`. The server runs in-process on a free
loopback port (the same ApiServer `hearth serve` runs); `hearth serve` and `hearth chat`
themselves run as subprocesses where the command line is what is tested."""

from __future__ import annotations

import http.client
import json
import queue
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import openai
import pytest
from servers import HEARTH

from app.api_server import ApiServer, RequestRecord, ServerConfig
from app.gateway import EmbeddingThread, EngineThread, ObservedGateway
from app.settings import Settings
from engine.errors import InvalidRequestError
from engine.llama_engine import LlamaEngine
from engine.types import GenerationStats

KEY = "test-key-0123456789"
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 30},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "hobbies": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 3},
    },
    "required": ["name", "age", "hobbies"],
}


class Watching(ObservedGateway):
    """The engine thread's gateway, recording how each generation ended (engine side)."""

    def __init__(self, inner: EngineThread) -> None:
        self.ended: queue.Queue[GenerationStats] = queue.Queue()
        super().__init__(inner, self.ended.put)
        self.engine = inner


class Served:
    def __init__(self, gateway: Watching, **config: Any) -> None:
        self.records: list[RequestRecord] = []
        cfg = ServerConfig(port=0, defaults=Settings().sampling, **config)
        self.server = ApiServer(cfg, gateway, on_request=self.records.append)
        self.server.start()
        self.url = self.server.url
        self.port = self.server.port

    def client(self, key: str = "unused", **kw: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url, api_key=key, max_retries=0, **kw)

    def http(self, method: str, path: str, body: Any = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers=headers or {})
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        return resp.status, dict(resp.getheaders()), json.loads(raw) if raw else None


@pytest.fixture(scope="module")
def engine(smollm2_path: Path, minilm_gguf: Path) -> Iterator[Watching]:
    embeddings = EmbeddingThread(lambda: minilm_gguf)
    inner = EngineThread(lambda: LlamaEngine(smollm2_path, n_ctx=4096), embeddings)
    yield Watching(inner)
    inner.close()


@pytest.fixture(scope="module")
def api(engine: Watching) -> Iterator[Served]:
    served = Served(engine, io_timeout_s=2.0)
    yield served
    served.server.stop()


@pytest.fixture(scope="module")
def chat_model(api: Served) -> str:
    return api.server.gateway.models().chat


def test_models_are_listed_to_the_official_client(api: Served, engine: Watching) -> None:
    ids = [m.id for m in api.client().models.list()]
    assert ids == ["SmolLM2-135M-Instruct.Q4_1", "all-MiniLM-L6-v2"]
    status, _, model = api.http("GET", "/v1/models/all-MiniLM-L6-v2")
    assert status == 200 and model["id"] == "all-MiniLM-L6-v2"


def test_a_streamed_greedy_answer_is_hearth_chats_answer(smollm2_path: Path) -> None:
    """The same prompt, seed and settings through the API and through `hearth chat` give the
    same text. A fresh engine: a prompt partly cached from another request may be read in
    other batches and part at a near-tie."""
    prompt = "Name three animals that live in the sea."
    chat = subprocess.run(
        [str(HEARTH), "chat", prompt, "--temperature", "0", "--seed", "5", "--max-tokens", "40"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    fresh = Watching(EngineThread(lambda: LlamaEngine(smollm2_path, n_ctx=Settings().n_ctx)))
    served = Served(fresh)
    try:
        stream = served.client().chat.completions.create(
            model=fresh.models().chat,
            messages=[
                {"role": "system", "content": Settings().system_prompt},
                {"role": "user", "content": prompt},
            ],
            temperature=0,
            seed=5,
            max_tokens=40,
            stream=True,
        )
        pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    finally:
        served.server.stop()
        fresh.engine.close()
    assert len([p for p in pieces if p]) > 1, "the answer should stream in pieces"
    assert "".join(pieces) == chat.stdout.removesuffix("\n")


def test_a_json_schema_answer_parses_and_validates(api: Served, chat_model: str) -> None:
    answer = api.client().chat.completions.create(
        model=chat_model,
        messages=[{"role": "user", "content": "Describe a person with their hobbies."}],
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": PERSON}},
        temperature=0.8,
        seed=11,
        max_tokens=200,
    )
    assert answer.choices[0].finish_reason == "stop"
    jsonschema.validate(json.loads(answer.choices[0].message.content or ""), PERSON)


def test_json_object_mode_and_stop_strings(api: Served, chat_model: str) -> None:
    client = api.client()
    obj = client.chat.completions.create(
        model=chat_model,
        messages=[{"role": "user", "content": "The capital of France, as JSON."}],
        response_format={"type": "json_object"},
        temperature=0,
        max_tokens=100,
    )
    assert isinstance(json.loads(obj.choices[0].message.content or ""), dict)
    text = client.completions.create(
        model=chat_model, prompt="1, 2, 3, 4,", temperature=0, max_tokens=30, stop=["7"]
    )
    assert text.choices[0].text.strip().startswith("5") and "7" not in text.choices[0].text
    assert text.choices[0].finish_reason == "stop"
    streamed = client.completions.create(
        model=chat_model, prompt="1, 2, 3, 4,", temperature=0, max_tokens=30, stop=["7"],
        stream=True,
    )  # fmt: skip
    assert "".join(c.choices[0].text for c in streamed if c.choices) == text.choices[0].text


def test_embeddings_are_hearths_own(api: Served, minilm_gguf: Path) -> None:
    texts = ["The lighthouse keeper wrote down the weather.", "Ships passed at dawn.", "Hi"]
    result = api.client().embeddings.create(model="all-MiniLM-L6-v2", input=texts)
    vectors = np.array([d.embedding for d in result.data], dtype=np.float32)
    assert vectors.shape == (3, 384)
    from rag.embedder import Embedder

    with Embedder(minilm_gguf, n_threads=1) as own:
        expected = own.embed(texts)
    np.testing.assert_allclose(vectors, expected, atol=2e-4)
    assert result.usage.prompt_tokens > 0
    one = api.client().embeddings.create(model="all-MiniLM-L6-v2", input="Hi", dimensions=384)
    np.testing.assert_allclose(one.data[0].embedding, expected[2], atol=2e-4)


def test_a_key_is_required_when_set(engine: Watching, chat_model: str) -> None:
    keyed = Served(engine, api_key=KEY)
    try:
        with pytest.raises(openai.AuthenticationError):
            keyed.client().models.list()
        status, headers, body = keyed.http("GET", "/v1/models")
        assert status == 401 and body["error"]["type"] == "authentication_error"
        assert headers.get("WWW-Authenticate") == "Bearer"
        status, _, _ = keyed.http("GET", "/v1/models", headers={"Authorization": f"Bearer {KEY}x"})
        assert status == 401
        # refused before the body is read, and the connection is not reused with it unread
        status, _, _ = keyed.http("POST", "/v1/chat/completions", {"model": chat_model})
        assert status == 401
        assert [m.id for m in keyed.client(KEY).models.list()][0] == chat_model
    finally:
        keyed.server.stop()


def test_no_other_address_than_loopback_without_a_key(engine: Watching) -> None:
    with pytest.raises(InvalidRequestError, match="without an API key"):
        ApiServer(ServerConfig(host="0.0.0.0", port=0), engine)
    run = subprocess.run(
        [str(HEARTH), "serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )  # fmt: skip
    assert run.returncode == 1
    assert "Refusing to serve on 0.0.0.0 without an API key" in run.stderr


def test_a_port_out_of_range_is_refused_with_the_reason(engine: Watching) -> None:
    """The socket's own OverflowError used to escape: the window aborted on a settings file
    with "server_port": 99999 (app/settings.py now also drops it on load)."""
    for port in (99999, -1):
        with pytest.raises(InvalidRequestError, match="port must be from 0 to 65535"):
            ApiServer(ServerConfig(port=port), engine)
    run = subprocess.run(
        [str(HEARTH), "serve", "--port", "70000"],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )  # fmt: skip
    assert run.returncode == 1 and "port must be from 0 to 65535, not 70000" in run.stderr


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/v1/chat/completions", b"{not json", 400, "invalid_json"),
        (
            "POST",
            "/v1/chat/completions",
            {"model": "gpt-9", "messages": []},
            404,
            "model_not_found",
        ),
        ("POST", "/v1/chat/completions", b"x" * (1024 * 1024 + 1), 413, "request_too_large"),
        ("GET", "/v1/files", None, 404, "unknown_url"),
        ("GET", "/v1/chat/completions", None, 405, None),
        ("POST", "/v1/embeddings", {"model": "all-MiniLM-L6-v2", "input": [[1, 2]]}, 400, None),
        ("POST", "/v1/embeddings", {"model": "gpt-9", "input": "x"}, 404, "model_not_found"),
    ],
    ids=["malformed", "unknown-model", "too-large", "no-route", "wrong-method", "tokens", "emb"],
)
def test_bad_requests_get_openai_errors(
    api: Served, method: str, path: str, body: Any, status: int, code: str | None
) -> None:
    got, _, answer = api.http(method, path, body)
    assert got == status
    assert set(answer["error"]) == {"message", "type", "param", "code"}
    assert answer["error"]["code"] == code and answer["error"]["message"]


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "x"}}}},
         "response_format.json_schema"),
        ({"n": 2}, "n"),
        ({"max_tokens": 10**6}, "max_tokens"),
        ({"temperature": "hot"}, "temperature"),
        ({"tools": [{"type": "function"}]}, "tools"),
    ],
    ids=["bad-schema", "n", "max-tokens", "temperature", "tools"],
)  # fmt: skip
def test_requests_hearth_cannot_honour_are_refused(
    api: Served, chat_model: str, extra: dict, param: str
) -> None:
    body = {"model": chat_model, "messages": [{"role": "user", "content": "Hi"}], **extra}
    status, _, answer = api.http("POST", "/v1/chat/completions", body)
    assert status == 400 and answer["error"]["param"] == param


def test_no_cors_headers_unless_an_origin_is_allowed(api: Served, engine: Watching) -> None:
    _, headers, _ = api.http("GET", "/v1/models", headers={"Origin": "https://site.example"})
    assert not any(h.lower().startswith("access-control") for h in headers)
    cors = Served(engine, cors_origin="https://app.example")
    try:
        status, headers, _ = cors.http(
            "OPTIONS", "/v1/chat/completions", headers={"Origin": "https://app.example"}
        )
        assert status == 204 and headers["Access-Control-Allow-Origin"] == "https://app.example"
        _, headers, _ = cors.http("GET", "/v1/models", headers={"Origin": "https://app.example"})
        assert headers["Access-Control-Allow-Origin"] == "https://app.example"
        _, headers, _ = cors.http("GET", "/v1/models", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in headers
    finally:
        cors.server.stop()


def test_web_pages_and_names_rebound_to_this_computer_are_refused(
    api: Served, engine: Watching, chat_model: str
) -> None:
    """A page on any site could POST a "simple" request (text/plain, no preflight) and make
    the model run; a site whose name is made to resolve to 127.0.0.1 could read answers."""
    body = json.dumps({"model": chat_model, "messages": [{"role": "user", "content": "Hi"}]})
    before = engine.ended.qsize()
    status, _, answer = api.http(
        "POST", "/v1/chat/completions", body.encode(),
        headers={"Origin": "https://site.example", "Content-Type": "text/plain"},
    )  # fmt: skip
    assert status == 403 and answer["error"]["code"] == "origin_not_allowed"
    assert answer["error"]["type"] == "permission_error"
    assert "--cors-origin" in answer["error"]["message"]
    assert engine.ended.qsize() == before  # nothing was generated
    status, _, answer = api.http("GET", "/v1/models", headers={"Origin": "null"})
    assert status == 403
    for host in (f"evil.example:{api.port}", "evil.example", "127.0.0.1.evil.example"):
        status, _, answer = api.http("GET", "/v1/models", headers={"Host": host})
        assert status == 403 and answer["error"]["code"] == "host_not_allowed", host
    for host in (f"localhost:{api.port}", "LOCALHOST", "127.0.0.1", f"[::1]:{api.port}"):
        status, _, _ = api.http("GET", "/v1/models", headers={"Host": host})
        assert status == 200, host
    assert api.records[-1].status == 200
    cors = Served(engine, cors_origin="https://app.example")
    try:
        status, _, _ = cors.http("GET", "/v1/models", headers={"Origin": "https://app.example"})
        assert status == 200
        status, _, _ = cors.http("GET", "/v1/models", headers={"Origin": "https://evil.example"})
        assert status == 403
    finally:
        cors.server.stop()
    # Served beyond this computer (with a key), any name reaches it: the key is the guard.
    wide = Served(engine, host="0.0.0.0", api_key=KEY)
    try:
        auth = {"Authorization": f"Bearer {KEY}", "Host": "hearth.lan:8770"}
        assert wide.http("GET", "/v1/models", headers=auth)[0] == 200
    finally:
        wide.server.stop()


def test_a_client_leaving_mid_stream_frees_the_engine(
    api: Served, engine: Watching, chat_model: str
) -> None:
    while not engine.ended.empty():
        engine.ended.get()
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=120)
    body = {
        "model": chat_model,
        "messages": [{"role": "user", "content": "Tell me a very long story."}],
        "max_tokens": 2000,
        "ignore_eos": True,
        "stream": True,
    }
    conn.request("POST", "/v1/chat/completions", json.dumps(body).encode())
    resp = conn.getresponse()
    assert resp.status == 200
    seen = 0
    while seen < 3:  # a few tokens have arrived: the engine is generating for this client
        line = resp.readline()
        seen += b'"content"' in line and b'"content": ""' not in line
    conn.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]
    conn.close()
    stats = engine.ended.get(timeout=120)  # how the abandoned generation ended
    assert stats.stop_reason == "cancelled"
    assert 3 <= stats.generated_tokens < 2000
    answer = api.client().chat.completions.create(
        model=chat_model, messages=[{"role": "user", "content": "Hi"}], max_tokens=5
    )
    assert answer.choices[0].message.content


def test_slow_and_silent_clients_do_not_hold_up_others(
    api: Served, engine: Watching, chat_model: str
) -> None:
    while not engine.ended.empty():
        engine.ended.get()
    slow = socket.create_connection(("127.0.0.1", api.port), timeout=60)
    slow.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Len"
    )  # and stops
    silent = socket.socket()  # asks for a long answer and never reads it
    silent.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    silent.connect(("127.0.0.1", api.port))
    body = json.dumps(
        {
            "model": chat_model,
            "messages": [{"role": "user", "content": "Tell me a very long story."}],
            "max_tokens": 2000,
            "ignore_eos": True,
            "stream": True,
        }
    ).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    silent.sendall(head.encode() + body)
    answer = api.client().chat.completions.create(
        model=chat_model, messages=[{"role": "user", "content": "Hi"}], max_tokens=5
    )
    assert answer.choices[0].message.content
    abandoned = engine.ended.get(timeout=10)  # ended before the answer above could start
    assert abandoned.stop_reason == "cancelled" and abandoned.generated_tokens < 2000
    # The server gives up on the slow client by itself (its socket timeout).
    while slow.recv(65536):
        pass
    slow.close()
    silent.close()
