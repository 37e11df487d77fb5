"""Chats to files and back: Markdown to read, JSON to keep (lossless) and import again.

The JSON format (``"format": "hearth-chat"``, `VERSION`; described in the README) holds the
whole tree of a chat: every message with its ``id`` and ``parent`` (null for the first), so
earlier versions of regenerated answers and edited questions come along, with the chat's
settings, each answer's sources and stats, and which path was shown. Markdown holds the shown
path only, with roles, model, time and sources (file and page).

Importing reads a file that may come from anywhere: it is checked whole (size, JSON, types,
every parent written before its children) before anything is written, and written in one
transaction, so a bad file changes nothing and says what is wrong with it (`ChatFileError`).
Used by `hearth chats` and by the window's File menu; no Qt here.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeGuard

from app.conversation import Tree, split_thoughts
from app.store import ROLES, STATUSES, ChatRow, ChatStore, MessageRow, NewMessage
from engine.errors import HearthError
from rag.retrieve import location

FORMAT = "hearth-chat"
VERSION = 1
FORMATS = ("md", "json")
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_MESSAGES = 100_000
ROLE_TITLES = {"user": "You", "assistant": "Assistant", "system": "System"}


class ChatFileError(HearthError):
    """A file that cannot be imported as a chat (not an export, damaged, too big)."""


# -- export ---------------------------------------------------------------------------------


def chat_document(store: ChatStore, chat_id: int) -> dict[str, Any]:
    """The JSON export of a chat: the whole tree, settings, sources, stats."""
    chat = store.get_chat(chat_id)
    messages = store.messages(chat_id)
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": _iso(time.time()),
        "chat": {
            "title": chat.title,
            "created_at": chat.created_at,
            "updated_at": chat.updated_at,
            "settings": chat.settings,
            "active": Tree(messages).path(store.active_leaf(chat_id))[-1].id if messages else None,
        },
        "messages": [_message_document(m) for m in messages],
    }


def _message_document(m: MessageRow) -> dict[str, Any]:
    return {
        "id": m.id,
        "parent": m.parent_id,
        "role": m.role,
        "content": m.content,
        "created_at": m.created_at,
        "model": m.model,
        "status": m.status,
        "stats": m.stats,
        "sources": m.sources,
    }


def chat_markdown(store: ChatStore, chat_id: int) -> str:
    """The chat as it is shown (its active path), readable as a document."""
    chat = store.get_chat(chat_id)
    messages = store.messages(chat_id)
    tree = Tree(messages)
    path = tree.path(store.active_leaf(chat_id))
    models = sorted({m.model for m in path if m.model})
    lines = [f"# {chat.title}", ""]
    about = f"Exported from Hearth on {_when(time.time())}; started {_when(chat.created_at)}"
    if models:
        about += f"; model: {', '.join(models)}"
    lines += [about + ".", ""]
    if len(messages) > len(path):
        lines += [
            "This is the conversation as shown; other versions of some messages are kept in "
            "the JSON export.",
            "",
        ]
    for m in path:
        lines += ["---", "", *_message_markdown(m, tree.branch(m.id).count)]
    return "\n".join(lines).rstrip() + "\n"


def _message_markdown(m: MessageRow, versions: int) -> list[str]:
    head = [ROLE_TITLES.get(m.role, m.role.title())]
    if m.model and m.role == "assistant":
        head.append(m.model)
    head.append(_when(m.created_at))
    if versions > 1:
        head.append(f"{versions} versions")
    if m.status != "complete":
        head.append("stopped" if m.status == "incomplete" else "failed")
    out = [f"### {' · '.join(head)}", ""]
    text = m.content
    if m.role == "assistant":
        parts = split_thoughts(text)
        if parts.thinking:
            out += ["<details><summary>Thoughts</summary>", "", parts.thinking, "", "</details>"]
            out.append("")
        text = parts.answer
    out += [text.strip() or "*(empty)*", ""]
    sources = [s for s in m.sources if isinstance(s, dict)]
    if sources:
        out += ["Sources:", ""]
        out += [f"{i}. {_source_line(s)}" for i, s in enumerate(sources, 1)]
        out.append("")
    return out


def _source_line(source: dict[str, Any]) -> str:
    name = str(source.get("name") or Path(str(source.get("file", ""))).name or "document")
    page, end = source.get("page"), source.get("page_end")
    where = location(
        page if isinstance(page, int) else 0,
        end if isinstance(end, int) else 0,
        str(source.get("section") or ""),
    )
    file = source.get("file")
    named = f"{name}, {where}" if where else name
    return named + (f" (`{file}`)" if isinstance(file, str) and file else "")


def export_chat(store: ChatStore, chat_id: int, fmt: str) -> str:
    """The chat as text in `fmt` ("md" or "json")."""
    if fmt == "json":
        return json.dumps(chat_document(store, chat_id), ensure_ascii=False, indent=2) + "\n"
    if fmt == "md":
        return chat_markdown(store, chat_id)
    raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")


def file_name(chat: ChatRow, fmt: str) -> str:
    """A file name for a chat: its id (unique) and its title, safe on every system."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", chat.title).strip("-").lower()[:48] or "chat"
    return f"{chat.id:04d}-{slug}.{fmt}"


