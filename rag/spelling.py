"""British and American spellings of one word ("optimisation" / "optimization", "colour" /
"color"): a manual written in one is asked in the other. One table serves both uses: the
word forms a library might hold (`variants`, for FTS5 lookups of real words) and one stem for
both spellings (`american`, for comparing stems in rag.grounding). `variants` also knows the
forms of irregular verbs, which no stemmer joins: "How are records sent?" over a manual that
says "send" counted "sent" as a word the library lacks, and abstained. And a name's library
file name (`library_names`: "hogweed" / "libhogweed"). Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence

# (British stem ending, American stem ending, the endings a word form adds after them).
PAIRS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("is", "iz", ("ation", "ations", "e", "ed", "es", "ing")),
    ("ys", "yz", ("e", "ed", "es", "ing")),
    ("our", "or", ("", "s")),
    ("tre", "ter", ("", "s")),
    ("ogue", "og", ("",)),
)
MIN_ROOT = 3  # letters before the ending: "size", "hour", "our" are not spellings to change

# Irregular verbs, a group per verb (base, past, past participle). Left out: forms that are
# also other words a manual uses ("bound", "found", "left", "lead", "lay", "saw", "felt",
# "bit", "sat": an "8-bit" value, a SAT solver).
_IRREGULAR_TEXT = (
    "begin began begun;bend bent;bite bitten;blow blew blown;break broke broken;"
    "breed bred;bring brought;build built;burn burnt;buy bought;catch caught;choose chose "
    "chosen;come came;creep crept;deal dealt;dig dug;do did done;draw drew drawn;dream "
    "dreamt;drink drank drunk;drive drove driven;eat ate eaten;fall fallen;fight fought;"
    "fly flew flown;forbid forbade forbidden;forget forgot forgotten;forgive forgave "
    "forgiven;freeze froze frozen;get got gotten;give gave given;go went gone;grow grew "
    "grown;hang hung;have had;hear heard;hide hid hidden;hold held;keep kept;know knew known;"
    "learn learnt;lend lent;lose lost;make made;mean meant;meet met;overcome overcame;"
    "override overrode overridden;overwrite overwrote overwritten;pay paid;rebuild rebuilt;"
    "redo redid redone;rerun reran;rewrite rewrote rewritten;ride rode ridden;ring rang rung;"
    "rise risen;run ran;say said;see seen;seek sought;sell sold;send sent;shake shook shaken;"
    "shine shone;shoot shot;show shown;shrink shrank shrunk;sing sang sung;sink sank sunk;"
    "sleep slept;slide slid;speak spoke spoken;spend spent;spill spilt;spin spun;"
    "stand stood;steal stole stolen;stick stuck;strike struck;swear swore sworn;swim swam "
    "swum;take took taken;teach taught;tear tore torn;tell told;think thought;throw threw "
    "thrown;understand understood;undo undid undone;wake woke woken;wear wore worn;weave "
    "wove woven;win won;withdraw withdrew withdrawn;write wrote written"
)
_FORMS: dict[str, tuple[str, ...]] = {
    form: tuple(group)
    for group in (g.split() for g in _IRREGULAR_TEXT.split(";"))
    for form in group
}


def variants(word: str) -> list[str]:
    """The word's other spellings (British <-> American) and, for an irregular verb, its
    other forms ("sent" -> "send"), without the word itself. Only a guess: a variant that no
    document holds simply matches nothing."""
    out: list[str] = [f for f in _FORMS.get(word.lower(), ()) if f != word.lower()]
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


def library_names(terms: Sequence[str]) -> list[str]:
    """The library file names "lib<term>" of the terms of three or more letters: a manual that
    writes "libhogweed" and "-lhogweed" answers a question about "Hogweed" ("Nettle actually
    consists of two libraries, 'libnettle' and 'libhogweed'."). Shorter terms would find
    other libraries ("R's" has the term "s": "libs")."""
    return [f"lib{t}" for t in terms if len(t) >= 3 and t.isalpha()]


# Words a user and a manual say differently for the same thing on a computer: a question
# about a "folder" over a manual that writes "directory" is not about something the library
# lacks (pyenv's README, Node.js's path API both abstained on "folder"). Only for the
# unknown-word check (rag.index.Store.unknown_terms); kept to pairs that mean the same thing
# in any manual, not a thesaurus.
_SAME_THING = (
    ("folder", "directory"),
    ("folders", "directories"),
    ("subfolder", "subdirectory"),
    ("subfolders", "subdirectories"),
)
SYNONYMS: dict[str, tuple[str, ...]] = {}
for _group in _SAME_THING:
    for _word in _group:
        SYNONYMS[_word] = tuple(w for w in _group if w != _word)


def same_things(term: str) -> list[str]:
    """The other words for what `term` names (`SYNONYMS`), [] for most words."""
    return list(SYNONYMS.get(term, ()))


# A link's address: the words in it are not the document's text.
_LINK = re.compile(r"(?:https?://|ftp://|www\.)\S+", re.IGNORECASE)


def only_in_links(text: str, spellings: Sequence[str]) -> bool:
    """Whether a word (in any of `spellings`) stands in `text` only inside links' addresses:
    the Kerberos guide names Heimdal once, in "https://bugs.launchpad.net/ubuntu/+source/
    libpam-heimdal/+bug/86528", and a question about migrating from Heimdal counted it as a
    word the library holds. A word's stem (its first letters) anywhere else counts as a use."""
    if not _LINK.search(text):
        return False
    rest = _LINK.sub(" ", text).lower()
    return not any(s[: max(4, len(s) - 3)].lower() in rest for s in spellings)
