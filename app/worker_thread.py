"""One way to run a worker QObject on a thread of its own, for every long-lived background
thread of the window (the engine thread, the documents thread).

A `ThreadHost` lives on the GUI thread. It owns a QThread and the worker moved onto it; the
subclass connects its private request signals to the worker's slots (queued: they run one at
a time on the worker's thread) and the worker's signals back to its own. Shutdown is in two
halves so that several threads stop in parallel: `begin_shutdown` (no wait: the subclass asks
its worker to close what it owns; the worker's last slot calls `ThreadHost.quit_current`)
and `finish_shutdown` (wait with a timeout). A thread that does not stop in time is kept in
one registry for the rest of the process, so Qt never destroys a running thread ("QThread:
Destroyed while thread is still running" and an abort).

Errors that belong to no request go out through `errorRaised`; the composition root connects
every host's `errorRaised` to the error presenter, in one place.

Model jobs (downloads, conversion, quantization) do not use this: several run at once and
each ends, so they run on a QThreadPool (app/model_jobs.py) rather than one long-lived thread.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QThread, Signal

log = logging.getLogger(__name__)

# Threads that outlived their shutdown timeout: referenced so they are never destroyed running.
_LINGERING: list[QThread] = []


def lingering_threads() -> list[QThread]:
    """Threads still running after their host gave up waiting (for tests and diagnostics)."""
    return [t for t in _LINGERING if t.isRunning()]


class ThreadHost(QObject):
    """GUI-thread handle on a worker that lives on its own QThread."""

    errorRaised = Signal(object)  # a HearthError that belongs to no request

    def __init__(self, worker: QObject, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._closed = False
        self.thread_ = QThread()
        self.thread_.setObjectName(name)
        self.worker = worker
        worker.moveToThread(self.thread_)

    def start_thread(self) -> None:
        """Start the thread; call once the signals are connected."""
        self.thread_.start()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- shutdown ------------------------------------------------------------------------

    def _request_shutdown(self) -> None:
        """Ask the worker to close what it owns and quit its thread (subclasses; queued)."""
        raise NotImplementedError

    def begin_shutdown(self) -> None:
        """Ask the worker to stop (no wait). Further requests are ignored."""
        if self._closed:
            return
        self._closed = True
        self._request_shutdown()

    def finish_shutdown(self, timeout_s: float) -> bool:
        """Wait for the thread to end. False if it did not within the timeout (it is then
        kept referenced and left to finish on its own)."""
        self.begin_shutdown()
        ok = bool(self.thread_.wait(max(0, int(timeout_s * 1000))))
        if not ok:
            log.warning(
                "the thread %s did not stop within %.1f s", self.thread_.objectName(), timeout_s
            )
            if self.thread_ not in _LINGERING:
                _LINGERING.append(self.thread_)
        return ok

    def shutdown(self, timeout_s: float = 2.0) -> bool:
        self.begin_shutdown()
        return self.finish_shutdown(timeout_s)

    def wait_stopped(self, timeout_s: float) -> bool:
        """After shutdown: wait for a thread that outlived its timeout (e.g. mid-load)."""
        if not self.thread_.isRunning():
            return True
        return bool(self.thread_.wait(int(timeout_s * 1000)))

    @staticmethod
    def quit_current(worker: QObject) -> None:
        """The worker's shutdown slot ends with this: its thread's event loop stops."""
        thread = worker.thread()
        if thread is not None:
            thread.quit()
