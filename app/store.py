"""The chat store: chats and their messages in one SQLite file, with full-text search.

Durability contract (what the GUI and the CLI can rely on):

* Every write method commits before it returns. When `add_message` or `update_message`
  has returned, the change is in the database file's write-ahead log and survives the
  process being killed at any later moment (SIGKILL, a crash in llama.cpp, the user
  closing the terminal).
* Streaming an answer: create the assistant message with ``status="incomplete"`` when
  generation starts, call ``update_message(id, content=partial_text)`` about once a second
  while tokens arrive, and finish with ``update_message(id, content=..., stats=...,
  status="complete")`` (or ``status="error"`` / ``"incomplete"`` after a failure or
  cancel). Content-only updates keep the message "streaming"; any update that sets a status
  ends the stream. A crash therefore never needs repair: the last saved partial text is
  there, already marked 'incomplete'. At start-up the app calls `mark_incomplete_on_start`,
  which finds the streams a dead process left open, flags them with
  ``stats["interrupted"] = True`` and returns how many, so the window can say so.
* Journal mode is WAL with ``synchronous=NORMAL``. A commit writes the transaction to the
  WAL file before returning, so a killed *process* loses nothing that was committed (the
  operating system still holds the written pages). What NORMAL gives up compared with FULL
  is the fsync on each commit: after a power cut or kernel crash the last few commits may
  be missing, but the database is never corrupted. That trade keeps the once-a-second
  streaming saves cheap on laptop disks.

Other rules:

* The connection belongs to the thread that created it (sqlite3's ``check_same_thread``).
  Open one `ChatStore` per thread (the GUI thread; the CLI's main thread). Several
  processes may use the same file at once: WAL lets readers and one writer work together,
  and the busy timeout makes a second writer wait instead of failing.
* The schema is built by an append-only list of named migrations (`MIGRATIONS`), recorded
  in ``schema_migrations`` (`engine.migrations`, shared with the document library). Never
  edit or reorder a migration that has shipped: add a new one at the end.
* Any SQLite failure (disk full, read-only file, corrupt file, locked too long) is raised as
  `app.errors.StoreError` with a message written for the user. Asking for a chat or message
  that does not exist raises `KeyError`; an invalid role or status raises `ValueError`.
* ``updated_at`` of a chat is the time of its last message activity (a message added or the
  tail deleted); it orders the chat list. Renaming or changing settings does not reorder.
* Search snippets mark each match with `MATCH_START` and `MATCH_END`; turn them into markup
  with `render_snippet`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.errors import StoreError
from engine.closing import Closeable
from engine.migrations import Migration
from engine.migrations import applied_migrations as applied_migrations  # re-exported
from engine.migrations import migrate as run_migrations
from engine.sqlite_util import describe_error, use_wal

log = logging.getLogger(__name__)

ROLES = ("system", "user", "assistant")
STATUSES = ("complete", "incomplete", "error")

BUSY_TIMEOUT_S = 5.0

# Snippet markers: control characters that never occur in chat text typed by a person.
MATCH_START = "\x02"
MATCH_END = "\x03"
SNIPPET_ELLIPSIS = "…"
SNIPPET_TOKENS = 16


@dataclass
class ChatRow:
    id: int
    title: str
    created_at: float
    updated_at: float
    settings: dict


@dataclass
class MessageRow:
    id: int
    chat_id: int
    role: str
    content: str
    created_at: float
    model: str
    stats: dict
    sources: list[dict]
    status: str


@dataclass
class SearchHit:
    chat_id: int
    chat_title: str
    message_id: int
    role: str
    snippet: str


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


# --------------------------------------------------------------------------- pure helpers


def fts_query(text: str) -> str:
    """Turn what a person typed into a safe FTS5 query: every word must appear (as a
    prefix, so results follow typing). Each word is a quoted string, so FTS5 operators
    and stray quotes in the input are plain text. Returns "" when nothing is searchable."""
    terms = []
    for word in text.split():
        if not re.search(r"\w", word):
            continue  # only punctuation: the tokenizer would drop it anyway
        terms.append('"' + word.replace('"', '""') + '"*')
    return " ".join(terms)


def render_snippet(
    snippet: str,
    start: str = "[",
    end: str = "]",
    escape: Callable[[str], str] = lambda s: s,
) -> str:
    """Replace the match markers in a SearchHit snippet, escaping the text between them
    (e.g. ``render_snippet(hit.snippet, "<b>", "</b>", html.escape)`` for a Qt label)."""
    out: list[str] = []
    for i, part in enumerate(snippet.split(MATCH_START)):
        if i == 0:
            out.append(escape(part))
            continue
        matched, _, rest = part.partition(MATCH_END)
        out.append(start + escape(matched) + end + escape(rest))
    return "".join(out)


def describe_sqlite_error(exc: BaseException) -> str:
    """A short reason, readable by a user, for an error of the chat history's file."""
    return describe_error(exc, "chat history")


def _is_damaged(exc: BaseException) -> bool:
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


