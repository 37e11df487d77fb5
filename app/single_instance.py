"""One Hearth window per data folder.

Two windows on one data folder would share one Chroma server (the first window's child
process; rag.chroma_server), so closing the first would leave the second without its document
index, and both would write the same chat history. Like most desktop chat apps, starting Hearth
again therefore brings the running window to the front instead of opening a second one.

How: the first window holds a lock file in the data folder (QLockFile: released when the
process exits, however it exits; a lock left by a crashed process is recognised by its dead
PID) and listens on a local socket named after the folder. A second start that cannot take the
lock connects to that socket, says "show", and exits. Command-line commands are not affected:
they share the Chroma server that runs on the store, or start one (rag.chroma_server).
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, Qt, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket
from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)

LOCK_NAME = "window.lock"
SHOW = b"show\n"
CONNECT_WAIT_S = 5.0  # a first window that is still starting may not listen yet


def server_name(data_dir: Path) -> str:
    """The local socket's name for a data folder (per user: the folder is the user's)."""
    digest = hashlib.sha256(str(Path(data_dir).resolve()).encode("utf-8")).hexdigest()
    return f"hearth-window-{digest[:16]}"


class SingleInstance(QObject):
    """`acquire()` in the first window: True, and `showRequested` fires whenever Hearth is
    started again. In a second start `acquire()` is False and `notify_running()` asks the first
    window to come to the front."""

    showRequested = Signal()

    def __init__(self, data_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.data_dir = Path(data_dir)
        self.name = server_name(self.data_dir)
        self._lock = QLockFile(str(self.data_dir / LOCK_NAME))
        self._lock.setStaleLockTime(0)  # never stale by age; only when its process is gone
        self._server: QLocalServer | None = None
        self._clients: list[QLocalSocket] = []

    def acquire(self) -> bool:
        """Take the lock and listen; False if another process holds it. True as well when
        the lock file cannot be written at all (a full disk, a read-only folder): that is no
        reason to refuse to start, the window then just runs without this check."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self._lock.tryLock(100):
            if self._lock.error() == QLockFile.LockError.LockFailedError:
                return False  # held by a running window
            log.warning(
                "cannot write %s (%s); starting without the one-window check",
                self.data_dir / LOCK_NAME,
                self._lock.error().name,
            )
            return True
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        QLocalServer.removeServer(self.name)  # a socket file left by a crashed window
        if not server.listen(self.name):
            # The lock is ours, so this window is the only one; it just cannot be called to
            # the front by a second start.
            log.warning("cannot listen on %s: %s", self.name, server.errorString())
            return True
        server.newConnection.connect(self._on_connection)
        self._server = server
        return True

    def _on_connection(self) -> None:
        server = self._server
        while server is not None and server.hasPendingConnections():
            sock = server.nextPendingConnection()
            self._clients.append(sock)
            sock.readyRead.connect(self._read_clients)
            sock.disconnected.connect(self._read_clients)
        self._read_clients()

    def _read_clients(self) -> None:
        for sock in list(self._clients):
            if sock.bytesAvailable() and SHOW.strip() in bytes(sock.readAll().data()):
                self.showRequested.emit()
            if sock.state() == QLocalSocket.LocalSocketState.UnconnectedState:
                self._clients.remove(sock)
                sock.deleteLater()

    def notify_running(self, wait_s: float = CONNECT_WAIT_S) -> bool:
        """Ask the window that holds the lock to come to the front. False if none answers
        within `wait_s` (a start that hangs, or a window that cannot listen)."""
        deadline = time.monotonic() + wait_s
        while True:
            sock = QLocalSocket()
            sock.connectToServer(self.name)
            if sock.waitForConnected(500):
                sock.write(SHOW)
                sent = sock.waitForBytesWritten(1000)
                sock.disconnectFromServer()
                return sent
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)

    def release(self) -> None:
        for sock in self._clients:
            sock.abort()
        self._clients.clear()
        if self._server is not None:
            self._server.close()
            self._server = None
        self._lock.unlock()


def bring_to_front(window: QWidget) -> None:
    """Show a window that may be minimised or behind others (window managers may only flash
    it in the task bar instead of raising it)."""
    window.setWindowState(
        (window.windowState() & ~Qt.WindowState.WindowMinimized) | Qt.WindowState.WindowActive
    )
    window.show()
    window.raise_()
    window.activateWindow()
