"""A chat backend on an existing OpenAI-compatible server (llama.cpp's server, vLLM, another
Hearth's `hearth serve`, ...), for models larger than the laptop holds. Implements
engine.types.ChatBackend like LlamaEngine does, so the app uses either without knowing which.

Standard library HTTP (http.client) with Server-Sent Events. Cancel closes the connection
from a watcher thread, so Stop works at once even while the server is still reading a long
prompt; the server sees the disconnect and stops generating.

Each way a server can fail has one message: cannot be reached, refuses the API key (401/403),
has no such model (404), is busy (503), stops answering (no data for `read_timeout_s`).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from engine.errors import BackendUnavailableError, GenerationError, ModelNotFoundError
from engine.prompt import fit_prompt
from engine.stop_strings import cut_at_stops
from engine.types import (
    ChatMessage,
    GenerationRequest,
    GenerationStats,
    ModelInfo,
    OutputFormat,
    StreamedGeneration,
)

PER_MESSAGE_OVERHEAD = 8  # template markers per message, when only content can be counted
READ_TIMEOUT_S = 300.0  # a big model on a busy server may read a long prompt for minutes


class ServerClient:
    """HTTP to one server: its address, key and timeouts, and the messages for failures."""

    def __init__(self, base_url: str, api_key: str = "", timeout_s: float = 10.0) -> None:
        parts = urlsplit(base_url.strip().rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BackendUnavailableError(
                f"'{base_url}' is not a server address; use e.g. http://127.0.0.1:8080."
            )
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/").removesuffix("/v1")
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.base_url = base_url.strip()

    def connection(self, timeout: float | None) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return cls(self.host, self.port, timeout=timeout)

    def headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        return h

    def unreachable(self, exc: BaseException) -> BackendUnavailableError:
        if isinstance(exc, TimeoutError):
            return BackendUnavailableError(
                f"The server at {self.base_url} did not answer in time.", repr(exc)
            )
        return BackendUnavailableError(
            f"Cannot reach the server at {self.base_url}. Is it running?", repr(exc)
        )

    def refused(self, status: int, detail: bytes, model: str = "") -> Exception:
        """The error for an HTTP status other than 200."""
        text = detail[:2000].decode(errors="replace")
        if status in (401, 403):
            return BackendUnavailableError(
                f"The server at {self.base_url} refused the API key (HTTP {status}). Check the "
                "key in Settings ▸ Engine (or --api-key).",
                text,
            )
        if status == 404 and model:
            return ModelNotFoundError(
                f"The server at {self.base_url} has no model '{model}'.", text
            )
        if status == 503:
            return BackendUnavailableError(
                f"The server at {self.base_url} is busy; try again in a moment.", text
            )
        return GenerationError(f"The server refused the request (HTTP {status}).", text)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        conn = self.connection(self.timeout_s)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, self.prefix + path, body=data, headers=self.headers())
            resp = conn.getresponse()
            return resp.status, resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise self.unreachable(exc) from exc
        finally:
            conn.close()

    def get_json(self, path: str) -> dict[str, Any]:
        status, raw = self.request("GET", path)
        if status != 200:
            error = self.refused(status, raw)
            if isinstance(error, GenerationError):
                error = BackendUnavailableError(
                    f"The server at {self.base_url} answered HTTP {status} to {path}.",
                    raw[:500].decode(errors="replace"),
                )
            raise error
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise BackendUnavailableError(
                f"The server at {self.base_url} is not an OpenAI-compatible server."
            ) from exc
        return value if isinstance(value, dict) else {}

    def models(self) -> list[dict[str, Any]]:
        """The server's /v1/models entries."""
        data = self.get_json("/v1/models").get("data") or []
        return [m for m in data if isinstance(m, dict) and m.get("id")]


def list_models(base_url: str, api_key: str = "", timeout_s: float = 10.0) -> list[str]:
    """The model names a server offers (Settings ▸ Engine lists them to choose from)."""
    return [str(m["id"]) for m in ServerClient(base_url, api_key, timeout_s).models()]


def _response_format(output: OutputFormat) -> dict[str, Any]:
    if output.kind == "json":
        return {"response_format": {"type": "json_object"}}
    if output.kind == "json_schema":
        schema = {"name": "answer", "schema": output.schema, "strict": True}
        return {"response_format": {"type": "json_schema", "json_schema": schema}}
    return {"grammar": output.grammar}  # llama.cpp's server extension


