"""The document library's move from `PRAGMA user_version` to named migrations
(`engine.migrations`), on real SQLite files: a library written by the counting version opens
with nothing lost and its migrations recorded, a new library still opens in the counting
version, and a library from a newer Hearth is refused with a reason. Then the watched-files
migration (0002) on a copy of a library that the first named version wrote."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from engine.errors import DocumentError
from engine.migrations import Migration, applied_migrations, migrate
from rag.index import MIGRATIONS, Store
from rag.watch import check_files

NAMES = [m.name for m in MIGRATIONS]

# The library's schema as the counting version created it, kept verbatim as test data: one
# script, split at ";", each entry counted in `PRAGMA user_version`.
COUNTED_SCHEMA = """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            path TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            size INTEGER NOT NULL DEFAULT 0,
            mtime REAL NOT NULL DEFAULT 0,
            sha256 TEXT NOT NULL DEFAULT '',
            pages INTEGER NOT NULL DEFAULT 0,
            chunks INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'queued',
            message TEXT NOT NULL DEFAULT '',
            progress REAL NOT NULL DEFAULT 0,
            added_at REAL NOT NULL DEFAULT 0,
            updated_at REAL NOT NULL DEFAULT 0
        );
        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL,
            page_start INTEGER NOT NULL,
            page_end INTEGER NOT NULL,
            char_start INTEGER NOT NULL,
            char_end INTEGER NOT NULL,
            doc_offset INTEGER NOT NULL DEFAULT 0,
            n_tokens INTEGER NOT NULL DEFAULT 0,
            text TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            embedded INTEGER NOT NULL DEFAULT 0,
            UNIQUE (doc_id, ordinal)
        );
        CREATE INDEX chunks_pending ON chunks (embedded, doc_id, ordinal);
        CREATE INDEX chunks_hash ON chunks (content_hash);
        CREATE VIRTUAL TABLE chunks_fts USING fts5 (
            text, tokenize = 'porter unicode61 remove_diacritics 2'
        );
        """
COUNTED_MIGRATIONS = [("initial", COUNTED_SCHEMA)]


def open_as_the_counting_version(path: Path) -> sqlite3.Connection:
    """The counting version's `Store.__init__` and `_migrate`, as they were."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=10.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    while True:
        conn.execute("BEGIN IMMEDIATE")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version >= len(COUNTED_MIGRATIONS):
            conn.execute("COMMIT")
            return conn
        for statement in COUNTED_MIGRATIONS[version][1].split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version + 1}")
        conn.execute("COMMIT")


