"""Sentence-level evidence for a question: which sentences of the retrieved passages answer
it, how well, and on which page each one stands.

`rescore` runs on the library's thread, right after hybrid search (`rag.search`): the
candidate passages are split into sentences (`rag.sentences`), every sentence gets a
keyword score (the question's content words it holds, weighted by how rare they are among
the candidates) and, within an embedding budget, a meaning score (cosine between its
MiniLM vector and the question's, which the vector search already computed). A passage's
new score mixes its fused score with its best sentence's score, so a passage that holds
one sentence squarely answering the question rises above one that only shares its topic
(chunk vectors average a whole 128-token window). `choose` then picks the quotes for a
grounded answer, or abstains when no sentence is close enough (`ABSTAIN_BELOW`). The first
passage's best sentence leads the quotes: on the dev split the first passage held the
answering page for 0.70 of the questions, the single best sentence held the answer's key
phrase for 0.30. The first passage's sentence that holds the most of the question's words
comes next (it answers in the question's words where MiniLM prefers a restatement).

The weights and the threshold were set on the development half of the evaluation set
(`resources/eval/questions.json`, split "dev") and checked on the held-out half: see
README, "Documents".
"""

from __future__ import annotations

import math
import re
import textwrap
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from rag.code_regions import without_line_numbers
from rag.grounding import content_stems
from rag.markdown_text import is_fence
from rag.quote_lists import beside, introduced_list, opens_list, quote_key
from rag.retrieve import Hit, has_dot_leaders, index_entries
from rag.sentences import Sentence, opens_item, split_sentences

if TYPE_CHECKING:  # numpy only for types: the window plans answers without importing it
    import numpy as np
    import numpy.typing as npt

    Vector = npt.NDArray[np.float32]
else:
    Vector = Any
Embed = Callable[[list[str]], "Vector"]

_QUESTION = re.compile(r"\?[\"'\u201d\u2019)\]]*$")

# Scores and mixing (tuned on the dev split; README "Documents").
W_MEANING = 0.6  # cosine (question, sentence)
W_KEYWORDS = 0.4  # share of the question's (IDF-weighted) content words in the sentence
PASSAGE_MIX = 0.6  # new passage score = (1 - mix) * fused + mix * best sentence
RESCORE_POOL = 10  # passages re-scored (the k returned come from these)
# Sentence tokens embedded per question: in practice every sentence of the first three
# passages and the best two of the others (0.44 s to the quotes on two cores, median). It was
# 700 (0.30 s), which left out the answering sentence of many a paraphrase (one that shares no
# word with the question, so it came last): 1,500 raised the five guides' key phrase quoted
# 22 -> 26 of 70 and the Bash questions' grounded / cited 0.17 / 0.33 -> 0.22 / 0.39, with the
# six manuals' dev and held-out answers unchanged (README, "Grounded answers").
EMBED_BUDGET_TOKENS = 1500
MAX_SENTENCE_CHARS = 400  # longer ones are cut for embedding (MiniLM reads 128 word pieces)
# Best sentence score under this: the documents do not cover it. Chosen with the penalty below
# on a calibration set made of the dev split and three user guides no method had been tuned
# on (R FAQ, SystemTap tutorial, Nettle), checked on the held-out split and two more (NUT
# FAQ, Valgrind): README, "Grounded answers". It was 0.34 with a penalty of 1 for every
# missing word, which declined half of the answerable questions over those guides: users ask
# in their own words, and a paraphrase shares few words with its answer.
ABSTAIN_BELOW = 0.28
# A question word that no passage of the library holds ("thermostat", "CUDA") is the clearest
# sign that the documents do not cover the question: every sentence score is lowered by this
# times the share of such words among the question's, each counted by how rare a word it is
# (rag.word_rarity: "company" not at all, "jupyter" in full).
UNKNOWN_PENALTY = 2.5
# ... in a library of some size: a small one lacks many everyday words whatever it covers
# ("wiped", "box", "enough" over a 35-page user guide that answers the questions asking them),
# so a missing word counts 1 - exp(-chunks / ABSENCE_CHUNKS) of its share: 0.45 over 120
# chunks, 0.92 over 500, all of it over a few thousand. 200 changed no dev answer or
# abstention on the evaluation set (each manual alone, and the six in one library), where
# larger scales (300 and up) cost one dev abstention; it was chosen there, before the
# Kerberos and NUT probes that check it (README, "Grounded answers").
ABSENCE_CHUNKS = 200.0
# A passage whose neighbour in its document (the chunk just before or after it) is among the
# candidates too gains this share of that neighbour's score: the answer stands where the
# relevant text clusters. Measured on the six manuals and five user guides (README, "Grounded
# answers"): of 133 questions, the answering page came first for 2 more and a rank higher for
# a third, lower for none; 0.05-0.3 all gain, 0.1 and 0.15 the most.
NEIGHBOUR_SHARE = 0.1
QUOTES = 4  # at most this many quoted sentences in an answer
QUOTE_MARGIN = 0.15  # another quote must score within this of the best
LEAD_PASSAGES = 1  # the best sentence of each of these first passages is quoted first ...
LEAD_MARGIN = 0.3  # ... when it scores within this of the best sentence
# ... and so is the first passage's sentence that holds the most of the question's words, when
# it holds at least this (IDF-weighted) share of them: "the application MUST run
# update-mime-database" shares the question's words, not its meaning, and MiniLM ranks it
# below two sentences that restate the question.
LEAD_KEYWORDS = 0.5
# A quote this short takes the sentence after it as context when that one goes on from it, and
# so does the answer's first quote, whatever its length: the sentence that matches the question
# best often sets the scene and the next one makes the point ("DHAT ... presents all age/time
# related figures as instruction counts." "This sounds a little odd at first, but it makes runs
# repeatable ..."). Measured on five user guides: key phrase quoted 19 → 22 of 70, answers
# 120 → 125 words; every quote doing so gave 22 as well, with answers 127 → 146 words on the
# evaluation manuals (README, "Grounded answers").
SHORT_WORDS = 20
NEXT_SHORT_WORDS = 12  # ... as does one followed by a sentence this short (a punchline)
FOLLOW_SHARE = 0.8  # ... as does a next (or previous) sentence scoring this share of its score
INDEX_ENTRIES = 3  # a sentence with this many of a book index's entries ...
INDEX_WORDS = 6  # ... one in this many words at least, is a piece of it (not "1 to plain
# text, 2 to bold face, 3 to italic", R's font numbers inside a long sentence)
CODE_CHARS = 600  # code shown after a quote that introduces it ("with the command:") ...
CODE_LINES = 12  # ... in at most this many of its lines


