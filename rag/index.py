"""The document library's SQLite side (the vectors are `rag.vector_store`'s).

`Store`: one SQLite file (`<data>/documents/library.sqlite3`, WAL) with the documents, their
chunks and an FTS5 table (BM25 ranking, Porter stemming) over the chunk text. The chunk row is
the source of truth: its integer id is also the chunk's id in Chroma. Nearly every SQL
statement of the library is here (page starts and sections have their own modules); the
schema is built by named migrations (`rag.library_schema`).

A `Store` belongs to the thread that made it (sqlite3 enforces it).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import DocumentError
from engine.migrations import migrate
from engine.sqlite_util import use_wal
from rag.formats import CHANGED_ON_DISK, READ_AGAIN, RELABEL
from rag.library_schema import COUNTED_MIGRATIONS, MIGRATIONS
from rag.spelling import library_names, only_in_links, same_things, variants

# "missing": the file is gone from disk; its chunks stay (it comes back if the file does) but
# are not searched (`Store.hidden_document_ids`).
STATUSES = ("queued", "indexing", "ready", "failed", "removing", "missing")


_HIDING = (CHANGED_ON_DISK, READ_AGAIN)  # its old text does not answer while it is read again
# A word found in this many chunks at most is looked at where it stands: one that only links'
# addresses hold counts as missing (rag.spelling.only_in_links); a commoner one is known.
LINK_ONLY_CHUNKS = 8


@dataclass
class DocRow:
    id: int
    path: str
    name: str
    size: int
    mtime: float
    sha256: str
    pages: int
    chunks: int
    status: str
    message: str
    progress: float
    added_at: float
    updated_at: float
    embedded: int = 0  # chunks in both indexes
    changed: int = 0  # CHANGED_ON_DISK, READ_AGAIN or RELABEL while it is read again, else 0

    @property
    def rereading(self) -> bool:
        """Read again because Hearth reads its format differently now (the file is as it was)."""
        return self.changed in (READ_AGAIN, RELABEL)

    @property
    def answers(self) -> bool:
        """Its chunks answer questions now: embedded ones, of a document not found changed
        (a document read again for Re-index or new labels answers from its stored chunks
        until they are replaced)."""
        if self.embedded <= 0:
            return False
        return self.status in ("ready", "indexing") or (
            self.status == "queued" and not self.old_text_hidden
        )

    @property
    def relabelling(self) -> bool:
        """Read again for new labels only, with all its chunks stored and embedded: they stay
        while it is read (`rag.reading`)."""
        return self.changed == RELABEL and 0 < self.chunks == self.embedded

    @property
    def old_text_hidden(self) -> bool:
        """Read again, and its old text does not answer meanwhile (`hidden_document_ids`)."""
        return self.changed in _HIDING

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "name": self.name,
            "size": self.size,
            "pages": self.pages,
            "chunks": self.chunks,
            "embedded": self.embedded,
            "status": self.status,
            "progress": round(self.progress, 4),
            "message": self.message,
            "sha256": self.sha256,
            "changed": bool(self.changed),
            "rereading": self.rereading,
        }


@dataclass
class ChunkRow:
    id: int
    doc_id: int
    ordinal: int
    page_start: int
    page_end: int
    char_start: int
    char_end: int
    doc_offset: int  # where page_start's text starts in the whole document's text
    n_tokens: int
    text: str
    content_hash: str
    embedded: int
    path: str = ""


_DOC_COLS = (
    "d.id, d.path, d.name, d.size, d.mtime, d.sha256, d.pages, d.chunks, d.status, d.message, "
    "d.progress, d.added_at, d.updated_at, "
    "(SELECT count(*) FROM chunks c WHERE c.doc_id = d.id AND c.embedded = 1), d.changed"
)
_CHUNK_COLS = (
    "c.id, c.doc_id, c.ordinal, c.page_start, c.page_end, c.char_start, c.char_end, "
    "c.doc_offset, c.n_tokens, "
    "c.text, c.content_hash, c.embedded, d.path"
)


def _doc(row: Sequence[Any]) -> DocRow:
    return DocRow(
        id=int(row[0]),
        path=str(row[1]),
        name=str(row[2]),
        size=int(row[3]),
        mtime=float(row[4]),
        sha256=str(row[5]),
        pages=int(row[6]),
        chunks=int(row[7]),
        status=str(row[8]),
        message=str(row[9]),
        progress=float(row[10]),
        added_at=float(row[11]),
        updated_at=float(row[12]),
        embedded=int(row[13]),
        changed=int(row[14]),
    )


def _chunk(row: Sequence[Any]) -> ChunkRow:
    return ChunkRow(*row)


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


class Store:
    """Documents, chunks and the FTS5 keyword index in one SQLite database."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(str(path), timeout=10.0, isolation_level=None)
            use_wal(self.conn)
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise DocumentError(
                f"The document library at {path} cannot be opened: {exc}", repr(exc)
            ) from exc
        self.path = path

    def _migrate(self) -> None:
        """Apply the migrations this file lacks. Two processes may open a new library at the
        same moment (the window and a command): `migrate` re-reads what is applied inside its
        write transaction, so the second opener waits and then finds them applied."""
        migrate(
            self.conn,
            MIGRATIONS,
            kind="document library",
            error=DocumentError,
            counted=COUNTED_MIGRATIONS,
        )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException:
            # SQLite may already have rolled back (it can on a full disk): a second
            # ROLLBACK would fail and hide the error that matters.
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.conn.close()

    def data_version(self) -> int:
        """A number that changes when another connection (another Hearth process) commits to
        this file; this connection's own commits leave it as it is."""
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    # -- meta --------------------------------------------------------------------------------

    def get_meta(self, key: str, default: str = "") -> str:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- documents ---------------------------------------------------------------------------

    def documents(self, statuses: Iterable[str] | None = None) -> list[DocRow]:
        sql = f"SELECT {_DOC_COLS} FROM documents d"
        params: list[Any] = []
        if statuses is not None:
            wanted = list(statuses)
            sql += f" WHERE d.status IN ({_placeholders(len(wanted))})"
            params = wanted
        return [_doc(r) for r in self.conn.execute(sql + " ORDER BY d.id", params)]

    def document(self, doc_id: int) -> DocRow | None:
        row = self.conn.execute(
            f"SELECT {_DOC_COLS} FROM documents d WHERE d.id = ?", (doc_id,)
        ).fetchone()
        return _doc(row) if row else None

    def document_by_path(self, path: str) -> DocRow | None:
        row = self.conn.execute(
            f"SELECT {_DOC_COLS} FROM documents d WHERE d.path = ?", (path,)
        ).fetchone()
        return _doc(row) if row else None

    def insert_document(self, path: str, name: str, size: int, mtime: float) -> int:
        now = time.time()
        cur = self.conn.execute(
            "INSERT INTO documents (path, name, size, mtime, status, added_at, updated_at) "
            "VALUES (?, ?, ?, ?, 'queued', ?, ?)",
            (path, name, size, mtime, now, now),
        )
        return int(cur.lastrowid or 0)

    def update_document(self, doc_id: int, **fields: Any) -> None:
        if not fields:
            return
        if fields.get("status") in ("ready", "failed"):
            # Indexing a changed file ends here, whichever part of ingestion ends it.
            fields.setdefault("changed", 0)
        fields["updated_at"] = time.time()
        cols = ", ".join(f"{k} = ?" for k in fields)
        self.conn.execute(f"UPDATE documents SET {cols} WHERE id = ?", [*fields.values(), doc_id])

    def hidden_document_ids(self) -> list[int]:
        """Documents whose chunks must not answer: missing files, and files found changed
        whose old chunks are still stored (queued to be read again)."""
        rows = self.conn.execute(
            "SELECT id FROM documents WHERE status IN ('missing', 'removing') "
            f"OR (status = 'queued' AND changed IN {_HIDING}) ORDER BY id"
        )
        return [int(r[0]) for r in rows]

    def shown_document_ids(self) -> list[int]:
        """Every document but those `hidden_document_ids` lists."""
        rows = self.conn.execute(
            "SELECT id FROM documents WHERE status NOT IN ('missing', 'removing') "
            f"AND NOT (status = 'queued' AND changed IN {_HIDING}) ORDER BY id"
        )
        return [int(r[0]) for r in rows]

    def has_unfinished_documents(self) -> bool:
        """Any document queued or being indexed."""
        row = self.conn.execute(
            "SELECT 1 FROM documents WHERE status IN ('queued', 'indexing') LIMIT 1"
        ).fetchone()
        return row is not None

    def status_counts(self) -> dict[str, int]:
        """Documents per status."""
        rows = self.conn.execute("SELECT status, count(*) FROM documents GROUP BY status")
        return {str(s): int(n) for s, n in rows}

    def indexing_chunk_counts(self) -> tuple[int, int]:
        """(chunks, of those embedded) of the documents being indexed."""
        total, done = self.conn.execute(
            "SELECT coalesce(sum(d.chunks), 0), (SELECT count(*) FROM chunks c JOIN documents "
            "d2 ON d2.id = c.doc_id WHERE d2.status = 'indexing' AND c.embedded = 1) "
            "FROM documents d WHERE d.status = 'indexing'"
        ).fetchone()
        return int(total), int(done)

    def first_indexing(self) -> DocRow | None:
        """The document being indexed first (batches embed the oldest first), if any."""
        row = self.conn.execute(
            f"SELECT {_DOC_COLS} FROM documents d WHERE d.status = 'indexing' ORDER BY d.id LIMIT 1"
        ).fetchone()
        return _doc(row) if row else None

    def delete_document_rows(self, doc_id: int) -> None:
        """Chunks, their FTS rows and the document row, in one transaction."""
        with self.transaction() as conn:
            conn.execute(
                "DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE doc_id = ?)",
                (doc_id,),
            )
            conn.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
            conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))

    # -- watched folders (rag.watch) -----------------------------------------------------------

    def folders(self) -> list[str]:
        """Folders added to the library, in the order they were added."""
        return [str(r[0]) for r in self.conn.execute("SELECT path FROM folders ORDER BY id")]

    def add_folder(self, path: str) -> None:
        """Watch a folder; adding it again also forgets the files removed from it before."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO folders (path, added_at) VALUES (?, ?) ON CONFLICT (path) DO NOTHING",
                (path, time.time()),
            )
            conn.execute(
                "DELETE FROM ignored_files WHERE folder_id = "
                "(SELECT id FROM folders WHERE path = ?)",
                (path,),
            )

    def remove_folder(self, path: str) -> None:
        """Stop watching a folder (its ignored files go with it)."""
        self.conn.execute("DELETE FROM folders WHERE path = ?", (path,))

    def ignore_file(self, path: str, folder: str) -> None:
        """A file the user removed from a watched folder: not added again."""
        self.conn.execute(
            "INSERT OR REPLACE INTO ignored_files (path, folder_id) "
            "SELECT ?, id FROM folders WHERE path = ?",
            (path, folder),
        )

    def unignore_file(self, path: str) -> None:
        self.conn.execute("DELETE FROM ignored_files WHERE path = ?", (path,))

    def ignored_files(self) -> set[str]:
        return {str(r[0]) for r in self.conn.execute("SELECT path FROM ignored_files")}

    # -- chunks ------------------------------------------------------------------------------

    def replace_chunks(
        self,
        doc_id: int,
        rows: Sequence[tuple[int, int, int, int, int, int, int, str, str]],
        **doc_fields: Any,
    ) -> None:
        """Drop a document's chunks (and FTS rows) and store new ones, not yet embedded, with
        the document's new fields, all in one transaction.

        Each row: (ordinal, page_start, page_end, char_start, char_end, doc_offset, n_tokens,
        text, hash). Offsets are chunking's: char_start/char_end count from the start of
        page_start's text; doc_offset is where that page starts in the joined document."""
        with self.transaction() as conn:
            conn.execute(
                "DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE doc_id = ?)",
                (doc_id,),
            )
            conn.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
            conn.executemany(
                "INSERT INTO chunks (doc_id, ordinal, page_start, page_end, char_start, "
                "char_end, doc_offset, n_tokens, text, content_hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(doc_id, *r) for r in rows],
            )
            self.update_document(doc_id, **doc_fields)

    def append_chunks(
        self, doc_id: int, rows: Sequence[tuple[int, int, int, int, int, int, int, str, str]]
    ) -> None:
        """Add chunks (rows as in replace_chunks) to a document, in one transaction."""
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO chunks (doc_id, ordinal, page_start, page_end, char_start, "
                "char_end, doc_offset, n_tokens, text, content_hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(doc_id, *r) for r in rows],
            )

    def pending_chunks(self, limit: int, doc_id: int | None = None) -> list[ChunkRow]:
        """Chunks not yet in both indexes, oldest document first, in reading order."""
        sql = (
            f"SELECT {_CHUNK_COLS} FROM chunks c JOIN documents d ON d.id = c.doc_id "
            "WHERE c.embedded = 0 AND d.status = 'indexing'"
        )
        params: list[Any] = []
        if doc_id is not None:
            sql += " AND c.doc_id = ?"
            params.append(doc_id)
        sql += " ORDER BY c.doc_id, c.ordinal LIMIT ?"
        params.append(limit)
        return [_chunk(r) for r in self.conn.execute(sql, params)]

    def chunk_layout(self, doc_id: int, first: int, n: int) -> list[tuple[Any, ...]]:
        """The stored chunks of ordinals first .. first + n - 1, as `replace_chunks` rows
        without their text (its hash stands for it), in order."""
        rows = self.conn.execute(
            "SELECT ordinal, page_start, page_end, char_start, char_end, doc_offset, n_tokens, "
            "content_hash FROM chunks WHERE doc_id = ? AND ordinal >= ? AND ordinal < ? "
            "ORDER BY ordinal",
            (doc_id, first, first + n),
        )
        return [tuple(r) for r in rows]

    def embedded_chunks_of(self, doc_id: int) -> list[tuple[int, str]]:
        """(chunk id, content hash) of a document's embedded chunks."""
        rows = self.conn.execute(
            "SELECT id, content_hash FROM chunks WHERE doc_id = ? AND embedded = 1", (doc_id,)
        )
        return [(int(i), str(h)) for i, h in rows]

    def embedded_ids_by_hash(self, hashes: Sequence[str]) -> dict[str, int]:
        """For each content hash already embedded somewhere, one chunk id that has it."""
        if not hashes:
            return {}
        rows = self.conn.execute(
            "SELECT content_hash, min(id) FROM chunks WHERE embedded = 1 AND content_hash IN "
            f"({_placeholders(len(hashes))}) GROUP BY content_hash",
            list(hashes),
        )
        return {str(h): int(i) for h, i in rows}

    def mark_embedded(self, chunks: Sequence[ChunkRow], sums: Sequence[str] = ()) -> None:
        """Put chunks in the keyword index and flag them embedded (call in a transaction,
        after their vectors are in Chroma), with their vectors' checksums (rag.integrity).
        Chunks whose rows are gone (their document was removed by another process meanwhile)
        are skipped."""
        self.conn.executemany(
            "INSERT OR REPLACE INTO chunks_fts (rowid, text) "
            "SELECT ?, ? WHERE EXISTS (SELECT 1 FROM chunks WHERE id = ?)",
            [(c.id, c.text, c.id) for c in chunks],
        )
        sums = [*sums, *[""] * (len(chunks) - len(sums))]
        self.conn.executemany(
            "UPDATE chunks SET embedded = 1, vec_sum = ? WHERE id = ?",
            [(s or None, c.id) for c, s in zip(chunks, sums, strict=False)],
        )

    _LIVE_EMBEDDED = (
        "FROM chunks c JOIN documents d ON d.id = c.doc_id "
        "WHERE c.embedded = 1 AND d.status != 'removing'"
    )

    def vector_sums(self, n: int) -> tuple[int, list[tuple[int, str | None]]]:
        """Embedded chunks of documents not being removed: how many, and up to n of them
        chosen at random with their vectors' checksums (None: stored before checksums)."""
        total = self.conn.execute(f"SELECT count(*) {self._LIVE_EMBEDDED}").fetchone()[0]
        rows = self.conn.execute(
            f"SELECT c.id, c.vec_sum {self._LIVE_EMBEDDED} ORDER BY random() LIMIT ?", (n,)
        )
        return int(total), [(int(i), s) for i, s in rows]

    def chunks_by_ids(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        out: dict[int, ChunkRow] = {}
        for start in range(0, len(ids), 500):
            part = list(ids[start : start + 500])
            sql = (
                f"SELECT {_CHUNK_COLS} FROM chunks c JOIN documents d ON d.id = c.doc_id "
                f"WHERE c.id IN ({_placeholders(len(part))})"
            )
            for r in self.conn.execute(sql, part):
                row = _chunk(r)
                out[row.id] = row
        return out

    def unknown_terms(self, terms: Sequence[str]) -> list[str]:
        """The terms that no chunk of the library holds (FTS5, stemmed as it indexes). A name
        the library writes only as a library's file name is known: Nettle's manual writes
        "libhogweed" and "-lhogweed", never "hogweed" alone."""
        out = []
        for term in terms:
            # "optimisation" is "optimization"; "hogweed" is "libhogweed"; a folder a directory
            spellings = [term, *variants(term), *library_names([term]), *same_things(term)]
            match = " OR ".join('"' + t.replace('"', '""') + '"' for t in spellings)
            rows = self.conn.execute(
                "SELECT text FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?",
                (match, LINK_ONLY_CHUNKS + 1),
            ).fetchall()
            # a rare word the library writes only in links' addresses is no word it holds
            if len(rows) <= LINK_ONLY_CHUNKS and all(only_in_links(r[0], spellings) for r in rows):
                out.append(term)
        return out

    def chunk_ids(self, doc_id: int) -> list[int]:
        return [
            int(r[0])
            for r in self.conn.execute("SELECT id FROM chunks WHERE doc_id = ?", (doc_id,))
        ]

    def sample_embedded_texts(self, n: int) -> list[str]:
        """The texts of up to n embedded chunks, chosen at random (benchmark queries)."""
        rows = self.conn.execute(
            "SELECT text FROM chunks WHERE embedded = 1 ORDER BY random() LIMIT ?", (n,)
        )
        return [str(r[0]) for r in rows]

    def reset_embedded(self) -> None:
        """Forget every embedding (the embedding model changed): empty the keyword index too,
        so the next ingestion fills both again together."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM chunks_fts")
            conn.execute("UPDATE chunks SET embedded = 0")
            conn.execute(
                "UPDATE documents SET status = 'indexing', progress = 0 "
                "WHERE status = 'ready' AND chunks > 0"
            )

    def chunk_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def counts(self) -> dict[str, int]:
        one = self.conn.execute
        return {
            "documents": int(one("SELECT count(*) FROM documents").fetchone()[0]),
            "chunks": self.chunk_count(),
            "embedded": int(one("SELECT count(*) FROM chunks WHERE embedded = 1").fetchone()[0]),
            "fts_rows": int(one("SELECT count(*) FROM chunks_fts").fetchone()[0]),
        }

    # -- keyword search ----------------------------------------------------------------------

    def keyword_search(
        self, match: str, n: int, doc_ids: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        """(chunk id, bm25) best first; `match` is an FTS5 expression from
        rag.retrieve.fts_query. FTS5's bm25() is lower-is-better; it is negated here."""
        if doc_ids is not None and not doc_ids:
            return []
        sql = "SELECT f.rowid, bm25(chunks_fts) AS s FROM chunks_fts f"
        params: list[Any] = []
        if doc_ids is not None:
            sql += (
                f" JOIN chunks c ON c.id = f.rowid AND c.doc_id IN ({_placeholders(len(doc_ids))})"
            )
            params.extend(doc_ids)
        sql += " WHERE chunks_fts MATCH ? ORDER BY s LIMIT ?"
        params.extend([match, n])
        try:
            rows = self.conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:  # a query FTS5 cannot parse
            raise DocumentError(f"The search text cannot be used: {exc}", repr(exc)) from exc
        return [(int(r[0]), -float(r[1])) for r in rows]


def chunks_at(store: Store, doc_id: int, ordinals: Sequence[int]) -> dict[int, ChunkRow]:
    """A document's chunks of these ordinals, by ordinal (those that exist)."""
    if not ordinals:
        return {}
    sql = (
        f"SELECT {_CHUNK_COLS} FROM chunks c JOIN documents d ON d.id = c.doc_id "
        f"WHERE c.doc_id = ? AND c.ordinal IN ({_placeholders(len(ordinals))})"
    )
    rows = (_chunk(r) for r in store.conn.execute(sql, [doc_id, *ordinals]))
    return {row.ordinal: row for row in rows}
