"""The chat store against real SQLite files: migrations, CRUD, FTS5 search, durability
across SIGKILL (real child processes), and typed errors for damaged or unwritable files."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.errors import StoreError
from app.store import (
    MIGRATIONS,
    ChatStore,
    Migration,
    applied_migrations,
    connect,
    migrate,
    render_snippet,
)

REPO = Path(__file__).resolve().parents[2]
ALL_NAMES = [m.name for m in MIGRATIONS]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "chats.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[ChatStore]:
    s = ChatStore(db_path)
    yield s
    s.close()


def raw(path: Path) -> sqlite3.Connection:
    """A second, independent connection to inspect the file as another process would."""
    return sqlite3.connect(path)


def fts_consistent(path: Path) -> None:
    """FTS5's own check that the external-content index matches the messages table."""
    conn = raw(path)
    try:
        conn.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


# --------------------------------------------------------------------------- migrations


def test_fresh_file_is_migrated_with_pragmas(db_path: Path) -> None:
    assert not db_path.parent.exists()
    store = ChatStore(db_path)
    store.close()
    conn = raw(db_path)
    rows = conn.execute("SELECT name, applied_at FROM schema_migrations ORDER BY rowid").fetchall()
    assert [r[0] for r in rows] == ALL_NAMES
    assert all(isinstance(r[1], float) and r[1] > 1.6e9 for r in rows)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"chats", "messages", "messages_fts", "schema_migrations"} <= tables
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in the file
    conn.close()
    live = connect(db_path)
    assert live.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert live.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert live.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    live.close()