@dataclass(frozen=True)
class ScoredSentence:
    """A sentence of a passage with its scores and page (1-based, as `Hit.page`)."""

    text: str
    kind: str
    page: int
    position: int  # index among the passage's sentences
    keywords: float = 0.0
    meaning: float | None = None  # None: not embedded (outside the budget)
    penalty: float = 0.0  # UNKNOWN_PENALTY x the (weighted) share of words the library lacks
    section: str = ""  # the heading or outline entry it stands under (rag.sections)
    lines: str = ""  # code: as laid out in the passage, to the end of its block
    item: bool = False  # the first sentence of a list item (rag.sentences.opens_item)
    asked: float | None = None  # the score of the document's question it answers (FAQ)

    @property
    def score(self) -> float:
        meaning = self.meaning if self.meaning is not None else 0.0
        own = W_MEANING * meaning + W_KEYWORDS * self.keywords - self.penalty
        return own if self.asked is None else max(own, self.asked)


@dataclass
class Quote:
    """A sentence chosen for the answer: `passage` indexes the hits given to `choose`."""

    text: str
    passage: int
    page: int
    score: float
    context: str = ""  # code the sentence introduces, shown with it
    section: str = ""  # the heading or outline entry it stands under
    items: tuple[str, ...] = ()  # the list it introduces ("... three kinds of triggers:"),
    # at the end of `text` too; "…" last when the list goes on

    @property
    def lead(self) -> str:
        """`text` without its list's items."""
        if not self.items:
            return self.text
        return self.text[: len(self.text) - len(" ".join(self.items))].rstrip()


@dataclass
class Evidence:
    covered: bool
    quotes: list[Quote] = field(default_factory=list)
    best_score: float = 0.0


def page_of(hit: Hit, offset: int) -> int:
    """The page that holds character `offset` of the hit's text."""
    page = hit.page
    for start, number in hit.page_breaks:
        if offset >= start:
            page = number
    return page


def passage_sentences(hit: Hit) -> list[Sentence]:
    return split_sentences(hit.text)


def _idf(question: set[str], pool: Sequence[set[str]]) -> dict[str, float]:
    n = len(pool) or 1
    df = Counter(t for stems in pool for t in stems if t in question)
    return {t: math.log(1.0 + n / (1.0 + df[t])) for t in question}


