"""Which messages of a chat that answers from documents search them (app/sources.py)."""

from __future__ import annotations

import pytest

from app.sources import SourceScope, is_small_talk


@pytest.mark.parametrize(
    "message",
    ["Hello!", "hi", "Hey there :)", "Thanks a lot.", "thank you so much!", "Good morning",
     "OK, thanks", "Bye!", "Cheers", "Hello again, everyone", "Good!"],
)  # fmt: skip
def test_greetings_thanks_and_goodbyes_are_small_talk(message: str) -> None:
    assert is_small_talk(message)


@pytest.mark.parametrize(
    "message",
    ["What is a glob pattern used for?", "Thanks, but how do I export a plot?", "Hi, what "
     "does GLPK stand for?", "?", "", "yes 42", "What is this?", "Tell me a joke.",
     "Is the default good enough?", "hello " * 9, "Hello, ¿qué es un glob?"],
)  # fmt: skip
def test_questions_are_not_small_talk(message: str) -> None:
    """A content word, a number, more than a few words, no greeting word, nothing at all."""
    assert not is_small_talk(message)


def test_a_scope_searches_for_questions_only() -> None:
    everything = SourceScope("all")
    assert everything.searches("What is a glob pattern used for?")
    assert not everything.searches("Thanks!")
    assert not SourceScope("none").searches("What is a glob pattern used for?")
    assert not SourceScope("selected", []).searches("What is a glob pattern used for?")
    assert SourceScope("selected", ["/a.pdf"]).searches("Where is it?")
