"""`hearth chats list|export|import`: the chat history from the command line.

Export writes Markdown (to read) or JSON (lossless: the whole tree of each chat; format in the
README); import takes a JSON export back as a new chat. The window may be open meanwhile:
the chat history is one SQLite file that several processes may use."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from app.paths import get_paths
from engine.errors import InvalidRequestError

if TYPE_CHECKING:
    from app.store import ChatRow, ChatStore


def register(sub: argparse._SubParsersAction) -> None:
    chats = sub.add_parser("chats", help="list, export and import chats")
    csub = chats.add_subparsers(dest="chats_command", metavar="COMMAND", required=True)

    p = csub.add_parser("list", help="chats, newest first: id, last activity, messages, title")
    p.set_defaults(handler=run_list)

    p = csub.add_parser("export", help="a chat (or all) as Markdown or JSON")
    p.add_argument("chat", nargs="?", metavar="CHAT", help="the chat's id or its title")
    p.add_argument("--all", action="store_true", help="every chat, one file each (needs -o)")
    p.add_argument("--format", choices=("md", "json"), default="md")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="PATH",
        help="file (or folder) to write; standard output when left out",
    )
    p.set_defaults(handler=run_export)

    p = csub.add_parser("import", help="JSON exports back into the chat history")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.set_defaults(handler=run_import)


def _store() -> ChatStore:
    from app.store import ChatStore

    return ChatStore(get_paths().ensure().chat_db)


def run_list(args: argparse.Namespace) -> int:
    with _store() as store:
        for chat in store.list_chats():
            when = datetime.fromtimestamp(chat.updated_at).strftime("%Y-%m-%d %H:%M")
            print(f"{chat.id}\t{when}\t{len(store.messages(chat.id))}\t{chat.title}")
    return 0


def find_chat(chats: list[ChatRow], wanted: str) -> int:
    """A chat's id from its id or title (whole, case-insensitive)."""
    if wanted.isdigit() and any(c.id == int(wanted) for c in chats):
        return int(wanted)
    found = [c for c in chats if c.title.casefold() == wanted.strip().casefold()]
    if len(found) == 1:
        return int(found[0].id)
    if found:
        ids = ", ".join(str(c.id) for c in found)
        raise InvalidRequestError(f"Several chats are called “{wanted}” (ids {ids}); give an id.")
    raise InvalidRequestError(f"No chat “{wanted}”. `hearth chats list` shows them.")


def run_export(args: argparse.Namespace) -> int:
    from app.chat_export import export_all, export_chat, file_name, write_text

    if args.all == bool(args.chat):
        raise InvalidRequestError("Name one chat, or --all (with -o FOLDER).")
    with _store() as store:
        if args.all:
            if args.output is None:
                raise InvalidRequestError("--all writes one file per chat: give -o FOLDER.")
            for path in export_all(store, args.output, args.format):
                print(path)
            return 0
        chat_id = find_chat(store.list_chats(), args.chat)
        text = export_chat(store, chat_id, args.format)
        if args.output is None:
            sys.stdout.write(text)
            return 0
        out = args.output
        if out.is_dir():
            out = out / file_name(store.get_chat(chat_id), args.format)
        write_text(out, text)
        print(out)
    return 0


def run_import(args: argparse.Namespace) -> int:
    from app.chat_export import ChatFileError, import_chat_file

    failed = 0
    with _store() as store:
        for path in args.files:
            try:
                chat_id = import_chat_file(store, path)
            except ChatFileError as exc:
                print(f"hearth: {exc.user_message}", file=sys.stderr)
                failed += 1
                continue
            chat = store.get_chat(chat_id)
            count = len(store.messages(chat_id))
            print(f"{chat_id}\t{chat.title}\t({count} messages, from {path})")
    return 1 if failed else 0
