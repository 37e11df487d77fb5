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
* ``updated_at`` of a chat is the time of its last message activity (a message added or a
  branch deleted); it orders the chat list. Renaming, changing settings or switching
  branches does not reorder.
* A chat's messages form a tree: each names the message it follows (``parent_id``), so an
  answer generated again or a question edited is a sibling of the earlier version, which is
  kept. The chat shows one path, from its first message to its ``active_leaf``;
  `app.conversation` computes paths and siblings from `messages`, which returns them all.
* Search snippets mark each match with `MATCH_START` and `MATCH_END`; turn them into markup
  with `render_snippet`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from app.store_schema import (  # noqa: F401 (re-exported: callers and tests use app.store)
    BUSY_TIMEOUT_S,
    MIGRATIONS,
    ROLES,
    STATUSES,
    check_role,
    check_status,
    connect,
    describe_sqlite_error,
    from_json,
    is_damaged,
    migrate,
    store_error,
    to_json,
)
from engine.closing import Closeable
from engine.migrations import Migration as Migration  # re-exported
from engine.migrations import applied_migrations as applied_migrations  # re-exported

log = logging.getLogger(__name__)

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
    active_leaf: int | None = None  # as stored; ChatStore.active_leaf resolves a missing one


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
    parent_id: int | None = None  # the message this one follows; None for the first


@dataclass
class NewMessage:
    """A message for `ChatStore.import_chat`. `key` and `parent` are its ids where it comes
    from (an export file); a parent comes before its children."""

    key: int
    parent: int | None
    role: str
    content: str
    created_at: float
    model: str = ""
    stats: dict = field(default_factory=dict)
    sources: list[dict] = field(default_factory=list)
    status: str = "complete"


@dataclass
class SearchHit:
    chat_id: int
    chat_title: str
    message_id: int
    role: str
    snippet: str


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


# --------------------------------------------------------------------------- the store

_CHAT_COLUMNS = "id, title, created_at, updated_at, settings, active_leaf"
_MESSAGE_COLUMNS = (
    "id, chat_id, role, content, created_at, model, stats, sources, status, parent_id"
)
# The end of the chat's active path: the stored leaf if it is still one of its messages,
# else its newest message (chats from before branches, a deleted branch).
_LEAF = (
    "SELECT COALESCE("
    " (SELECT m.id FROM chats AS c JOIN messages AS m ON m.id = c.active_leaf"
    "  AND m.chat_id = c.id WHERE c.id = :chat),"
    " (SELECT MAX(id) FROM messages WHERE chat_id = :chat))"
)
# A message and every message that follows it, on every branch.
_SUBTREE = (
    "WITH RECURSIVE branch (id) AS (SELECT :id UNION ALL"
    " SELECT m.id FROM messages AS m JOIN branch ON m.parent_id = branch.id)"
)


def _chat_row(row: sqlite3.Row | tuple[Any, ...]) -> ChatRow:
    return ChatRow(
        id=int(row[0]),
        title=str(row[1]),
        created_at=float(row[2]),
        updated_at=float(row[3]),
        settings=from_json(row[4], {}),
        active_leaf=None if row[5] is None else int(row[5]),
    )


