"""Download a model file from the hub: resumable, verified, atomic.

huggingface_hub gives the URL (hf_hub_url), the file's metadata (get_hf_file_metadata: ETag,
size, the redirect target) and the headers (build_hf_headers); the bytes are streamed here with
huggingface_hub's own configured HTTP client (httpx2 in huggingface_hub 2.x). hf_hub_download is
not used because it writes into its own cache layout (blobs + symlinks under ~/.cache), which
Hearth would then have to copy into the models folder; it resumes only from its own
`.incomplete` blob, and it can neither report progress to a callback nor be cancelled from
another thread.

The bytes go to `<models>/.partial/<file>.part` (the catalog ignores dot-folders) with a small
JSON sidecar naming what is being downloaded. A dropped connection is retried from the bytes
already on disk with an HTTP Range request; a restart of the app does the same, as long as the
sidecar still names the same file version. The sha256 of the complete file is checked against
the hub's LFS metadata, and only then is the file moved into the models folder in one rename.
The sidecar, the lock, the free-space check and the hashing are in `engine.partial`.
"""

from __future__ import annotations

import errno
import http.client
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from engine.errors import DownloadError, HubError
from engine.hub import (
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    HubFile,
    HubVariant,
    RepoFiles,
    resolve_endpoint,
    shard_info,
)
from engine.partial import (
    CHUNK_SIZE,
    Hasher,
    PartialLock,
    PartialState,
    check_free_space,
    disk_error,
    remove_files,
    sha256_of,
)
from engine.units import human_size

log = logging.getLogger(__name__)

MAX_RETRIES = 5  # consecutive attempts without any new byte
MAX_REDIRECTS = 5
PROGRESS_BYTES = 16 << 20  # also report at least every 16 MiB (fast links)
PROGRESS_INTERVAL = 0.2  # seconds between progress callbacks
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class DownloadProgress:
    filename: str
    done: int  # bytes of this file on disk, including those resumed from before
    total: int
    speed: float  # bytes per second in this session
    eta_s: float | None
    file_index: int = 1
    file_count: int = 1
    stage: str = "downloading"  # "downloading", "verifying"

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


ProgressFn = Callable[[DownloadProgress], None]


def _http_error(status: int, name: str, body: bytes) -> HubError:
    detail = body.decode("utf-8", errors="replace")
    if status in (401, 403):
        return HubError(
            f"{name}: the hub refused access (HTTP {status}); the repository may be gated or "
            "private: accept its terms and set a hub token in Settings.",
            detail,
        )
    if status == 404:
        return HubError(f"{name}: not found on the hub (HTTP 404).", detail)
    return HubError(f"{name}: the hub answered with an error (HTTP {status}).", detail)