def schema(path: Path) -> list[tuple[str, str, str]]:
    """Tables, indexes and triggers with their SQL, white space folded; the migrations record
    left out."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master "
            "WHERE name != 'schema_migrations' AND sql IS NOT NULL ORDER BY name"
        ).fetchall()
    finally:
        conn.close()
    return [(t, n, " ".join(s.split())) for t, n, s in rows]


def everything(path: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
            for table in ("meta", "documents", "chunks", "chunks_fts")
        }
    finally:
        conn.close()


def applied(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return applied_migrations(conn)
    finally:
        conn.close()


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def counted_library(tmp_path: Path) -> Path:
    """A copy of a library the counting version wrote: two documents, three chunks (two
    embedded, in the keyword index), meta."""
    original = tmp_path / "written-then" / "library.sqlite3"
    conn = open_as_the_counting_version(original)
    conn.execute("INSERT INTO meta VALUES ('collection', 'all-MiniLM-L6-v2-384')")
    conn.execute(
        "INSERT INTO documents (path, name, size, mtime, sha256, pages, chunks, status, "
        "progress, added_at, updated_at) VALUES "
        "('/docs/island.pdf', 'island.pdf', 1234, 5.0, 'abc', 3, 2, 'ready', 1.0, 1.0, 2.0), "
        "('/docs/notes.md', 'notes.md', 56, 6.0, 'def', 1, 1, 'indexing', 0.0, 3.0, 4.0)"
    )
    conn.execute(
        "INSERT INTO chunks (doc_id, ordinal, page_start, page_end, char_start, char_end, "
        "doc_offset, n_tokens, text, content_hash, embedded) VALUES "
        "(1, 0, 1, 1, 0, 40, 0, 9, 'The keeper climbs 412 steps every evening.', 'h1', 1), "
        "(1, 1, 2, 2, 0, 38, 45, 8, 'The copper kettle was forged in 1887.', 'h2', 1), "
        "(2, 0, 1, 1, 0, 30, 0, 7, 'Tide tables are printed in March.', 'h3', 0)"
    )
    conn.execute("INSERT INTO chunks_fts (rowid, text) SELECT id, text FROM chunks WHERE embedded")
    conn.close()
    return copy_library(original, tmp_path / "lib" / "library.sqlite3")


def copy_library(original: Path, copy: Path) -> Path:
    """A copy of an SQLite file with its WAL files (the last close checkpoints; copy what is
    there)."""
    copy.parent.mkdir(parents=True)
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{original}{suffix}").exists():
            shutil.copyfile(f"{original}{suffix}", f"{copy}{suffix}")
    return copy


def test_a_library_written_by_the_counting_version_opens_unchanged(
    counted_library: Path, tmp_path: Path
) -> None:
    before = everything(counted_library)
    assert user_version(counted_library) == 1
    store = Store(counted_library)
    try:
        assert applied(counted_library) == NAMES  # recorded, not run again
        assert [(d.name, d.status, d.embedded) for d in store.documents()] == [
            ("island.pdf", "ready", 2),
            ("notes.md", "indexing", 0),
        ]
        assert store.get_meta("collection") == "all-MiniLM-L6-v2-384"
        hits = store.keyword_search('"kettle"', 5)
        assert [store.chunks_by_ids([cid])[cid].text for cid, _ in hits] == [
            "The copper kettle was forged in 1887."
        ]
        assert [c.ordinal for c in store.pending_chunks(10)] == [0]
    finally:
        store.close()
    after = everything(counted_library)
    # Nothing lost; the additions are 0002_watched_files' column, 0 for every document, and
    # 0003_vector_checksums' column, empty for every chunk (embedded before it).
    assert [row[-1] for row in after["documents"]] == [0, 0]
    after["documents"] = [row[:-1] for row in after["documents"]]
    assert {row[-1] for row in after["chunks"]} == {None}
    after["chunks"] = [row[:-1] for row in after["chunks"]]
    assert after == before
    assert user_version(counted_library) == 1
    fresh = tmp_path / "fresh" / "library.sqlite3"
    Store(fresh).close()
    assert schema(counted_library) == schema(fresh)  # the same schema a new library gets

    conn = sqlite3.connect(counted_library)
    recorded = conn.execute("SELECT name, applied_at FROM schema_migrations").fetchall()
    conn.close()
    Store(counted_library).close()  # adopted once: opening again changes nothing
    conn = sqlite3.connect(counted_library)
    assert conn.execute("SELECT name, applied_at FROM schema_migrations").fetchall() == recorded
    conn.close()


def test_a_new_library_still_opens_in_the_counting_version(tmp_path: Path) -> None:
    """Going back to the counting version after a new library was made: it finds its one
    migration counted and opens the file as it is."""
    path = tmp_path / "lib" / "library.sqlite3"
    store = Store(path)
    store.insert_document("/docs/a.pdf", "a.pdf", 1, 1.0)
    store.close()
    assert user_version(path) == len(COUNTED_MIGRATIONS)
    conn = open_as_the_counting_version(path)
    try:
        assert conn.execute("SELECT name FROM documents").fetchall() == [("a.pdf",)]
    finally:
        conn.close()


def test_a_library_from_a_newer_hearth_is_refused(counted_library: Path, tmp_path: Path) -> None:
    conn = sqlite3.connect(counted_library)
    conn.execute("PRAGMA user_version = 2")  # counted further than this version knows
    conn.close()
    with pytest.raises(DocumentError, match="newer version of Hearth"):
        Store(counted_library)

    path = tmp_path / "named" / "library.sqlite3"
    Store(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    future = (*MIGRATIONS, Migration("9999_from_the_future", ("CREATE TABLE future (x)",)))
    assert migrate(conn, future) == ["9999_from_the_future"]
    conn.close()
    with pytest.raises(DocumentError) as info:
        Store(path)
    assert info.value.user_message == (
        "The document library was saved by a newer version of Hearth. Update Hearth to open it."
    )


@pytest.fixture
def library_before_watching(counted_library: Path, tmp_path: Path) -> Path:
    """A copy of a library as the Hearth before watched documents left it: its one named
    migration applied, exactly as that version's `Store` opened it, and a document whose file
    exists on disk."""
    conn = sqlite3.connect(counted_library, isolation_level=None)
    migrate(conn, MIGRATIONS[:1], kind="document library", counted=1)
    real = tmp_path / "files" / "island.pdf"
    real.parent.mkdir()
    real.write_bytes(b"%PDF-1.4 a stand-in; its size and time are what the library records")
    st = real.stat()
    conn.execute(
        "UPDATE documents SET path = ?, size = ?, mtime = ? WHERE name = 'island.pdf'",
        (str(real), st.st_size, st.st_mtime),
    )
    conn.close()
    return copy_library(counted_library, tmp_path / "copy" / "library.sqlite3")


def test_watched_files_migration_on_a_library_from_the_version_before(
    library_before_watching: Path,
) -> None:
    path = library_before_watching
    assert applied(path) == [MIGRATIONS[0].name]
    before = everything(path)
    store = Store(path)
    try:
        assert applied(path) == NAMES and "0002_watched_files" in NAMES
        docs = store.documents()
        assert [(d.name, d.status, d.embedded, d.changed) for d in docs] == [
            ("island.pdf", "ready", 2, 0),
            ("notes.md", "indexing", 0, 0),
        ]
        assert store.folders() == [] and store.ignored_files() == set()
        assert store.hidden_document_ids() == []
        # Watching works on it: the file that exists is unchanged, the other one is missing.
        report = check_files(store)
        assert report.missing == [docs[1].id] and not report.changed
        assert store.hidden_document_ids() == [docs[1].id]
        assert [c for c, _ in store.keyword_search('"kettle"', 5)] == [2]
    finally:
        store.close()
    after = everything(path)
    assert [row[:-1] for row in after["documents"][:1]] == before["documents"][:1]
    assert [row[:-1] for row in after["chunks"]] == before["chunks"]  # + an empty vec_sum
    assert after["chunks_fts"] == before["chunks_fts"]
    assert user_version(path) == 1  # kept for the counting version (the named one refuses)
    Store(path).close()  # applied once: opening again changes nothing
    assert applied(path) == NAMES
