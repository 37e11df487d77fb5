"""Hybrid retrieval, the pure parts: query sanitising for FTS5, fusion of the two indexes' results
(relative score fusion, Hearth's default, or reciprocal rank fusion), merging neighbouring
chunks of the same document, and passages for the prompt.

Nothing here touches Chroma or SQLite; `rag.search.Searcher.search` feeds these functions with
candidates from both indexes. Retrieved text is data: it is only ever quoted to the model.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from engine.types import Passage
from rag.normalize import without_bidi_controls
from rag.spelling import library_names

if TYPE_CHECKING:  # pragma: no cover
    from rag.evidence import ScoredSentence

Mode = Literal["hybrid", "vector", "keyword"]
Fusion = Literal["score", "rrf"]
FUSIONS: tuple[Fusion, ...] = ("score", "rrf")

K = TypeVar("K", bound=Hashable)

# How hybrid search fuses its two lists. "score" (relative score fusion) did as well as
# reciprocal rank fusion or better on every measure of Hearth's eval set, with both chunk sizes
# tried (README, `hearth docs eval --fusion`): a passage that one index finds with a clearly
# better score than the rest keeps its lead, where RRF would only see "rank 2" and let
# passages that both indexes rank mediocrely overtake it.
FUSION: Fusion = "score"

# RRF's constant. Cormack et al. (2009) use 60; on Hearth's eval set (two lists of 20
# candidates) every k from 1 to 60 scored within one question of each other, and 20 had the
# best MRR (see rag/evaluate.py and `hearth docs eval`).
RRF_K = 20.0

# Words that carry no signal for BM25 and, joined with OR, would make the keyword query match
# nearly every chunk (slow on a big library, and noise in the ranking).
_STOP_TEXT = (
    "a about above after again against all am an and any are as at be because been before being "
    "below between both but by can could did do does doing down during each few for from "
    "further had has have having he her here hers herself him himself his how i if in into is "
    "it its itself just me more most my myself no nor not now of off on once only or other our "
    "ours ourselves out over own same she should so some such than that the their theirs them "
    "themselves then there these they this those through to too under until up very was we were "
    "what when where which while who whom why will with would you your yours yourself "
    "yourselves does tell explain describe please say says said summarize summarise "
)
STOP_WORDS = frozenset(_STOP_TEXT.split())

_WORD = re.compile(r"\w+", re.UNICODE)
# English contractions and the possessive: "isn't" is "is" (a stop word), not the words
# "isn" and "t", which no manual writes and which counted as words the library lacks (a
# question "Why isn't the venv module ...?" abstained on them); "R's" is "R".
_IRREGULAR_NOT = re.compile(r"\b(ca|wo|sha)n['\u2019]t\b", re.IGNORECASE)
_CONTRACTION = re.compile(r"n['\u2019]t\b|['\u2019](?:s|re|ve|ll|d|m)\b", re.IGNORECASE)
_FULL_FORM = {"ca": "can", "wo": "will", "sha": "shall"}


def without_contractions(text: str) -> str:
    """`text` with "isn't" as "is", "can't" as "can", "won't" as "will", "you're" as
    "you", "R's" as "R"."""
    text = _IRREGULAR_NOT.sub(lambda m: _FULL_FORM[m.group(1).lower()], text)
    return _CONTRACTION.sub("", text)


@dataclass(frozen=True)
class Candidate:
    """One chunk found by either index, with what is needed to merge and cite it."""

    chunk_id: int
    doc_id: int
    ordinal: int
    file: str
    page_start: int
    page_end: int
    char_start: int  # from the start of page_start's text (as rag.chunking counts)
    char_end: int
    text: str
    score: float = 0.0
    doc_offset: int = 0  # where page_start's text starts in the whole document

    @property
    def doc_start(self) -> int:
        return self.doc_offset + self.char_start

    @property
    def doc_end(self) -> int:
        return self.doc_offset + self.char_end


def location(page: int, page_end: int = 0, section: str = "") -> str:
    """Where a passage stands, as citations show it: "page 4", "pages 4-5", and for a
    Markdown file (one page) its section alone: "§ Installing"; a PDF with an outline
    both: "page 94, § Bash Variables"."""
    pages = f"pages {page}-{page_end}" if page_end > page else f"page {page}" if page else ""
    if not section:
        return pages
    return f"§ {section}" if page <= 1 and page_end <= 1 else f"{pages}, § {section}"


@dataclass
class Hit:
    """A retrieved passage. `page` is 1-based (pypdf page index + 1); `file` is the path as
    added. `char_start`/`char_end` count from the start of `page`'s text, as in rag.chunking
    (`char_end` runs past that page when the passage spans pages)."""

    doc_id: int
    file: str
    page: int
    page_end: int
    score: float
    text: str
    char_start: int
    char_end: int
    chunk_ids: tuple[int, ...] = field(default_factory=tuple)
    ordinals: tuple[int, ...] = ()  # the chunks' places in their document (as chunk_ids)
    # (offset in `text`, page number) where each page after `page` starts (rag.search)
    page_breaks: tuple[tuple[int, int], ...] = ()
    # (offset in `text`, heading) of a Markdown file's or an outlined PDF's sections
    # (rag.sections): the one in effect at the start (offset 0), then each one inside it
    sections: tuple[tuple[int, str], ...] = ()
    # Sentence-level evidence (rag.evidence.rescore): scored sentences, the best score
    sentences: tuple[ScoredSentence, ...] = ()
    support: float = 0.0
    navigation: bool = False  # a table of contents (top_passages puts it after content)

    @property
    def name(self) -> str:
        """The file's name as citations show it (`file` opens it)."""
        return without_bidi_controls(Path(self.file).name)

    @property
    def section(self) -> str:
        """The section the passage starts in ("" when its file has none)."""
        return self.sections[0][1] if self.sections and self.sections[0][0] == 0 else ""

    def section_at(self, offset: int) -> str:
        """The heading in effect at character `offset` of the text ("" when none)."""
        found = ""
        for start, heading in self.sections:
            if start <= offset:
                found = heading
        return found

    def pages_label(self) -> str:
        return location(self.page, self.page_end, self.section)

    def label(self) -> str:
        return f"{self.name}, {self.pages_label()}"

    def covers_page(self, page: int) -> bool:
        return self.page <= page <= self.page_end

    def source_dict(self) -> dict[str, object]:
        """What a chat stores as one source of an answer (see `source_dicts`)."""
        out: dict[str, object] = {
            "file": self.file,
            "name": self.name,
            "page": self.page,
            "page_end": self.page_end,
            "score": round(self.score, 6),
            "text": self.text,
        }
        if self.section:  # rag.sections
            out["section"] = self.section
        return out

    def as_dict(self) -> dict[str, object]:
        return {
            "doc_id": self.doc_id,
            **self.source_dict(),
            "char_start": self.char_start,
            "char_end": self.char_end,
        }


