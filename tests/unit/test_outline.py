"""Placing a PDF's outline entries in its text (rag.sections): an entry stands where its
title is a heading on its page, not where the page merely mentions it."""

from __future__ import annotations

import pytest

from rag.chunking import PAGE_SEPARATOR
from rag.file_text import PageText
from rag.reading import page_offsets
from rag.sections import place_outline

PAGES = [
    PageText(1, "Contents\nIntroduction 1\nLooping Constructs 2"),
    PageText(
        2,
        "Bash provides looping constructs, conditional commands, and more.\n"
        "3.2.5.1 Looping Constructs\nBash supports the following looping constructs.\n"
        "D.3 Conditional Constructs\nif The syntax of the if command is:",
    ),
    PageText(3, "The body of the loop runs while the test succeeds."),
]


def placed(outline: list[tuple[int, str]]) -> list[tuple[str, str]]:
    """Each entry's title with the text from where it was placed to the end of its line."""
    offsets = page_offsets(PAGES)
    text = PAGE_SEPARATOR.join(p.text for p in PAGES)
    assert all(text[offsets[p.page] :].startswith(p.text) for p in PAGES)
    return [(t, text[at:].split("\n", 1)[0]) for at, t in place_outline(outline, PAGES, offsets)]


def test_an_entry_stands_at_its_heading_not_at_a_mention_of_its_title() -> None:
    assert placed([(2, "Looping Constructs"), (2, "Conditional Constructs")]) == [
        ("Looping Constructs", "3.2.5.1 Looping Constructs"),
        ("Conditional Constructs", "D.3 Conditional Constructs"),
    ]


def test_a_title_not_on_its_page_stands_at_the_page_start_and_order_is_kept() -> None:
    got = placed([(2, "Conditional Constructs"), (2, "Shell Functions"), (3, "While Loops")])
    assert got == [
        ("Conditional Constructs", "D.3 Conditional Constructs"),
        # not found: after the entry before it on the same page, never before it
        ("Shell Functions", "D.3 Conditional Constructs"),
        ("While Loops", "The body of the loop runs while the test succeeds."),
    ]


def test_a_title_found_only_in_running_text_stands_there() -> None:
    assert placed([(2, "conditional commands")]) == [
        ("conditional commands", "conditional commands, and more.")
    ]


def test_entries_for_pages_the_document_lacks_are_left_out() -> None:
    assert placed([(9, "Index"), (0, "Cover"), (1, "Contents")]) == [("Contents", "Contents")]


def test_a_title_reads_as_the_page_text_does_without_control_or_format_characters() -> None:
    from rag.pdf_outline import MAX_TITLE, clean_title

    assert clean_title("Con\ufb01guration\nFiles\x00") == "Configuration Files"
    assert clean_title("Totals \u202eevil\u202c page 1") == "Totals evil page 1"
    assert len(clean_title("x" * 10_000)) == MAX_TITLE


def test_past_the_search_budget_entries_stand_at_their_page_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Titles are looked for in at most SEARCH_BUDGET characters of page text per document
    (5,000 bookmarks on one huge page must not hold the library's thread for long)."""
    import rag.sections

    monkeypatch.setattr(rag.sections, "SEARCH_BUDGET", len(PAGES[1].text) + 1)
    assert placed([(2, "Looping Constructs"), (2, "Conditional Constructs"), (3, "Loops")]) == [
        ("Looping Constructs", "3.2.5.1 Looping Constructs"),  # searched
        ("Conditional Constructs", "3.2.5.1 Looping Constructs"),  # not: after the one before
        ("Loops", "The body of the loop runs while the test succeeds."),  # its page's start
    ]
