"""The chat store's file: its schema (named, append-only migrations), how it is opened, and
its SQLite errors worded for the user. `app.store.ChatStore` is the API; this module holds
what it is built on, so that the store itself is about chats and messages."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.errors import StoreError
from engine.migrations import Migration
from engine.migrations import migrate as run_migrations
from engine.sqlite_util import describe_error, use_wal

log = logging.getLogger(__name__)

ROLES = ("system", "user", "assistant")
STATUSES = ("complete", "incomplete", "error")

BUSY_TIMEOUT_S = 5.0


# --------------------------------------------------------------------------- migrations


# Append-only. Never edit, rename or reorder an entry once it has been committed.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_chats_and_messages",
        (
            """
            CREATE TABLE chats (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                title TEXT NOT NULL,
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL,
                settings TEXT NOT NULL DEFAULT '{}'
            )
            """,
            "CREATE INDEX chats_updated_at ON chats (updated_at DESC, id DESC)",
            """
            CREATE TABLE messages (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                chat_id INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
                role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
                content TEXT NOT NULL DEFAULT '',
                created_at REAL NOT NULL,
                model TEXT NOT NULL DEFAULT '',
                stats TEXT NOT NULL DEFAULT '{}',
                sources TEXT NOT NULL DEFAULT '[]',
                status TEXT NOT NULL DEFAULT 'complete'
                    CHECK (status IN ('complete', 'incomplete', 'error')),
                -- 1 from add_message(status='incomplete') until an update sets a status:
                -- still 1 at start-up means the writer died mid-stream.
                streaming INTEGER NOT NULL DEFAULT 0
            )
            """,
            "CREATE INDEX messages_chat ON messages (chat_id, id)",
        ),
    ),
    Migration(
        "0002_message_search",
        (
            # External-content FTS5 index: the text lives once, in messages.content.
            """
            CREATE VIRTUAL TABLE messages_fts USING fts5 (
                content,
                content = 'messages',
                content_rowid = 'id',
                tokenize = 'porter unicode61 remove_diacritics 2'
            )
            """,
            """
            CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
                INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
            END
            """,
            """
            CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
                INSERT INTO messages_fts (messages_fts, rowid, content)
                VALUES ('delete', old.id, old.content);
            END
            """,
            """
            CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
                INSERT INTO messages_fts (messages_fts, rowid, content)
                VALUES ('delete', old.id, old.content);
                INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
            END
            """,
            # Index the messages written before this migration existed.
            "INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')",
        ),
    ),
    Migration(
        "0003_message_tree",
        (
            # A chat is a tree: regenerating an answer or editing a question adds a sibling
            # and keeps the earlier version. Each message names the one it follows.
            "ALTER TABLE messages ADD COLUMN parent_id INTEGER REFERENCES messages (id)",
            # Chats written before were one line: each message follows the one before it.
            """
            UPDATE messages SET parent_id = (
                SELECT MAX(p.id) FROM messages AS p
                WHERE p.chat_id = messages.chat_id AND p.id < messages.id
            )
            """,
            "CREATE INDEX messages_parent ON messages (parent_id)",
            # The last message of the path the chat shows (NULL: its newest message). Not a
            # foreign key: a deleted branch may leave it dangling, and readers fall back.
            "ALTER TABLE chats ADD COLUMN active_leaf INTEGER",
        ),
    ),
)


def connect(path: Path) -> sqlite3.Connection:
    """Open `path` in autocommit mode (transactions are explicit) and set the pragmas.

    Raises sqlite3 errors as they come; `ChatStore` turns them into `StoreError`."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        mode = use_wal(conn, BUSY_TIMEOUT_S)  # retried: two openers of a new file collide
        if mode.lower() != "wal":
            # Some network file systems cannot share WAL memory; the rollback journal
            # still commits durably, only concurrent readers wait more.
            log.warning("chat store %s: journal mode is %s, not WAL", path, mode)
        conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply the migrations not yet recorded (`engine.migrations.migrate`); returns the names
    applied now. Raises StoreError when the file was written by a newer Hearth or its history
    does not match this list."""
    return run_migrations(conn, migrations, kind="chat history", error=StoreError)


# --------------------------------------------------------------------------- errors and values


def describe_sqlite_error(exc: BaseException) -> str:
    """A short reason, readable by a user, for an error of the chat history's file."""
    return describe_error(exc, "chat history")


def is_damaged(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text


def store_error(action: str, exc: BaseException, path: Path | None = None) -> StoreError:
    """StoreError for `exc` raised while doing `action` ("save the chat", ...)."""
    reason = describe_sqlite_error(exc)
    details = f"{type(exc).__name__}: {exc}"
    code = getattr(exc, "sqlite_errorname", None)
    if code:
        details += f" ({code})"
    if path is not None:
        details += f"\nfile: {path}"
    return StoreError(f"Hearth could not {action}: {reason}.", details)


def to_json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be plain JSON data: {exc}") from exc


def from_json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        value = json.loads(text)
    except ValueError:
        log.warning("ignoring unreadable JSON in the chat store: %.80r", text)
        return default
    return value if isinstance(value, type(default)) else default


def check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")


def check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