def query_terms(text: str) -> list[str]:
    """Lower-cased words of a query, stop words dropped, duplicates removed, order kept.

    If every word is a stop word the words are kept (a query like "to be or not to be")."""
    words = [w.lower() for w in _WORD.findall(without_contractions(text))]
    seen: dict[str, None] = {}
    for w in words:
        if w not in STOP_WORDS:
            seen.setdefault(w, None)
    if not seen:
        for w in words:
            seen.setdefault(w, None)
    return list(seen)


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression for free text: every term quoted (so FTS5 syntax in the user's
    text — quotes, AND/OR/NOT/NEAR, column filters, `*`, `^` — is taken literally) and joined
    with OR, which BM25 then ranks. None when the text has no words at all.

    Each term's library file name is (`library_names`). A term's other spelling
    (`rag.spelling.variants`) is not: tried on the evaluation
    set's dev split, "optimisation" -> "optimization" filled the keyword candidates of a
    GLPK question with passages about optimization in general and lost its answer. It counts
    where it is safe: a word the library holds in its other spelling is not "unknown"
    (`Store.unknown_terms`), and sentence scores compare both spellings as one word."""
    terms = query_terms(text)
    if not terms:
        return None
    terms = terms + library_names(terms)
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[K]], k: float = RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[K, float]]:
    """Fuse ranked lists: score(d) = sum over lists of w / (k + rank), rank starting at 1.

    Returns (item, score) best first. Ties keep the order in which items were first seen
    (list by list), so the result is deterministic. A duplicate within one list counts once,
    at its best rank."""
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    if k < 0:
        raise ValueError("k must be >= 0")
    scores: dict[K, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        seen: set[K] = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    order = {item: i for i, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))


def relative_score_fusion(
    results: Sequence[Sequence[tuple[K, float]]], weights: Sequence[float] | None = None
) -> list[tuple[K, float]]:
    """Fuse scored lists (higher is better; each index's own scale, such as cosine similarity
    and BM25): each list's scores are rescaled to 0..1 (its best 1, its worst 0; a list whose
    scores are all equal gives each item 1), an item missing from a list gets 0 there, and an
    item's fused score is the weighted mean over the lists, in 0..1.

    Returns (item, score) best first; ties keep the order in which items were first seen
    (list by list). A duplicate within one list counts once, with its best score."""
    if weights is None:
        weights = [1.0] * len(results)
    if len(weights) != len(results):
        raise ValueError("one weight per list")
    if any(w < 0 for w in weights):
        raise ValueError("weights must be >= 0")
    total = sum(weights) or 1.0
    fused: dict[K, float] = {}
    for result, weight in zip(results, weights, strict=True):
        best: dict[K, float] = {}
        for item, score in result:
            if item not in best or score > best[item]:
                best[item] = score
            fused.setdefault(item, 0.0)
        if not best:
            continue
        lo, hi = min(best.values()), max(best.values())
        span = hi - lo
        for item, score in best.items():
            norm = (score - lo) / span if span > 0 else 1.0
            fused[item] += weight * norm / total
    order = {item: i for i, item in enumerate(fused)}
    return sorted(fused.items(), key=lambda kv: (-kv[1], order[kv[0]]))


# A dot leader followed by a page number: ". . . . . . 158" or "........158".
_LEADER = re.compile(r"(?:\.\s?){4,}\s*\d+")


# A run of leader dots, with or without its page number (a chunk may end inside an entry).
_DOTS = re.compile(r"(?:\.\s?){6,}")

# An entry of a book's index without dot leaders, as LaTeX's makeindex and DocBook's FOP set
# it: a term, a comma and its pages ("tracepoint, 14, 44", "uname -m, 7", "copy fault, 72").
_INDEX_PAGES = r"[A-Za-z)\]],\s*\d{1,4}(?:\s*[-\u2013]\s*\d{1,4})?(?:,\s*\d{1,4})*"
_INDEX_LINE = re.compile(_INDEX_PAGES + r"\s*$")  # an entry that ends its line
_INDEX_ENTRY = re.compile(_INDEX_PAGES + r"(?=\s|$)")  # ... or runs into the next one
INDEX_LINES = 6  # a chunk with this many index entries at least ...
INDEX_SHARE = 0.4  # ... making up this share of its lines is a piece of a book's index


def index_entries(text: str) -> int:
    """How many entries of a book's index ("stapdev, 7") the text holds."""
    return len(_INDEX_ENTRY.findall(text))


