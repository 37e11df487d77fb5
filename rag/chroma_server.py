"""Chroma in its own process, for the desktop window.

Chroma's Rust core keeps Python's GIL while it writes: an upsert into an in-process
`PersistentClient` stalled the window's event loop for up to 1.8 s while a 2,400-page manual
was indexed. So the window runs Chroma's own server (`chroma run`, the same Rust code and the
same files as `PersistentClient`) in a child process on 127.0.0.1 and talks to it with Chroma's
`HttpClient`: the documents thread then waits on a socket, which releases the GIL. Command-line
commands on the user's store do the same, so that whichever starts first can serve the other
(below); tools on folders of their own open theirs in-process (`rag.vector_store.open_chroma`).

The child is `python -m rag.chroma_server --path P --port N` (in the installed build the same
`-m` is served by packaging/hearth_main.py). It exits when Hearth exits, however that happens:
Hearth holds the write end of the child's stdin and a thread in the child leaves as soon as
that pipe closes (a crash or a kill of Hearth closes it too); on Linux the kernel also sends
SIGTERM when the parent dies (PR_SET_PDEATHSIG).

Only vectors and document ids go to Chroma (chunk text stays in Hearth's SQLite library). The
server listens on 127.0.0.1 only, on a port chosen at start, and admits only Hearth: every
start writes a fresh random token beside the store (`chroma-server.token`, readable only by
the user) and the server refuses (403) any request without it, except Chroma's heartbeat
and version. That is Chroma's own token authentication, which its Python server implements
(`chromadb.server.fastapi` with `TokenAuthenticationServerProvider`); the Rust `chroma run`
has none, so the child serves the same Rust core and files through the Python server.

One server per store: two processes must never write the same Chroma files. Every Hearth
process that opens the user's store (the window, `hearth docs add`, `hearth ask`) first looks
for a server another one runs on it (`running_server`, from the record beside the store) and
shares it; only if none answers does it start its own. The look and the start happen under a
file lock (`server_lock`), so two processes starting together cannot both start one. When the
process that owns the server exits, the others notice at their next request (the connection is
refused: `connection_lost`), wait for that server to be gone (`wait_exit`) and take over
(`rag.vector_store.VectorStore.run`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from engine.closing import ClosedWhenCollected
from engine.errors import DocumentError

if TYPE_CHECKING:  # pragma: no cover
    from chromadb.api import ClientAPI

log = logging.getLogger(__name__)

LOG_NAME = "chroma-server.log"  # beside the store, rewritten at each start
RUNNING_NAME = "chroma-server.json"  # beside the store while a server serves it: pid, port
LOCK_NAME = "chroma-server.lock"  # held while a process looks for a server or starts one
TOKEN_NAME = "chroma-server.token"  # beside the store: the secret its server admits (0600)
TOKEN_HEADER = "X-Chroma-Token"
TOKEN_AUTHN = "chromadb.auth.token_authn.TokenAuthenticationServerProvider"
TOKEN_CLIENT = "chromadb.auth.token_authn.TokenAuthClientProvider"
START_TIMEOUT_S = 60.0
# Chroma's HTTP client waits for an answer for ever (httpx timeout=None): a server that stops
# answering without closing the connection (a hung or suspended process, a dead network path)
# would hold the documents thread, and every chat turn that retrieves, for good. With these, such
# a request fails like a refused one (`connection_lost`) and the user is told.
HTTP_CONNECT_TIMEOUT_S = 10.0
HTTP_TIMEOUT_S = 120.0  # read and write: a batch of thousands of vectors takes seconds
STOP_TIMEOUT_S = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_token(folder: Path) -> Path:
    """A fresh random token in a file only the user can read; its path."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / TOKEN_NAME
    tmp = folder / f".{TOKEN_NAME}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_urlsafe(32))
    os.replace(tmp, path)
    return path


def read_token(folder: Path) -> str:
    try:
        return (folder / TOKEN_NAME).read_text(encoding="ascii").strip()
    except OSError:
        return ""


def http_client(host: str, port: int, ssl: bool = False, token: str = "") -> ClientAPI:
    """Chroma's HTTP client with telemetry off, sending `token` with every request."""
    import chromadb
    from chromadb.config import Settings

    auth: dict[str, str] = {}
    if token:
        auth = dict(
            chroma_client_auth_provider=TOKEN_CLIENT,
            chroma_client_auth_credentials=token,
            chroma_auth_token_transport_header=TOKEN_HEADER,
        )
    settings = Settings(anonymized_telemetry=False, **auth)  # type: ignore[arg-type]
    client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=settings)
    set_timeouts(client)
    return client


