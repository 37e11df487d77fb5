"""SQLite helpers shared by the document library (`rag.index`) and the chat history
(`app.store`): the switch to WAL (both files may be created by two Hearth processes at the same
moment) and readable reasons for SQLite's errors (a full disk, a read-only or damaged file)."""

from __future__ import annotations

import sqlite3
import time


def use_wal(conn: sqlite3.Connection, timeout_s: float = 10.0) -> str:
    """Switch the file to write-ahead logging; returns the journal mode SQLite chose (a file
    system that cannot share WAL memory keeps "delete"). SQLite answers "database is locked"
    at once, without its busy handler, while another connection is switching the same new
    file: try again."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


DISK_FULL = "the disk is full"  # the reason for every kind of full disk, as users read it

_PRIMARY_MESSAGES = {
    "SQLITE_FULL": DISK_FULL,
    "SQLITE_READONLY": "the file is read-only",
    "SQLITE_PERM": "permission was denied",
    "SQLITE_CANTOPEN": "the file or its folder cannot be opened (check the permissions)",
    "SQLITE_CORRUPT": "the file is damaged",
    "SQLITE_NOTADB": "the file is not a Hearth {kind} (it may be damaged)",
    "SQLITE_BUSY": "another program kept the file locked for too long",
    "SQLITE_LOCKED": "another program kept the file locked for too long",
    "SQLITE_IOERR": "the disk reported a read or write error",
    "SQLITE_NOMEM": "the computer ran out of memory",
    "SQLITE_TOOBIG": "the text is too large to save",
}

_CODE_NAMES = {
    getattr(sqlite3, name): name
    for name in _PRIMARY_MESSAGES  # primary result codes, all exported by sqlite3 (3.11+)
}


def describe_error(exc: BaseException, kind: str = "database") -> str:
    """A short reason, readable by a user, for a sqlite3 or OS error on one of Hearth's SQLite
    files; `kind` names the file for "not a Hearth <kind>" ("chat history", "document library")."""
    if isinstance(exc, OSError) and not isinstance(exc, sqlite3.Error):
        return exc.strerror or str(exc)
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_READONLY_DIRECTORY:  # cannot create the -wal/-shm files
        return "its folder is read-only"
    if isinstance(code, int):
        name = _CODE_NAMES.get(code & 0xFF)
        if name:
            return _PRIMARY_MESSAGES[name].format(kind=kind)
    text = str(exc).lower()  # errors raised without a code (older Pythons, some paths)
    for needle, reason in (
        ("disk is full", DISK_FULL),
        ("readonly", "the file is read-only"),
        ("not a database", _PRIMARY_MESSAGES["SQLITE_NOTADB"]),
        ("malformed", "the file is damaged"),
        ("unable to open", _PRIMARY_MESSAGES["SQLITE_CANTOPEN"]),
        ("locked", _PRIMARY_MESSAGES["SQLITE_BUSY"]),
        ("disk i/o", _PRIMARY_MESSAGES["SQLITE_IOERR"]),
    ):
        if needle in text:
            return reason.format(kind=kind)
    return str(exc)