def has_dot_leaders(text: str) -> bool:
    """Whether the text holds a run of leader dots: a table of contents' entry, whole or in
    part ("6.1 GLPK environment routines . . . . . . 137")."""
    return _DOTS.search(text) is not None


def is_navigation(text: str) -> bool:
    """Whether a chunk is mostly a table of contents (titles with dot leaders and page
    numbers) or a book's index. It repeats the words of the sections it lists without their
    content, so it matches many questions in both indexes and answers none.

    Three shapes: several entries with their page numbers, a short piece of a contents
    page that is mostly dots (the embedding model's tokenizer makes each dot a token, so a
    chunk cut from dense leaders holds only two or three entries), or lines that are mostly
    an index's entries without leaders ("tracepoint, 14, 44"). Vectors of such chunks sit
    close to nearly every query."""
    size = len(text.strip())
    if not size:
        return False
    leaders = _LEADER.findall(text)
    if len(leaders) >= 3 and sum(len(m) for m in leaders) >= 0.25 * size:
        return True
    dots = _DOTS.findall(text)
    if len(dots) >= 2 and sum(len(m) for m in dots) >= 0.5 * size:
        return True
    # a page of a book's index without leaders: most lines a term and its pages
    lines = [line for line in text.splitlines() if line.strip()]
    entries = sum(1 for line in lines if _INDEX_LINE.search(line))
    return entries >= INDEX_LINES and entries >= INDEX_SHARE * len(lines)


def top_passages(
    ranked: Sequence[Candidate],
    k: int,
    max_chunks: int = 3,
    navigation: Collection[int] | None = None,
) -> list[Hit]:
    """The k best passages from fused candidates (best first): neighbours merged, passages
    with content before tables of contents, which are never merged into them (dots and page
    numbers are not worth the prompt space; they come last, only when nothing else is left).

    Merging uses only the best-ranked candidates (a neighbour far down the list is not worth
    the prompt space), widening the pool while merging leaves fewer than k passages.
    `navigation`: the chunk ids already known to be tables of contents (else detected here)."""
    if navigation is None:
        navigation = {c.chunk_id for c in ranked if is_navigation(c.text)}
    hits: list[Hit] = []
    content = [c for c in ranked if c.chunk_id not in navigation]
    contents_pages = [c for c in ranked if c.chunk_id in navigation]
    for cands, nav in ((content, False), (contents_pages, True)):
        want = k - len(hits)
        pool = 2 * want
        while want > 0:
            merged = merge_neighbours(cands[:pool], max_chunks=max_chunks)
            if len(merged) >= want or pool >= len(cands):
                hits += [replace(h, navigation=True) if nav else h for h in merged[:want]]
                break
            pool += want
    return hits