def _message_row(row: sqlite3.Row | tuple[Any, ...]) -> MessageRow:
    return MessageRow(
        id=int(row[0]),
        chat_id=int(row[1]),
        role=str(row[2]),
        content=str(row[3]),
        created_at=float(row[4]),
        model=str(row[5]),
        stats=from_json(row[6], {}),
        sources=from_json(row[7], []),
        status=str(row[8]),
        parent_id=None if row[9] is None else int(row[9]),
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
            if is_damaged(exc):
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
        settings_json = to_json(settings or {}, "chat settings")
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
        settings_json = to_json(settings, "chat settings")
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
        parent: int | None | Literal["leaf"] = "leaf",
        model: str = "",
        stats: dict | None = None,
        sources: list[dict] | None = None,
        status: str = "complete",
    ) -> int:
        """Add a message and commit. It follows `parent` ("leaf": the end of the chat's active
        path; None: it starts the chat) and becomes the end of the active path; the chat moves
        to the top of `list_chats`. KeyError for an unknown chat, or a parent of another."""
        check_role(role)
        check_status(status)
        stats_json = to_json(stats or {}, "message stats")
        sources_json = to_json(sources or [], "message sources")
        now = time.time()
        with self._write() as db:
            if db.execute("SELECT 1 FROM chats WHERE id = ?", (chat_id,)).fetchone() is None:
                raise KeyError(chat_id)
            if parent == "leaf":
                parent = db.execute(_LEAF, {"chat": chat_id}).fetchone()[0]
            elif parent is not None:
                self._check_in_chat(db, chat_id, parent)
            streaming = role == "assistant" and status == "incomplete"
            row = (chat_id, parent, role, content, now, model, stats_json, sources_json, status)
            message_id = self._insert(db, row, streaming)
            db.execute(
                "UPDATE chats SET updated_at = ?, active_leaf = ? WHERE id = ?",
                (now, message_id, chat_id),
            )
        return message_id

    @staticmethod
    def _insert(db: sqlite3.Connection, row: tuple[Any, ...], streaming: bool = False) -> int:
        """Insert (chat_id, parent_id, role, content, created_at, model, stats, sources,
        status); returns the new id."""
        cur = db.execute(
            "INSERT INTO messages (chat_id, parent_id, role, content, created_at, model, stats,"
            " sources, status, streaming) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*row, int(streaming)),
        )
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    @staticmethod
    def _check_in_chat(db: sqlite3.Connection, chat_id: int, message_id: int) -> None:
        found = db.execute(
            "SELECT 1 FROM messages WHERE id = ? AND chat_id = ?", (message_id, chat_id)
        ).fetchone()
        if found is None:
            raise KeyError(message_id)

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
            values.append(to_json(stats, "message stats"))
        if sources is not None:
            assignments.append("sources = ?")
            values.append(to_json(sources, "message sources"))
        if status is not None:
            check_status(status)
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

    def message(self, message_id: int) -> MessageRow:
        """One message; KeyError if there is none with this id."""
        with self._read() as db:
            row = db.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
        if row is None:
            raise KeyError(message_id)
        return _message_row(row)

    def active_leaf(self, chat_id: int) -> int | None:
        """The last message of the path the chat shows (None: the chat has no messages)."""
        with self._read() as db:
            leaf = db.execute(_LEAF, {"chat": chat_id}).fetchone()[0]
        return None if leaf is None else int(leaf)

    def set_active_leaf(self, chat_id: int, message_id: int) -> None:
        """Show the path that ends at `message_id` (another branch); the chat keeps its place
        in the list. KeyError if the message is not in this chat."""
        with self._write() as db:
            self._check_in_chat(db, chat_id, message_id)
            db.execute("UPDATE chats SET active_leaf = ? WHERE id = ?", (message_id, chat_id))

    def delete_branch(self, chat_id: int, message_id: int) -> list[int]:
        """Delete `message_id` and every message that follows it, on every branch; returns
        their ids. KeyError if the message is not in this chat."""
        with self._write() as db:
            self._check_in_chat(db, chat_id, message_id)
            ids = [
                int(r[0])
                for r in db.execute(f"{_SUBTREE} SELECT id FROM branch", {"id": message_id})
            ]
            # Children first: each row's parent is still there when it goes.
            db.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in reversed(ids)])
            db.execute("UPDATE chats SET updated_at = ? WHERE id = ?", (time.time(), chat_id))
        return ids

    def import_chat(
        self, chat: ChatRow, messages: Sequence[NewMessage], active: int | None = None
    ) -> int:
        """Write a whole chat (its id in `chat` is ignored) in one transaction, so that a
        failure leaves nothing behind; returns the new chat's id. `active`: the key of the
        message its active path ends at. ValueError for a parent that was not written before
        its child, a repeated key, or an invalid role or status."""
        for message in messages:
            check_role(message.role)
            check_status(message.status)
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO chats (title, created_at, updated_at, settings) VALUES (?, ?, ?, ?)",
                (chat.title, chat.created_at, chat.updated_at, to_json(chat.settings, "settings")),
            )
            chat_id = int(cur.lastrowid or 0)
            ids: dict[int, int] = {}
            for m in messages:
                if m.key in ids or (m.parent is not None and m.parent not in ids):
                    raise ValueError(f"message {m.key}: repeated, or its parent comes later")
                parent = None if m.parent is None else ids[m.parent]
                stats = to_json(m.stats, "message stats")
                sources = to_json(m.sources, "message sources")
                row = (chat_id, parent, m.role, m.content, m.created_at, m.model, stats, sources)
                ids[m.key] = self._insert(db, (*row, m.status))
            leaf = ids.get(active) if active is not None else None
            db.execute("UPDATE chats SET active_leaf = ? WHERE id = ?", (leaf, chat_id))
        return chat_id

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
