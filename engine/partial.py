"""The pieces of a download that live on the disk: the partial file's sidecar (which file
version its bytes belong to), the lock that keeps a second window or command from writing
the same file, the free-space check, the running sha256, and disk errors said plainly.
`engine.download` streams the bytes."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import queue
import shutil
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine.errors import DownloadError
from engine.units import human_size

CHUNK_SIZE = 1 << 20
FREE_SPACE_MARGIN = 64 * 1024 * 1024  # keep this much free beyond the file itself
_DISK_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


@dataclass
class PartialState:
    """The sidecar: which file version the partial bytes belong to."""

    repo_id: str
    path: str
    revision: str
    size: int
    sha256: str | None
    etag: str | None

    @classmethod
    def load(cls, path: Path) -> PartialState | None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(**raw)
        except (OSError, ValueError, TypeError):
            return None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")

    def same_file(self, other: PartialState) -> bool:
        if self.sha256 and other.sha256:
            return self.sha256 == other.sha256 and self.size == other.size
        return (self.repo_id, self.path, self.etag, self.size) == (
            other.repo_id,
            other.path,
            other.etag,
            other.size,
        )


def check_free_space(folder: Path, needed: int) -> None:
    """DownloadError unless `needed` bytes (plus a margin) are free where `folder` lives."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed + FREE_SPACE_MARGIN > free:
        raise DownloadError(
            f"Not enough free disk space: this download needs {human_size(needed)} and "
            f"{human_size(free)} are free on the drive holding {folder}. Free some space "
            "(or remove models you no longer use) and try again.",
            f"needed={needed} margin={FREE_SPACE_MARGIN} free={free} folder={folder}",
        )


def disk_error(exc: OSError, target: Path) -> DownloadError:
    if exc.errno in _DISK_FULL:
        return DownloadError(
            "The disk became full while downloading; the partial file was removed and nothing "
            "was installed. Free some space and try again.",
            f"{target}: {exc!r}",
        )
    return DownloadError(
        f"Could not write the download to {target.parent}: {exc.strerror}", repr(exc)
    )


def sha256_of(path: Path) -> hashlib._Hash:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK_SIZE):
            digest.update(block)
    return digest


class PartialLock:
    """One download of a file at a time (a second window or command would interleave bytes).

    A lock file holding the owner's pid; a lock left by a process that no longer runs is taken
    over."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> PartialLock:
        import psutil

        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    pid = int(self.path.read_text(encoding="ascii").strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and psutil.pid_exists(pid):
                    raise DownloadError(
                        f"{self.path.name.removesuffix('.lock')} is already being downloaded "
                        "(by another Hearth window or command).",
                        f"{self.path} held by pid {pid}",
                    ) from None
                self.path.unlink(missing_ok=True)  # stale: its owner is gone
                continue
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(str(os.getpid()))
            return self
        raise DownloadError(f"Could not lock {self.path}.", str(self.path))

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)


class Hasher:
    """sha256 computed on a helper thread: hashlib releases the GIL on large buffers, so the
    hashing overlaps with receiving and writing instead of adding to them."""

    def __init__(self, initial: Any = None) -> None:
        self._digest = initial if initial is not None else hashlib.sha256()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=32)
        self._thread = threading.Thread(target=self._run, name="download-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (block := self._queue.get()) is not None:
            self._digest.update(block)

    def update(self, block: bytes) -> None:
        self._queue.put(block)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def hexdigest(self) -> str:
        self.close()
        return str(self._digest.hexdigest())


def remove_files(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)
