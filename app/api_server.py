"""Hearth's OpenAI-compatible API server: the HTTP layer (no Qt, no llama.cpp).

Routes: GET /v1/models (and /v1/models/ID), POST /v1/chat/completions, /v1/completions,
/v1/embeddings. Nothing else: no file, setting or chat of the user is reachable. The JSON of
each route is app/api_protocol.py's; the work is a `Gateway`'s (app/gateway.py), which runs
it on the thread that owns the model.

Why the standard library's ThreadingHTTPServer and not uvicorn/starlette: it needs no new
runtime dependency (those two are only in the dev extras, for llama.cpp's own test server);
one engine thread answers one request at a time anyway, so an event loop would buy no
throughput; and every limit the server relies on is written out here, not left to a
framework's defaults: a socket timeout on every read and write (a slow or silent client
ends its own connection, never another's), a body size limit checked before reading
(413), a cap on open connections (503 beyond it), and a client that disconnects mid-answer
noticed between tokens (its generation is cancelled at once). Each connection has its own
thread, so a client that never reads blocks only itself.

Security defaults: loopback only unless an API key is set (`check_bind`); with a key every
request needs `Authorization: Bearer KEY`, compared in constant time; no CORS headers unless
an origin is configured; errors carry the user message, never details (paths). Web pages the
user opens are callers too: a request that a browser sends for a page (it carries an
`Origin`) is refused unless that origin is the configured one, so no site can start
generations on this computer behind the user's back, and a server on loopback answers only
requests addressed to a loopback name (`Host`), so a site whose name is made to resolve to
127.0.0.1 (DNS rebinding) cannot read the answers either (`check_caller`).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import select
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from app import api_protocol as proto
from app.gateway import Gateway, GatewayBusy, Ticket
from engine.errors import HearthError, InvalidRequestError
from engine.types import GenerationStats, SamplingParams

log = logging.getLogger(__name__)

DEFAULT_PORT = 8770
MAX_BODY = 1024 * 1024  # a chat with a long document pasted in fits; a flood does not
DRAIN_LIMIT = 16 * MAX_BODY  # an oversized body is read away (up to this) so the 413 arrives
MAX_CONNECTIONS = 64
IO_TIMEOUT_S = 30.0
POLL_S = 0.05  # how often a waiting handler looks whether its client is still there
SEND_BUFFER = 16 * 1024


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    api_key: str = ""
    cors_origin: str = ""  # "" = no CORS headers; "*" or one origin (https://app.example)
    max_body: int = MAX_BODY
    io_timeout_s: float = IO_TIMEOUT_S
    max_connections: int = MAX_CONNECTIONS
    defaults: SamplingParams = field(default_factory=SamplingParams)


@dataclass(frozen=True)
class RequestRecord:
    """One answered request, for the window's request log and `hearth serve -v`."""

    started: float  # time.time()
    client: str
    method: str
    path: str
    status: int
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish: str = ""  # stop, length, cancelled (the client left), or ""
    duration_s: float = 0.0
    ttft_s: float = 0.0  # request received to first token written


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost, or "" (every interface)


