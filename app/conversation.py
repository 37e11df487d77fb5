"""A chat as a tree of messages, and what is sent to the model from it (pure; no Qt, no SQL).

Regenerating an answer or editing a question adds a sibling of the earlier version instead of
deleting it, so a chat's messages (`app.store.ChatStore.messages`, each with its
``parent_id``) form a tree. The window shows one path through it, from the first message to
the chat's active leaf; on a message with alternatives it shows "‹ n / m ›", and switching
to another alternative shows the path through that one. The model is sent that path only,
so going back to a branch sends the prompt it was answered with, and llama.cpp reuses the
cached prefix the two branches share.

Reasoning models write their thinking first, between ``<think>`` and ``</think>``. It is
shown folded and never sent back: the next turn's prompt holds the answers without it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from engine.types import ChatMessage

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
_THOUGHT = re.compile(r"<think>(.*?)(?:</think>|\Z)", re.DOTALL)


class Row(Protocol):
    """What the tree needs of a stored message (app.store.MessageRow)."""

    id: int
    parent_id: int | None
    role: str
    content: str


R = TypeVar("R", bound=Row)


@dataclass(frozen=True)
class Branch:
    """Where a message on the shown path stands among its alternatives: `index` of `count`
    (0-based), and the ids of all of them in the order they were written."""

    index: int
    count: int
    siblings: tuple[int, ...]


class Tree(Generic[R]):
    """The messages of one chat, by id, with their children in the order they were written."""

    def __init__(self, rows: Iterable[R]) -> None:
        self.rows: dict[int, R] = {}
        self.children: dict[int | None, list[int]] = {}
        for row in sorted(rows, key=lambda r: r.id):
            self.rows[row.id] = row
        for row in self.rows.values():
            # A parent that is missing (never in a store written by Hearth) makes a root.
            parent = row.parent_id if row.parent_id in self.rows else None
            self.children.setdefault(parent, []).append(row.id)

    def __contains__(self, message_id: object) -> bool:
        return message_id in self.rows

    def parent(self, message_id: int) -> int | None:
        parent = self.rows[message_id].parent_id
        return parent if parent in self.rows else None

    def path(self, leaf: int | None) -> list[R]:
        """The messages from the first one to `leaf` (the newest message's path when `leaf` is
        None or not in the chat); empty for an empty chat."""
        if leaf not in self.rows:
            leaf = max(self.rows, default=None)
        out: list[R] = []
        seen: set[int] = set()
        while leaf is not None and leaf not in seen:  # `seen`: a damaged file's cycle ends
            seen.add(leaf)
            out.append(self.rows[leaf])
            leaf = self.parent(leaf)
        out.reverse()
        return out

    def latest_leaf(self, message_id: int) -> int:
        """The leaf reached from `message_id` by always taking the newest child: where that
        alternative's conversation went last."""
        seen = {message_id}
        while self.children.get(message_id):
            message_id = self.children[message_id][-1]
            if message_id in seen:
                break
            seen.add(message_id)
        return message_id

    def siblings(self, message_id: int) -> list[int]:
        """`message_id` and its alternatives (the children of its parent), oldest first."""
        return list(self.children.get(self.parent(message_id), []))

    def branch(self, message_id: int) -> Branch:
        siblings = self.siblings(message_id)
        return Branch(siblings.index(message_id), len(siblings), tuple(siblings))

    def branches(self, path: Sequence[R]) -> dict[int, Branch]:
        """The messages on `path` that have alternatives, with where each stands."""
        out = {}
        for row in path:
            branch = self.branch(row.id)
            if branch.count > 1:
                out[row.id] = branch
        return out

    def leaf_after_delete(self, message_id: int) -> int | None:
        """Where the chat goes when the branch from `message_id` is deleted: the latest leaf of
        the nearest remaining alternative (the one before it, else after), else its parent."""
        siblings = self.siblings(message_id)
        index = siblings.index(message_id)
        others = siblings[:index][-1:] or siblings[index + 1 :][:1]
        if others:
            return self.latest_leaf(others[0])
        return self.parent(message_id)


# -- thoughts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thoughts:
    """An answer split into the model's thinking and the answer itself. `open`: the thinking
    has not ended yet (still streaming, or cut off)."""

    thinking: str
    answer: str
    open: bool = False


def split_thoughts(text: str) -> Thoughts:
    """Take ``<think>…</think>`` blocks out of an answer. A ``</think>`` with no opening tag
    before it ends thinking that began in the prompt (templates that open the block
    themselves): everything before it is thinking."""
    close = text.find(THINK_CLOSE)
    if close >= 0 and THINK_OPEN not in text[:close]:
        head, rest = text[:close], text[close + len(THINK_CLOSE) :]
        inner = split_thoughts(rest)
        thinking = "\n\n".join(p for p in (head.strip(), inner.thinking) if p)
        return Thoughts(thinking, inner.answer, inner.open)
    if THINK_OPEN not in text:
        return Thoughts("", text)
    parts = [m.group(1).strip() for m in _THOUGHT.finditer(text)]
    answer = _THOUGHT.sub("", text)
    still_open = text.rfind(THINK_OPEN) > text.rfind(THINK_CLOSE)
    return Thoughts("\n\n".join(p for p in parts if p), answer.strip("\n"), still_open)


# Said before the model's own answer when a chat that answers from documents could search
# none (all still being indexed, failed or removed): without it the answer read as theirs.
# Shown and stored with the answer, never sent back to the model (`answer_text`).
NOT_SEARCHED_NOTE = (
    "*None of the documents this chat answers from can be searched yet (not indexed, failed "
    "or removed), so this answer is the model's own.*\n\n"
)


def answer_text(text: str) -> str:
    """An answer without its thinking or Hearth's note: what the next turn's prompt holds
    (the model's own words, as its cache holds them)."""
    text = text.removeprefix(NOT_SEARCHED_NOTE)
    return (
        split_thoughts(text).answer.strip() if THINK_CLOSE in text or THINK_OPEN in text else text
    )


# -- the prompt -----------------------------------------------------------------------------


def build_history(rows: Sequence[Row], system_prompt: str) -> list[ChatMessage]:
    """The messages to send: the system prompt, then the turns of one path.

    Empty turns (an answer that failed before its first token) are left out, an answer's
    thinking is left out, and consecutive turns of the same role are joined, because many
    chat templates insist that user and assistant alternate."""
    out: list[ChatMessage] = []
    if system_prompt.strip():
        out.append(ChatMessage("system", system_prompt.strip()))
    for row in rows:
        if row.role not in ("user", "assistant"):
            continue
        content = answer_text(row.content) if row.role == "assistant" else row.content
        if not content.strip():
            continue
        if out and out[-1].role == row.role:
            out[-1] = ChatMessage(out[-1].role, out[-1].content + "\n\n" + content)
        else:
            out.append(ChatMessage(row.role, content))  # type: ignore[arg-type]
    return out
