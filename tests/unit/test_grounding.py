"""The support check (rag.grounding): a supported paraphrase passes; an invented number,
name or negation fails."""

from __future__ import annotations

from rag.grounding import check, content_stems

SOURCES = [
    "Climbing the tower.",
    "The keeper of the Varnholm lighthouse climbs exactly 412 steps to reach the lamp room.",
    "The stairs wind around a central column of iron.",
    "The C-style comments are not supported.",
]


def test_a_supported_paraphrase_passes() -> None:
    verdict = check("To reach the lamp room, the keeper climbs 412 steps [1].", SOURCES)
    assert verdict.supported, verdict.reasons
    assert verdict.source == 1
    assert check("The stairs wind around an iron column.", SOURCES).supported
    assert check("C-style comments are not supported.", SOURCES).supported


def test_an_invented_number_fails() -> None:
    verdict = check("The keeper climbs 512 steps to reach the lamp room.", SOURCES)
    assert not verdict.supported and "512" in " ".join(verdict.reasons)


def test_an_invented_name_fails() -> None:
    verdict = check("The keeper of the Skagen lighthouse climbs 412 steps.", SOURCES)
    assert not verdict.supported and "skagen" in " ".join(verdict.reasons)


def test_a_negation_added_or_dropped_fails() -> None:
    assert not check(
        "The keeper does not climb 412 steps to reach the lamp room.", SOURCES
    ).supported
    assert not check("The C-style comments are supported.", SOURCES).supported


def test_invented_claims_and_word_salad_fail() -> None:
    assert not check("The lighthouse was painted red by the keeper in 1901.", SOURCES).supported
    assert not check("The keeper keeper keeper climbs the steps.", SOURCES).supported
    assert not check("anything", []).supported


def test_british_and_american_spellings_are_one_word() -> None:
    british = content_stems("Optimisation colours analysed at the centre; organise it")
    american = content_stems("Optimization colors analyzed at the center; organize it")
    assert british == american
    assert content_stems("size raise hour") == content_stems("sizes raised hours")
    assert "raiz" not in content_stems("raise")  # too short to change


def test_the_forms_of_a_word_ending_in_e_are_one_word() -> None:
    """The stems of "line"/"lines" and "create"/"created" differed (a question about a
    package counted nothing for a sentence about packages)."""
    assert content_stems("line file create package") == content_stems(
        "lines files created packages"
    )
    assert content_stems("configure compile") == content_stems("configuring compiled")
    assert content_stems("value issue agree") == content_stems("values issues agreed")
    assert content_stems("complete free") == content_stems("completely freed")


def test_a_verb_in_ate_meets_its_noun_in_ation() -> None:
    """dpkg's "the same trigger is activated several times" is answered by "Repeated
    activation ... has no additional effect"."""
    assert content_stems("activated translate") == content_stems("activation translations")
    assert content_stems("separate immediate") == content_stems("separately immediately")
    # short stems and look-alikes stay apart
    assert content_stems("update state format") == ["updat", "stat", "format"]
    assert content_stems("apply applies") == ["apply", "apply"]
    assert content_stems("family simply") == ["family", "simply"]


def test_a_doubled_consonant_and_a_double_s_are_one_word() -> None:
    """The stems of "stopped", "running", "settings" were their own ("stopp", "runn", "sett"), and
    "process", "class" lost an "s" their plurals keep ("proces" / "process")."""
    assert content_stems("stopped running settings controlled labelled") == content_stems(
        "stop run set control label"
    )
    assert content_stems("process class access status") == content_stems(
        "processes classes accessed statuses"
    )
    assert content_stems("install installed installs") == ["instal"] * 3
    # a word's own double letters stay ("added" is "add", "filled" is "fill")
    assert content_stems("added filled passed") == ["add", "fill", "pass"]


def test_a_footnote_mark_is_not_part_of_the_word() -> None:
    assert content_stems("the simplex tableau.4") == content_stems("the simplex tableau")
    assert "commands.r" in content_stems("source commands.R")
    assert "python3.11" in content_stems("needs python3.11")