# Operators and comment marks ("/*", "&&", "<-", "%%"): in a manual they name what a question
# asks about as precisely as a word does, and content words leave them out.
_SYMBOLS = re.compile(r"[^\w\s,.;:!?'\"()\[\]{}\u2018\u2019\u201c\u201d]{2,4}")


def _terms(text: str) -> set[str]:
    return set(content_stems(text)) | set(_SYMBOLS.findall(text))


_COMPOUND = re.compile(r"[-_]")
_NAME = re.compile(r"_|[-\w]*\d[-\w]*-|-[-\w]*\d")  # glp_open_tee, python3-venv, x86-64


def _sentence_terms(text: str) -> set[str]:
    """A sentence's terms, and the parts of the names in it that are made of words: a
    question about "venv" is answered by "The python3-venv binary package ...", one about
    "tee" by "glp_open_tee". Not the parts of a hyphenated word ("user-defined" is not about
    a user): tried on the evaluation set, those gave an answer about "user-defined
    variables" to a question about showing the user a list."""
    terms = _terms(text)
    for term in [t for t in terms if _NAME.search(t)]:
        terms.update(content_stems(" ".join(_COMPOUND.split(term))))
    return terms


def keyword_scores(question: str, sentences: Sequence[str]) -> list[float]:
    """For each sentence, the IDF-weighted share of the question's content words (and
    operator symbols) in it; a part of a compound word in it counts (`_sentence_terms`)."""
    q = _terms(question)
    stems = [_sentence_terms(s) for s in sentences]
    if not q:
        return [0.0] * len(sentences)
    idf = _idf(q, stems)
    total = sum(idf.values()) or 1.0
    return [sum(idf[t] for t in q & s) / total for s in stems]


def _to_embed(
    scored: list[list[ScoredSentence]], count: Callable[[str], int]
) -> list[tuple[int, int]]:
    """(passage, sentence) pairs to embed, within EMBED_BUDGET_TOKENS: passages in rank
    order, each one's sentences by keyword score, the best few of every passage first."""
    order: list[tuple[int, int]] = []
    for rank in range(3):  # round 1: each passage's best two; then the rest by rank
        for p, sents in enumerate(scored):
            ranked = sorted(range(len(sents)), key=lambda i: -sents[i].keywords)
            picks = ranked[:2] if rank == 0 else ranked[2:] if rank == 1 and p < 3 else []
            order.extend((p, i) for i in picks)
    used, out = 0, list[tuple[int, int]]()
    for p, i in order:
        if scored[p][i].kind == "code":
            continue
        n = count(scored[p][i].text[:MAX_SENTENCE_CHARS])
        if used + n > EMBED_BUDGET_TOKENS and out:
            break
        used += n
        out.append((p, i))
    return out


def rescore(
    question: str,
    question_vector: Vector | None,
    hits: Sequence[Hit],
    embed: Embed | None,
    count_tokens: Callable[[str], int],
    unknown_share: float = 0.0,
) -> list[Hit]:
    """The hits re-ranked by their best sentence, each with its scored sentences.
    `unknown_share`: the share of the question's words that no passage of the library holds."""
    penalty = UNKNOWN_PENALTY * unknown_share
    scored: list[list[ScoredSentence]] = []
    for hit in hits:
        sents = passage_sentences(hit)
        kw = keyword_scores(question, [s.text for s in sents])
        block_ends = _code_block_ends(hit.text, sents)
        scored.append(
            [
                ScoredSentence(
                    s.text,
                    s.kind,
                    page_of(hit, s.start),
                    i,
                    kw[i],
                    None,
                    penalty,
                    hit.section_at(s.start),
                    code_lines(hit.text, s.start, block_ends[i]) if s.kind == "code" else "",
                    opens_item(hit.text, s),
                )
                for i, s in enumerate(sents)
            ]
        )
    if embed is None or question_vector is None:
        # No vectors (keyword search only): the keyword score stands in for the meaning.
        scored = [[replace(s, meaning=s.keywords) for s in row] for row in scored]
    else:
        picks = _to_embed(scored, count_tokens)
        if picks:
            vectors = embed([scored[p][i].text[:MAX_SENTENCE_CHARS] for p, i in picks])
            sims = vectors @ question_vector
            for (p, i), sim in zip(picks, sims, strict=True):
                scored[p][i] = replace(scored[p][i], meaning=float(sim))
    out = []
    navigation: set[int] = set()
    for hit, row in zip(hits, scored, strict=True):
        nav = hit.navigation
        if nav:
            # A table of contents repeats a section's title, often the question's very words,
            # without its content: never quoted, and after every passage with content
            # (as rag.retrieve.top_passages ranks it), however well its titles score.
            row = [replace(s, kind="heading") for s in row]
        else:
            row = answers_asked(row)
        # A heading ("Syntax:", "Description") shares the question's topic words and
        # answers nothing: a passage is as good as its best sentence with content.
        best = max((s.score for s in row if _content(s)), default=0.0)
        new = replace(hit, sentences=tuple(row), support=best)
        new.score = (1 - PASSAGE_MIX) * hit.score + PASSAGE_MIX * best
        if nav:
            navigation.add(id(new))
        out.append(new)
    _add_neighbours(out)
    order = {id(h): i for i, h in enumerate(out)}
    return sorted(out, key=lambda h: (id(h) in navigation, -h.score, order[id(h)]))


