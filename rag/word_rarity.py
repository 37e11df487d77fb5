"""How rare a word is in everyday English, for the missing-word penalty (`rag.search
.unknown_share`).

A question word that the documents never write is either the topic they do not cover
("jupyter", "xlsx", "bpftrace") or the user's own word for something they say otherwise
("paid work" for "commercial use", "kills the whole run" for "errors in a long simulation").
Users paraphrase with everyday words; what documents do not cover is mostly named by rare
or technical ones. Over five user guides no method had been tuned on (README, "Grounded
answers"), 29 of the 69 missing words of answerable questions were everyday words (Zipf 4.5
and up: "company", "huge", "turned", "room") and 8 rare ones (Zipf 3 or less); of the 59
missing words of unanswerable questions, 5 were everyday words and 25 rare ones.

The frequencies are wordfreq's (its "small" English list: every word used at least once in a
million, Zipf 3 and up), not a list of our own.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from functools import lru_cache

from rag.evidence import UNKNOWN_PENALTY
from rag.retrieve import STOP_WORDS

log = logging.getLogger(__name__)

# An everyday word at or above this (Zipf: log10 of uses per billion words): its absence from
# the documents costs nothing ("company" 5.6, "huge" 5.1, "paid" 5.1) ...
COMMON_ZIPF = 4.5
# ... a rare one at or below this, or one wordfreq does not list, costs all of its share
# ("github" 3.2 costs 0.87, "spreadsheet" 3.3 0.8, "jupyter" and "xlsx" 1); between the two,
# in proportion ("excel" 3.7: 0.51).
RARE_ZIPF = 3.0
# A question with fewer English function words than this share of its words is taken for
# another language ("¿Cómo declaro un conjunto de índices?" has none, "How do I declare a
# set of indices?" 7 of 10, "Which Python package reads Excel spreadsheets?" 1 of 6): the
# list says nothing about its words, and each missing one counts NOT_ENGLISH, which is what
# every missing word cost before frequencies counted (1 / rag.evidence.UNKNOWN_PENALTY).
# A terse English question with no function word ("bpftrace vs ebpf?") is counted so too.
ENGLISH_SHARE = 0.15
NOT_ENGLISH = 1.0 / UNKNOWN_PENALTY

_LETTERS = re.compile(r"[^\W\d_]+")


def is_english(question: str) -> bool:
    words = _LETTERS.findall(question.lower())
    if not words:
        return True
    return sum(w in STOP_WORDS for w in words) >= ENGLISH_SHARE * len(words)


def missing_weight(question: str, missing: Sequence[str]) -> float:
    """How much the question's words that the documents lack say they do not cover it: each
    counted by its rarity in an English question, NOT_ENGLISH in another language."""
    if not missing:
        return 0.0
    if not is_english(question):
        return NOT_ENGLISH * len(missing)
    return sum(rarity(w) for w in missing)


@lru_cache(maxsize=8192)
def rarity(word: str) -> float:
    """0 for an everyday English word, 1 for a rare or technical one (or not English), in
    between by its frequency; 1 for every word when the list cannot be read (as before
    frequencies counted: a damaged install answers as Hearth did, it does not fail)."""
    zipf = _zipf(word)
    if zipf is None:
        return 1.0
    return min(1.0, max(0.0, (COMMON_ZIPF - zipf) / (COMMON_ZIPF - RARE_ZIPF)))


_unreadable: list[str] = []  # why the list could not be read, once


def unavailable() -> str:
    """Why the English list could not be read ("" when it could, or was not needed yet)."""
    return _unreadable[0] if _unreadable else ""


def _zipf(word: str) -> float | None:
    if _unreadable:
        return None
    try:
        from wordfreq import zipf_frequency  # ~0.1 s the first time, when a word is missing

        return float(zipf_frequency(word, "en", wordlist="small"))
    except (ImportError, OSError, LookupError, ValueError) as exc:
        _unreadable.append(f"{type(exc).__name__}: {exc}")
        log.warning("English word frequencies unavailable, every missing word counts: %s", exc)
        return None