def join_overlapping(a: str, b: str, overlap_hint: int = 0) -> str:
    """Join two consecutive pieces of text that may overlap (b starts inside a's tail).

    Uses the character overlap from the offsets when it checks out, else looks for b's start
    in a's tail; when neither works the pieces are joined with a space."""
    if overlap_hint > 0 and overlap_hint <= min(len(a), len(b)) and a.endswith(b[:overlap_hint]):
        return a + b[overlap_hint:]
    # Longest suffix of a that is a prefix of b (at least 4 characters, to avoid gluing on
    # a coincidental letter). Quadratic at worst, on chunk-sized strings only.
    for size in range(min(len(a), len(b), 4000), 3, -1):
        if a.endswith(b[:size]):
            return a + b[size:]
    sep = "" if (a.endswith((" ", "\n")) or b.startswith((" ", "\n"))) else " "
    return a + sep + b


def _merge_group(members: list[Candidate], score: float) -> Hit:
    members = sorted(members, key=lambda c: (c.ordinal, c.doc_start))
    first = members[0]
    text = first.text
    end = first.doc_end
    for m in members[1:]:
        if m.doc_start >= end:  # a page break (rag.chunking.PAGE_SEPARATOR) or none
            text = text + "\n" * min(m.doc_start - end, 2) + m.text
        else:
            text = join_overlapping(text, m.text, end - m.doc_start)
        end = max(end, m.doc_end)
    start = min(m.doc_start for m in members)
    return Hit(
        doc_id=first.doc_id,
        file=first.file,
        page=min(m.page_start for m in members),
        page_end=max(m.page_end for m in members),
        score=score,
        text=text,
        char_start=start - first.doc_offset,
        char_end=end - first.doc_offset,
        chunk_ids=tuple(m.chunk_id for m in members),
        ordinals=tuple(m.ordinal for m in members),
    )


def _adjacent(c: Candidate, group: list[Candidate]) -> bool:
    lo = min(m.ordinal for m in group)
    hi = max(m.ordinal for m in group)
    return lo - 1 <= c.ordinal <= hi + 1


def merge_neighbours(ranked: Iterable[Candidate], max_chunks: int = 3) -> list[Hit]:
    """Merge candidates from the same document whose chunks are neighbours (consecutive
    ordinals, which also covers the overlap between chunks) into one hit, at most `max_chunks`
    chunks each. `ranked` is best first; a merged hit takes its best member's score and place.
    """
    groups: list[list[Candidate]] = []
    scores: list[float] = []
    for cand in ranked:
        placed = False
        for i, group in enumerate(groups):
            if group[0].doc_id != cand.doc_id or len(group) >= max_chunks:
                continue
            if any(m.chunk_id == cand.chunk_id for m in group):
                placed = True
                break
            if _adjacent(cand, group):
                group.append(cand)
                placed = True
                # The grown group may now touch a lower-ranked group of the same document.
                for j in range(len(groups) - 1, i, -1):
                    other = groups[j]
                    if (
                        other[0].doc_id == cand.doc_id
                        and len(group) + len(other) <= max_chunks
                        and any(_adjacent(o, group) for o in other)
                    ):
                        group.extend(other)
                        del groups[j]
                        del scores[j]
                break
        if not placed:
            groups.append([cand])
            scores.append(cand.score)
    return [_merge_group(g, s) for g, s in zip(groups, scores, strict=True)]


def to_passages(hits: Sequence[Hit]) -> list[Passage]:
    """Passages for the engine, in rank order; it numbers them [1], [2] and fences them."""
    return [Passage(label=h.label(), text=h.text) for h in hits]


def source_dicts(hits: Sequence[Hit]) -> list[dict[str, object]]:
    """What is stored as a message's sources: one dict per passage in the prompt, in order."""
    return [h.source_dict() for h in hits]


def format_sources(hits: Sequence[Hit]) -> list[str]:
    """Numbered source lines matching the passages' [n] markers."""
    return [f"[{i}] {h.file}, {h.pages_label()}" for i, h in enumerate(hits, start=1)]
