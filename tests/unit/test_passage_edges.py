"""Passages widened to whole sentences at their edges (rag.passage_edges)."""

from __future__ import annotations

from rag.evidence import ScoredSentence
from rag.passage_edges import (
    complete_edges,
    missing_end,
    missing_start,
    text_after,
    text_before,
)
from rag.sentences import split_sentences

DOC = (
    "The keeper writes the weather into the log book at noon.\n"
    "The harbour master keeps the spare lamp wicks in a locked oak chest that stands in the"
    "\n\nKeeper's Handbook\nnorth corner of the boat shed, beside the oars.\n"
    "Visitors may climb the tower on Sundays."
)


def test_a_passage_cut_mid_sentence_at_a_page_break_gets_the_rest_of_it() -> None:
    """bzip2's manual: "... a constant overhead in the region of" / (next page, under its
    running head) "50 bytes." The rest is taken, without the running head."""
    cut = DOC.index("\n\nKeeper")
    passage, after = DOC[:cut], DOC[cut:]
    suffix = missing_end(passage, after)
    assert suffix.rstrip().endswith("beside the oars.")
    assert "Visitors" not in suffix
    last = split_sentences(passage + suffix)[-1]
    assert last.text == (
        "The harbour master keeps the spare lamp wicks in a locked oak chest that stands in "
        "the north corner of the boat shed, beside the oars."
    )


def test_a_passage_that_opens_mid_sentence_gets_its_start() -> None:
    start = DOC.index("north corner")
    before, passage = DOC[:start], DOC[start:]
    prefix = missing_start(before, passage)
    assert prefix.startswith("The harbour master keeps")
    assert "log book" not in prefix


def test_whole_sentences_and_far_or_unclear_edges_are_left_alone() -> None:
    first = DOC.index("The harbour")
    assert missing_start(DOC[:first], DOC[first:]) == ""  # it starts a sentence
    end = DOC.index("Visitors")
    assert missing_end(DOC[:end], DOC[end:]) == ""  # it ends one
    # "in that order." may be followed by a sentence that starts with a plain lower-case word,
    # which the splitter cannot tell from a wrapped line: nothing is added after a period.
    assert missing_end("values in that order.", " a[,,] stands for the array.") == ""
    long_tail = "word " * 200
    assert missing_end("It stands in the", long_tail + "end.") == ""  # no end in sight
    assert missing_start("A sentence " + "that goes on " * 60, "and ends here.") == ""
    assert missing_start("", "lower case start.") == ""


def test_neighbouring_text_is_taken_only_where_the_chunks_agree() -> None:
    prev_text, passage = DOC[:120], DOC[100:]
    assert text_before(100, passage, 0, prev_text) == DOC[:100]
    assert text_before(100, "something else entirely", 0, prev_text) == ""
    next_text = DOC[80:]
    assert text_after(100, DOC[:100], 80, next_text) == DOC[100:]
    assert text_after(100, "does not end the same way", 80, next_text) == ""
    # chunks on either side of a page break, with the separator between them
    assert text_after(10, "x" * 10, 12, "Next page.") == "\n\nNext page."


def test_the_edge_sentences_are_completed_and_keep_their_scores() -> None:
    passage = "north corner of the boat shed, beside the oars. Visitors may climb the tower"
    sents = tuple(
        ScoredSentence(s.text, s.kind, 7, i, 0.4, 0.5)
        for i, s in enumerate(split_sentences(passage))
    )
    prefix = "The harbour master keeps the spare lamp wicks in a chest in the\n\n"
    suffix = " on Sundays."
    got = complete_edges(sents, passage, prefix, suffix, first_page=6)
    assert got[0].text.startswith("The harbour master keeps") and got[0].page == 6
    assert got[0].text.endswith("beside the oars.")
    assert got[-1].text == "Visitors may climb the tower on Sundays." and got[-1].page == 7
    assert [s.score for s in got] == [s.score for s in sents]
