"""British and American spellings of one word ("optimisation" / "optimization", "colour" /
"color"): a manual written in one is asked in the other. One table serves both uses: the
word forms a library might hold (`variants`, for FTS5 lookups of real words) and one stem for
both spellings (`american`, for comparing stems in rag.grounding). Pure."""

from __future__ import annotations

# (British stem ending, American stem ending, the endings a word form adds after them).
PAIRS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("is", "iz", ("ation", "ations", "e", "ed", "es", "ing")),
    ("ys", "yz", ("e", "ed", "es", "ing")),
    ("our", "or", ("", "s")),
    ("tre", "ter", ("", "s")),
    ("ogue", "og", ("",)),
)
MIN_ROOT = 3  # letters before the ending: "size", "hour", "our" are not spellings to change


def variants(word: str) -> list[str]:
    """The word's other spellings (British <-> American), without the word itself. Only a
    guess: a variant that no document holds simply matches nothing."""
    out: list[str] = []
    for british, american_, endings in PAIRS:
        for end in endings:
            for have, other in ((british + end, american_ + end), (american_ + end, british + end)):
                root = len(word) - len(have)
                if word.endswith(have) and root >= MIN_ROOT:
                    variant = word[:root] + other
                    if variant != word and variant not in out:
                        out.append(variant)
    return out


def american(stem: str) -> str:
    """A stem (what rag.grounding.stem leaves: "optimis", "optimise", "colour") in its American
    spelling ("optimiz", "color"), applied to both sides of every comparison, so a word that
    merely looks British ("precise") only meets its own kind."""
    for british, american_, endings in PAIRS:
        short = ("", *(e for e in endings if len(e) <= 1))  # the stemmer strips the others
        forms = {b + e for b in (british, american_) for e in short}
        for form in sorted(forms, key=len, reverse=True):
            if stem.endswith(form) and len(stem) - len(form) >= MIN_ROOT:
                return stem[: len(stem) - len(form)] + american_
    return stem
