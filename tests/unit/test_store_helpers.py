"""Pure helpers of the chat store: FTS5 query quoting, snippet rendering, error wording."""

from __future__ import annotations

import html
import sqlite3

import pytest

from app.store import (
    MATCH_END,
    MATCH_START,
    describe_sqlite_error,
    fts_query,
    render_snippet,
    store_error,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kettle", '"kettle"*'),
        ("  two   words ", '"two"* "words"*'),
        ('"foo', '"""foo"*'),
        ('say "hi" now', '"say"* """hi"""* "now"*'),
        ("a AND", '"a"* "AND"*'),
        ("NEAR(a b)", '"NEAR(a"* "b)"*'),
        ("col:x", '"col:x"*'),
        ("café", '"café"*'),
        ("", ""),
        ("   ", ""),
        ('" * ( ) -', ""),
    ],
)
def test_fts_query_quotes_every_word(text: str, expected: str) -> None:
    assert fts_query(text) == expected


def test_fts_query_is_valid_fts5_for_hostile_text() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5 (content)")
    conn.execute("INSERT INTO t VALUES ('NEAR the AND of a \"quoted\" col:x')")
    for text in ['"foo', "a AND", "OR", "NOT x", "NEAR(", "col:x", "x*", "^x", "-x", "{a}:b"]:
        query = fts_query(text)
        if query:
            conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (query,)).fetchall()
    assert (
        conn.execute("SELECT count(*) FROM t WHERE t MATCH ?", (fts_query("AND"),)).fetchone()[0]
        == 1
    )


def test_render_snippet_marks_and_escapes() -> None:
    snippet = f"…use {MATCH_START}<b>{MATCH_END} & {MATCH_START}tags{MATCH_END}…"
    assert render_snippet(snippet) == "…use [<b>] & [tags]…"
    assert render_snippet(snippet, "<b>", "</b>", html.escape) == (
        "…use <b>&lt;b&gt;</b> &amp; <b>tags</b>…"
    )
    assert render_snippet("no match markers") == "no match markers"


def test_error_wording_uses_sqlite_codes() -> None:
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL
    assert describe_sqlite_error(full) == "the disk is full"
    io = sqlite3.OperationalError("disk I/O error")
    io.sqlite_errorcode = sqlite3.SQLITE_IOERR_WRITE
    assert describe_sqlite_error(io) == "the disk reported a read or write error"


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (sqlite3.OperationalError("database or disk is full"), "the disk is full"),
        (sqlite3.OperationalError("attempt to write a readonly database"), "read-only"),
        (sqlite3.DatabaseError("file is not a database"), "not a Hearth chat history"),
        (sqlite3.DatabaseError("database disk image is malformed"), "damaged"),
        (sqlite3.OperationalError("database is locked"), "locked"),
        (PermissionError(13, "Permission denied"), "Permission denied"),
    ],
)
def test_error_wording_without_codes(exc: BaseException, reason: str) -> None:
    assert reason in describe_sqlite_error(exc)


def test_store_error_is_readable_and_keeps_details() -> None:
    exc = sqlite3.OperationalError("database or disk is full")
    error = store_error("save the chat", exc)
    assert error.user_message == "Hearth could not save the chat: the disk is full."
    assert "database or disk is full" in error.details