def answers_asked(row: list[ScoredSentence]) -> list[ScoredSentence]:
    """The passage's sentences, the one that answers a question the document asks (an FAQ's
    "Where's the config file to switch it back?") scored at least as well as that question:
    a user's question matches the FAQ's question better than its answer (MiniLM was trained
    on pairs of questions), and the answer is what to quote. The question is the sentence
    ending in "?" with the headings just before it (its first lines, as a PDF splits them);
    its answer is the first sentence after it, on its page, with content, that is not more
    of the question ("I have to run THREE programs to monitor my UPS!", "Or a variation
    like. . .") nor a heading ("Answer 1")."""
    out = list(row)
    for i, s in enumerate(row):
        if not _QUESTION.search(s.text):
            continue
        start = i
        while start > 0 and row[start - 1].kind == "heading" and row[start - 1].page == s.page:
            start -= 1
        j = i + 1
        while j < min(len(row), i + 4) and (row[j].kind == "heading" or _ASKS.search(row[j].text)):
            j += 1
        if j >= len(row) or row[j].page != s.page or not _content(row[j]):
            continue
        if _ENTRY.match(row[j].text):
            continue  # the next entry's title ("35 I can't run this because ..."), no answer
        asked = max(q.score for q in row[start : i + 1])
        prior = out[j].asked  # "Q1? Q2? Answer.": the better question counts
        out[j] = replace(out[j], asked=asked if prior is None else max(asked, prior))
    return out


# An FAQ entry's numbered title, as a contents page lists it ("11 35 I can't run this ...").
_ENTRY = re.compile(r"[0-9]+(?:\.[0-9]+)*\.?\s+(?:[0-9]+\s+)?[A-Z]")
# A sentence that is more of an FAQ's question: it asks, exclaims or trails off.
_ASKS = re.compile(r"(?:[?!]|\.\s?\.\s?\.|\u2026)[\"'\u201d\u2019)\]]*$")


def _add_neighbours(hits: Sequence[Hit]) -> None:
    """Raise each passage by NEIGHBOUR_SHARE of the best score among the passages next to it
    in its document (scores as they were before any was raised)."""
    before = [h.score for h in hits]
    for h in hits:
        if not h.ordinals:
            continue
        lo, hi = min(h.ordinals), max(h.ordinals)
        near = [
            score
            for o, score in zip(hits, before, strict=True)
            if o is not h
            and o.doc_id == h.doc_id
            and o.ordinals
            and (min(o.ordinals) == hi + 1 or max(o.ordinals) == lo - 1)
        ]
        if near:
            h.score += NEIGHBOUR_SHARE * max(0.0, max(near))


def _content(s: ScoredSentence) -> bool:
    return s.kind in ("prose", "list") and len(s.text.split()) >= 4


def _quotable(s: ScoredSentence) -> bool:
    """A sentence that can be quoted as an answer: content, and not itself a question (an
    FAQ's "How do I convert factors to numeric?" restates the question and answers nothing;
    it still counts towards its passage's rank) nor a contents entry with dot leaders (from
    a contents page that `is_navigation` did not take for one: a part of it, in a chunk with
    other text; it names a section and answers nothing), nor a run of a book index's entries
    ("stap options, 8 stapdev, 7 staprun, 7") or of manual page references."""
    return (
        _content(s)
        and not _QUESTION.search(s.text)
        and not has_dot_leaders(s.text)
        and not _index_run(s.text)
        and not _reference_run(s.text)
    )