class RemoteEngine:
    def __init__(
        self,
        base_url: str,
        api_key: str = "",
        model: str = "",
        n_ctx: int = 0,
        timeout_s: float = 10.0,
        read_timeout_s: float = READ_TIMEOUT_S,
    ) -> None:
        """n_ctx: the most context to use; the server's own size when it tells it (llama.cpp's
        /props, Hearth's /v1/models) and that is smaller."""
        self._http = ServerClient(base_url, api_key, timeout_s)
        self.base_url = base_url
        self._read_timeout = read_timeout_s
        self._token_cache: dict[str, int] = {}
        self._can_tokenize = True
        models = self._http.models()
        names = [str(m["id"]) for m in models]
        if model and model not in names and names:
            raise ModelNotFoundError(
                f"The server at {base_url} has no model '{model}'. It serves: {', '.join(names)}."
            )
        self.model = model or (names[0] if names else "")
        entry = next((m for m in models if m["id"] == self.model), {})
        served = self._listed_n_ctx(entry) or self._server_n_ctx()
        self._n_ctx = min(n for n in (served, n_ctx) if n) if served or n_ctx else 4096
        self._info = ModelInfo(
            path=f"{base_url.rstrip('/')}/{self.model}",
            name=self.model or base_url,
            architecture="remote",
            parameters=0,
            file_type="remote",
            file_size=0,
            context_length=self._n_ctx,
            has_chat_template=True,
        )

    @staticmethod
    def _listed_n_ctx(entry: dict[str, Any]) -> int:
        meta = entry.get("meta")
        try:
            return int(meta.get("n_ctx", 0) or 0) if isinstance(meta, dict) else 0
        except (TypeError, ValueError):
            return 0

    def _server_n_ctx(self) -> int:
        """llama.cpp's server tells its context size on /props; others may not."""
        try:
            status, raw = self._http.request("GET", "/props")
            if status == 200:
                props = json.loads(raw)
                return int(props.get("default_generation_settings", {}).get("n_ctx", 0) or 0)
        except (BackendUnavailableError, ValueError, AttributeError, TypeError):
            pass
        return 0

    # -- ChatBackend -----------------------------------------------------------------

    @property
    def model_info(self) -> ModelInfo:
        return self._info

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    def count_tokens(self, text: str) -> int:
        """The server's own tokenizer when it has /tokenize, else about 4 characters a token."""
        cached = self._token_cache.get(text)
        if cached is not None:
            return cached
        n = len(text) // 4 + 1
        if self._can_tokenize:
            try:
                status, raw = self._http.request("POST", "/tokenize", {"content": text})
                if status == 200:
                    n = len(json.loads(raw).get("tokens", [])) or n
                elif status in (404, 405):
                    self._can_tokenize = False  # not llama.cpp's server: estimate from now on
            except (BackendUnavailableError, ValueError, AttributeError):
                pass
        if len(self._token_cache) > 4096:
            self._token_cache.clear()
        self._token_cache[text] = n
        return n

    def tokenize_chat(self, messages: list[ChatMessage]) -> list[int]:
        """A stand-in token list of the right length (only its length is used)."""
        n = sum(self.count_tokens(m.content) + PER_MESSAGE_OVERHEAD for m in messages)
        return [0] * n

    def generate(self, request: GenerationRequest, cancel: threading.Event) -> StreamedGeneration:
        stats = GenerationStats(n_ctx=self._n_ctx)
        deltas = self._run(request, cancel, stats)
        return StreamedGeneration(stats, cut_at_stops(deltas, request.stop, stats))

    def reset(self) -> None:
        """The server keeps its own cache; nothing to forget here."""

    def close(self) -> None:
        self._token_cache.clear()

    # -- Streaming -------------------------------------------------------------------

    def _body(self, request: GenerationRequest, stats: GenerationStats) -> tuple[str, dict]:
        """The endpoint and the JSON body for a request (the conversation fitted to n_ctx)."""
        s = request.sampling
        max_tokens = max(1, min(s.max_tokens, self._n_ctx // 2))
        body: dict[str, Any] = {
            "model": self.model,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": max_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
            # Accepted by llama.cpp's server, vLLM and Hearth; ignored by servers that do not
            # know them.
            "top_k": s.top_k,
            "min_p": s.min_p,
            "repeat_penalty": s.repeat_penalty,
        }
        if s.seed >= 0:
            body["seed"] = s.seed
        if request.stop:
            body["stop"] = list(request.stop)
        if request.ignore_eos:
            body["ignore_eos"] = True
        if request.output is not None:
            body.update(_response_format(request.output))
        if request.prompt:
            stats.prompt_tokens = self.count_tokens(request.prompt)
            return "/v1/completions", {**body, "prompt": request.prompt}
        fitted = fit_prompt(
            request.messages, request.passages, self.tokenize_chat, self._n_ctx - max_tokens
        )
        stats.turns_dropped = fitted.turns_dropped
        stats.passages_used = fitted.passages_used
        stats.prompt_tokens = len(fitted.tokens)
        messages = [{"role": m.role, "content": m.content} for m in fitted.messages]
        return "/v1/chat/completions", {**body, "messages": messages}

    def _run(
        self, request: GenerationRequest, cancel: threading.Event, stats: GenerationStats
    ) -> Iterator[str]:
        t0 = time.perf_counter()
        path, body = self._body(request, stats)
        stream = _Stream(self._http, self._read_timeout, cancel)
        stats.stop_reason = "stop"
        t_first = 0.0
        try:
            if not stream.open(path, body, self.model):
                stats.stop_reason = "cancelled"
                return
            for event in stream.events():
                usage = event.get("usage") or {}
                if usage:
                    stats.prompt_tokens = int(usage.get("prompt_tokens", stats.prompt_tokens))
                    stats.prompt_tokens_evaluated = stats.prompt_tokens
                    stream.completion_tokens = int(usage.get("completion_tokens", 0) or 0)
                for choice in event.get("choices") or []:
                    delta = (choice.get("delta") or {}).get("content") or choice.get("text") or ""
                    if delta:
                        if not t_first:
                            t_first = time.perf_counter()
                            stats.ttft_s = stats.prompt_s = t_first - t0
                        stats.generated_tokens += 1
                        yield delta
                    if choice.get("finish_reason") == "length":
                        stats.stop_reason = "length"
            if cancel.is_set():
                stats.stop_reason = "cancelled"
        finally:
            stream.close()
            if stream.completion_tokens:
                stats.generated_tokens = stream.completion_tokens
            end = time.perf_counter()
            stats.total_s = end - t0
            stats.decode_s = end - t_first if t_first else 0.0
            stats.context_used = stats.prompt_tokens + stats.generated_tokens


class _Stream:
    """One streamed request: the connection, the watcher that closes it on cancel, and the
    server-sent events read from it."""

    def __init__(self, client: ServerClient, read_timeout: float, cancel: threading.Event):
        self.client = client
        self.cancel = cancel
        self.conn = client.connection(client.timeout_s)
        self.read_timeout = read_timeout
        self.completion_tokens = 0  # the server's own count, when it reports usage
        self.finished = threading.Event()
        self.resp: http.client.HTTPResponse | None = None
        watcher = threading.Thread(target=self._watch, name="hearth-remote-cancel", daemon=True)
        watcher.start()

    def _watch(self) -> None:  # close the socket on Stop: unblocks a read at once
        while not self.finished.is_set():
            if self.cancel.wait(0.05):
                sock = self.conn.sock
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return

    def open(self, path: str, body: dict, model: str) -> bool:
        """Send the request; False if cancelled meanwhile. Raises the server's refusal."""
        try:
            self.conn.request(
                "POST", self.client.prefix + path, json.dumps(body).encode(), self.client.headers()
            )
            if self.conn.sock is not None:  # connected: now wait as long as a prompt may take
                self.conn.sock.settimeout(self.read_timeout)
            self.resp = self.conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            if self.cancel.is_set():
                return False
            raise self.client.unreachable(exc) from exc
        if self.resp.status != 200:
            raise self.client.refused(self.resp.status, self.resp.read(2000), model)
        return True

    def events(self) -> Iterator[dict[str, Any]]:
        assert self.resp is not None
        while not self.cancel.is_set():
            try:
                line = self.resp.readline()
            except TimeoutError as exc:
                if self.cancel.is_set():
                    return
                raise BackendUnavailableError(
                    f"The server at {self.client.base_url} stopped answering "
                    f"(nothing for {self.read_timeout:.0f} s).",
                    repr(exc),
                ) from exc
            except (OSError, http.client.HTTPException, ValueError):
                return
            if not line:
                return
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                return
            try:
                event = json.loads(payload)
            except ValueError:
                continue
            if isinstance(event, dict) and isinstance(event.get("error"), dict):
                message = str(event["error"].get("message") or "unknown error")
                raise GenerationError(f"The server failed while answering: {message}", message)
            if isinstance(event, dict):
                yield event

    def close(self) -> None:
        self.finished.set()
        self.conn.close()