def _dumps(value: Any, what: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be plain JSON data: {exc}") from exc


def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        value = json.loads(text)
    except ValueError:
        log.warning("ignoring unreadable JSON in the chat store: %.80r", text)
        return default
    return value if isinstance(value, type(default)) else default


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, not {status!r}")


# --------------------------------------------------------------------------- the store

_CHAT_COLUMNS = "id, title, created_at, updated_at, settings"
_MESSAGE_COLUMNS = "id, chat_id, role, content, created_at, model, stats, sources, status"


def _chat_row(row: sqlite3.Row | tuple[Any, ...]) -> ChatRow:
    return ChatRow(
        id=int(row[0]),
        title=str(row[1]),
        created_at=float(row[2]),
        updated_at=float(row[3]),
        settings=_loads(row[4], {}),
    )


def _message_row(row: sqlite3.Row | tuple[Any, ...]) -> MessageRow:
    return MessageRow(
        id=int(row[0]),
        chat_id=int(row[1]),
        role=str(row[2]),
        content=str(row[3]),
        created_at=float(row[4]),
        model=str(row[5]),
        stats=_loads(row[6], {}),
        sources=_loads(row[7], []),
        status=str(row[8]),
    )


class ChatStore(Closeable):
    """Chats and messages in one SQLite file. See the module docstring for the contract."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise store_error("open the chat history", exc, self.path) from exc
        conn: sqlite3.Connection | None = None
        try:
            conn = connect(self.path)
            migrate(conn)
            # Fail now, not at the first message, if the file cannot be written.
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        except sqlite3.ProgrammingError:
            raise
        except (sqlite3.DatabaseError, OSError) as exc:
            if conn is not None:
                conn.close()
            error = store_error("open the chat history", exc, self.path)
            if _is_damaged(exc):
                error.user_message += (
                    f" To start a new history, move {self.path} somewhere else"
                    " and open Hearth again."
                )
                error.args = (error.user_message,)
            raise error from exc
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        self._conn: sqlite3.Connection | None = conn

    # -- plumbing

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the chat store is closed")
        return self._conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One committed write transaction; sqlite3 failures become StoreError."""
        conn = self._db
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.ProgrammingError:
            raise
        except sqlite3.DatabaseError as exc:
            raise store_error("save the chat", exc, self.path) from exc

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._db
        except sqlite3.ProgrammingError:
            raise
        except sqlite3.DatabaseError as exc:
            raise store_error("read the chat history", exc, self.path) from exc

    def close(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        try:
            conn.execute("PRAGMA optimize")
        except sqlite3.DatabaseError as exc:
            log.debug("PRAGMA optimize failed on close: %s", exc)
        conn.close()

    # -- chats

    def create_chat(self, title: str = "New chat", settings: dict | None = None) -> int:
        settings_json = _dumps(settings or {}, "chat settings")
        now = time.time()
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO chats (title, created_at, updated_at, settings) VALUES (?, ?, ?, ?)",
                (title, now, now, settings_json),
            )
            chat_id = cur.lastrowid
        assert chat_id is not None
        return int(chat_id)

    def list_chats(self) -> list[ChatRow]:
        with self._read() as db:
            rows = db.execute(
                f"SELECT {_CHAT_COLUMNS} FROM chats ORDER BY updated_at DESC, id DESC"
            ).fetchall()
        return [_chat_row(r) for r in rows]

    def get_chat(self, chat_id: int) -> ChatRow:
        with self._read() as db:
            row = db.execute(
                f"SELECT {_CHAT_COLUMNS} FROM chats WHERE id = ?", (chat_id,)
            ).fetchone()
        if row is None:
            raise KeyError(chat_id)
        return _chat_row(row)

    def rename_chat(self, chat_id: int, title: str) -> None:
        with self._write() as db:
            cur = db.execute("UPDATE chats SET title = ? WHERE id = ?", (title, chat_id))
            if cur.rowcount == 0:
                raise KeyError(chat_id)

    def delete_chat(self, chat_id: int) -> None:
        """Delete the chat and (by the foreign key's cascade) all its messages."""
        with self._write() as db:
            cur = db.execute("DELETE FROM chats WHERE id = ?", (chat_id,))
            if cur.rowcount == 0:
                raise KeyError(chat_id)

    def set_chat_settings(self, chat_id: int, settings: dict) -> None:
        """Replace the chat's settings (per-chat overrides: model, system prompt, sampling,
        document sources). Pass the whole dict; keys left out are removed."""
        settings_json = _dumps(settings, "chat settings")
        with self._write() as db:
            cur = db.execute("UPDATE chats SET settings = ? WHERE id = ?", (settings_json, chat_id))
            if cur.rowcount == 0:
                raise KeyError(chat_id)

    # -- messages

    def add_message(
        self,
        chat_id: int,
        role: str,
        content: str,
        *,
        model: str = "",
        stats: dict | None = None,
        sources: list[dict] | None = None,
        status: str = "complete",
    ) -> int:
        """Append a message and commit; the chat moves to the top of `list_chats`."""
        _check_role(role)
        _check_status(status)
        stats_json = _dumps(stats or {}, "message stats")
        sources_json = _dumps(sources or [], "message sources")
        now = time.time()
        with self._write() as db:
            cur = db.execute("UPDATE chats SET updated_at = ? WHERE id = ?", (now, chat_id))
            if cur.rowcount == 0:
                raise KeyError(chat_id)
            cur = db.execute(
                "INSERT INTO messages (chat_id, role, content, created_at, model, stats,"
                " sources, status, streaming) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    chat_id,
                    role,
                    content,
                    now,
                    model,
                    stats_json,
                    sources_json,
                    status,
                    int(role == "assistant" and status == "incomplete"),
                ),
            )
            message_id = cur.lastrowid
        assert message_id is not None
        return int(message_id)

    def update_message(
        self,
        message_id: int,
        *,
        content: str | None = None,
        stats: dict | None = None,
        sources: list[dict] | None = None,
        status: str | None = None,
    ) -> None:
        """Change the given fields (each replaces the stored value whole) and commit."""
        assignments: list[str] = []
        values: list[Any] = []
        if content is not None:
            assignments.append("content = ?")
            values.append(content)
        if stats is not None:
            assignments.append("stats = ?")
            values.append(_dumps(stats, "message stats"))
        if sources is not None:
            assignments.append("sources = ?")
            values.append(_dumps(sources, "message sources"))
        if status is not None:
            _check_status(status)
            assignments.append("status = ?")
            values.append(status)
        if status is not None:
            assignments.append("streaming = 0")  # the writer has decided how it ended
        with self._write() as db:
            if assignments:
                cur = db.execute(
                    f"UPDATE messages SET {', '.join(assignments)} WHERE id = ?",
                    (*values, message_id),
                )
                found = cur.rowcount > 0
            else:
                found = (
                    db.execute("SELECT 1 FROM messages WHERE id = ?", (message_id,)).fetchone()
                    is not None
                )
            if not found:
                raise KeyError(message_id)

    def messages(self, chat_id: int) -> list[MessageRow]:
        """The chat's messages, oldest first (an unknown chat gives an empty list)."""
        with self._read() as db:
            rows = db.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE chat_id = ? ORDER BY id",
                (chat_id,),
            ).fetchall()
        return [_message_row(r) for r in rows]

    def delete_messages_from(self, chat_id: int, message_id: int) -> None:
        """Delete `message_id` and every later message of the chat (edit-and-resend and
        regenerate replace the tail). KeyError if the message is not in this chat."""
        with self._write() as db:
            row = db.execute(
                "SELECT 1 FROM messages WHERE id = ? AND chat_id = ?", (message_id, chat_id)
            ).fetchone()
            if row is None:
                raise KeyError(message_id)
            db.execute("DELETE FROM messages WHERE chat_id = ? AND id >= ?", (chat_id, message_id))
            db.execute("UPDATE chats SET updated_at = ? WHERE id = ?", (time.time(), chat_id))

    # -- search and recovery

    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Messages containing every word of `query` (as word prefixes), best match first.
        Any text is accepted: FTS5 syntax in it is searched for literally."""
        match = fts_query(query)
        if not match or limit <= 0:
            return []
        with self._read() as db:
            rows = db.execute(
                "SELECT m.chat_id, c.title, m.id, m.role,"
                " snippet(messages_fts, 0, ?, ?, ?, ?)"
                " FROM messages_fts"
                " JOIN messages AS m ON m.id = messages_fts.rowid"
                " JOIN chats AS c ON c.id = m.chat_id"
                " WHERE messages_fts MATCH ?"
                " ORDER BY messages_fts.rank, m.id DESC"
                " LIMIT ?",
                (MATCH_START, MATCH_END, SNIPPET_ELLIPSIS, SNIPPET_TOKENS, match, limit),
            ).fetchall()
        return [
            SearchHit(
                chat_id=int(r[0]),
                chat_title=str(r[1]),
                message_id=int(r[2]),
                role=str(r[3]),
                snippet=str(r[4]),
            )
            for r in rows
        ]

    def mark_incomplete_on_start(self) -> int:
        """Close the streams an earlier run left open: messages created 'incomplete' whose
        writer was killed before it set a final status. They stay 'incomplete' with their
        last saved text and get ``stats["interrupted"] = True``. Returns how many; a second
        call returns 0. Messages the app itself ended as 'incomplete' or 'error' (failure,
        cancel) are not touched. Call once at start-up, before this process streams; a
        stream another process (the CLI) is writing at that moment would be flagged too."""
        with self._write() as db:
            cur = db.execute(
                "UPDATE messages SET streaming = 0, status = 'incomplete',"
                " stats = json_set(CASE WHEN json_valid(stats) AND json_type(stats) = 'object'"
                " THEN stats ELSE '{}' END, '$.interrupted', json('true'))"
                " WHERE streaming = 1"
            )
            return int(cur.rowcount)
