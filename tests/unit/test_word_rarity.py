"""rag.word_rarity: a missing everyday word is the user's paraphrase; a missing rare one, the
topic the documents lack."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.search import absence_weight, unknown_share
from rag.word_rarity import (
    COMMON_ZIPF,
    NOT_ENGLISH,
    RARE_ZIPF,
    is_english,
    missing_weight,
    rarity,
)
from tests.unit.test_fusion import _store_of


@pytest.mark.parametrize("word", ["company", "paid", "huge", "turned", "room", "never"])
def test_everyday_words_cost_nothing(word: str) -> None:
    assert rarity(word) == 0.0


@pytest.mark.parametrize("word", ["jupyter", "xlsx", "bpftrace", "conda", "argon2id"])
def test_rare_and_technical_words_cost_in_full(word: str) -> None:
    assert rarity(word) == 1.0


def test_words_in_between_cost_by_their_frequency() -> None:
    from wordfreq import zipf_frequency

    zipf = zipf_frequency("spreadsheet", "en", wordlist="small")
    assert RARE_ZIPF < zipf < COMMON_ZIPF
    assert rarity("spreadsheet") == pytest.approx((COMMON_ZIPF - zipf) / (COMMON_ZIPF - RARE_ZIPF))
    assert 0 < rarity("spreadsheet") < 1
    assert rarity("excel") < rarity("spreadsheet") < rarity("github") < rarity("xlsx")


def test_a_word_in_another_language_counts_as_rare() -> None:
    """The list is English: a word it lacks costs what every missing word cost before."""
    assert rarity("kühlschrank") == 1.0
    assert rarity("") == 1.0


def test_a_paraphrase_in_everyday_words_is_no_sign_of_an_uncovered_question(
    tmp_path: Path,
) -> None:
    """The R FAQ answers "Am I allowed to use this software for paid work at my company?" with
    "Most add-on packages also explicitly allow commercial use": "paid" and "company" are
    the user's words for it. "Excel" and "xlsx" name what it does not cover."""
    store, _ = _store_of(
        tmp_path, "Most add-on packages also explicitly allow commercial use of the software."
    )
    try:
        assert store.unknown_terms(["paid", "company"]) == ["paid", "company"]
        assert unknown_share(store, "Can I use the software for paid work at my company?") == 0.0
        share = unknown_share(store, "Can the software read an xlsx spreadsheet?")
        expected = (rarity("xlsx") + rarity("spreadsheet")) / 4  # software, read, xlsx, spreadsheet
        assert share == pytest.approx(absence_weight(store.chunk_count()) * expected)
        assert share > 0
    finally:
        store.close()


@pytest.mark.parametrize(
    ("question", "english"),
    [
        ("How do I declare a set of indices in a model?", True),
        ("Can I use bpftrace with jupyter and conda?", True),
        ("Which Python package reads Excel spreadsheets?", True),
        ("¿Cómo se declara un conjunto en un modelo?", False),
        ("Wie definiere ich eine Menge von Indizes in einem Modell?", False),
        ("Como posso declarar um conjunto no modelo?", False),
    ],
)
def test_english_questions_are_told_from_others(question: str, english: bool) -> None:
    assert is_english(question) is english


def test_a_question_in_another_language_weighs_its_missing_words_as_before() -> None:
    """The English list says nothing of "conjunto": in a Spanish question each missing word
    counts what it did before frequencies counted, whatever English makes of it."""
    assert (
        missing_weight("¿Cómo se declara un conjunto?", ["conjunto", "declara"]) == 2 * NOT_ENGLISH
    )
    english = "How do I read an xlsx file at my company?"
    assert missing_weight(english, ["xlsx", "company"]) == rarity("xlsx") + rarity("company") == 1.0
    assert missing_weight(english, []) == 0.0


def test_an_unreadable_word_list_counts_every_missing_word_and_does_not_fail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A damaged install (the English list deleted) answers as Hearth did before the list:
    a missing word costs in full. It never makes a document question fail."""
    import wordfreq

    from rag import word_rarity

    def unreadable(*_args: object, **_kwargs: object) -> float:
        raise LookupError("No wordlist 'small' available for language 'en'")

    monkeypatch.setattr(wordfreq, "zipf_frequency", unreadable)
    monkeypatch.setattr(word_rarity, "_unreadable", [])
    word_rarity.rarity.cache_clear()
    try:
        assert word_rarity.rarity("company") == 1.0
        assert word_rarity.rarity("jupyter") == 1.0
        assert "LookupError" in word_rarity.unavailable()
        # the installed app's self-test says so, with the reason
        from app.selftest import StepFailed, _check_word_list

        with pytest.raises(StepFailed, match="word list .wordfreq. cannot be read: LookupError"):
            _check_word_list()
    finally:
        word_rarity.rarity.cache_clear()
