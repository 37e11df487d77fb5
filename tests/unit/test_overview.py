"""Which questions ask about whole documents, and which documents (rag/overview.py)."""

from __future__ import annotations

import pytest

from rag.index import DocRow
from rag.overview import may_ask_for_overview, overview_documents


def doc(i: int, name: str) -> DocRow:
    return DocRow(i, f"/docs/{name}", name, 1, 0.0, "", 3, 9, "ready", "", 1.0, float(i), 0.0)


DOCS = [doc(1, "glpk.pdf"), doc(2, "shared-mime-info-spec.pdf"), doc(3, "Varnholm Handbook.pdf")]


@pytest.mark.parametrize(
    "question",
    ["What is this document about?", "Summarize the document.", "summarise this pdf please",
     "Give me a short summary of the file", "What's the paper about?", "TL;DR of the document",
     "Give me an overview of the document"],
)  # fmt: skip
def test_a_singular_question_is_about_the_document_added_last(question: str) -> None:
    assert overview_documents(question, DOCS) == [DOCS[2]]


def test_a_plural_question_is_about_several_most_recent_first() -> None:
    assert overview_documents("Summarize my documents", DOCS) == DOCS[::-1]
    assert overview_documents("What are these files about?", DOCS) == DOCS[::-1]


def test_a_question_that_names_a_document_is_about_that_one() -> None:
    assert overview_documents("What is the GLPK manual about?", DOCS) == [DOCS[0]]
    assert overview_documents("Summarize the shared-mime-info spec", DOCS) == [DOCS[1]]
    both = overview_documents("Summarize glpk and the varnholm handbook", DOCS)
    assert both == [DOCS[2], DOCS[0]]


@pytest.mark.parametrize(
    "question",
    ["Summarize the rules for glob patterns", "What is a glob pattern used for?",
     "What does the manual say about the simplex method?", "How do I export a plot?",
     "Summarize", "What is this about?", "What is GLPK?", "Tell me about the document format"],
)  # fmt: skip
def test_questions_that_name_something_to_look_for_are_searched(question: str) -> None:
    assert overview_documents(question, DOCS) is None


def test_the_cheap_check_lets_every_overview_question_through() -> None:
    """Search lists the documents only for questions this check lets through."""
    asked = ["What is this document about?", "Summarize my documents", "Give me an overview"]
    assert all(may_ask_for_overview(q) for q in asked)
    assert not may_ask_for_overview("How do I export a plot?")
