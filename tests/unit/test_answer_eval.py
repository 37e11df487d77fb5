"""The answer evaluation's summary (rag.answer_eval.summarise): a user's own question set may
give only the pages that answer, or only a key phrase; what it does not give is not counted
as a failure."""

from __future__ import annotations

from rag.answer_eval import key_recall, summarise
from rag.evaluate import Question


def _row(recall: float | None, cited: bool, abstained: bool = False) -> dict[str, object]:
    return {
        "key_recall": recall,
        "cited": cited,
        "abstained": abstained,
        "unsupported": 0,
        "first_text_s": 0.3,
        "model_ttft_s": None,
        "prompt_tokens": 0,
    }


def test_questions_without_a_key_or_pages_are_not_counted_as_failures() -> None:
    questions = [
        Question("a", "What is a trigger?", "t.txt", (1,), key="named facility"),
        Question("b", "Can a name hold spaces?", "t.txt", (1,)),  # no key phrase
        Question("c", "What kinds are there?", "t.txt", (), key="three kinds"),  # no pages
        Question("u", "How do I pin a package?", "t.txt", (), covered=False),
    ]
    rows = [_row(1.0, True), _row(None, True), _row(0.5, False), _row(None, False, True)]
    s = summarise(rows, questions)
    assert s["covered"] == 3 and s["with_key"] == 2
    assert s["grounded"] == 0.5  # a and c: one holds its key phrase
    assert s["cited"] == 1.0  # a and b give pages, and both cite them
    assert s["abstained_uncovered"] == 1.0 and s["answered_covered"] == 1.0


def test_nothing_to_measure_is_none_not_zero() -> None:
    s = summarise([_row(None, False)], [Question("b", "Can a name hold spaces?", "t.txt", ())])
    assert s["grounded"] is None and s["cited"] is None and s["abstained_uncovered"] is None
    assert key_recall("three kinds of triggers", "There are three kinds of triggers.") == 1.0