def test_empty_existing_file_is_migrated(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.touch()
    with ChatStore(db_path) as store:
        chat = store.create_chat()
        assert store.get_chat(chat).title == "New chat"
    conn = raw(db_path)
    assert applied_migrations(conn) == ALL_NAMES
    conn.close()


def test_reopening_is_idempotent(db_path: Path) -> None:
    with ChatStore(db_path) as store:
        chat = store.create_chat("kept")
        store.add_message(chat, "user", "still here")
    conn = raw(db_path)
    first = conn.execute("SELECT name, applied_at FROM schema_migrations").fetchall()
    conn.close()
    for _ in range(3):
        with ChatStore(db_path) as store:
            assert [m.content for m in store.messages(chat)] == ["still here"]
    conn = raw(db_path)
    assert conn.execute("SELECT name, applied_at FROM schema_migrations").fetchall() == first
    assert migrate(conn) == []
    conn.close()


def test_older_database_migrates_forward(db_path: Path) -> None:
    assert len(MIGRATIONS) >= 2
    db_path.parent.mkdir(parents=True)
    conn = connect(db_path)
    assert migrate(conn, MIGRATIONS[:1]) == ALL_NAMES[:1]
    # Data written by the older schema (before the search index existed).
    conn.execute(
        "INSERT INTO chats (title, created_at, updated_at, settings)"
        " VALUES ('old chat', 1.0, 2.0, '{\"model\": \"old.gguf\"}')"
    )
    conn.execute(
        "INSERT INTO messages (chat_id, role, content, created_at)"
        " VALUES (1, 'user', 'an heirloom tomato question', 1.5)"
    )
    conn.close()

    with ChatStore(db_path) as store:
        assert store.list_chats()[0].settings == {"model": "old.gguf"}
        hits = store.search("heirloom")
        assert [(h.chat_title, h.role) for h in hits] == [("old chat", "user")]
    conn = raw(db_path)
    assert applied_migrations(conn) == ALL_NAMES
    conn.close()
    fts_consistent(db_path)


def test_database_from_a_newer_version_is_refused(db_path: Path) -> None:
    ChatStore(db_path).close()
    conn = connect(db_path)
    future = (*MIGRATIONS, Migration("9999_from_the_future", ("CREATE TABLE future (x)",)))
    assert migrate(conn, future) == ["9999_from_the_future"]
    conn.close()
    with pytest.raises(StoreError) as info:
        ChatStore(db_path)
    assert "newer version of Hearth" in info.value.user_message


# --------------------------------------------------------------------------- CRUD


def test_chat_crud_and_order(store: ChatStore) -> None:
    a = store.create_chat("A")
    b = store.create_chat("B", {"model": "smollm2", "sampling": {"temperature": 0.2}})
    c = store.create_chat()
    assert [ch.id for ch in store.list_chats()] == [c, b, a]

    store.add_message(a, "user", "bump A to the top")
    assert [ch.id for ch in store.list_chats()] == [a, c, b]
    chat_a = store.get_chat(a)
    assert chat_a.updated_at >= chat_a.created_at

    store.rename_chat(b, "Renamed")
    assert store.get_chat(b).title == "Renamed"
    assert [ch.id for ch in store.list_chats()] == [a, c, b]  # renaming does not reorder

    assert store.get_chat(b).settings == {"model": "smollm2", "sampling": {"temperature": 0.2}}
    settings = {
        "model": "gemma",
        "system_prompt": "Be brief. — ünïcode ✓",
        "sampling": {"temperature": 0.7, "top_p": 0.9},
        "document_sources": ["/docs/a.pdf"],
    }
    store.set_chat_settings(b, settings)
    assert store.get_chat(b).settings == settings
    with pytest.raises(ValueError):
        store.set_chat_settings(b, {"bad": object()})

    store.delete_chat(a)
    assert [ch.id for ch in store.list_chats()] == [c, b]
    with pytest.raises(KeyError):
        store.get_chat(a)
    for call in (
        lambda: store.rename_chat(a, "x"),
        lambda: store.set_chat_settings(a, {}),
        lambda: store.delete_chat(a),
        lambda: store.add_message(a, "user", "x"),
    ):
        with pytest.raises(KeyError):
            call()


def test_delete_chat_deletes_its_messages(store: ChatStore, db_path: Path) -> None:
    keep = store.create_chat("keep")
    gone = store.create_chat("gone")
    store.add_message(keep, "user", "kept words")
    for i in range(5):
        store.add_message(gone, "user", f"doomed words {i}")
    store.delete_chat(gone)
    assert store.messages(gone) == []
    conn = raw(db_path)
    assert conn.execute("SELECT count(*) FROM messages WHERE chat_id = ?", (gone,)).fetchone() == (
        0,
    )
    conn.close()
    assert store.search("doomed") == []
    assert [h.chat_id for h in store.search("kept")] == [keep]
    fts_consistent(db_path)


def test_messages_round_trip_and_branch_delete(store: ChatStore) -> None:
    chat = store.create_chat()
    system = store.add_message(chat, "system", "You are terse.")
    user = store.add_message(chat, "user", "What is 2+2?")
    sources = [{"file": "maths.pdf", "page": 3, "text": "2+2=4"}]
    stats = {"tokens": 5, "tokens_per_s": 41.5, "ttft_s": 0.12}
    answer = store.add_message(
        chat, "assistant", "4", model="smollm2.gguf", stats=stats, sources=sources
    )
    rows = store.messages(chat)
    assert [r.id for r in rows] == [system, user, answer]
    assert [r.role for r in rows] == ["system", "user", "assistant"]
    last = rows[-1]
    assert (last.model, last.stats, last.sources, last.status) == (
        "smollm2.gguf",
        stats,
        sources,
        "complete",
    )
    assert rows[0].stats == {} and rows[0].sources == []

    store.update_message(answer, content="Four.", status="error")
    store.update_message(answer)  # nothing to change: still checks the id
    changed = store.messages(chat)[-1]
    assert (changed.content, changed.status, changed.stats) == ("Four.", "error", stats)

    with pytest.raises(ValueError):
        store.add_message(chat, "tool", "x")
    with pytest.raises(ValueError):
        store.update_message(answer, status="streaming")
    with pytest.raises(KeyError):
        store.update_message(10_000, content="x")
    with pytest.raises(KeyError):
        store.update_message(10_000)

    other = store.create_chat()
    with pytest.raises(KeyError):
        store.delete_branch(other, user)  # not that chat's message
    assert store.delete_branch(chat, user) == [user, answer]  # and what follows it
    assert [r.id for r in store.messages(chat)] == [system]
    again = store.add_message(chat, "user", "What is 3+3?")
    assert again > answer  # ids are never reused


# --------------------------------------------------------------------------- search


HOSTILE = [
    '"foo',
    "a AND",
    "AND",
    "OR OR NOT",
    "NEAR(",
    "NEAR(a b, 2)",
    "content:kettle",
    "messages_fts:x",
    "*",
    "kettle*",
    '"',
    '""',
    "'",
    "(",
    ")",
    "^kettle",
    "-kettle",
    "+",
    "{content}: x",
    "\\",
    "%_",
    "",
    "   ",
    "\x00",
    "'; DROP TABLE messages; --",
    "x" * 5000,
    "a " * 500,
]


def test_search_across_chats_and_hostile_input(store: ChatStore, db_path: Path) -> None:
    garden = store.create_chat("Garden")
    kitchen = store.create_chat("Kitchen")
    store.add_message(garden, "user", "How do I prune tomatoes?")
    store.add_message(garden, "assistant", "Prune the tomato suckers weekly.")
    store.add_message(kitchen, "user", 'Put the "kettle" on AND make tomato soup')
    store.add_message(kitchen, "assistant", "The café crème needs a kettle too.")

    hits = store.search("tomato")
    assert {h.chat_id for h in hits} == {garden, kitchen}
    assert {h.chat_title for h in hits} == {"Garden", "Kitchen"}
    assert len(hits) == 3  # tomato, tomatoes (stemmed), tomato
    for hit in hits:
        assert "tomato" in render_snippet(hit.snippet, "[", "]").lower()
        assert "[tomato" in render_snippet(hit.snippet, "[", "]").lower()

    assert [h.chat_title for h in store.search("kitchen")] == []  # titles are not content
    assert {h.role for h in store.search("kettle")} == {"user", "assistant"}
    assert len(store.search("cafe creme")) == 1  # diacritics folded, every word required
    assert len(store.search("pru tom")) == 2  # prefixes, as the user types
    assert len(store.search("tomato", limit=1)) == 1

    for query in HOSTILE:
        result = store.search(query)
        assert isinstance(result, list), query
    assert len(store.search('"kettle')) == 2
    assert len(store.search("kettle AND")) == 1  # AND is a plain word here
    assert store.search("'; DROP TABLE messages; --") == []
    assert len(store.search("tomato")) == 3  # nothing was dropped
    fts_consistent(db_path)


def test_search_follows_updates_and_deletes(store: ChatStore, db_path: Path) -> None:
    chat = store.create_chat("stream")
    store.add_message(chat, "user", "tell me about otters")
    answer = store.add_message(chat, "assistant", "", status="incomplete")
    assert [h.message_id for h in store.search("otters")] != [answer]

    store.update_message(answer, content="Otters hold hands")
    store.update_message(answer, content="Otters hold hands while sleeping")
    assert answer in {h.message_id for h in store.search("sleeping")}
    store.update_message(answer, content="Beavers build dams", status="complete")
    assert store.search("sleeping") == []
    assert [h.message_id for h in store.search("beavers")] == [answer]
    store.update_message(answer, stats={"tokens": 4})  # non-content update: index untouched
    assert [h.message_id for h in store.search("beavers")] == [answer]

    store.delete_branch(chat, answer)
    assert store.search("beavers") == []
    assert len(store.search("otters")) == 1
    fts_consistent(db_path)


# --------------------------------------------------------------------------- durability


def _spawn(script: str, db: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), str(db)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def _read_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        assert proc.stderr is not None
        pytest.fail(f"child exited early: {proc.wait(timeout=30)} {proc.stderr.read()}")
    return line


CHILD_ADD = """
    import sys, time
    from pathlib import Path
    from app.store import ChatStore

    store = ChatStore(Path(sys.argv[1]))
    chat = store.create_chat("durable")
    message = store.add_message(chat, "user", "the kettle is on")
    print("committed", chat, message, flush=True)
    time.sleep(600)
"""


def test_committed_message_survives_sigkill(db_path: Path) -> None:
    ChatStore(db_path).close()
    proc = _spawn(CHILD_ADD, db_path)
    try:
        word, chat, message = _read_line(proc).split()
        assert word == "committed"
        wal = db_path.with_name(db_path.name + "-wal")
        assert wal.stat().st_size > 0  # the commit sits in the WAL, not yet checkpointed
    finally:
        _kill(proc)
    with ChatStore(db_path) as store:
        rows = store.messages(int(chat))
        assert [(r.id, r.content, r.status) for r in rows] == [
            (int(message), "the kettle is on", "complete")
        ]
        assert store.get_chat(int(chat)).title == "durable"
        assert store.mark_incomplete_on_start() == 0


CHILD_STREAM = """
    import sys
    from pathlib import Path
    from app.store import ChatStore

    store = ChatStore(Path(sys.argv[1]))
    chat = store.create_chat("streaming")
    store.add_message(chat, "user", "count for me")
    answer = store.add_message(chat, "assistant", "", model="smollm2", status="incomplete")
    print("started", chat, answer, flush=True)
    text = ""
    i = 0
    while True:  # save as fast as possible: the kill lands mid-write
        text += f" w{i}"
        store.update_message(answer, content=text)
        print("committed", i, flush=True)
        i += 1
"""


def test_partial_answer_survives_sigkill_as_incomplete(db_path: Path) -> None:
    proc = _spawn(CHILD_STREAM, db_path)
    try:
        word, chat, answer = _read_line(proc).split()
        assert word == "started"
        last = -1
        while last < 40:
            word, n = _read_line(proc).split()
            assert word == "committed"
            last = int(n)
    finally:
        _kill(proc)
    with ChatStore(db_path) as store:
        rows = store.messages(int(chat))
        assert [r.role for r in rows] == ["user", "assistant"]
        partial = rows[-1]
        assert partial.id == int(answer)
        assert partial.status == "incomplete"
        assert partial.model == "smollm2"
        words = partial.content.split()
        assert len(words) >= last + 1  # every printed commit is there (maybe a few more)
        assert words == [f"w{i}" for i in range(len(words))]  # no torn write
        assert store.search(f"w{last}")  # the index kept up

        assert store.mark_incomplete_on_start() == 1
        flagged = store.messages(int(chat))[-1]
        assert (flagged.status, flagged.stats, flagged.content) == (
            "incomplete",
            {"interrupted": True},
            partial.content,
        )
        assert store.mark_incomplete_on_start() == 0
    fts_consistent(db_path)


def test_mark_incomplete_leaves_finished_streams_alone(store: ChatStore) -> None:
    chat = store.create_chat()
    failed = store.add_message(chat, "assistant", "", status="incomplete")
    store.update_message(failed, content="half an ans", status="incomplete")  # app ended it
    done = store.add_message(chat, "assistant", "", status="incomplete")
    store.update_message(done, content="whole", stats={"tokens": 1}, status="complete")
    open_stream = store.add_message(chat, "assistant", "", status="incomplete")
    store.update_message(open_stream, content="still going")
    store.add_message(chat, "user", "draft", status="incomplete")  # only answers stream
    assert store.mark_incomplete_on_start() == 1
    by_id = {m.id: m for m in store.messages(chat)}
    assert by_id[failed].stats == {} and by_id[failed].status == "incomplete"
    assert by_id[done].stats == {"tokens": 1} and by_id[done].status == "complete"
    assert by_id[open_stream].stats == {"interrupted": True}


# --------------------------------------------------------------------------- errors


def test_random_bytes_file_gives_store_error(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(os.urandom(64 * 1024))
    with pytest.raises(StoreError) as info:
        ChatStore(db_path)
    assert not isinstance(info.value, sqlite3.Error)
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)
    message = info.value.user_message
    assert message.startswith("Hearth could not open the chat history")
    assert str(db_path) in message  # tells the user which file to move aside
    assert "SQLITE_NOTADB" in info.value.details


def test_damaged_pages_give_store_error(db_path: Path) -> None:
    with ChatStore(db_path) as store:
        chat = store.create_chat()
        for i in range(200):
            store.add_message(chat, "user", f"message number {i} " * 20)
    conn = raw(db_path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db_path.read_bytes())
    for offset in range(page_size * 2, len(data), page_size * 3):  # keep page 1 (header)
        data[offset : offset + page_size] = os.urandom(page_size)
    db_path.write_bytes(bytes(data))
    opened: list[ChatStore] = []
    try:
        with pytest.raises(StoreError) as info:
            opened.append(ChatStore(db_path))  # may already fail here
            opened[0].messages(chat)
            opened[0].search("message")
    finally:
        for store in opened:
            store.close()
    assert not isinstance(info.value, sqlite3.Error)
    assert "damaged" in info.value.user_message or "not a Hearth" in info.value.user_message


def test_directory_instead_of_file_gives_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as info:
        ChatStore(tmp_path)
    assert info.value.user_message.startswith("Hearth could not open the chat history:")


def test_connection_stays_on_its_thread(store: ChatStore) -> None:
    errors: list[BaseException] = []

    def other_thread() -> None:
        try:
            store.list_chats()
        except sqlite3.ProgrammingError as exc:  # sqlite3's check_same_thread, not hidden
            errors.append(exc)

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert len(errors) == 1
    assert store.list_chats() == []


def test_disk_full_gives_readable_store_error(store: ChatStore) -> None:
    chat = store.create_chat()
    store.add_message(chat, "user", "before the disk filled")
    # A real SQLITE_FULL from SQLite itself: cap the file at its current size.
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreError) as info:
        store.add_message(chat, "user", "x" * 200_000)
    assert info.value.user_message == "Hearth could not save the chat: the disk is full."
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    # The failed write was rolled back; the store still works for reading and small writes.
    assert [m.content for m in store.messages(chat)] == ["before the disk filled"]
    store._db.execute("PRAGMA max_page_count = 1073741823")
    store.add_message(chat, "user", "after space was freed")
    assert len(store.messages(chat)) == 2


