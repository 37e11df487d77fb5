"""The document library's SQLite schema (`rag.index.Store`): named, append-only migrations
(`engine.migrations`)."""

from __future__ import annotations

from engine.migrations import Migration

# Append-only, named (`engine.migrations`): never edit, rename or reorder an entry once it has
# shipped. The library counted its migrations in `PRAGMA user_version` before names were
# recorded; the first COUNTED_MIGRATIONS entries are those, so a library written then opens
# with them recorded as applied.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_documents_chunks_keywords",
        (
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            """
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
            )
            """,
            """
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
            )
            """,
            "CREATE INDEX chunks_pending ON chunks (embedded, doc_id, ordinal)",
            "CREATE INDEX chunks_hash ON chunks (content_hash)",
            """
            CREATE VIRTUAL TABLE chunks_fts USING fts5 (
                text, tokenize = 'porter unicode61 remove_diacritics 2'
            )
            """,
        ),
    ),
    # Watched documents (`rag.watch`): a document whose file changed on disk is flagged while
    # it is indexed again; folders added to the library are remembered, so files that appear
    # in them later are added too, except those the user removed from the library.
    Migration(
        "0002_watched_files",
        (
            "ALTER TABLE documents ADD COLUMN changed INTEGER NOT NULL DEFAULT 0",
            """
            CREATE TABLE folders (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                path TEXT NOT NULL UNIQUE,
                added_at REAL NOT NULL DEFAULT 0
            )
            """,
            """
            CREATE TABLE ignored_files (
                path TEXT PRIMARY KEY,
                folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE
            )
            """,
        ),
    ),
    # The checksum of each chunk's vector as Hearth stored it (rag.integrity).
    Migration("0003_vector_checksums", ("ALTER TABLE chunks ADD COLUMN vec_sum TEXT",)),
    # Where every page starts in the document's text (rag.page_starts).
    Migration(
        "0004_page_starts",
        (
            "CREATE TABLE page_starts (doc_id INTEGER NOT NULL REFERENCES documents(id) "
            "ON DELETE CASCADE, page INTEGER NOT NULL, doc_offset INTEGER NOT NULL, "
            "PRIMARY KEY (doc_id, page)) WITHOUT ROWID",
        ),
    ),
    # A PDF's outline entries, placed in its text (rag.sections): cited with the page.
    Migration(
        "0005_outline",
        (
            "CREATE TABLE outline (doc_id INTEGER NOT NULL REFERENCES documents(id) "
            "ON DELETE CASCADE, position INTEGER NOT NULL, doc_offset INTEGER NOT NULL, "
            "title TEXT NOT NULL, PRIMARY KEY (doc_id, position)) WITHOUT ROWID",
            "CREATE INDEX outline_at ON outline (doc_id, doc_offset)",
        ),
    ),
)
COUNTED_MIGRATIONS = 1