def _index_run(text: str) -> bool:
    return _mostly(index_entries(text), text)


def _mostly(entries: int, text: str) -> bool:
    """Whether `entries` (of an index, of references) make up the text: INDEX_ENTRIES at
    least, one in INDEX_WORDS words."""
    return entries >= INDEX_ENTRIES and entries * INDEX_WORDS >= len(text.split())


# A manual page's "SEE ALSO" list ("fc-cat(1), fc-cache(1), fc-list(1), fc-match(1)"): it names
# the question's command and says nothing of it, and was quoted as the answer to "What does
# fc-match do?". A run of them is one as an index's entries are (`_mostly`).
_MAN_REFERENCE = re.compile(r"(?<![\w.+-])[\w.+-]+\(\d[a-z]*\)")  # from a name's start only


def _reference_run(text: str) -> bool:
    return _mostly(len(_MAN_REFERENCE.findall(text)), text)


def _code_block_ends(text: str, sents: Sequence[Sentence]) -> list[int]:
    """For each sentence, where the run of code sentences it starts ends (a code block is
    split into sentences at its blank lines; a Markdown fence ends it: the next fenced block
    is another example, often the same one in another language)."""
    ends = [s.end for s in sents]
    for i in range(len(sents) - 2, -1, -1):
        a, b = sents[i], sents[i + 1]
        gap = text[a.end : b.start].splitlines()
        if a.kind == "code" and b.kind == "code" and not any(is_fence(ln) for ln in gap):
            ends[i] = ends[i + 1]
    return ends


def code_lines(text: str, start: int, end: int) -> str:
    """The code at text[start:end] with its line breaks and relative indentation."""
    line_start = text.rfind("\n", 0, start) + 1
    if text[line_start:start].strip():  # it starts after other text on its line
        line_start = start
    return without_line_numbers(textwrap.dedent(text[line_start:end]).strip("\n"))


def _context(sents: Sequence[ScoredSentence], i: int) -> str:
    """Code that the sentence introduces (it ends with ':' or is followed by code), as laid
    out, cut to CODE_LINES lines and CODE_CHARS characters."""
    nxt = sents[i + 1] if i + 1 < len(sents) else None
    if nxt is None or nxt.kind != "code":
        return ""
    lines = (nxt.lines or nxt.text).splitlines()
    code = "\n".join(lines[:CODE_LINES])
    if len(code) > CODE_CHARS:
        return code[: CODE_CHARS - 1].rstrip() + "…"
    return code + ("\n…" if len(lines) > CODE_LINES else "")


def _lead_picks(hits: Sequence[Hit], best: float) -> list[tuple[float, int, int]]:
    """The best quotable sentence of each of the LEAD_PASSAGES first passages, when it scores
    within LEAD_MARGIN of the best sentence (the passage ranking, fused score and best
    sentence, finds the answering page far more often than the best sentence alone does),
    then the first passage's sentence with the most of the question's words
    (LEAD_KEYWORDS)."""
    out = []
    for p, hit in enumerate(hits[:LEAD_PASSAGES]):
        quotable = [s for s in hit.sentences if _quotable(s)]
        if not quotable:
            continue
        top = max(quotable, key=lambda s: s.score)
        if top.score >= best - LEAD_MARGIN:
            out.append((top.score, p, top.position))
    sents = hits[0].sentences if hits else ()
    # A syntax line ("plot 'file' every {<point_incr>} ...") counts too: it is quoted as the
    # code after the sentence that introduces it ("Syntax:").
    candidates = [s for s in sents if _quotable(s) or _introduced_code(sents, s)]
    words = max(candidates, key=lambda s: (s.keywords, s.score), default=None)
    if words is None or words.keywords < LEAD_KEYWORDS:
        return out
    at = words.position - 1 if words.kind == "code" else words.position
    if (0, at) not in {(p, i) for _, p, i in out}:
        out.append((words.score, 0, at))
    return out


def _introduced_code(sents: Sequence[ScoredSentence], s: ScoredSentence) -> bool:
    return s.kind == "code" and s.position > 0 and sents[s.position - 1].kind == "prose"


def _neighbour(
    sents: Sequence[ScoredSentence], j: int, like: ScoredSentence, seen: set[str]
) -> ScoredSentence | None:
    """Sentence j when it may join the quote of `like`: it can be quoted and stands beside it
    (`rag.quote_lists.beside`)."""
    n = beside(sents, j, like, seen)
    return n if n is not None and _quotable(n) else None


