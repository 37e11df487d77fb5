"""Hybrid search over a library's two indexes: the query's vector against Chroma, its words
against SQLite FTS5 (BM25), the two candidate lists fused (relative score fusion, or
reciprocal rank fusion: `LibraryConfig.fusion`), then neighbouring chunks of one document
merged into passages (`rag.retrieve`, the pure parts)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from engine.errors import InvalidRequestError
from rag import page_starts
from rag.config import LibraryContext
from rag.evidence import ABSENCE_CHUNKS, RESCORE_POOL
from rag.index import ChunkRow, Store, chunks_at
from rag.line_roles import FUNCTION_WORDS
from rag.normalize import without_bidi_controls
from rag.passage_edges import (
    complete_edges,
    missing_end,
    missing_start,
    text_after,
    text_before,
)
from rag.retrieve import (
    Candidate,
    Hit,
    Mode,
    fts_query,
    is_navigation,
    query_terms,
    reciprocal_rank_fusion,
    relative_score_fusion,
    top_passages,
)
from rag.sections import sections
from rag.sentence_vectors import SentenceVectors
from rag.word_rarity import missing_weight

if TYPE_CHECKING:  # pragma: no cover
    from rag.overview import OverviewCache

Scored = list[tuple[int, float]]  # (chunk id, score), best first


# Words whose absence from a library says nothing about what it covers ("several pieces of
# a path"): left out of the unknown-word share (rag.evidence.UNKNOWN_PENALTY). Not stop
# words for keyword search: "every" is a gnuplot keyword ("plot 'f' every 2").
QUANTIFIERS = frozenset([
    "several", "many", "much", "every", "another", "various", "numerous", "multiple",
    # ... and the adjectives that quantify or pick out ("my whole user account", "certain
    # fonts", "a particular version"): pyenv's README answers "select globally for your
    # user account" and never writes "whole"
    "whole", "entire", "certain", "particular", "specific",
])  # fmt: skip
# ... nor do the light verbs of a request ("turn on syntax highlighting", "get it back",
# "make it keep"): they say what the user wants done, not what it is about, and a small
# library that never writes "turn" abstained on "How do I turn on syntax highlighting?"
# (one of its three words, a penalty of 0.33 against a threshold of 0.34).
LIGHT_VERBS = frozenset([
    "turn", "turns", "turned", "turning", "get", "gets", "got", "gotten", "getting",
    "make", "makes", "made", "making", "put", "puts", "putting", "take", "takes", "took",
    "taken", "taking", "keep", "keeps", "kept", "keeping", "give", "gives", "gave", "giving",
    "go", "goes", "went", "gone", "going", "come", "comes", "came", "coming", "let", "lets",
    "letting", "want", "wants", "wanted", "wanting", "need", "needs", "needed", "needing",
    "try", "tries", "tried", "trying",
])  # fmt: skip


# ... nor is a closed-class word that the stop list leaves out (the function words that
# rag.line_roles knows, more prepositions, adverbs of time and degree, the verbs of seeming)
# ever missing: "shared across probes", "stapdev versus stapusr", "never seems to finish"
# ask about probes, groups and finishing, and a 96-page guide that never writes "across" or
# "versus" declined them. Such a word still counts among the question's words, as it did
# before (dropping it from the count too raised the share of the other missing words, and
# cost two answers of that guide).
CLOSED_CLASS = FUNCTION_WORDS | frozenset([
    "along", "alongside", "amid", "amongst", "around", "behind", "beside", "besides",
    "beyond", "despite", "inside", "outside", "near", "toward", "towards", "upon", "via",
    "versus", "vs", "per", "throughout", "underneath", "unlike", "ought", "instead",
    "already", "still", "also", "ever", "never", "always", "often", "sometimes", "usually",
    "anyway", "otherwise", "else", "even", "yet", "rather", "quite", "almost", "perhaps",
    "maybe", "again", "seem", "seems", "seemed", "seeming",
])  # fmt: skip


class Searcher:
    """Searches one library; belongs to the library's thread. `config` may be replaced
    between searches (an evaluation tries both fusions on one index)."""

    def __init__(self, ctx: LibraryContext) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.last_timings: dict[str, float] = {}  # of the last search: embed, vector, keyword
        self._query_vector: Any = None  # the last query's embedding (sentences reuse it)
        self._overviews: OverviewCache = {}  # rag.overview: each document's passages
        self.sentence_vectors = SentenceVectors()  # kept between questions

    def search(
        self,
        query: str,
        k: int = 6,
        doc_ids: Sequence[int] | None = None,
        mode: Mode = "hybrid",
        candidates: int | None = None,
    ) -> list[Hit]:
        """Top-k passages for a query. `doc_ids` limits the search to those documents (None:
        all). Hybrid mode fuses the vector and keyword candidates (`fusion`: relative scores
        or reciprocal ranks); then neighbouring chunks of the same document are merged into one
        passage. A passage's score: the fused score in hybrid mode (0..1 with score fusion),
        else the index's own (cosine similarity, or BM25 with higher better)."""
        text = query.strip()
        if not text:
            raise InvalidRequestError("Type something to search for.")
        if k < 1:
            raise InvalidRequestError("The number of passages (k) must be at least 1.")
        n = max(candidates or self.config.candidates, k)
        doc_ids = self._shown(doc_ids)
        whole = self._overview(text, doc_ids) if mode == "hybrid" and self.config.sentences else []
        if whole:
            return whole[:k]
        results: list[Scored] = []  # per index
        timings: dict[str, float] = {}
        self._query_vector = None
        if mode in ("hybrid", "vector"):
            results.append(self._vector_candidates(text, n, doc_ids, timings))
        if mode in ("hybrid", "keyword"):
            t0 = time.perf_counter()
            match = fts_query(text)
            results.append(self.ctx.store.keyword_search(match, n, doc_ids) if match else [])
            timings["keyword_s"] = time.perf_counter() - t0
        self.last_timings = timings
        if not self.config.sentences or mode != "hybrid":  # scores on one's own scale
            return self._with_pages(self._passages(results, k, mode))
        hits = self._with_pages(self._passages(results, max(k, RESCORE_POOL), mode))
        t0 = time.perf_counter()
        hits = [self._whole_sentences(h) for h in self._rescore(text, hits)[:k]]
        timings["sentences_s"] = time.perf_counter() - t0
        return hits

    def _rescore(self, text: str, hits: list[Hit]) -> list[Hit]:
        """Sentence-level evidence and the passages re-ranked by it (`rag.evidence`); the
        keyword part alone when there are no vectors (keyword mode, an empty store)."""
        from rag.evidence import rescore

        unknown = unknown_share(self.ctx.store, text)
        if self._query_vector is None:
            return rescore(text, None, hits, None, len, unknown)
        emb = self.ctx.embedder()
        embed = self.sentence_vectors.embed_with(emb, emb.embed)
        return rescore(text, self._query_vector, hits, embed, emb.count_tokens, unknown)

    def _overview(self, text: str, doc_ids: Sequence[int] | None) -> list[Hit]:
        """Passages that stand for whole documents, for a question about them ("What is this
        document about?": `rag.overview`); [] for any other question."""
        from rag.overview import may_ask_for_overview, overview_documents, overview_hits

        if not may_ask_for_overview(text):
            return []  # most questions: no need to list the documents
        allowed = set(doc_ids) if doc_ids is not None else None
        docs = [
            d for d in self.ctx.store.documents(["ready"]) if allowed is None or d.id in allowed
        ]
        chosen = overview_documents(text, docs) if docs else None
        if not chosen:
            return []
        t0 = time.perf_counter()
        hits = overview_hits(self.ctx, chosen, self._with_pages, self._overviews)
        self.last_timings = {"overview_s": time.perf_counter() - t0}
        return hits

    def _with_pages(self, hits: list[Hit]) -> list[Hit]:
        """Each passage that runs over a page break learns where in its text the next page
        starts, so that a sentence can be cited with its own page; a Markdown file's passage
        learns its sections (`rag.sections`), cited instead of its one page."""
        for h in hits:
            h.sections = sections(self.ctx.store, h)
            h.page_breaks = self._page_breaks(h)
        return hits

    def _page_breaks(self, h: Hit) -> tuple[tuple[int, int], ...]:
        if h.page_end <= h.page:
            return ()
        starts = page_starts.offsets(self.ctx.store, h.doc_id, h.page, h.page_end)
        base = starts.get(h.page)
        if base is None:
            return ()
        return tuple(
            (starts[p] - base - h.char_start, p)
            for p in range(h.page + 1, h.page_end + 1)
            if p in starts and starts[p] - base - h.char_start > 0
        )

    def _shown(self, doc_ids: Sequence[int] | None) -> Sequence[int] | None:
        """`doc_ids` without the documents whose chunks must not answer (a missing file, a
        changed one not yet read again: `Store.hidden_document_ids`)."""
        hidden = set(self.ctx.store.hidden_document_ids())
        if not hidden:
            return doc_ids
        if doc_ids is None:
            return self.ctx.store.shown_document_ids()
        return [d for d in doc_ids if d not in hidden]

    def _vector_candidates(
        self, text: str, n: int, doc_ids: Sequence[int] | None, timings: dict[str, float]
    ) -> Scored:
        if not self.ctx.vector_store.count():
            return []
        t0 = time.perf_counter()
        q = self.ctx.embedder().embed([self._fit_query(text)])[0]
        t1 = time.perf_counter()
        self._query_vector = q
        found = self.ctx.vector_store.search(q, n, doc_ids)
        timings["embed_s"] = t1 - t0
        timings["vector_s"] = time.perf_counter() - t1
        return found

    def _passages(self, results: list[Scored], k: int, mode: Mode) -> list[Hit]:
        rows = self.ctx.store.chunks_by_ids(list(dict.fromkeys(c for r in results for c, _ in r)))
        # Tables of contents are set aside before fusing: a contents chunk that one index ranks
        # first would otherwise cost the passages below it their rank (RRF) or squeeze their
        # scores (score fusion). They come after every passage with content.
        navigation = {cid for cid, row in rows.items() if is_navigation(row.text)}
        content = [[(c, s) for c, s in r if c not in navigation] for r in results]
        contents_pages = list(dict.fromkeys(c for r in results for c, _ in r if c in navigation))
        fused = self._fuse(content) if mode == "hybrid" else content[0]
        fused = fused + [(c, 0.0) for c in contents_pages]
        scored = [(rows[cid], score) for cid, score in fused if cid in rows]
        cands = [candidate(row, score) for row, score in scored if row.embedded]
        return top_passages(
            cands, k, max_chunks=self.config.merge_max_chunks, navigation=navigation
        )

    def _whole_sentences(self, hit: Hit) -> Hit:
        """The passage widened to the start of its first sentence and the end of its last,
        from the chunks on either side, and those two sentences quoted whole
        (`rag.passage_edges`). After ranking: the ranking scores the passages as indexed."""
        if hit.navigation:
            return hit
        rows = self.ctx.store.chunks_by_ids(list(hit.chunk_ids))
        members = sorted(rows.values(), key=lambda r: r.ordinal)
        if not members:
            return hit
        base = members[0].doc_offset  # where `hit.page` starts in the document
        start, end = base + hit.char_start, base + hit.char_end
        store = self.ctx.store
        near = chunks_at(store, hit.doc_id, [members[0].ordinal - 1, members[-1].ordinal + 1])
        prev, nxt = near.get(members[0].ordinal - 1), near.get(members[-1].ordinal + 1)
        prefix = suffix = ""
        if prev is not None:
            before = text_before(
                start, hit.text, prev.doc_offset + prev.char_start, without_bidi_controls(prev.text)
            )
            prefix = missing_start(before, hit.text)
        if nxt is not None:
            after = text_after(
                end, hit.text, nxt.doc_offset + nxt.char_start, without_bidi_controls(nxt.text)
            )
            suffix = missing_end(hit.text, after)
        if not prefix and not suffix:
            return hit
        first = prev.page_start if prefix and prev is not None else hit.page
        last = nxt.page_end if suffix and nxt is not None else hit.page_end
        starts = page_starts.offsets(store, hit.doc_id, first, last)
        starts.setdefault(hit.page, base)
        new_start, new_end = start - len(prefix), end + len(suffix)
        page = max((p for p, o in starts.items() if o <= new_start), default=hit.page)
        page_end = max((p for p, o in starts.items() if o < new_end), default=hit.page_end)
        wide = replace(
            hit,
            text=prefix + hit.text + suffix,
            page=page,
            page_end=max(page_end, page),
            char_start=new_start - starts[page],
            char_end=new_end - starts[page],
            # its sections as found for the passage as ranked, moved past the added start
            sections=tuple((at + len(prefix) if at else 0, name) for at, name in hit.sections),
            sentences=complete_edges(hit.sentences, hit.text, prefix, suffix, page),
        )
        return replace(wide, page_breaks=self._page_breaks(wide))

    def _fuse(self, results: list[Scored]) -> Scored:
        """Vector and keyword results fused into one list, best first."""
        cfg = self.config
        weights = [cfg.vector_weight, cfg.keyword_weight]
        if cfg.fusion == "rrf":
            rankings = [[cid for cid, _ in r] for r in results]
            return reciprocal_rank_fusion(rankings, k=cfg.rrf_k, weights=weights)
        return relative_score_fusion(results, weights=weights)

    def _fit_query(self, text: str) -> str:
        """The query cut (at a word) to what the embedding model takes; BM25 still gets all
        of it."""
        emb = self.ctx.embedder()
        if emb.count_tokens(text) <= emb.max_tokens:
            return text
        words = text.split()
        lo, hi = 1, len(words)
        while lo < hi:  # longest prefix of words that fits
            mid = (lo + hi + 1) // 2
            if emb.count_tokens(" ".join(words[:mid])) <= emb.max_tokens:
                lo = mid
            else:
                hi = mid - 1
        fitted = " ".join(words[:lo])
        while fitted and emb.count_tokens(fitted) > emb.max_tokens:
            fitted = fitted[: len(fitted) * 3 // 4]  # one enormous "word"
        return fitted or text[:100]


# The words after "instead of" or "rather than", to the end of the clause.
_CONTRAST = re.compile(r"\b(?:instead\s+of|rather\s+than)\s+([^.,;:?!]*)", re.IGNORECASE)


def unknown_share(store: Store, question: str) -> float:
    """The share of the question's words that no passage of the library holds, each counted
    by how rare it is in English (`rag.word_rarity`), weighted by how surely a library of its
    size would hold an everyday word (`absence_weight`)."""
    # what the user contrasts with what they want ("... instead of overwriting it", "rather
    # than Celsius") says nothing of whether the documents cover the question
    contrast = set(query_terms(" ".join(_CONTRAST.findall(question))))
    terms = [
        t
        for t in query_terms(question)
        if t not in QUANTIFIERS and t not in LIGHT_VERBS and t not in contrast
    ]
    # a closed-class word is known to every library: it counts, and is never missing
    unknown = store.unknown_terms([t for t in terms if t not in CLOSED_CLASS])
    if not unknown:
        return 0.0
    # an everyday word the documents never write is likelier the user's paraphrase than a
    # topic they lack: each counts by how rare it is in English (rag.word_rarity)
    missing = missing_weight(question, unknown)
    return absence_weight(store.chunk_count()) * missing / max(len(terms), 1)


def absence_weight(chunks: int) -> float:
    """How much a word's absence from a library of `chunks` chunks says (rag.evidence
    .ABSENCE_CHUNKS): little in a few pages, nearly all in a shelf of manuals."""
    return 1.0 - math.exp(-max(chunks, 0) / ABSENCE_CHUNKS)


def candidate(row: ChunkRow, score: float) -> Candidate:
    return Candidate(
        chunk_id=row.id,
        doc_id=row.doc_id,
        ordinal=row.ordinal,
        file=row.path,
        page_start=row.page_start,
        page_end=row.page_end,
        char_start=row.char_start,
        char_end=row.char_end,
        text=without_bidi_controls(row.text),  # as shown: quotes, sources, the model's prompt
        score=score,
        doc_offset=row.doc_offset,
    )
