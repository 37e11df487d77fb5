"""The chat history's move to a tree of messages (migration 0003_message_tree), on a copy of a
file written by the previous schema: every chat and message is kept as it was, each message
follows the one before it, the chat shows the same conversation, search still finds it, and
new answers and edits branch from there."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from app.conversation import Tree
from app.store import MIGRATIONS, ChatStore

# The chat history's schema before branches, kept verbatim as test data: the statements of
# migrations 0001 and 0002 as they shipped, and the record of both.
OLD_MIGRATIONS = ("0001_chats_and_messages", "0002_message_search")
OLD_SCHEMA = (
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
    "CREATE TABLE schema_migrations ( name TEXT PRIMARY KEY, applied_at REAL NOT NULL)",
)
OLD_COLUMNS = "id, chat_id, role, content, created_at, model, stats, sources, status"

# Two chats written in turns (so their messages interleave by id), one answer still streaming.
MESSAGES = [
    (1, "user", "How tall is the lighthouse?", "complete", 0),
    (2, "user", "Give me a soup recipe", "complete", 0),
    (1, "assistant", "About 40 metres [1].", "complete", 0),
    (2, "assistant", "Leek and potato: ...", "complete", 0),
    (1, "user", "And how old?", "complete", 0),
    (1, "assistant", "Built in 18", "incomplete", 1),
]


def write_old_history(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for statement in OLD_SCHEMA:
        conn.execute(statement)
    conn.executemany(
        "INSERT INTO schema_migrations VALUES (?, ?)", [(n, 1.7e9) for n in OLD_MIGRATIONS]
    )
    conn.execute(
        "INSERT INTO chats (title, created_at, updated_at, settings) VALUES"
        " ('Lighthouse', 1.0, 9.0, '{\"model\": \"old.gguf\"}'), ('Soup', 2.0, 8.0, '{}')"
    )
    for i, (chat, role, content, status, streaming) in enumerate(MESSAGES):
        conn.execute(
            "INSERT INTO messages (chat_id, role, content, created_at, model, stats, sources,"
            " status, streaming) VALUES (?, ?, ?, ?, 'smol', ?, ?, ?, ?)",
            (
                chat,
                role,
                content,
                3.0 + i,
                '{"decode_tokens_per_s": 40.5}' if role == "assistant" else "{}",
                '[{"file": "keeper.pdf", "page": 3}]' if content.endswith("[1].") else "[]",
                status,
                streaming,
            ),
        )
    conn.close()


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def schema(path: Path) -> list[tuple[str, str]]:
    """Tables, indexes and triggers with their SQL, white space folded; SQLite's statistics
    (PRAGMA optimize) left out."""
    found = rows(
        path,
        "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"
        " AND name NOT LIKE 'sqlite_stat%' ORDER BY name",
    )
    return [(str(n), " ".join(str(s).split())) for n, s in found]


@pytest.fixture
def old_history(tmp_path: Path) -> Path:
    """A copy of a chat history the previous schema wrote."""
    original = tmp_path / "then" / "chats.sqlite3"
    write_old_history(original)
    copy = tmp_path / "now" / "chats.sqlite3"
    copy.parent.mkdir()
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{original}{suffix}").exists():
            shutil.copyfile(f"{original}{suffix}", f"{copy}{suffix}")
    return copy


def test_an_old_history_opens_with_every_chat_as_it_was(old_history: Path, tmp_path: Path) -> None:
    before = rows(old_history, f"SELECT {OLD_COLUMNS} FROM messages ORDER BY id")
    chats_before = rows(old_history, "SELECT * FROM chats ORDER BY id")
    with ChatStore(old_history) as store:
        lighthouse, soup = [c.id for c in sorted(store.list_chats(), key=lambda c: c.id)]
        path = Tree(store.messages(lighthouse)).path(store.active_leaf(lighthouse))
        assert [m.content for m in path] == [
            "How tall is the lighthouse?",
            "About 40 metres [1].",
            "And how old?",
            "Built in 18",
        ]
        assert [m.parent_id for m in path] == [None, 1, 3, 5]  # each follows the one before
        assert path[1].sources == [{"file": "keeper.pdf", "page": 3}]
        assert path[1].stats == {"decode_tokens_per_s": 40.5}
        assert Tree(store.messages(lighthouse)).branches(path) == {}
        assert [m.parent_id for m in store.messages(soup)] == [None, 2]
        assert store.get_chat(lighthouse).settings == {"model": "old.gguf"}
        assert [h.message_id for h in store.search("lighthouse")] == [1]
        assert store.mark_incomplete_on_start() == 1  # the stream left open is still found

        # the conversation goes on from its last message, and branches from there
        question = store.add_message(lighthouse, "user", "Who keeps it?")
        assert store.message(question).parent_id == 6
        again = store.add_message(lighthouse, "assistant", "Built in 1887.", parent=5)
        tree = Tree(store.messages(lighthouse))
        assert tree.siblings(again) == [6, again]
    after = rows(old_history, f"SELECT {OLD_COLUMNS} FROM messages WHERE id <= 6 ORDER BY id")
    assert after[:5] == before[:5]  # nothing lost or changed (6 was flagged interrupted)
    assert after[5][:6] == before[5][:6]
    assert rows(old_history, "SELECT id, title, created_at, settings FROM chats") == [
        (c[0], c[1], c[2], c[4]) for c in chats_before
    ]
    names = [str(r[0]) for r in rows(old_history, "SELECT name FROM schema_migrations")]
    assert names == [m.name for m in MIGRATIONS]
    fresh = tmp_path / "fresh" / "chats.sqlite3"
    ChatStore(fresh).close()
    assert schema(old_history) == schema(fresh)  # the schema a new history gets
    conn = sqlite3.connect(old_history)
    conn.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()


def test_deleting_a_long_branch_and_a_chat(tmp_path: Path) -> None:
    """A branch is deleted children first: no foreign key is left dangling however deep."""
    with ChatStore(tmp_path / "chats.sqlite3") as store:
        chat = store.create_chat()
        first = store.add_message(chat, "user", "start")
        for i in range(1500):
            store.add_message(chat, "assistant" if i % 2 == 0 else "user", f"m{i}")
        kept = store.add_message(chat, "assistant", "other answer", parent=first)
        removed = store.delete_branch(chat, first + 1)
        assert len(removed) == 1500
        assert [m.id for m in store.messages(chat)] == [first, kept]
        assert store.active_leaf(chat) == kept
        store.delete_chat(chat)
        assert store.messages(chat) == []
