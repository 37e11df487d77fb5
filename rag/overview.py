"""Questions about a whole document: "What is this document about?", "Summarize the PDF",
"Give me an overview of my files". No passage answers them the way a search looks for (their
only content words are "document" and "summarize"), so they abstained: the first thing most
people ask after dropping a PDF got "Your documents don't seem to cover this".

An overview is extractive, like every document answer: the sentences that stand for the
whole document, quoted with their pages. A document's centroid (the mean of its chunk
vectors) is what it is mostly about; its opening chunks (title, abstract, introduction) and
the chunks nearest the centroid are the candidates, and their sentences are scored by
cosine with the centroid (the classic centroid method of extractive summarisation), scaled
so that each document's best sentence scores 1 (`rag.evidence.choose` then quotes it, and
the sentences close to it). A 135M model cannot summarise faithfully; quoting the
representative sentences can.

Which documents: those the question names (a word of the file's name), else for a singular
question ("the document") the one added last, for a plural one ("my documents") up to
`MAX_DOCUMENTS`, most recent first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rag.evidence import MAX_SENTENCE_CHARS, ScoredSentence, page_of
from rag.retrieve import STOP_WORDS, Hit, is_navigation, top_passages
from rag.search import candidate
from rag.sentences import split_sentences

if TYPE_CHECKING:
    from rag.config import LibraryContext
    from rag.index import DocRow

MAX_DOCUMENTS = 4
OPENING_CHUNKS = 4  # a document's first chunks with content (title, abstract, introduction)
INTRO_CHUNKS = 3  # and its first fifth's chunks under a heading such as "Introduction"
CENTRAL_CHUNKS = 4  # and those nearest its centroid
CENTROID_SAMPLE = 1500  # chunk vectors averaged, at most (evenly spread over a big document)
EMBED_BUDGET_TOKENS = 1200  # sentence tokens embedded per document
PRIOR = 0.5  # weight of where a sentence stands (introduction 1, opening 0.5, elsewhere 0)

_ASKS = re.compile(
    r"\b(summari[sz]e|summary|overview|tl;?dr|gist)\b|\babout\b|\bmain (points?|ideas?)\b",
    re.IGNORECASE,
)
_DOCUMENT_TEXT = (
    "document documents doc docs pdf pdfs file files paper papers manual manuals book books "
    "text texts article articles report reports"
)
_DOCUMENT_WORDS = frozenset(_DOCUMENT_TEXT.split())
_PLURAL = frozenset(w for w in _DOCUMENT_WORDS if w.endswith("s") and w[:-1] in _DOCUMENT_WORDS)
# Words an overview question may hold beside the document words and stop words.
_FILLER_TEXT = (
    "summarize summarise summary overview tl dr tldr gist main point points idea ideas about "
    "give short brief briefly quick whole entire key one sentence sentences few please me "
    "attached uploaded added new latest last s"
)
_FILLER = frozenset(_FILLER_TEXT.split())
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_LEADERS = re.compile(r"(\. ){3}")  # a table of contents' dot leaders
_INTRO = re.compile(
    r"(^|\n)\s*(\d+(\.\d+)*\.?\s+)?(introduction|overview|abstract|preface|summary|about this)",
    re.IGNORECASE,
)


def _name_words(doc: DocRow) -> set[str]:
    stem = doc.name.rsplit(".", 1)[0]
    return {w.lower() for w in _WORD.findall(stem) if len(w) >= 4} - _DOCUMENT_WORDS


def may_ask_for_overview(question: str) -> bool:
    """False for most questions, at the cost of one regular expression (before any document
    is listed); True when `overview_documents` must decide."""
    return _ASKS.search(question) is not None


def overview_documents(question: str, docs: Sequence[DocRow]) -> list[DocRow] | None:
    """The documents a whole-document question asks about (see the module docstring), or
    None when `question` is not one (it names something to look for in them)."""
    if not may_ask_for_overview(question):
        return None
    words = [w.lower() for w in _WORD.findall(question)]
    named = [d for d in docs if _name_words(d) & set(words)]
    names = set().union(*(_name_words(d) for d in named)) if named else set()
    extra = [w for w in words if w not in STOP_WORDS | _FILLER | _DOCUMENT_WORDS | names]
    if extra or not any(w in _DOCUMENT_WORDS or w in names for w in words):
        return None
    pool = named or list(docs)
    pool = sorted(pool, key=lambda d: (-d.added_at, -d.id))
    plural = any(w in _PLURAL for w in words) or len(named) > 1
    return pool[:MAX_DOCUMENTS] if plural else pool[:1]


# A document's passages as picked and scored for an overview, by what they depend on: the
# document's id and version (hash, chunk count, time of its last change) and the collection
# its vectors are in. Picking them costs 0.4-1.8 s (the centroid's vectors from Chroma, the
# sentences embedded), the same every time the document is asked about.
OverviewCache = dict[tuple[int, str, int, float, str], list[Hit]]
CACHED_DOCUMENTS = 16


def overview_hits(
    ctx: LibraryContext,
    docs: Sequence[DocRow],
    with_pages: Callable[[list[Hit]], list[Hit]],
    cache: OverviewCache | None = None,
) -> list[Hit]:
    """Passages that stand for each document, their sentences scored (1 = the document's
    most representative); each document's best passage first, in the order of `docs`.
    `cache` keeps each document's passages for the next question (copies are returned)."""
    cache = {} if cache is None else cache
    collection = ctx.vector_store.collection_name()
    firsts: list[Hit] = []
    rest: list[Hit] = []
    for doc in docs:
        key = (doc.id, doc.sha256, doc.chunks, doc.updated_at, collection)
        if key not in cache:
            while len(cache) >= CACHED_DOCUMENTS:
                del cache[next(iter(cache))]
            cache[key] = _document_hits(ctx, doc, with_pages)
        hits = [replace(h) for h in cache[key]]
        firsts.extend(hits[:1])
        rest.extend(hits[1:])
    return firsts + sorted(rest, key=lambda h: -h.support)