def write_text(path: Path, text: str) -> None:
    """Write through a temporary file, so a full disk never leaves half an export."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def export_all(store: ChatStore, folder: Path, fmt: str) -> list[Path]:
    """Every chat into `folder`, one file each; returns the files written."""
    written = []
    for chat in store.list_chats():
        path = folder / file_name(chat, fmt)
        write_text(path, export_chat(store, chat.id, fmt))
        written.append(path)
    return written


# -- import ---------------------------------------------------------------------------------


@dataclass
class ChatFile:
    """A checked export, ready to be written."""

    chat: ChatRow
    messages: list[NewMessage]
    active: int | None


def read_chat_file(path: Path) -> ChatFile:
    """Read and check an export; ChatFileError says what is wrong with it."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ChatFileError(_bad(path, f"it is {size:,} bytes, more than {MAX_FILE_BYTES:,}"))
        raw = path.read_bytes()
    except OSError as exc:
        raise ChatFileError(_bad(path, exc.strerror or str(exc)), repr(exc)) from exc
    return parse_chat(raw, path.name)


def parse_chat(raw: bytes | str, name: str = "the file") -> ChatFile:
    if len(raw) > MAX_FILE_BYTES:
        raise ChatFileError(f"{name} cannot be imported: it is too big.")
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # also UnicodeDecodeError, JSONDecodeError
        raise ChatFileError(
            f"{name} cannot be imported: it is not JSON ({exc}).", repr(exc)
        ) from exc
    try:
        return _checked(data)
    except _Invalid as exc:
        raise ChatFileError(f"{name} cannot be imported: {exc}.", str(exc)) from None


def import_chat_file(store: ChatStore, path: Path) -> int:
    """Import an export as a new chat; returns its id. Nothing is written for a bad file."""
    checked = read_chat_file(path)
    try:
        return store.import_chat(checked.chat, checked.messages, checked.active)
    except ValueError as exc:  # what the store refuses that the checks let through
        raise ChatFileError(_bad(path, str(exc)), repr(exc)) from exc


class _Invalid(Exception):
    """Why a parsed document is not a chat export (worded for the user)."""


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _bad(path: Path, reason: str) -> str:
    return f"{path.name} cannot be imported: {reason}."


def _checked(data: Any) -> ChatFile:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _Invalid('it is not a chat exported by Hearth (no "format": "hearth-chat")')
    version = data.get("version")
    if not _is_int(version) or version < 1:
        raise _Invalid('its "version" is missing or not a whole number')
    if version > VERSION:
        raise _Invalid(f"it was exported by a newer Hearth (format version {version})")
    chat = _field(data, "chat", dict)
    messages = _field(data, "messages", list)
    if len(messages) > MAX_MESSAGES:
        raise _Invalid(f"it has {len(messages):,} messages; at most {MAX_MESSAGES:,}")
    checked = [_message(m, i) for i, m in enumerate(messages)]
    keys: set[int] = set()
    for m in checked:
        if m.key in keys:
            raise _Invalid(f"message id {m.key} is used twice")
        if m.parent is not None and m.parent not in keys:
            raise _Invalid(f"message {m.key} follows {m.parent}, which does not come before it")
        keys.add(m.key)
    active = chat.get("active")
    if active is not None and active not in keys:
        raise _Invalid('the chat\'s "active" message is not one of its messages')
    now = time.time()
    title = " ".join(_field(chat, "title", str, "").split())[:200]
    row = ChatRow(
        id=0,
        title=title or "Imported chat",
        created_at=_field(chat, "created_at", float, now),
        updated_at=_field(chat, "updated_at", float, now),
        settings=_field(chat, "settings", dict, {}),
    )
    return ChatFile(row, checked, active)


def _message(data: Any, index: int) -> NewMessage:
    if not isinstance(data, dict):
        raise _Invalid(f"message {index + 1} is not an object")
    key = data.get("id")
    if not _is_int(key):
        raise _Invalid(f'message {index + 1} has no whole-number "id"')
    parent = data.get("parent")
    if parent is not None and not _is_int(parent):
        raise _Invalid(f'message {key}\'s "parent" is neither null nor a message id')
    role = data.get("role")
    if role not in ROLES:
        raise _Invalid(f'message {key}\'s "role" is not one of {", ".join(ROLES)}')
    status = data.get("status", "complete")
    if status not in STATUSES:
        raise _Invalid(f'message {key}\'s "status" is not one of {", ".join(STATUSES)}')
    sources = _field(data, "sources", list, [])
    if not all(isinstance(s, dict) for s in sources):
        raise _Invalid(f'message {key}\'s "sources" are not all objects')
    return NewMessage(
        key=key,
        parent=parent,
        role=role,
        content=_field(data, "content", str),
        created_at=_field(data, "created_at", float, time.time()),
        model=_field(data, "model", str, ""),
        stats=_field(data, "stats", dict, {}),
        sources=sources,
        status=status,
    )


_MISSING = object()


def _field(data: dict, key: str, kind: type, default: Any = _MISSING) -> Any:
    """data[key] checked to be a `kind` (float: any finite number); `default` when absent."""
    value = data.get(key, _MISSING)
    if value is _MISSING or (value is None and default is not _MISSING):
        if default is _MISSING:
            raise _Invalid(f'"{key}" is missing')
        return default
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if ok:
            return float(value)
    elif isinstance(value, kind):
        return value
    raise _Invalid(f'"{key}" is not {_KIND_NAMES[kind]}')


_KIND_NAMES: dict[type, str] = {
    dict: "an object",
    list: "a list",
    str: "text",
    float: "a number",
}


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


# -- time ------------------------------------------------------------------------------------


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")


def _when(t: float) -> str:
    try:
        return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):
        return "an unknown time"
