"""`with` support for Hearth's objects that hold something to release (a llama.cpp context,
a child process, a database connection)."""

from __future__ import annotations

from typing import Self


class Closeable:
    """`with obj:` closes it at the end. Subclasses implement close(), safe to call twice."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ClosedWhenCollected(Closeable):
    """Also closed when garbage-collected, for native memory and child processes that must
    not outlive a forgotten object. Errors then are ignored: at interpreter shutdown the
    modules close() needs may already be gone."""

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - nothing to report to during collection
            pass
