"""Is a sentence supported by the passages it cites? Pure and deterministic.

A small model paraphrases badly and invents freely: a number that is not in the passage, a
name from nowhere, a "not" dropped or added. Those are exactly the errors this check looks
for, word by word, against the passage sentences (`rag.sentences`):

- every number in the sentence must occur in the sources (as a number: "412" != "4120");
- every name-like word (a capitalised word inside the sentence, an identifier with a digit,
  an underscore, a dot or brackets, such as `glp_create_prob` or `commands.R`) must occur;
- the sentence must not say "not" where its best matching source sentence does not, nor
  the other way round;
- most of its content words (stemmed, stop words aside) must come from one source sentence
  and its neighbours: `MIN_COVERAGE`; a supported paraphrase reorders and inflects the
  source's words, an invented claim brings its own;
- and it must not be a word salad: no content word three times, no repeated word pair.

Embedding similarity is deliberately not part of the verdict: "climbs 412 steps" and "climbs
512 steps" embed almost the same, which is the error that matters most.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rag.retrieve import STOP_WORDS
from rag.spelling import american

MIN_COVERAGE = 0.75  # of a sentence's content words found in its best source window
WINDOW = 1  # source sentences on each side of the best one that count with it

NEGATIONS = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nothing",
        "neither",
        "nor",
        "cannot",
        "can't",
        "don't",
        "doesn't",
        "isn't",
        "aren't",
        "wasn't",
        "weren't",
        "won't",
        "wouldn't",
        "shouldn't",
        "mustn't",
        "needn't",
        "didn't",
        "hasn't",
        "haven't",
        "without",
    ]
)
# Words that say nothing a source must back (answer scaffolding, citations aside).
_FILLER = frozenset(
    ["also", "yes", "answer", "according", "source", "sources", "document", "documents"]
)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_'+.\-]*[A-Za-z0-9_+]|[A-Za-z]|[0-9][0-9.,]*[0-9]|[0-9]")
_NUMBER = re.compile(r"(?<![\w.])[0-9]+(?:[.,][0-9]+)*(?![\w])")
_IDENT = re.compile(r"[A-Za-z_][\w]*(?:[._][\w]+)+(?:\(\))?|\w+\(\)|[A-Za-z]+[0-9]+\w*")
_CITATION = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")


def stem(word: str) -> str:
    """A light suffix stripper: enough to match "lines"/"line", "matched"/"matches"/"match",
    "containing"/"contains", "created"/"create" (a word's final "e" goes too: "line" and
    "lines" had been "line" and "lin"). Snowball's English stemmer (Porter2) was measured in
    its place and lost: it joins "optimization" with "optimal" and "optimality", and a GLPK
    question about optimisation problems lost its first-ranked page (README, "Documents")."""
    w = word.lower().strip("'.")
    if _ADVERB.match(w):  # "separately" is "separate", "completely" "complete"
        return stem(w[:-2])
    for suffix in _SUFFIXES:
        if suffix == "s" and w.endswith(("ss", "us")):  # "process", "status" are no plurals
            break
        if w.endswith(suffix) and len(w) - len(suffix) >= _MIN_STEM.get(suffix, 3):
            base = w[: -len(suffix)] + ("y" if suffix == "ies" else "")
            if suffix in _UNDOUBLED:  # "stopped", "running" are "stop", "run"
                base = _UNDOUBLE.sub(r"\1", base)
            base = american(_SINGLE_L.sub("l", base))
            # "agreed", "frees": the "e" left is the word's own ("agre", "fre")
            return base if suffix in _E_KEPT else _no_e(base)
    return _no_e(american(_SINGLE_L.sub("l", w)))


# "-ate" goes as "-ation" does, so "activated" meets "activation" and "translate" meets
# "translation"; only after four letters ("update", "state" and "create" stay whole).
_SUFFIXES = ("ations", "ation", "ating", "ated", "ates", "ate", "ings", "ing", "edly", "ed",
             "ies", "es", "s")  # fmt: skip
# An adverb's "-ly" after four letters or more, not after a "p" or a vowel but "e" ("apply",
# "simply", "family", "easily" stay whole: "apply" had been "app", apart from "applies").
_ADVERB = re.compile(r"^[a-z]{4,}(?<![aiouyp])ly$")
_MIN_STEM = {"ating": 4, "ated": 4, "ates": 4, "ate": 4}
# A consonant doubled before "-ed" or "-ing" is one: "stopped", "running", "committed",
# "settings" meet "stop", "run", "commit", "set". Not "l", "s", "z", "f" ("filled", "passed"
# are "fill", "pass"), nor when one letter would be too few for a word ("added" is "add").
_UNDOUBLED = frozenset(["ings", "ing", "edly", "ed"])
_UNDOUBLE = re.compile(r"(?<=[a-z]{2})([bdgkmnprt])\1$")
# A final "ll" after three letters or more is one "l", whatever follows: British "labelled",
# "modelling" meet "label", "model", and "controlled", "installs" meet "control", "install"
# (both sides of every comparison go through this; "fill", "call" stay whole).
_SINGLE_L = re.compile(r"(?<=[a-z]{3})ll$")
_E_KEPT = frozenset(["edly", "ed", "es"])


def _no_e(stem: str) -> str:
    """The stem without its final "e" ("creat", "packag", "valu", "agre", "complet"), as the
    stem of its other forms has none ("created", "packages", "values", "agreed"). Not a
    name's ("glp_open_tee": its parts are words of their own)."""
    return stem[:-1] if stem.endswith("e") and len(stem) > 3 and stem.isalpha() else stem


