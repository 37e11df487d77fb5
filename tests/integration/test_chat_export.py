"""Chats to Markdown and JSON and back (app.chat_export, `hearth chats`), on real chat stores:
importing an export gives the same chat, tree included; Markdown reads as the conversation
shown; a hostile or malformed file is refused with its reason and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app import chat_export
from app.chat_export import ChatFileError, chat_document, export_chat, import_chat_file
from app.cli import main as hearth
from app.paths import get_paths
from app.store import ChatStore

SOURCES = [
    {"file": "/docs/keeper.pdf", "name": "keeper.pdf", "page": 12, "page_end": 13},
    {"file": "/docs/log.md", "name": "log.md", "page": 1, "page_end": 1, "section": "Lamps"},
]


@pytest.fixture
def store() -> Iterator[ChatStore]:
    with ChatStore(get_paths().ensure().chat_db) as s:
        yield s


def make_chat(store: ChatStore) -> int:
    """q1 -> a1 (thoughts, sources) -> q2 -> a2 | a2' (regenerated); q2 edited -> a3; the
    path shown goes through the first a2."""
    chat = store.create_chat("Lighthouse", {"model": "smol", "sampling": {"temperature": 0.2}})
    q1 = store.add_message(chat, "user", "How tall is the lighthouse?")
    a1 = store.add_message(
        chat,
        "assistant",
        "<think>Look it up.</think>About 40 metres [1].",
        model="SmolLM2",
        stats={"decode_tokens_per_s": 41.5, "turns_dropped": 0},
        sources=SOURCES,
    )
    q2 = store.add_message(chat, "user", "And how old is it?")
    a2 = store.add_message(chat, "assistant", "Built in 1887.", model="SmolLM2")
    store.add_message(chat, "assistant", "Old.", model="SmolLM2", parent=q2, status="incomplete")
    edited = store.add_message(chat, "user", "Who keeps it?", parent=a1)
    store.add_message(chat, "assistant", "A keeper.", parent=edited, status="error")
    store.set_active_leaf(chat, a2)
    assert q1 < a1
    return chat


def normalized(document: dict[str, Any]) -> dict[str, Any]:
    """An export with its ids numbered in order (ids are the store's own) and no export time."""
    ids = {m["id"]: i for i, m in enumerate(document["messages"], 1)}
    messages = [
        {**m, "id": ids[m["id"]], "parent": None if m["parent"] is None else ids[m["parent"]]}
        for m in document["messages"]
    ]
    chat = {**document["chat"], "active": ids.get(document["chat"]["active"])}
    return {**document, "exported_at": None, "chat": chat, "messages": messages}


def snapshot(store: ChatStore) -> list[tuple[Any, ...]]:
    return [(c.id, c.title, len(store.messages(c.id))) for c in store.list_chats()]


def test_json_round_trip_keeps_the_whole_tree(store: ChatStore, tmp_path: Path) -> None:
    chat = make_chat(store)
    path = tmp_path / "chat.json"
    path.write_text(export_chat(store, chat, "json"), encoding="utf-8")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["format"] == "hearth-chat" and document["version"] == 1
    first = document["messages"][0]
    assert {"id", "parent", "role", "content"} <= first.keys() and first["parent"] is None
    assert len(document["messages"]) == 7

    copy = import_chat_file(store, path)
    assert copy != chat
    assert normalized(chat_document(store, copy)) == normalized(document)
    # the copy shows the same path, and its branches are branches
    assert [m.content for m in _path(store, copy)] == [m.content for m in _path(store, chat)]


def _path(store: ChatStore, chat: int) -> list[Any]:
    from app.conversation import Tree

    return Tree(store.messages(chat)).path(store.active_leaf(chat))


def test_markdown_reads_as_the_conversation_shown(store: ChatStore) -> None:
    chat = make_chat(store)
    text = export_chat(store, chat, "md")
    assert text.startswith("# Lighthouse\n")
    assert "model: SmolLM2" in text
    assert "### You · " in text and "### Assistant · SmolLM2 · " in text
    assert "About 40 metres [1]." in text
    assert "<details><summary>Thoughts</summary>" in text and "Look it up." in text
    assert "1. keeper.pdf, pages 12-13 (`/docs/keeper.pdf`)" in text
    assert "2. log.md, § Lamps (`/docs/log.md`)" in text  # a Markdown file's section
    assert "Built in 1887." in text and "2 versions" in text
    assert "Who keeps it?" not in text and "Old." not in text  # not on the path shown
    assert "other versions of some messages are kept in the JSON export" in text


def test_hearth_chats_list_export_import(
    store: ChatStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chat = make_chat(store)
    assert hearth(["chats", "list"]) == 0
    assert capsys.readouterr().out.split("\t")[0] == str(chat)
    assert hearth(["chats", "export", "lighthouse", "--format", "md"]) == 0
    assert capsys.readouterr().out.startswith("# Lighthouse")
    out = tmp_path / "one.json"
    assert hearth(["chats", "export", str(chat), "--format", "json", "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    folder = tmp_path / "all"
    assert hearth(["chats", "export", "--all", "--format", "md", "-o", str(folder)]) == 0
    assert [p.name for p in folder.iterdir()] == [f"{chat:04d}-lighthouse.md"]
    capsys.readouterr()

    assert hearth(["chats", "import", str(out)]) == 0
    new_id = int(capsys.readouterr().out.split("\t")[0])
    assert normalized(chat_document(store, new_id)) == normalized(json.loads(out.read_text()))
    assert hearth(["chats", "export", "nope"]) == 1
    assert "No chat “nope”" in capsys.readouterr().err
    assert hearth(["chats", "export", "Lighthouse"]) == 1  # two now: an id is needed
    assert "give an id" in capsys.readouterr().err


VALID = {
    "format": "hearth-chat",
    "version": 1,
    "chat": {"title": "ok", "active": None},
    "messages": [{"id": 1, "parent": None, "role": "user", "content": "hi"}],
}


def with_messages(*messages: dict[str, Any]) -> str:
    return json.dumps({**VALID, "messages": list(messages)})


HOSTILE: list[tuple[str, bytes | str, str]] = [
    ("empty", b"", "not JSON"),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00", "not JSON"),
    ("not json", "{'python': True}", "not JSON"),
    ("a list", "[1, 2]", "not a chat exported by Hearth"),
    ("other format", json.dumps({**VALID, "format": "chatgpt"}), "not a chat exported by"),
    ("newer", json.dumps({**VALID, "version": 2}), "exported by a newer Hearth"),
    ("version true", json.dumps({**VALID, "version": True}), '"version" is missing'),
    ("no messages", json.dumps({k: v for k, v in VALID.items() if k != "messages"}), "missing"),
    ("messages object", json.dumps({**VALID, "messages": {}}), '"messages" is not a list'),
    ("no content", with_messages({"id": 1, "parent": None, "role": "user"}), '"content"'),
    (
        "content number",
        with_messages({"id": 1, "parent": None, "role": "user", "content": 5}),
        '"content" is not text',
    ),
    ("bad role", with_messages({"id": 1, "parent": None, "role": "tool", "content": ""}), "role"),
    (
        "bad status",
        with_messages({"id": 1, "parent": None, "role": "user", "content": "", "status": "x"}),
        "status",
    ),
    ("id true", with_messages({"id": True, "parent": None, "role": "user", "content": ""}), "id"),
    (
        "forward parent",
        with_messages(
            {"id": 1, "parent": 2, "role": "user", "content": "a"},
            {"id": 2, "parent": None, "role": "assistant", "content": "b"},
        ),
        "does not come before it",
    ),
    (
        "cycle",
        with_messages(
            {"id": 1, "parent": 1, "role": "user", "content": "a"},
        ),
        "does not come before it",
    ),
    (
        "repeated id",
        with_messages(
            {"id": 1, "parent": None, "role": "user", "content": "a"},
            {"id": 1, "parent": None, "role": "user", "content": "b"},
        ),
        "used twice",
    ),
    ("active elsewhere", json.dumps({**VALID, "chat": {"title": "t", "active": 9}}), "active"),
    (
        "NaN",
        '{"format": "hearth-chat", "version": 1, "chat": {}, "messages": [{"id": 1, '
        '"parent": null, "role": "user", "content": "", "stats": {"x": NaN}}]}',
        "not JSON",
    ),
    (
        "infinite stats",
        '{"format": "hearth-chat", "version": 1, "chat": {}, "messages": [{"id": 1, '
        '"parent": null, "role": "user", "content": "", "stats": {"x": 1e999}}]}',
        "plain JSON",
    ),
    ("deep", "[" * 200_000 + "]" * 200_000, "not JSON"),
    (
        "sources not objects",
        with_messages({"id": 1, "parent": None, "role": "user", "content": "", "sources": [1]}),
        "sources",
    ),
]


@pytest.mark.parametrize(
    ("raw", "reason"), [(r, w) for _n, r, w in HOSTILE], ids=[n for n, _r, _w in HOSTILE]
)
def test_a_malformed_file_is_refused_and_changes_nothing(
    store: ChatStore, tmp_path: Path, raw: bytes | str, reason: str
) -> None:
    make_chat(store)
    before = snapshot(store)
    path = tmp_path / "import.json"
    path.write_bytes(raw.encode() if isinstance(raw, str) else raw)
    with pytest.raises(ChatFileError) as info:
        import_chat_file(store, path)
    assert info.value.user_message.startswith("import.json cannot be imported: ")
    assert reason in info.value.user_message
    assert snapshot(store) == before


def test_a_missing_or_huge_file_is_refused(
    store: ChatStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ChatFileError, match="cannot be imported"):
        import_chat_file(store, tmp_path / "absent.json")
    path = tmp_path / "big.json"
    path.write_text(json.dumps(VALID), encoding="utf-8")
    monkeypatch.setattr(chat_export, "MAX_FILE_BYTES", 10)
    with pytest.raises(ChatFileError, match="it is 154 bytes, more than 10"):
        import_chat_file(store, path)
    assert store.list_chats() == []