def check_bind(host: str, api_key: str, port: int = 0) -> None:
    """Refuse to listen beyond this computer without an API key, or on no port at all."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidRequestError(f"The server's port must be from 0 to 65535, not {port!r}.")
    if not is_loopback(host) and not api_key:
        raise InvalidRequestError(
            f"Refusing to serve on {host or 'every interface'} without an API key: anyone who "
            "can reach this computer could use it. Set an API key (--api-key KEY or "
            "HEARTH_API_KEY), or serve on 127.0.0.1 (this computer only)."
        )


def check_caller(config: ServerConfig, host: str | None, origin: str | None) -> None:
    """Refuse (403) a request from a web page whose origin is not the configured one, and,
    on a loopback server, one addressed to a name that is not a loopback one (see the module
    docstring). Programs (the openai client, curl) send no Origin and address the server by
    the name they connect to, so they are not affected."""
    if origin is not None and config.cors_origin not in ("*", origin.strip()):
        raise proto.ApiError(
            403,
            "Requests from web pages are refused unless their origin is allowed "
            "(Settings ▸ Server ▸ Browser origin, or hearth serve --cors-origin ORIGIN).",
            code="origin_not_allowed",
        )
    if host is None or not is_loopback(config.host):
        return
    name = urlsplit("//" + host.strip()).hostname or ""
    if not (is_loopback(name) or name == config.host.strip("[]").lower()):
        raise proto.ApiError(
            403,
            f"This server answers requests for this computer only, not for {name or host!r}.",
            code="host_not_allowed",
        )


class _ClientGone(Exception):
    """The client closed its connection while its answer was being made."""


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client never holds up shutdown
    allow_reuse_address = True

    def __init__(
        self,
        config: ServerConfig,
        gateway: Gateway,
        on_request: Callable[[RequestRecord], None] | None = None,
    ) -> None:
        check_bind(config.host, config.api_key, config.port)
        self.config = config
        self.gateway = gateway
        self.on_request = on_request
        self._slots = threading.BoundedSemaphore(config.max_connections)
        self._tickets: set[Ticket] = set()
        self._tickets_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if ":" in config.host.strip("[]"):
            self.address_family = socket.AF_INET6
        super().__init__((config.host.strip("[]"), config.port), ApiHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host's name up (getfqdn): a DNS wait offline.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = self.config.host.strip("[]")
        return f"http://[{host}]:{self.port}/v1" if ":" in host else f"http://{host}:{self.port}/v1"

    def start(self) -> threading.Thread:
        """Serve on a thread of its own; returns it."""
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.2}, name="hearth-api",
            daemon=True,
        )  # fmt: skip
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        """Stop accepting, cancel every answer in progress, close the listening socket."""
        if self._thread is not None:
            self.shutdown()
            self._thread = None
        with self._tickets_lock:
            for ticket in self._tickets:
                ticket.cancel.set()
        self.server_close()

    # -- connections -----------------------------------------------------------------------

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            body = json.dumps(proto.ApiError(503, "Too many connections.").body()).encode()
            head = (
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
            )
            try:
                request.sendall(head.encode() + body)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def track(self, ticket: Ticket, active: bool) -> None:
        with self._tickets_lock:
            (self._tickets.add if active else self._tickets.discard)(ticket)


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ApiServer

    def version_string(self) -> str:
        return "Hearth"

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.config.io_timeout_s)  # every read and write
        # A small send buffer: a client that stops reading is noticed after a few hundred
        # tokens (a write waits, then times out and cancels its generation), instead of
        # the kernel taking megabytes that nobody reads while others wait for the engine.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        log.debug("%s %s", self.address_string(), format % args)

    # Every method goes through one dispatcher: unknown ones get 405, not Python's 501 page.
    def do_GET(self) -> None:  # noqa: N802 (http.server's names)
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_GET  # noqa: N815

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, headers too long) as OpenAI JSON."""
        self.close_connection = True
        self._send_json(code, proto.ApiError(code, message or "Bad request.").body())

    # -- dispatch ----------------------------------------------------------------------

    def _serve(self) -> None:
        self._t0 = time.monotonic()
        self._record: dict[str, Any] = {}
        self._body_read = False
        status = 500
        try:
            status = self._route()
        except proto.ApiError as exc:
            status = exc.status
            if not self._body_read:  # refused before reading it (401, 404, 413, ...)
                self._drain_unread()
            self._send_json(exc.status, exc.body(), exc.headers)
        except _ClientGone:
            status, self.close_connection = 499, True
            self._record["finish"] = "cancelled"
        except OSError:  # the client went away while we wrote
            status, self.close_connection = 499, True
        finally:
            self._log(status)

    def _route(self) -> int:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        check_caller(self.server.config, self.headers.get("Host"), self.headers.get("Origin"))
        if self.command == "OPTIONS" and self.server.config.cors_origin:
            return self._preflight()
        self._check_auth()
        routes: dict[str, dict[str, Callable[[], int]]] = {
            "/v1/models": {"GET": self._models},
            "/v1/chat/completions": {"POST": lambda: self._generate(proto.parse_chat)},
            "/v1/completions": {"POST": lambda: self._generate(proto.parse_completion)},
            "/v1/embeddings": {"POST": self._embeddings},
        }
        methods = routes.get(path)
        if methods is None and path.startswith("/v1/models/"):
            methods = {"GET": lambda: self._model(path.removeprefix("/v1/models/"))}
        if methods is None:
            raise proto.ApiError(404, f"Unknown route: {self.command} {path}", code="unknown_url")
        handler = methods.get(self.command)
        if handler is None:
            allow = ", ".join(methods)
            raise proto.ApiError(
                405, f"{path} takes {allow}, not {self.command}.", headers={"Allow": allow}
            )
        return handler()

    def _check_auth(self) -> None:
        key = self.server.config.api_key
        if not key:
            return
        given = self.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, f"Bearer {key}".encode()):
            raise proto.ApiError(
                401, "Missing or wrong API key: send 'Authorization: Bearer KEY'.",
                code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"},
            )  # fmt: skip

    def _cors_headers(self) -> dict[str, str]:
        allowed = self.server.config.cors_origin
        headers = getattr(self, "headers", None)  # absent when the request line was bad
        origin = headers.get("Origin", "") if headers is not None else ""
        if not allowed or not origin or allowed not in ("*", origin):
            return {}
        return {"Access-Control-Allow-Origin": allowed, "Vary": "Origin"}

    def _preflight(self) -> int:
        headers = {
            **self._cors_headers(),
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
            "Access-Control-Max-Age": "600",
        }
        self._send(204, b"", "text/plain", headers)
        return 204

    # -- reading -----------------------------------------------------------------------

    def _json_body(self) -> Any:
        if self.headers.get("Transfer-Encoding"):
            raise proto.ApiError(411, "Send the body with a Content-Length (not chunked).")
        length = self.headers.get("Content-Length")
        if length is None:
            raise proto.ApiError(411, "A Content-Length header is required.")
        try:
            n = int(length)
            if n < 0:
                raise ValueError(length)
        except ValueError:
            raise proto.ApiError(400, "The Content-Length header is not a number.") from None
        limit = self.server.config.max_body
        if n > limit:
            raise proto.ApiError(
                413, f"The request body is {n:,} bytes; at most {limit:,} are accepted.",
                code="request_too_large",
            )  # fmt: skip
        data = self.rfile.read(n)  # each read is bounded by the socket timeout
        self._body_read = True
        if len(data) < n:
            raise _ClientGone()
        try:
            return json.loads(data)
        except ValueError as exc:
            raise proto.ApiError(
                400, f"The body is not valid JSON: {exc}", code="invalid_json"
            ) from None

    def _drain_unread(self) -> None:
        """Before an error answer to a request whose body was not read: read it away (up to
        DRAIN_LIMIT), so that a client still sending it reads the answer rather than a reset
        connection, and close the connection after the answer."""
        self.close_connection = True
        try:
            left = min(int(self.headers.get("Content-Length") or 0), DRAIN_LIMIT)
        except (ValueError, AttributeError):
            return
        try:
            while left > 0:
                chunk = self.rfile.read1(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def _client_gone(self) -> bool:
        """Whether the client closed its side (readable with nothing to read)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    # -- routes --------------------------------------------------------------------------

    def _models(self) -> int:
        served = self.server.gateway.models()
        self._send_json(200, proto.models_list(served, int(time.time())))
        return 200

    def _model(self, name: str) -> int:
        listed = proto.models_list(self.server.gateway.models(), int(time.time()))["data"]
        entry = next((m for m in listed if m["id"] == name), None)
        if entry is None:
            raise proto.ApiError(404, f"The model '{name}' does not exist here.", "model",
                                 "model_not_found")  # fmt: skip
        self._send_json(200, entry)
        return 200

    def _embeddings(self) -> int:
        call = proto.parse_embeddings(self._json_body(), self.server.gateway.models())
        self._record["model"] = call.model
        try:
            result = self.server.gateway.embed(call.texts)
        except HearthError as exc:
            raise proto.error_for(exc) from None
        self._record["prompt_tokens"] = result.tokens
        self._send_json(200, proto.embeddings_answer(call, result))
        return 200

    def _generate(self, parse: Callable[..., proto.Call]) -> int:
        body = self._json_body()
        call = parse(body, self.server.gateway.models(), self.server.config.defaults)
        self._record["model"] = call.model
        ticket = Ticket()
        try:
            self.server.gateway.submit(call.request, ticket)
        except (GatewayBusy, HearthError) as exc:
            raise proto.error_for(exc) from None
        self.server.track(ticket, True)
        try:
            first = self._next_event(ticket)
            if first[0] == "error":  # before any text: a proper HTTP status
                raise proto.error_for(first[1])
            answer = proto.Answer(call)
            if call.stream:
                self._stream(answer, ticket, first, call.include_usage)
            else:
                self._whole(answer, ticket, first)
        finally:
            self.server.track(ticket, False)
        return 200

    def _next_event(self, ticket: Ticket) -> tuple[str, Any]:
        """Wait for the engine's next event, watching the client meanwhile: if it leaves,
        its generation is cancelled at once (the engine checks the event between tokens
        and while it reads the prompt)."""
        while True:
            event = ticket.next(POLL_S)
            if event is not None:
                return event
            if self._client_gone():
                ticket.cancel.set()
                raise _ClientGone()

    def _whole(self, answer: proto.Answer, ticket: Ticket, event: tuple[str, Any]) -> None:
        parts: list[str] = []
        while event[0] == "token":
            if not parts:
                self._record["ttft_s"] = time.monotonic() - self._t0
            parts.append(event[1])
            event = self._next_event(ticket)
        if event[0] == "error":
            raise proto.error_for(event[1])
        self._finish_record(event[1])
        self._send_json(200, answer.whole("".join(parts), event[1]))

    def _stream(
        self, answer: proto.Answer, ticket: Ticket, event: tuple[str, Any], usage: bool
    ) -> None:
        chunked = self.request_version != "HTTP/1.0"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        for key, value in self._cors_headers().items():
            self.send_header(key, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        out = _EventWriter(self, chunked, ticket)
        out.send(answer.chunk(None, first=True))
        while event[0] == "token":
            text = [event[1]]
            while (more := ticket.next(0)) is not None and more[0] == "token":
                text.append(more[1])  # what queued up while we wrote: one chunk
            if "ttft_s" not in self._record:
                self._record["ttft_s"] = time.monotonic() - self._t0
            out.send(answer.chunk("".join(text)))
            event = more if more is not None else self._next_event(ticket)
        if event[0] == "error":
            out.send(proto.ApiError(500, event[1].user_message).body())
        else:
            stats: GenerationStats = event[1]
            self._finish_record(stats)
            out.send(answer.chunk(None, proto.FINISH.get(stats.stop_reason, "stop")))
            if usage:
                out.send(answer.usage_chunk(stats))
        out.done()

    # -- writing -------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in {**self._cors_headers(), **(headers or {})}.items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(value).encode(), "application/json", headers)

    def _finish_record(self, stats: GenerationStats) -> None:
        self._record.update(
            prompt_tokens=stats.prompt_tokens,
            completion_tokens=stats.generated_tokens,
            finish=stats.stop_reason,
        )

    def _log(self, status: int) -> None:
        record = RequestRecord(
            started=time.time() - (time.monotonic() - self._t0),
            client=self.client_address[0] if self.client_address else "",
            method=self.command or "",
            path=urlsplit(self.path or "").path,
            status=status,
            duration_s=time.monotonic() - self._t0,
            **self._record,
        )
        log.info("%s %s %s %d", record.client, record.method, record.path, status)
        if self.server.on_request is not None:
            try:
                self.server.on_request(record)
            except Exception:  # a log listener must never break the server
                log.exception("request log listener failed")


class _EventWriter:
    """Server-sent events on the handler's socket, in HTTP/1.1 chunks (or close-delimited
    for an HTTP/1.0 client). A failed write means the client left: its generation is
    cancelled."""

    def __init__(self, handler: ApiHandler, chunked: bool, ticket: Ticket) -> None:
        self.handler = handler
        self.chunked = chunked
        self.ticket = ticket

    def _write(self, data: bytes) -> None:
        if self.chunked:
            data = f"{len(data):x}\r\n".encode() + data + b"\r\n"
        try:
            self.handler.wfile.write(data)
        except OSError:
            self.ticket.cancel.set()
            raise _ClientGone() from None

    def send(self, value: Any) -> None:
        self._write(b"data: " + json.dumps(value).encode() + b"\n\n")

    def done(self) -> None:
        self._write(b"data: [DONE]\n\n")
        if self.chunked:
            try:
                self.handler.wfile.write(b"0\r\n\r\n")
            except OSError:
                raise _ClientGone() from None