# A footnote mark glued to a word by PDF extraction: "tableau.4" is the word "tableau".
_FOOTNOTE_MARK = re.compile(r"^([A-Za-z]{3,})\.[0-9]{1,2}$")


def words(text: str) -> list[str]:
    return [_FOOTNOTE_MARK.sub(r"\1", w) for w in _WORD.findall(_CITATION.sub(" ", text))]


def content_stems(text: str) -> list[str]:
    """Stems of the words that carry meaning (stop words, negations and fillers aside)."""
    out = []
    for w in words(text):
        low = w.lower()
        if low in STOP_WORDS or low in NEGATIONS or low in _FILLER:
            continue
        out.append(stem(low))
    return out


def numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(_CITATION.sub(" ", text))}


def names(text: str) -> set[str]:
    """Identifiers and capitalised words after the first word of each sentence."""
    clean = _CITATION.sub(" ", text)
    found = {m.lower().rstrip("()") for m in _IDENT.findall(clean)}
    tokens = words(clean)
    for i, w in enumerate(tokens):
        after_stop = i > 0 and not tokens[i - 1].endswith((".", ":"))
        if after_stop and w[:1].isupper() and w.lower() not in STOP_WORDS and len(w) > 1:
            found.add(w.lower())
    return found


def negated(text: str) -> bool:
    low = text.lower().replace("\u2019", "'")
    return any(w.lower() in NEGATIONS for w in re.findall(r"[A-Za-z']+", low))


@dataclass
class Support:
    """The verdict on one sentence: `supported`, and if not, `reasons` (for the JSON output
    and the tests); `source` is the index of the best matching source sentence."""

    supported: bool
    source: int | None = None
    coverage: float = 0.0
    reasons: list[str] = field(default_factory=list)


def _salad(text: str) -> bool:
    stems = content_stems(text)
    if any(n >= 3 for n in Counter(stems).values()):
        return True
    lowered = [w.lower() for w in words(text)]
    pairs = list(zip(lowered, lowered[1:], strict=False))
    return len(pairs) != len(set(pairs))


def check(sentence: str, sources: Sequence[str], window: int = WINDOW) -> Support:
    """Whether `sentence` is supported by `sources` (passage sentences in document order)."""
    if not sources:
        return Support(False, reasons=["no source"])
    whole = " ".join(sources)
    own = content_stems(sentence)
    if not own:
        return Support(False, reasons=["says nothing"])
    best, best_key = 0, (-1.0, -1.0)
    mine = set(own)
    for i in range(len(sources)):
        lo, hi = max(0, i - window), min(len(sources), i + window + 1)
        near = len(mine & set(content_stems(" ".join(sources[lo:hi])))) / len(mine)
        alone = len(mine & set(content_stems(sources[i]))) / len(mine)
        if (near, alone) > best_key:
            best, best_key = i, (near, alone)
    best_cov = best_key[0]
    reasons: list[str] = []
    missing_numbers = numbers(sentence) - numbers(whole)
    if missing_numbers:
        reasons.append("numbers not in the sources: " + ", ".join(sorted(missing_numbers)))
    have_words = {w.lower() for w in words(whole)} | {stem(w) for w in words(whole)}
    have_names = names(whole) | have_words
    missing_names = {
        n for n in names(sentence) if n not in have_names and stem(n) not in have_words
    }
    if missing_names:
        reasons.append("names not in the sources: " + ", ".join(sorted(missing_names)))
    if negated(sentence) != negated(sources[best]):
        reasons.append("negation differs from the source")
    if best_cov < MIN_COVERAGE:
        reasons.append(f"only {best_cov:.0%} of its words are in one place of the sources")
    if _salad(sentence):
        reasons.append("repeats itself")
    return Support(not reasons, best, best_cov, reasons)


def check_all(sentences: Iterable[str], sources: Sequence[str]) -> list[Support]:
    return [check(s, sources) for s in sentences]


def in_order_share(sentence: str, sources: Sequence[str], window: int = WINDOW) -> float:
    """The largest share of the sentence's words that appear in the same order (gaps
    allowed) in one place of the sources (a sentence and `window` on each side): 1 for a
    sentence that shortens its passage ("The copper kettle was forged by Agnethe Brusk"),
    low for one that strings the passage's words into a new claim ("The lamp room climbs the
    iron column"), which word coverage alone lets through."""
    mine = [stem(w) for w in words(sentence)]
    if not mine:
        return 0.0
    stems = [[stem(w) for w in words(s)] for s in sources]
    best = 0
    for i in range(len(stems)):
        near = [w for part in stems[max(0, i - window) : i + window + 1] for w in part]
        best = max(best, _common_in_order(mine, near))
    return best / len(mine)


def _common_in_order(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]
