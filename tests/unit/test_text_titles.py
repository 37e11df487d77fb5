"""A plain text's underlined titles (rag.text_titles.underlined_titles)."""

from __future__ import annotations

from rag.sentences import split_sentences
from rag.text_titles import underlined_titles


def test_underlined_titles_become_headings_and_other_rules_no_text() -> None:
    text = (
        "TRIGGERS\n========\n\n"
        "Concepts\n--------\n\n"
        "Each trigger is named. It may be activated\nby any package.\n"
        "------------------------------\n\n"  # a rule under a paragraph: a separator
        "Too short an underline\n----\n\n"
        "This line ends a sentence.\n---------------------------------\n\n"
        "Timing guarantees, races, etc.\n------------------------------\n\n"
        "* a list item\n-------------\n\n"
        "~~~~~~~~\nOverlined title\n~~~~~~~~~~~~~~~\n\nThe end.\n"
    )
    got = underlined_titles(text)
    assert got.split("\n") == [
        "## TRIGGERS", "", "## Concepts", "",
        "Each trigger is named. It may be activated", "by any package.", "", "",
        "Too short an underline", "", "",
        "This line ends a sentence.", "", "",
        "## Timing guarantees, races, etc.", "",
        "* a list item", "", "",
        "", "## Overlined title", "", "The end.", "",
    ]  # fmt: skip
    kinds = [(s.kind, s.text) for s in split_sentences(got)]
    assert kinds[:3] == [
        ("heading", "TRIGGERS"),
        ("heading", "Concepts"),
        ("prose", "Each trigger is named."),
    ]
    assert not any("---" in t or "===" in t for _, t in kinds)


def test_text_without_rules_is_unchanged() -> None:
    text = "Plain words.\n\n  Indented code = 1;\n# not a heading here\n"
    assert underlined_titles(text) == text
