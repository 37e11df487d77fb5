"""Named, append-only schema migrations for Hearth's SQLite files (the chat history in
`app.store`, the document library in `rag.index`).

Each file records the names of the migrations applied to it in ``schema_migrations``, in the
order they ran. Opening a file applies the ones it lacks, in one write transaction that
re-reads the record under the lock, so two processes creating the same file at the same
moment (the window and a command) apply each migration once. Never edit, rename or reorder a
migration that has shipped: add a new one at the end.

Files written before names were recorded counted their migrations in ``PRAGMA user_version``
instead (the document library did). `migrate(..., counted=N)` adopts such a file once: the
first ``user_version`` migrations are recorded as applied, without running them again. It
also keeps ``user_version`` equal to the number of those N that are applied, so a Hearth from
before the change, which counts, can still open a file this one created.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.errors import HearthError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    """A named schema step. `statements` run in order inside one transaction."""

    name: str
    statements: tuple[str, ...]


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    """Names recorded in schema_migrations, in the order they were applied."""
    if not _has_record(conn):
        return []
    rows = conn.execute("SELECT name FROM schema_migrations ORDER BY rowid").fetchall()
    return [str(r[0]) for r in rows]


def migrate(
    conn: sqlite3.Connection,
    migrations: Sequence[Migration],
    *,
    kind: str = "database",
    error: Callable[[str, str], HearthError] = HearthError,
    counted: int = 0,
) -> list[str]:
    """Apply the migrations not yet recorded, in order, in one write transaction; `conn` is
    in autocommit mode (``isolation_level=None``), as Hearth opens its files.

    Returns the names applied now (empty when the file was already up to date). Raises
    `error(user_message, details)` when the file was written by a newer Hearth (it records
    migrations this list does not have) or its history does not match this list; `kind`
    names the file in that message ("chat history", "document library"). `counted`: how many
    of the first migrations older versions counted in ``PRAGMA user_version`` (see the module
    docstring)."""
    known = [m.name for m in migrations]
    if len(set(known)) != len(known):
        raise ValueError("migration names must be unique")
    if applied_migrations(conn) == known:
        return []  # the common case: no write lock needed
    conn.execute("BEGIN IMMEDIATE")  # re-read under the lock: another process may migrate
    try:
        done = _recorded(conn, known, counted, kind, error)
        applied: list[str] = []
        for migration in migrations[len(done) :]:
            for statement in migration.statements:
                conn.execute(statement)
            _record(conn, migration.name)
            applied.append(migration.name)
        if counted:
            conn.execute(f"PRAGMA user_version = {min(len(known), counted)}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if applied:
        log.info("%s migrated: %s", kind, ", ".join(applied))
    return applied


def _recorded(
    conn: sqlite3.Connection,
    known: list[str],
    counted: int,
    kind: str,
    error: Callable[[str, str], HearthError],
) -> list[str]:
    """The migrations the file has (call inside the write transaction); a file from before
    names were recorded gets its counted ones recorded now."""
    fresh = not _has_record(conn)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    if fresh and counted:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > counted:  # counted further than this list: a newer Hearth wrote it
            raise error(_newer(kind), f"user_version {version}; known: {known[:counted]}")
        for name in known[:version]:
            _record(conn, name)
    done = applied_migrations(conn)
    if done != known[: len(done)]:
        if any(name not in known for name in done):
            message = _newer(kind)
        else:
            message = f"The {kind} file has an unexpected schema history."
        raise error(message, f"applied: {done}; known: {known}")
    return done


def _has_record(conn: sqlite3.Connection) -> bool:
    return bool(
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
    )


def _newer(kind: str) -> str:
    return f"The {kind} was saved by a newer version of Hearth. Update Hearth to open it."


def _record(conn: sqlite3.Connection, name: str) -> None:
    conn.execute(
        "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)", (name, time.time())
    )