def set_timeouts(client: ClientAPI) -> bool:
    """Give the client's HTTP session finite timeouts (Chroma has no setting for them, so this
    reaches its httpx session; a test checks that it still does)."""
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if not isinstance(session, httpx.Client):
        log.warning("Chroma's HTTP client has no httpx session here; its requests never time out")
        return False
    session.timeout = httpx.Timeout(HTTP_TIMEOUT_S, connect=HTTP_CONNECT_TIMEOUT_S)
    return True


def connect(url: str, token: str = "") -> ClientAPI:
    """A client for a Chroma server the user runs elsewhere (`http://host:port`), with its
    token when it asks for one (Settings ▸ Documents)."""
    from urllib.parse import urlsplit

    u = urlsplit(url if "://" in url else f"http://{url}")
    if u.scheme not in ("http", "https") or not u.hostname:
        raise DocumentError(f"{url!r} is not a Chroma server address (http://host:port).")
    port = u.port or (443 if u.scheme == "https" else 8000)
    try:
        client = http_client(u.hostname, port, ssl=u.scheme == "https", token=token)
        client.heartbeat()
        client.count_collections()  # the heartbeat needs no token; this does
    except Exception as exc:  # noqa: BLE001 - httpx, Chroma and socket errors alike
        refused = _refused(exc)
        raise DocumentError(
            f"The Chroma server at {url} refuses Hearth: it needs a token, and the one in "
            "Settings is missing or wrong. Enter the server's token in Settings."
            if refused
            else f"The Chroma server at {url} does not answer: {exc}. Check the address in "
            "Settings (or clear it to keep documents on this computer).",
            repr(exc),
        ) from exc
    return client


def _refused(exc: BaseException) -> bool:
    """Whether a Chroma client's error is the server refusing its token (401/403)."""
    from chromadb.errors import AuthorizationError, ChromaAuthError

    return isinstance(exc, AuthorizationError | ChromaAuthError) or str(exc) in (
        "Forbidden",
        "Unauthorized",
    )


@dataclass(frozen=True)
class RunningServer:
    """A Chroma server another Hearth process runs on this store, and a client for it."""

    client: ClientAPI
    pid: int
    port: int


def running_server(path: Path) -> RunningServer | None:
    """The server another Hearth process (the window, or a command) runs on this store, if one
    answers: two processes must not both write the same Chroma files, so the second goes
    through the first one's server instead of opening the files itself."""
    import psutil

    record_path = Path(path).parent / RUNNING_NAME
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        pid, port = int(record["pid"]), int(record["port"])
        same = Path(record["path"]) == Path(path)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not same or not psutil.pid_exists(pid):
        return None
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            pass
        client = http_client("127.0.0.1", port, token=read_token(record_path.parent))
        client.heartbeat()
    except Exception:  # noqa: BLE001 - gone or not a Chroma server: open the files instead
        return None
    try:
        client.count_collections()  # the heartbeat needs no token; this does
    except Exception as exc:  # noqa: BLE001 - the server runs, and refuses our token
        raise DocumentError(
            "The document index's server (another Hearth process) does not accept Hearth's "
            f"key in {record_path.parent / TOKEN_NAME}. Close every Hearth window and "
            "command, then start Hearth again.",
            repr(exc),
        ) from exc
    log.info("using the running Chroma server (pid %d, port %d) for %s", pid, port, path)
    return RunningServer(client, pid, port)


@contextmanager
def server_lock(path: Path, timeout_s: float = START_TIMEOUT_S + STOP_TIMEOUT_S) -> Iterator[None]:
    """Held while a process looks for a running server on this store and, if there is none,
    starts its own (a lock file beside the store; DocumentError if it waits too long)."""
    import filelock

    folder = Path(path).parent
    folder.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(folder / LOCK_NAME), timeout=timeout_s)
    try:
        lock.acquire()
    except filelock.Timeout as exc:
        raise DocumentError(
            "Another Hearth process has been opening the document index for over "
            f"{timeout_s:.0f} s. Try again in a moment.",
            str(exc),
        ) from exc
    try:
        yield
    finally:
        lock.release()


def connection_lost(exc: BaseException) -> bool:
    """Whether an error from a Chroma HTTP client means its server is unreachable (refused,
    reset, closed mid-answer), as opposed to an error in the request."""
    import httpx

    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, (httpx.TransportError, ConnectionError)):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


def wait_exit(pid: int, timeout_s: float) -> bool:
    """True once process `pid` has exited (or is a zombie), False after timeout_s."""
    import psutil

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


