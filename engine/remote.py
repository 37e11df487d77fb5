"""A chat backend on an existing OpenAI-compatible server (llama.cpp's server, vLLM, ...),
for models larger than the laptop holds. Implements engine.types.ChatBackend like
LlamaEngine does, so the app uses either without knowing which.

Standard library HTTP (http.client) with Server-Sent Events. Cancel closes the connection
from a watcher thread, so Stop works at once even while the server is still reading a long
prompt; the server sees the disconnect and stops generating.
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

from engine.errors import BackendUnavailableError, GenerationError
from engine.prompt import fit_prompt
from engine.types import (
    ChatMessage,
    GenerationRequest,
    GenerationStats,
    ModelInfo,
    StreamedGeneration,
)

PER_MESSAGE_OVERHEAD = 8  # template markers per message, when only content can be counted


class RemoteEngine:
    def __init__(
        self,
        base_url: str,
        api_key: str = "",
        model: str = "",
        n_ctx: int = 0,
        timeout_s: float = 10.0,
    ) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BackendUnavailableError(
                f"'{base_url}' is not a server address; use e.g. http://127.0.0.1:8080."
            )
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = parts.path.rstrip("/").removesuffix("/v1")
        self._api_key = api_key
        self._timeout = timeout_s
        self.base_url = base_url
        self._token_cache: dict[str, int] = {}
        models = self._get_json("/v1/models").get("data") or []
        names = [str(m.get("id")) for m in models if isinstance(m, dict)]
        if model and model not in names and names:
            raise BackendUnavailableError(
                f"The server at {base_url} has no model '{model}'. It serves: {', '.join(names)}."
            )
        self.model = model or (names[0] if names else "")
        self._n_ctx = n_ctx or self._server_n_ctx() or 4096
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

    # -- HTTP ------------------------------------------------------------------------

    def _connection(self, timeout: float | None) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=timeout)

    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            h["Authorization"] = f"Bearer {self._api_key}"
        return h

    def _request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        conn = self._connection(self._timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, self._prefix + path, body=data, headers=self._headers())
            resp = conn.getresponse()
            return resp.status, resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise BackendUnavailableError(
                f"Cannot reach the server at {self.base_url}. Is it running?", repr(exc)
            ) from exc
        finally:
            conn.close()

    def _get_json(self, path: str) -> dict[str, Any]:
        status, raw = self._request("GET", path)
        if status in (401, 403):
            raise BackendUnavailableError(
                f"The server at {self.base_url} refused the API key (HTTP {status})."
            )
        if status != 200:
            raise BackendUnavailableError(
                f"The server at {self.base_url} answered HTTP {status} to {path}.",
                raw[:500].decode(errors="replace"),
            )
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise BackendUnavailableError(
                f"The server at {self.base_url} is not an OpenAI-compatible server."
            ) from exc
        return value if isinstance(value, dict) else {}

    def _server_n_ctx(self) -> int:
        """llama.cpp's server tells its context size on /props; others may not."""
        try:
            status, raw = self._request("GET", "/props")
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
        try:
            status, raw = self._request("POST", "/tokenize", {"content": text})
            if status == 200:
                n = len(json.loads(raw).get("tokens", [])) or n
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
        return StreamedGeneration(stats, self._run(request, cancel, stats))

    def reset(self) -> None:
        """The server keeps its own cache; nothing to forget here."""

    def close(self) -> None:
        self._token_cache.clear()

    # -- Streaming -------------------------------------------------------------------

    def _run(
        self, request: GenerationRequest, cancel: threading.Event, stats: GenerationStats
    ) -> Iterator[str]:
        t0 = time.perf_counter()
        s = request.sampling
        max_tokens = max(1, min(s.max_tokens, self._n_ctx // 2))
        fitted = fit_prompt(
            request.messages, request.passages, self.tokenize_chat, self._n_ctx - max_tokens
        )
        stats.turns_dropped = fitted.turns_dropped
        stats.passages_used = fitted.passages_used
        stats.prompt_tokens = len(fitted.tokens)
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in fitted.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": max_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
            # Accepted by llama.cpp's server and vLLM; ignored by servers that do not know them.
            "top_k": s.top_k,
            "min_p": s.min_p,
            "repeat_penalty": s.repeat_penalty,
        }
        if s.seed >= 0:
            body["seed"] = s.seed
        conn = self._connection(None)
        finished = threading.Event()

        def watch() -> None:  # close the socket on Stop: unblocks a read at once
            while not finished.is_set():
                if cancel.wait(0.05):
                    sock = conn.sock
                    if sock is not None:
                        try:
                            sock.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                    return

        watcher = threading.Thread(target=watch, name="hearth-remote-cancel", daemon=True)
        watcher.start()
        stats.stop_reason = "stop"
        t_first = 0.0
        completion_tokens = 0  # the server's own count, when it reports usage
        try:
            try:
                conn.request(
                    "POST",
                    self._prefix + "/v1/chat/completions",
                    json.dumps(body).encode(),
                    self._headers(),
                )
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                if cancel.is_set():
                    stats.stop_reason = "cancelled"
                    return
                raise BackendUnavailableError(
                    f"Cannot reach the server at {self.base_url}.", repr(exc)
                ) from exc
            if resp.status != 200:
                detail = resp.read(2000).decode(errors="replace")
                raise GenerationError(
                    f"The server refused the request (HTTP {resp.status}).", detail
                )
            while True:
                try:
                    line = resp.readline()
                except (OSError, http.client.HTTPException, ValueError):
                    line = b""
                if not line:
                    if cancel.is_set():
                        stats.stop_reason = "cancelled"
                    break
                line = line.strip()
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    break
                try:
                    event = json.loads(payload)
                except ValueError:
                    continue
                usage = event.get("usage") or {}
                if usage:
                    stats.prompt_tokens = int(usage.get("prompt_tokens", stats.prompt_tokens))
                    stats.prompt_tokens_evaluated = stats.prompt_tokens
                    completion_tokens = int(usage.get("completion_tokens", 0) or 0)
                for choice in event.get("choices") or []:
                    delta = (choice.get("delta") or {}).get("content") or ""
                    if delta:
                        if not t_first:
                            t_first = time.perf_counter()
                            stats.ttft_s = t_first - t0
                            stats.prompt_s = stats.ttft_s
                        stats.generated_tokens += 1
                        yield delta
                    if choice.get("finish_reason") == "length":
                        stats.stop_reason = "length"
                if cancel.is_set():
                    stats.stop_reason = "cancelled"
                    break
        finally:
            finished.set()
            conn.close()
            if completion_tokens:
                stats.generated_tokens = completion_tokens
            end = time.perf_counter()
            stats.total_s = end - t0
            stats.decode_s = end - t_first if t_first else 0.0
            stats.context_used = stats.prompt_tokens + stats.generated_tokens
