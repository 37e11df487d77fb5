"""SQLite set-up shared by the document library (`rag.index`) and the chat history
(`app.store`): both files may be created by two Hearth processes at the same moment."""

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