class ChromaProcess(ClosedWhenCollected):
    """A `chroma run` child process serving one store folder; `client` talks to it."""

    def __init__(self, path: Path, start_timeout_s: float = START_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.start_timeout_s = start_timeout_s
        self.port = 0
        self.token = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.client: ClientAPI = self._start()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path:
        return self.path.parent / LOG_NAME

    @property
    def running_path(self) -> Path:
        return self.path.parent / RUNNING_NAME

    def _start(self) -> ClientAPI:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for _attempt in range(3):  # another program may take the port between pick and bind
            self.port = _free_port()
            self._log = self.log_path.open("wb")
            token_file = write_token(self.path.parent)
            self.token = read_token(self.path.parent)
            env = dict(os.environ, RUST_LOG=os.environ.get("HEARTH_CHROMA_LOG", "warn"))
            self._proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "rag.chroma_server"),
                    *("--path", str(self.path), "--port", str(self.port)),
                    *("--token-file", str(token_file)),
                ],
                stdin=subprocess.PIPE,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=env,
                close_fds=True,
            )
            client = self._wait_ready()
            if client is not None:
                log.info("Chroma server pid %d on port %d", self._proc.pid, self.port)
                record = {"pid": self._proc.pid, "port": self.port, "path": str(self.path)}
                self.running_path.write_text(json.dumps(record), encoding="utf-8")
                return client
            tail = self._log_tail()
            self.close()
            if "address" not in tail.lower() or "in use" not in tail.lower():
                last = tail.strip().splitlines()[-1] if tail.strip() else "no message"
                raise DocumentError(
                    f"The vector index at {self.path} cannot be opened: the Chroma server "
                    f"stopped at start ({last}).",
                    tail,
                )
        raise DocumentError("Could not start the Chroma server: no free port.", str(self.path))

    def _wait_ready(self) -> ClientAPI | None:
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout_s
        client: ClientAPI | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return None
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                if client is None:
                    client = http_client("127.0.0.1", self.port, token=self.token)
                client.heartbeat()
                return client
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.05)
        self.close()
        raise DocumentError(
            f"The Chroma server for {self.path} did not start within {self.start_timeout_s:.0f} s.",
            self._log_tail(),
        )

    def _log_tail(self, n: int = 4000) -> str:
        try:
            data = self.log_path.read_bytes()[-n:]
        except OSError:
            return ""
        return data.decode("utf-8", errors="replace")

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def exited(self, timeout_s: float) -> bool:
        """True once the server has exited, waiting up to timeout_s (a killed server with
        many threads takes a moment before it can be reaped)."""
        if self._proc is None:
            return True
        try:
            self._proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True

    def close(self) -> None:
        """Stop the server (it finishes its writes on SIGTERM) and wait for it."""
        proc, self._proc = self._proc, None
        if proc is not None:
            self.running_path.unlink(missing_ok=True)
            if proc.stdin is not None:
                try:
                    proc.stdin.close()  # the child's watchdog leaves too
                except OSError:
                    pass
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    log.warning("Chroma server %d did not stop; killing it", proc.pid)
                    proc.kill()
                    proc.wait(timeout=STOP_TIMEOUT_S)
        if self._log is not None:
            self._log.close()
            self._log = None


# -- the child ------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Leave as soon as the parent's end of stdin closes (the parent exited or was killed)."""

    def watch() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):
            pass


def _embeddings_as_arrays(api: Any) -> None:
    """Chroma 1.5's Python server calls .tolist() on every embedding its Rust core returns,
    which are lists there ("'list' object has no attribute 'tolist'": a get or query that
    includes embeddings fails with 500). Hand it arrays."""
    import numpy as np

    def arrays(result: Any, nested: bool) -> Any:
        found = result.get("embeddings")
        if found is not None:
            as_array = np.asarray
            result["embeddings"] = (
                [[as_array(e) for e in row] for row in found]
                if nested
                else [as_array(e) for e in found]
            )
        return result

    get, query = api._get, api._query
    api._get = lambda *a, **kw: arrays(get(*a, **kw), nested=False)
    api._query = lambda *a, **kw: arrays(query(*a, **kw), nested=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rag.chroma_server")
    p.add_argument("--path", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--token-file", required=True)
    args = p.parse_args(argv)
    _die_with_parent()
    import uvicorn
    from chromadb.config import Settings
    from chromadb.server.fastapi import FastAPI

    # Chroma's Python server over its Rust core (the files `chroma run` and PersistentClient
    # use), refusing requests without the token (see the module docstring).
    settings = Settings(
        is_persistent=True,
        persist_directory=args.path,
        anonymized_telemetry=False,
        allow_reset=False,
        chroma_server_authn_provider=TOKEN_AUTHN,
        chroma_server_authn_credentials_file=args.token_file,
        chroma_auth_token_transport_header=TOKEN_HEADER,
    )
    server = FastAPI(settings)
    _embeddings_as_arrays(server._api)
    app = server.app()
    try:
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