class Downloader:
    """Downloads files of one hub (endpoint + token) into a models folder."""

    def __init__(self, models_dir: Path, endpoint: str = "", token: str = "") -> None:
        self.models_dir = models_dir
        self.partial_dir = models_dir / ".partial"
        self.endpoint = resolve_endpoint(endpoint)
        # None: huggingface_hub's own default (HF_TOKEN, or the token saved by `hf auth login`)
        self.token: str | None = token or None

    # -- public ------------------------------------------------------------------------------

    def download_variant(
        self,
        repo: RepoFiles,
        variant: HubVariant,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> Path | None:
        """Download every file of a variant (all shards). Returns the path to load (the first
        shard), or None when cancelled (the partial bytes are kept for a later resume)."""
        if not variant.complete:
            raise DownloadError(
                f"{variant.name}: the repository has only {len(variant.files)} of its "
                f"{variant.shards} parts; it cannot be loaded.",
            )
        needed = 0
        for f in variant.files:
            dest = self.models_dir / Path(f.path).name
            if not dest.exists():
                part = self.partial_dir / (dest.name + ".part")
                needed += max(0, f.size - (part.stat().st_size if part.exists() else 0))
        self.models_dir.mkdir(parents=True, exist_ok=True)
        check_free_space(self.models_dir, needed)
        first: Path | None = None
        for i, f in enumerate(variant.files, start=1):
            path = self.download_file(
                repo.repo_id,
                f,
                revision=repo.revision,
                progress=progress,
                cancel=cancel,
                file_index=i,
                file_count=len(variant.files),
            )
            if path is None:
                return None
            first = first or path
        return first

    def download_file(
        self,
        repo_id: str,
        file: HubFile,
        revision: str = "main",
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        file_index: int = 1,
        file_count: int = 1,
    ) -> Path | None:
        """Download one file into the models folder; None when cancelled."""
        cancel = cancel or threading.Event()
        dest = self.models_dir / Path(file.path).name
        if dest.exists():
            return self._already_installed(dest, file)
        location, meta_etag, meta_size = self._metadata(repo_id, file.path, revision)
        size = file.size or meta_size or 0
        sha = file.sha256 or (meta_etag if meta_etag and _SHA256_RE.match(meta_etag) else None)
        state = PartialState(repo_id, file.path, revision, size, sha, meta_etag)

        self.partial_dir.mkdir(parents=True, exist_ok=True)
        try:
            with PartialLock(self.partial_dir / (dest.name + ".lock")):
                return self._fetch(
                    repo_id,
                    file,
                    revision,
                    dest,
                    state,
                    location,
                    progress,
                    cancel,
                    file_index,
                    file_count,
                )
        finally:
            self._tidy()

    def _fetch(
        self,
        repo_id: str,
        file: HubFile,
        revision: str,
        dest: Path,
        state: PartialState,
        location: str,
        progress: ProgressFn | None,
        cancel: threading.Event,
        file_index: int,
        file_count: int,
    ) -> Path | None:
        size, sha = state.size, state.sha256
        part, sidecar = self._partial(dest, state)
        digest = Hasher(sha256_of(part))  # continues from the bytes kept from before
        try:
            retries = 0
            started = time.monotonic()
            start_bytes = part.stat().st_size
            while True:
                offset = part.stat().st_size
                if size and offset >= size:
                    break
                try:
                    at = (started, start_bytes, file_index, file_count, dest.name)
                    outcome = self._stream(
                        location, part, offset, size, digest, cancel, progress, at
                    )
                except (DownloadError, HubError):
                    raise
                except OSError as exc:  # the disk, not the network (httpx2 errors are not OSError)
                    remove_files(part, sidecar)
                    self._tidy()
                    raise disk_error(exc, part) from exc
                if outcome == "cancelled":
                    return None
                if outcome == "restart":
                    part.write_bytes(b"")
                    digest.close()
                    digest = Hasher()
                    continue
                if outcome == "done" and not size:
                    break
                new_offset = part.stat().st_size
                if new_offset > offset:
                    retries = 0
                else:
                    retries += 1
                if retries > MAX_RETRIES:
                    raise DownloadError(
                        f"The connection to {self.endpoint} keeps dropping; "
                        f"{human_size(new_offset)} of {human_size(size)} are kept. "
                        "Run the download again to resume.",
                        f"{location}: no progress after {MAX_RETRIES} tries at byte {new_offset}",
                    )
                if outcome == "dropped":
                    time.sleep(min(0.25 * 2**retries, 4.0))
                    # metadata again: a signed redirect URL may have expired
                    location, _, _ = self._metadata(repo_id, file.path, revision)

            if progress:
                progress(
                    DownloadProgress(
                        dest.name, size, size, 0.0, 0.0, file_index, file_count, "verifying"
                    )
                )
            self._verify(part, sidecar, state, digest.hexdigest() if sha else "", location)
        finally:
            digest.close()
        if not sha:
            log.warning("%s has no sha256 on the hub; only its size was checked", file.path)
        self._check_gguf(part, dest.name, sidecar)
        os.replace(part, dest)
        remove_files(sidecar)
        self._tidy()
        return dest

    def _partial(self, dest: Path, state: PartialState) -> tuple[Path, Path]:
        """The partial file (bytes kept from an earlier try of the same file version, else
        empty) and its sidecar, once there is room for the rest."""
        part = self.partial_dir / (dest.name + ".part")
        sidecar = self.partial_dir / (dest.name + ".json")
        old = PartialState.load(sidecar)
        if part.exists() and (old is None or not old.same_file(state)):
            log.info("discarding partial %s: it belongs to another version", part)
            remove_files(part)
        if not part.exists():
            part.touch()
        state.save(sidecar)
        check_free_space(self.partial_dir, max(0, state.size - part.stat().st_size))
        return part, sidecar

    def _verify(
        self, part: Path, sidecar: Path, state: PartialState, sha: str, location: str
    ) -> None:
        """DownloadError (the partial file discarded) unless it has the hub's size and, when
        the hub gives one, its sha256 (`sha`: the digest of the bytes received)."""
        name, size = Path(state.path).name, state.size
        got = part.stat().st_size
        if size and got != size:
            remove_files(part, sidecar)
            self._tidy()
            raise DownloadError(
                f"{name} arrived with the wrong size ({got} bytes instead of {size}); "
                "nothing was installed. Try again.",
                f"{location}: size {got} != {size}",
            )
        if state.sha256 and sha != state.sha256:
            remove_files(part, sidecar)
            self._tidy()
            raise DownloadError(
                f"{name} was damaged in transit (its checksum does not match the hub's); "
                "the download was discarded and nothing was installed. Try again.",
                f"{location}: sha256 {sha} != {state.sha256}",
            )

    def discard_partial(self, filename: str) -> None:
        """Forget the partial bytes of a cancelled download."""
        name = Path(filename).name
        remove_files(self.partial_dir / (name + ".part"), self.partial_dir / (name + ".json"))
        self._tidy()

    # -- internals ---------------------------------------------------------------------------

    def _already_installed(self, dest: Path, file: HubFile) -> Path:
        if file.size and dest.stat().st_size != file.size:
            raise DownloadError(
                f"A different file named {dest.name} is already in the models folder; remove it "
                "first (hearth models rm) to download this one.",
                f"{dest}: size {dest.stat().st_size} != {file.size}",
            )
        if file.sha256 and sha256_of(dest).hexdigest() != file.sha256:
            raise DownloadError(
                f"A different file named {dest.name} is already in the models folder; remove it "
                "first (hearth models rm) to download this one.",
                f"{dest}: sha256 differs from the hub's",
            )
        return dest

    def _metadata(
        self, repo_id: str, filename: str, revision: str
    ) -> tuple[str, str | None, int | None]:
        import httpx2
        from huggingface_hub import get_hf_file_metadata, hf_hub_url

        url = hf_hub_url(repo_id, filename, revision=revision, endpoint=self.endpoint)
        try:
            meta = get_hf_file_metadata(
                url,
                token=self.token,
                timeout=CONNECT_TIMEOUT + READ_TIMEOUT,
                endpoint=self.endpoint,
            )
        except httpx2.HTTPError as exc:
            from engine.hub import Hub

            raise Hub(self.endpoint)._translate(exc, f"{repo_id}/{filename}") from exc
        return meta.location or url, meta.etag, meta.size

    def _headers(self, location: str, offset: int) -> dict[str, str]:
        from huggingface_hub.utils import build_hf_headers

        same_host = location.startswith(self.endpoint)
        headers = build_hf_headers(token=self.token if same_host else False)
        headers["Accept-Encoding"] = "identity"
        if offset:
            headers["Range"] = f"bytes={offset}-"
        return headers

    def _stream(
        self,
        location: str,
        part: Path,
        offset: int,
        size: int,
        digest: Any,
        cancel: threading.Event,
        progress: ProgressFn | None,
        ctx: tuple[float, int, int, int, str],
    ) -> str:
        """One GET from `offset`. Returns "done", "dropped", "restart" or "cancelled".

        The body is read with the standard library's http.client into one reused 1 MiB
        buffer: httpx hands a body over in 64 KiB pieces and that alone made downloads from
        a fast server half as fast as curl. huggingface_hub still supplies the URL, the
        metadata and the headers; TLS certificates are verified (the default context)."""
        started, start_bytes, file_index, file_count, name = ctx
        done = offset
        last_report = 0.0
        reported = done
        buf = bytearray(CHUNK_SIZE)
        view = memoryview(buf)
        conn: http.client.HTTPConnection | None = None
        try:
            conn, r = self._open(location, offset, name)
            refused = _refused(r, offset, name)
            if refused:
                return refused
            with part.open("ab") as out:
                while True:
                    n = r.readinto(buf)
                    if not n:
                        break
                    if cancel.is_set():
                        return "cancelled"
                    out.write(view[:n])
                    digest.update(bytes(view[:n]))
                    done += n
                    now = time.monotonic()
                    if progress and (
                        now - last_report >= PROGRESS_INTERVAL or done - reported >= PROGRESS_BYTES
                    ):
                        last_report, reported = now, done
                        elapsed = max(now - started, 1e-6)
                        speed = (done - start_bytes) / elapsed
                        eta = (size - done) / speed if speed > 0 and size else None
                        progress(
                            DownloadProgress(name, done, size, speed, eta, file_index, file_count)
                        )
        except (ConnectionRefusedError, socket.gaierror) as exc:
            if done == offset:
                from engine.hub import _offline_error

                if not _reachable(location):
                    raise _offline_error(self.endpoint, exc) from exc
            return "dropped"
        except (OSError, http.client.HTTPException) as exc:
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise
            log.info("connection dropped at byte %d of %s: %r", done, name, exc)
            return "dropped"
        finally:
            if conn is not None:
                conn.close()
        if size and done < size:
            return "dropped"
        if progress:
            elapsed = max(time.monotonic() - started, 1e-6)
            progress(
                DownloadProgress(
                    name, done, size, (done - start_bytes) / elapsed, 0.0, file_index, file_count
                )
            )
        return "done"

    def _open(
        self, location: str, offset: int, name: str
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """The connection and the response to a GET of `location` from byte `offset`,
        redirects followed."""
        for _hop in range(MAX_REDIRECTS + 1):
            u = urlsplit(location)
            https = u.scheme == "https"
            cls = http.client.HTTPSConnection if https else http.client.HTTPConnection
            conn = cls(u.hostname or "", u.port, timeout=CONNECT_TIMEOUT)
            try:
                path = u.path + (f"?{u.query}" if u.query else "")
                conn.request("GET", path or "/", headers=self._headers(location, offset))
                if conn.sock is not None:
                    conn.sock.settimeout(READ_TIMEOUT)
                r = conn.getresponse()
                if not (r.status in (301, 302, 303, 307, 308) and r.getheader("Location")):
                    return conn, r
                location = urljoin(location, r.getheader("Location", ""))
                r.read()
            except BaseException:
                conn.close()
                raise
            conn.close()
        raise DownloadError(f"{name}: the server redirected too many times.")

    def _check_gguf(self, part: Path, name: str, sidecar: Path) -> None:
        """A .gguf file must start with the GGUF signature. (The sha256 already proved the bytes
        are the hub's; the full header check runs when the catalog lists the model, and a
        damaged file is shown there with the reason.)"""
        shard = shard_info(name)
        if not name.lower().endswith(".gguf") or (shard and shard[1] > 1):
            return  # later parts of a split model are checked with the first one
        with part.open("rb") as fh:
            magic = fh.read(4)
        if magic != b"GGUF":
            remove_files(part, sidecar)
            raise DownloadError(
                f"{name} downloaded correctly but is not a GGUF model file; nothing was installed.",
                f"{part}: first bytes {magic!r}",
            )

    def _tidy(self) -> None:
        try:
            self.partial_dir.rmdir()  # only if empty
        except OSError:
            pass


def _refused(r: http.client.HTTPResponse, offset: int, name: str) -> str:
    """ "restart" when the server will not resume at `offset` (the file is fetched again from
    its start), "" when the response's body is the bytes wanted; an error when it has none."""
    if r.status == 416 and offset:
        return "restart"
    if r.status >= 400:
        raise _http_error(r.status, name, r.read(2000))
    if offset and r.status == 200:
        log.info("server ignored the Range request; starting %s again", name)
        return "restart"
    if offset and not (r.getheader("Content-Range") or "").startswith(f"bytes {offset}-"):
        return "restart"
    if (r.getheader("Content-Encoding") or "identity") != "identity":
        raise DownloadError(f"{name}: the server compressed the file; cannot verify it.")
    return ""


def _reachable(url: str) -> bool:
    """Whether anything answers at the URL's host (a quick second connect attempt)."""
    import socket
    from urllib.parse import urlparse

    u = urlparse(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    try:
        with socket.create_connection((u.hostname or "", port), timeout=CONNECT_TIMEOUT):
            return True
    except OSError:
        return False