def _document_hits(
    ctx: LibraryContext, doc: DocRow, with_pages: Callable[[list[Hit]], list[Hit]]
) -> list[Hit]:
    import numpy as np

    ids = sorted(ctx.store.chunk_ids(doc.id))
    if not ids:
        return []
    step = max(1, len(ids) // CENTROID_SAMPLE)
    vectors = ctx.vector_store.embeddings(ids[::step])
    if not vectors:
        return []
    matrix = np.asarray(list(vectors.values()), dtype=np.float32)
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    centroid = matrix.mean(axis=0)
    centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
    near = sorted(zip(vectors, matrix @ centroid, strict=True), key=lambda t: -t[1])
    front = ids[: max(OPENING_CHUNKS * 4, len(ids) // 5)]  # where introductions stand
    in_front = set(front)
    rows = ctx.store.chunks_by_ids(front + [c for c, _ in near[:40]])
    content = {c: r for c, r in rows.items() if r.embedded and not is_navigation(r.text)}
    by_place = sorted(content.values(), key=lambda r: r.ordinal)
    opening = by_place[:OPENING_CHUNKS]
    intro = [r for r in by_place if r.id in in_front and _INTRO.search(r.text)][:INTRO_CHUNKS]
    central = [content[c] for c, _ in near if c in content][:CENTRAL_CHUNKS]
    picked = list({r.id: r for r in opening + intro + central}.values())
    prior = {r.id: 0.0 for r in central} | {r.id: 0.5 for r in opening} | {r.id: 1.0 for r in intro}
    cands = [candidate(r, 1.0) for r in sorted(picked, key=lambda r: r.ordinal)]
    hits = with_pages(top_passages(cands, len(cands), max_chunks=2))
    priors = [max((prior.get(c, 0.0) for c in h.chunk_ids), default=0.0) for h in hits]
    emb = ctx.embedder()
    return _scored(hits, priors, centroid, emb.embed, emb.count_tokens)


def _scored(
    hits: list[Hit],
    priors: list[float],
    centroid: Any,
    embed: Callable[[list[str]], Any],
    count: Callable[[str], int],
) -> list[Hit]:
    """Each passage's sentences scored: half their cosine with the centroid (scaled to the
    best), half where they stand (`PRIOR`: an introduction says what a document is about
    in so many words; the most central sentence of a reference manual describes one
    function); then scaled so that the best scores 1."""
    rows = [split_sentences(h.text) for h in hits]
    picks: list[tuple[int, int]] = []
    used = 0
    for p, sents in enumerate(rows):
        for i, s in enumerate(sents):
            if (
                s.kind not in ("prose", "list")
                or len(s.text.split()) < 6
                or _LEADERS.search(s.text)
            ):
                continue
            n = count(s.text[:MAX_SENTENCE_CHARS])
            if used + n > EMBED_BUDGET_TOKENS:
                break
            used += n
            picks.append((p, i))
    if not picks:
        return []
    sims = embed([rows[p][i].text[:MAX_SENTENCE_CHARS] for p, i in picks]) @ centroid
    top = max(float(s) for s in sims) or 1.0
    mixed = [
        (1 - PRIOR) * max(float(s), 0.0) / top + PRIOR * priors[p]
        for (p, _), s in zip(picks, sims, strict=True)
    ]
    best = max(mixed) or 1.0
    meaning = {pick: m / best for pick, m in zip(picks, mixed, strict=True)}
    out = []
    for p, (hit, sents) in enumerate(zip(hits, rows, strict=True)):
        scored = tuple(
            ScoredSentence(s.text, s.kind, page_of(hit, s.start), i, 0.0, meaning.get((p, i)))
            for i, s in enumerate(sents)
        )
        best = max((s.score for s in scored if s.meaning is not None), default=0.0)
        out.append(replace(hit, sentences=scored, support=best, score=best))
    return sorted(out, key=lambda h: -h.support)
