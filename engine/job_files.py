"""Temporary files of long jobs (quantizing, converting, joining Gemma, downloading), and
the sweep that removes the ones a killed job left behind.

Each job holds an exclusive OS lock on `<temporary file>.lock` for as long as its temporary
file exists (`JobFile`). The kernel releases the lock when the process ends, however it ends,
so at start the sweep can tell a file whose job is gone (its lock can be taken) from one that
a job in another window or command is still writing (its lock is held): only the first kind
is deleted. A temporary file with no lock file at all (made by an older Hearth, or by a job
killed between the two steps) counts as abandoned once it has not been written for
`UNLOCKED_STALE_S`.

A lock file is removed only while its remover holds the lock, and a job checks after locking
that the lock file it holds is still the one at that path, so a sweep and a starting job
never both believe they own a file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"
# Job temporary files, relative to the models folder, at any depth (a model may be quantized
# or converted into a sub-folder): the quantizer's `.<model>.<pid>.quantizing`, the
# converter's `.<model>.<random>.part`, Gemma's `.assemble-<random>.part`.
TEMP_PATTERNS = ("**/.*.quantizing", "**/.*.part")
# Downloads keep `<file>.part` in the models folder's .partial, with a record `<file>.json`
# (it resumes from there, and the model manager lists it) and a lock `<file>.lock` holding
# the downloading process's pid (engine.download).
DOWNLOADS = ".partial"
UNLOCKED_STALE_S = 6 * 3600.0


class _Lock:
    """An exclusive, non-blocking OS lock on an open file (fcntl.flock; msvcrt on Windows)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh: IO[bytes] | None = None

    def try_acquire(self) -> bool:
        while True:
            try:
                fh = self.path.open("a+b")
            except OSError:
                return False
            if not _lock_file(fh):
                fh.close()
                return False
            # The file may have been removed (by a sweep holding it) between open and lock:
            # then this lock guards nothing; open the path again.
            try:
                same = os.path.samestat(os.fstat(fh.fileno()), os.stat(self.path))
            except OSError:
                same = False
            if same:
                self.fh = fh
                return True
            fh.close()

    def release(self, remove: bool = False) -> None:
        if self.fh is None:
            return
        if remove:
            with contextlib.suppress(OSError):
                self.path.unlink()  # while still held: see the module's docstring
        with contextlib.suppress(OSError):
            self.fh.close()  # closing releases the lock
        self.fh = None

    def fileno(self) -> int:
        assert self.fh is not None
        return self.fh.fileno()


def _lock_file(fh: IO[bytes]) -> bool:
    try:
        if sys.platform == "win32":
            import msvcrt

            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class JobFile:
    """The temporary file of a running job, owned through its lock file.

    with JobFile(target.parent / f".{target.name}.quantizing") as tmp:
        ... write tmp.path, then os.replace(tmp.path, target)

    The temporary file is removed on exit if it is still there (the job failed or was
    cancelled). `inheritable_fd` lets a child process that writes the file share the lock,
    so the file stays owned while either of them runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = _Lock(lock_path(path))

    def __enter__(self) -> JobFile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._lock.try_acquire():
            # Names carry a pid or a random part, so only a bug can bring us here.
            raise OSError(f"{self.path} belongs to another running job")
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)
        self._lock.release(remove=True)

    def inheritable_fd(self) -> int:
        fd = self._lock.fileno()
        os.set_inheritable(fd, True)
        return fd


def lock_path(temp: Path) -> Path:
    return temp.with_name(temp.name + LOCK_SUFFIX)


@dataclass(frozen=True)
class Removed:
    path: Path
    size: int


def _candidates(models_dir: Path) -> Iterator[Path]:
    seen: set[Path] = set()
    for pattern in TEMP_PATTERNS:
        for path in models_dir.glob(pattern):
            if path not in seen and path.is_file():
                seen.add(path)
                yield path


def _download_in_use(part: Path) -> bool:
    """A download's .part is kept while its record is beside it (it resumes from there, and
    the model manager lists it, with Discard) or while a live process holds its lock."""
    stem = part.name.removesuffix(".part")
    if part.with_name(stem + ".json").exists():
        return True
    try:
        pid = int(part.with_name(stem + ".lock").read_text(encoding="ascii").strip() or 0)
    except (OSError, ValueError):
        return False
    import psutil

    return pid > 0 and psutil.pid_exists(pid)


def _stale_downloads(models_dir: Path) -> list[Path]:
    folder = models_dir / DOWNLOADS
    if not folder.is_dir():
        return []
    return [p for p in sorted(folder.glob("*.part")) if not _download_in_use(p)]


def _remove(path: Path, removed: list[Removed]) -> None:
    try:
        size = path.stat().st_size
        path.unlink()
    except OSError as exc:
        log.warning("could not remove %s: %s", path, exc)
        return
    removed.append(Removed(path, size))
    log.info("removed %s (%d bytes), left by a job that no longer runs", path, size)


def sweep(models_dir: Path, now: float | None = None) -> list[Removed]:
    """Remove temporary files that no running job owns; returns what was removed."""
    removed: list[Removed] = []
    if not models_dir.is_dir():
        return removed
    now = time.time() if now is None else now
    for path in sorted(_candidates(models_dir)):
        if path.parent.name == DOWNLOADS:
            continue  # a download's own .part: below
        lock = _Lock(lock_path(path))
        if lock_path(path).exists():
            if not lock.try_acquire():
                continue  # a running job owns it
        else:
            try:
                if now - path.stat().st_mtime < UNLOCKED_STALE_S:
                    continue  # no lock file: only an old one is surely abandoned
            except OSError:
                continue
        try:
            _remove(path, removed)
        finally:
            lock.release(remove=True)
    for part in _stale_downloads(models_dir):
        _remove(part, removed)
    _remove_orphan_locks(models_dir)
    return removed


def _remove_orphan_locks(models_dir: Path) -> None:
    """Lock files whose temporary file is gone and that no job holds."""
    for pattern in TEMP_PATTERNS:
        for path in models_dir.glob(pattern + LOCK_SUFFIX):
            temp = path.with_name(path.name.removesuffix(LOCK_SUFFIX))
            if temp.exists():
                continue
            lock = _Lock(path)
            if lock.try_acquire():
                lock.release(remove=True)


def describe(removed: list[Removed]) -> str:
    """One line for stderr or the log: what the sweep removed."""
    total = sum(r.size for r in removed)
    names = ", ".join(r.path.name for r in removed[:3]) + (" …" if len(removed) > 3 else "")
    files = "file" if len(removed) == 1 else "files"
    return (
        f"Removed {len(removed)} temporary {files} ({total / 1e6:.0f} MB) left by an "
        f"interrupted job: {names}"
    )