_OPTION = re.compile(r"--?[A-Za-z]")  # a command-line option that opens a sentence
# Words that open a sentence which goes on from the one before ("It shows how ...").
_GOES_ON = re.compile(
    r"(?:it|its|this|these|that|those|they|their|such|thus|so|then|also|here|hence|"
    r"therefore|however|otherwise|instead|for example|for instance|in this|in that|in such)\b",
    re.IGNORECASE,
)


def _continues(s: ScoredSentence, nxt: ScoredSentence) -> bool:
    """Whether `nxt` goes on from `s`: it opens with a referring word, or names something `s`
    names. "You can use bzip2recover to try to recover data from damaged files." is not
    continued by "Return values: 0 for a normal exit, ..."."""
    return bool(_GOES_ON.match(nxt.text)) or bool(
        set(content_stems(s.text)) & set(content_stems(nxt.text))
    )


def _quote(
    hits: Sequence[Hit], p: int, i: int, score: float, seen: set[str], first: bool = False
) -> Quote | None:
    sents = hits[p].sentences
    s = sents[i]
    key = quote_key(s.text)
    if key in seen:
        return None
    seen.add(key)
    text, last = s.text, i
    # A little context: the next sentence too when this one is short, or is the answer's
    # first quote, and the next goes on from it; when the next one is short (a punchline); or
    # when it answers nearly as well ...
    nxt = _neighbour(sents, i + 1, s, seen)
    answers = s.asked is not None  # an FAQ's answer goes on in the next sentence
    # "-r time (duration string.)" heads the next option's definition; the first item of a
    # list that the quote introduces comes with the list (`rag.quote_lists.introduced_list`)
    if nxt is not None and (_OPTION.match(nxt.text) or opens_list(s, nxt)):
        nxt = None
    if nxt is not None and (
        ((first or len(s.text.split()) < SHORT_WORDS) and (_continues(s, nxt) or answers))
        or len(nxt.text.split()) < NEXT_SHORT_WORDS
        or nxt.score >= FOLLOW_SHARE * score
    ):
        text, last = f"{s.text} {nxt.text}", i + 1
        seen.add(quote_key(nxt.text))
        # ... and then the one after it too when that one answers nearly as well ("... all
        # drawing power from the same UPS. The rest of them just run upsmon.")
        after = _neighbour(sents, i + 2, s, seen)
        well = after is not None and after.score >= FOLLOW_SHARE * score
        if after is not None and well and not _OPTION.match(after.text):
            text, last = f"{text} {after.text}", i + 2
            seen.add(quote_key(after.text))
    # ... and the sentence before, when it answers nearly as well ("This version doesn't
    # handle the REAL type." before "It doesn't support the AUTOMATIC TAGS option").
    prev = _neighbour(sents, i - 1, s, seen)
    if prev is not None and prev.score >= FOLLOW_SHARE * score:
        text = f"{prev.text} {text}"
        seen.add(quote_key(prev.text))
    intro, items, last = introduced_list(sents, last, s, seen)
    if items:
        text = " ".join((text, *intro, *items))
    return Quote(text, p, s.page, score, _context(sents, last), s.section, tuple(items))


def choose(hits: Sequence[Hit], quotes: int = QUOTES) -> Evidence:
    """The quotes that answer (the lead passages' best sentences first, then the best
    sentences of all), or `covered=False` when no sentence of any passage scores at least
    ABSTAIN_BELOW."""
    ranked: list[tuple[float, int, int]] = []
    for p, hit in enumerate(hits):
        for s in hit.sentences:
            if _quotable(s):
                ranked.append((s.score, p, s.position))
    ranked.sort(key=lambda t: (-t[0], t[1], t[2]))
    best = ranked[0][0] if ranked else 0.0
    if best < ABSTAIN_BELOW:
        return Evidence(False, [], best)
    chosen: list[Quote] = []
    seen: set[str] = set()
    lead = _lead_picks(hits, best)
    rest = [t for t in ranked if t[0] >= best - QUOTE_MARGIN]
    for score, p, i in lead + rest:
        if len(chosen) >= quotes:
            break
        quote = _quote(hits, p, i, score, seen, first=not chosen)
        if quote is not None:
            chosen.append(quote)
    return Evidence(True, chosen, best)
