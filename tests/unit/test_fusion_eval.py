"""rag.evaluate's pure parts: ranks, metrics and the questions file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rag.evaluate import SPLITS, first_hit_rank, load_questions, metrics, select_questions
from rag.retrieve import Hit


def hit(file: str, page: int, page_end: int | None = None) -> Hit:
    return Hit(1, file, page, page if page_end is None else page_end, 0.0, "", 0, 0)


def test_first_hit_rank_needs_the_right_file_and_a_covering_page_range() -> None:
    hits = [hit("/b.pdf", 3), hit("/a.pdf", 1, 2), hit("/a.pdf", 4, 5)]
    assert first_hit_rank(hits, Path("/a.pdf"), [5]) == 3
    assert first_hit_rank(hits, Path("/a.pdf"), [2, 5]) == 2
    assert first_hit_rank(hits, Path("/a.pdf"), [3]) is None
    assert first_hit_rank([], Path("/a.pdf"), [1]) is None
    # pages of another file that answer too ("also" in questions.json)
    assert first_hit_rank(hits, Path("/a.pdf"), [9], also=[(Path("/b.pdf"), [3])]) == 1
    assert first_hit_rank(hits, Path("/a.pdf"), [9], also=[(Path("/b.pdf"), [4])]) is None
    assert first_hit_rank(hits, Path("/a.pdf"), [5], also=[(Path("/c.pdf"), [3])]) == 3


def test_metrics() -> None:
    m = metrics([1, 3, None, 6])
    assert m["hit@1"] == pytest.approx(0.25)
    assert m["hit@5"] == pytest.approx(0.5)
    assert m["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 6) / 4)


def test_bundled_questions_load_with_pages() -> None:
    everything = load_questions()
    assert len({q.id for q in everything}) == len(everything)
    questions = [q for q in everything if q.covered]
    assert len(questions) >= 50
    assert all(q.pages and all(p >= 1 for p in q.pages) for q in questions)
    # the answer evaluation: a key phrase for each covered question, >= 10 uncovered ones,
    # and every split in each group
    assert all(q.key for q in questions)
    uncovered = [q for q in everything if not q.covered]
    assert len(uncovered) >= 10 and all(not q.file and not q.pages for q in uncovered)
    for group in (questions, uncovered):
        assert {q.split for q in group} == set(SPLITS) == {"dev", "heldout", "ood"}
    files = {q.file for q in questions}
    also = [(f, pages) for q in questions for f, pages in q.also]
    assert also and all(f in files and pages for f, pages in also)


def test_questions_file_formats(tmp_path: Path) -> None:
    plain = tmp_path / "q.json"
    plain.write_text(json.dumps([{"question": "Why?", "file": "/x.pdf", "page": 3}]))
    (q,) = load_questions(plain)
    assert (q.id, q.file, q.pages, q.also) == ("1", "/x.pdf", (3,), ())
    plain.write_text(
        json.dumps(
            {
                "questions": [
                    {
                        "id": "a",
                        "question": "Why?",
                        "file": "/x.pdf",
                        "pages": [3],
                        "also": [{"file": "/y.pdf", "pages": [7, 8], "evidence": "because"}],
                    }
                ]
            }
        )
    )
    (q,) = load_questions(plain)
    assert q.also == (("/y.pdf", (7, 8)),)


def test_a_broken_question_set_says_what_is_wrong(tmp_path: Path) -> None:
    """A user's own question set: a clear message for each mistake, never a traceback."""
    from engine.errors import DocumentError
    from rag.evaluate import declared_paths, resolve_file

    bad = tmp_path / "q.json"
    cases = {
        '{"files":': "is not valid JSON",
        '{"questions": {"a": 1}}': '"questions" is not a list',
        '[{"id": "a", "question": " "}]': "Question a of the evaluation set: it has no question",
        '[{"id": "b", "question": "Why?"}]': 'Question b of the evaluation set: it names no "file"',
        '[{"id": "c", "question": "Why?", "file": "x", "pages": "abc"}]': "a field is malformed",
    }
    for text, says in cases.items():
        bad.write_text(text)
        with pytest.raises(DocumentError, match=re.escape(says)):
            load_questions(bad)
    with pytest.raises(DocumentError, match="cannot be read"):
        load_questions(tmp_path / "missing.json")
    (q,) = load_questions_text(bad, '[{"question": "Why?", "covered": false}]')
    assert not q.covered and q.file == ""
    # a file's path: relative to the question set, and said when it does not exist
    (tmp_path / "doc.txt").write_text("Because.")
    bad.write_text(json.dumps({"files": {"d": {"path": "doc.txt"}, "m": {"path": "/no.pdf"}}}))
    declared = declared_paths(bad)
    assert resolve_file("d", declared["d"]) == tmp_path / "doc.txt"
    with pytest.raises(DocumentError, match="/no.pdf does not exist"):
        resolve_file("m", declared["m"])


def load_questions_text(path: Path, text: str) -> list:
    path.write_text(text)
    return load_questions(path)


def test_only_keeps_its_files_questions_and_their_splits_uncovered_ones() -> None:
    everything = load_questions()
    bash = select_questions(everything, ["bashref"])
    assert {q.split for q in bash} == {"ood"}
    assert any(not q.covered for q in bash)
    assert all(q.file in ("", "bash-doc/bashref.pdf") for q in bash)
    five = select_questions(everything, ["R-intro", "glpk", "gnuplot", "libtasn1", "shared-mime"])
    assert {q.split for q in five} == {"dev", "heldout"}
    assert len([q for q in five if not q.covered]) == 14