def test_read_only_connection_gives_readable_store_error(store: ChatStore) -> None:
    chat = store.create_chat()
    store._db.execute("PRAGMA query_only = ON")
    with pytest.raises(StoreError) as info:
        store.add_message(chat, "user", "x")
    assert info.value.user_message == "Hearth could not save the chat: the file is read-only."
    store._db.execute("PRAGMA query_only = OFF")
    store.add_message(chat, "user", "x")


CHILD_OPEN = """
    import sys
    from pathlib import Path
    from app.errors import StoreError
    from app.store import ChatStore

    try:
        ChatStore(Path(sys.argv[1]))
    except StoreError as exc:
        print("StoreError:", exc.user_message)
    else:
        print("opened")
"""


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_unwritable_file_fails_at_open_for_another_user() -> None:
    """A file the user may read but not write (owned by root, opened as `nobody`)."""
    folder = Path(tempfile.mkdtemp(prefix="hearth-ro-"))
    try:
        folder.chmod(0o755)
        db = folder / "chats.sqlite3"
        with ChatStore(db) as store:
            store.create_chat()
        db.chmod(0o644)
        # The checkout may live where `nobody` cannot go (a clone in a 0700 temp folder): the
        # two packages the child imports are copied where it can read them.
        code = folder / "code"
        for package in ("app", "engine"):
            shutil.copytree(REPO / package, code / package, ignore=shutil.ignore_patterns("*.pyc"))
        for path in [code, *code.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        env = dict(os.environ, PYTHONPATH=str(code))
        result = None
        # The venv may live where `nobody` cannot go; app.store needs only the stdlib, so a
        # system Python 3.11+ is an honest stand-in for running Hearth as that user.
        for python in (sys.executable, "/usr/bin/python3"):
            try:
                result = subprocess.run(
                    [python, "-s", "-c", textwrap.dedent(CHILD_OPEN), str(db)],
                    cwd=folder,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                    user="nobody",
                    group="nogroup",
                )
            except PermissionError:
                continue
            break
        if result is None:
            pytest.skip("no Python that the user `nobody` may run")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("StoreError: Hearth could not open the chat history:")
    finally:
        shutil.rmtree(folder)


def test_an_answer_saved_while_it_streams_keeps_its_last_text(store: ChatStore) -> None:
    """update_message runs about once a second while an answer streams: each save replaces
    the text (one message, the search index follows it). How long a save takes is a speed:
    `hearth bench ui` measures it (store_update_ms_at_1k, store_update_ms_at_20k)."""
    chat = store.create_chat()
    answer = store.add_message(chat, "assistant", "", status="incomplete")
    text = ""
    for i in range(50):
        text += f" token{i}" * 20
        store.update_message(answer, content=text)
    [row] = store.messages(chat)
    assert row.id == answer and row.content == text and row.status == "incomplete"
    assert [h.message_id for h in store.search("token49")] == [answer]


def _open_library(path: Path) -> None:
    from rag.index import COUNTED_MIGRATIONS, Store
    from rag.index import MIGRATIONS as LIBRARY_MIGRATIONS

    store = Store(path)
    try:
        assert applied_migrations(store.conn) == [m.name for m in LIBRARY_MIGRATIONS]
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == COUNTED_MIGRATIONS
        assert store.documents() == []
    finally:
        store.close()


def _open_chats(path: Path) -> None:
    store = ChatStore(path)
    try:
        assert store.list_chats() == []
        conn = connect(path)
        try:
            assert applied_migrations(conn) == ALL_NAMES
        finally:
            conn.close()
    finally:
        store.close()


@pytest.mark.parametrize("open_file", [_open_library, _open_chats], ids=["library", "chats"])
def test_a_new_file_opened_by_several_processes_at_once(
    tmp_path: Path, open_file: Callable[[Path], None]
) -> None:
    """The window and a command may create the document library or the chat history at the
    same moment: SQLite refuses the second switch to WAL at once ("database is locked", no
    busy wait) and a schema could be created twice. Every opener gets a working file, and each
    migration runs once."""
    for attempt in range(40):
        path = tmp_path / f"try{attempt}" / "file.sqlite3"
        start = threading.Barrier(4)
        errors: list[BaseException] = []

        def go(
            path: Path = path,
            start: threading.Barrier = start,
            errors: list[BaseException] = errors,
        ) -> None:
            start.wait()
            try:
                open_file(path)
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=go) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        open_file(path)
