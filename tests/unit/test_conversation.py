"""A chat as a tree (app.conversation): paths, alternatives, where a switch or a delete goes,
and an answer's thinking split off (and left out of the prompt)."""

from __future__ import annotations

from dataclasses import dataclass

from app.conversation import (
    NOT_SEARCHED_NOTE,
    Branch,
    Thoughts,
    Tree,
    answer_text,
    build_history,
    split_thoughts,
)
from engine.types import ChatMessage


@dataclass
class Msg:
    id: int
    parent_id: int | None
    role: str
    content: str = ""


# q1 -> a1 -> q2 -> a2 -> q3 -> a3
#              \-> a2' (regenerated)
#       \-> q2' (edited) -> a2''
CHAT = [
    Msg(1, None, "user", "q1"),
    Msg(2, 1, "assistant", "a1"),
    Msg(3, 2, "user", "q2"),
    Msg(4, 3, "assistant", "a2"),
    Msg(5, 4, "user", "q3"),
    Msg(6, 5, "assistant", "a3"),
    Msg(7, 3, "assistant", "a2'"),
    Msg(8, 2, "user", "q2'"),
    Msg(9, 8, "assistant", "a2''"),
]


def ids(rows: list[Msg]) -> list[int]:
    return [r.id for r in rows]


def test_paths_siblings_and_branches() -> None:
    tree = Tree(reversed(CHAT))  # any order in, ids in order out
    assert ids(tree.path(6)) == [1, 2, 3, 4, 5, 6]
    assert ids(tree.path(None)) == [1, 2, 8, 9]  # no leaf: the newest message's path
    assert ids(tree.path(404)) == [1, 2, 8, 9]  # a leaf that is gone: the same
    assert ids(Tree([]).path(None)) == []
    assert tree.siblings(4) == [4, 7] and tree.siblings(8) == [3, 8] and tree.siblings(1) == [1]
    assert tree.branches(tree.path(6)) == {3: Branch(0, 2, (3, 8)), 4: Branch(0, 2, (4, 7))}
    assert tree.branches(tree.path(9)) == {8: Branch(1, 2, (3, 8))}


def test_switching_goes_to_where_an_alternative_went_last() -> None:
    tree = Tree(CHAT)
    assert tree.latest_leaf(3) == 7  # q2's newest answer is the regenerated one
    assert tree.latest_leaf(4) == 6
    assert tree.latest_leaf(8) == 9
    assert tree.latest_leaf(6) == 6


def test_after_a_delete_the_nearest_alternative_is_shown() -> None:
    tree = Tree(CHAT)
    assert tree.leaf_after_delete(7) == 6  # the one before it, and where it went
    assert tree.leaf_after_delete(4) == 7  # none before: the one after
    assert tree.leaf_after_delete(9) == 8  # no alternative: the message before it
    assert tree.leaf_after_delete(1) is None


def test_a_damaged_tree_still_gives_a_path() -> None:
    """Parents that are missing, or a loop, never hang or lose the messages."""
    tree = Tree([Msg(1, 99, "user", "orphan"), Msg(2, 3, "user"), Msg(3, 2, "user")])
    assert ids(tree.path(1)) == [1]
    assert sorted(ids(tree.path(3))) == [2, 3]
    assert tree.latest_leaf(1) == 1


def test_thoughts_are_split_from_the_answer() -> None:
    assert split_thoughts("Hello") == Thoughts("", "Hello")
    assert split_thoughts("<think>\nWhy?\n</think>\n\nBecause.") == Thoughts("Why?", "Because.")
    assert split_thoughts("<think>still going") == Thoughts("still going", "", open=True)
    assert split_thoughts("<think>") == Thoughts("", "", open=True)
    # the template opened the block in the prompt: only the closing tag is generated
    assert split_thoughts("Hmm, a greeting.</think>Hi!") == Thoughts("Hmm, a greeting.", "Hi!")
    two = split_thoughts("<think>a</think>One. <think>b</think>Two.")
    assert two == Thoughts("a\n\nb", "One. Two.")
    assert answer_text("plain  text ") == "plain  text "  # untouched: the cached prefix holds
    assert answer_text("<think>x</think>\n\nAnswer.") == "Answer."
    # Hearth's note that no document could be searched is for the user, not the model
    assert answer_text(NOT_SEARCHED_NOTE + "The model's words.") == "The model's words."


def test_history_is_one_path_without_thoughts() -> None:
    rows = [
        Msg(1, None, "user", "hi"),
        Msg(2, 1, "assistant", "<think>be nice</think>Hello!"),
        Msg(3, 2, "user", "and?"),
        Msg(4, 3, "assistant", "<think>only thinking, cut off"),
        Msg(5, 4, "user", "well?"),
    ]
    assert build_history(Tree(rows).path(5), "Be kind.") == [
        ChatMessage("system", "Be kind."),
        ChatMessage("user", "hi"),
        ChatMessage("assistant", "Hello!"),
        ChatMessage("user", "and?\n\nwell?"),  # the empty answer is left out
    ]
