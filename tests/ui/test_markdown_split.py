"""ui.markdown.split_markdown and the controller's pure helpers."""

from __future__ import annotations

from app.controller import build_history, merge_sampling, title_from
from app.store import MessageRow
from engine.types import ChatMessage, SamplingParams
from ui.markdown import Segment, split_markdown, split_streaming


def test_prose_and_code_blocks_in_order() -> None:
    text = "# Title\n\nSome text.\n\n```python\nprint(1)\n\nprint(2)\n```\nAfter.\n~~~\nx\n~~~"
    assert split_markdown(text) == [
        Segment("markdown", "# Title\n\nSome text."),
        Segment("code", "print(1)\n\nprint(2)", "python"),
        Segment("markdown", "After."),
        Segment("code", "x", ""),
    ]


def test_unclosed_fence_while_streaming_is_an_open_code_block() -> None:
    assert split_markdown("Look:\n```sh\nls -l") == [
        Segment("markdown", "Look:"),
        Segment("code", "ls -l", "sh", closed=False),
    ]
    assert split_markdown("```") == [Segment("code", "", "", closed=False)]


def test_fence_rules() -> None:
    # a closing fence needs the same character and at least the opening length
    text = "````md\n```\ninner\n```\n````"
    assert split_markdown(text) == [Segment("code", "```\ninner\n```", "md")]
    # backticks in the info string: not a fence (it is inline code)
    assert split_markdown("```a`b```") == [Segment("markdown", "```a`b```")]
    # indented fence: its indentation is removed from the code lines
    assert split_markdown("  ```\n  x\n    y\n  ```") == [Segment("code", "x\n  y", "")]


def test_whitespace_only_prose_is_dropped() -> None:
    assert split_markdown("\n\n```\na\n```\n\n") == [Segment("code", "a", "")]
    assert split_markdown("") == []


def test_a_streaming_answer_renders_its_last_paragraph_apart() -> None:
    """Finished paragraphs are one segment (rendered once), the paragraph being written
    another; a paragraph that just ended stays with the one being written until more comes,
    so the finished part does not change (and render again) at every blank line."""
    assert split_streaming(split_markdown("One.\n\nTwo is being wri")) == [
        Segment("markdown", "One."),
        Segment("markdown", "Two is being wri"),
    ]
    assert split_streaming(split_markdown("One.\n\nTwo.\n\n")) == [
        Segment("markdown", "One."),
        Segment("markdown", "Two."),
    ]
    assert split_streaming(split_markdown("One.\n\nTwo.\n\nThr")) == [
        Segment("markdown", "One.\n\nTwo."),
        Segment("markdown", "Thr"),
    ]
    assert split_streaming(split_markdown("Only one paragraph")) == [
        Segment("markdown", "Only one paragraph")
    ]
    code = split_markdown("A.\n\nB.\n```py\nx = 1")  # the last segment is code: as it is
    assert split_streaming(code) == code


def _row(i: int, role: str, content: str) -> MessageRow:
    return MessageRow(i, 1, role, content, 0.0, "", {}, [], "complete")


def test_build_history_skips_empty_turns_and_joins_same_roles() -> None:
    rows = [
        _row(1, "user", "a"),
        _row(2, "assistant", ""),  # failed before its first token
        _row(3, "user", "b"),
        _row(4, "assistant", "c"),
        _row(5, "user", "d"),
    ]
    assert build_history(rows, "  Be kind.  ") == [
        ChatMessage("system", "Be kind."),
        ChatMessage("user", "a\n\nb"),
        ChatMessage("assistant", "c"),
        ChatMessage("user", "d"),
    ]
    assert build_history(rows[:1], "") == [ChatMessage("user", "a")]


def test_merge_sampling_takes_valid_overrides_only() -> None:
    base = SamplingParams()
    merged = merge_sampling(base, {"temperature": 1, "top_k": 5.0, "seed": True, "x": 1})
    assert merged.temperature == 1.0 and isinstance(merged.temperature, float)
    assert merged.top_k == 5 and isinstance(merged.top_k, int)
    assert merged.seed == base.seed  # a bool is not a number here
    assert merge_sampling(base, None) == base and merge_sampling(base, None) is not base


def test_title_from_first_line() -> None:
    assert title_from("\n\n  Hello   world  \nmore") == "Hello world"
    assert title_from("x" * 100).endswith("…") and len(title_from("x" * 100)) == 48
    assert title_from("   ") == "New chat"
