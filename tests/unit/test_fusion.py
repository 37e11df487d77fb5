"""Score and rank fusion, FTS5 query sanitising, neighbour merging (pure functions)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rag import spelling
from rag.index import Store
from rag.retrieve import (
    Candidate,
    Hit,
    fts_query,
    join_overlapping,
    merge_neighbours,
    query_terms,
    reciprocal_rank_fusion,
    relative_score_fusion,
    to_passages,
)
from rag.search import absence_weight, unknown_share
from rag.vector_store import collection_name
from rag.word_rarity import rarity

# -- reciprocal rank fusion ----------------------------------------------------------------


def test_rrf_scores_are_sum_of_reciprocal_ranks() -> None:
    fused = dict(reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)


def test_rrf_rewards_agreement_over_a_single_top_rank() -> None:
    # "x" is first in one list only; "y" is second in both: agreement wins.
    fused = reciprocal_rank_fusion([["x", "y"], ["z", "y"]], k=60)
    assert fused[0][0] == "y"


def test_rrf_order_is_deterministic_on_ties() -> None:
    fused = reciprocal_rank_fusion([["a", "b"], ["b", "a"]], k=10)
    assert [item for item, _ in fused] == ["a", "b"]
    assert fused[0][1] == pytest.approx(fused[1][1])


def test_rrf_single_list_keeps_order_and_duplicates_count_once() -> None:
    fused = reciprocal_rank_fusion([[3, 1, 3, 2]], k=60)
    assert [i for i, _ in fused] == [3, 1, 2]
    assert dict(fused)[3] == pytest.approx(1 / 61)


def test_rrf_weights_and_empty_lists() -> None:
    assert reciprocal_rank_fusion([[], []]) == []
    fused = reciprocal_rank_fusion([["a"], ["b"]], k=0, weights=[1.0, 2.0])
    assert fused == [("b", 2.0), ("a", 1.0)]
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"]], weights=[1.0, 2.0])


def test_small_k_favours_top_ranks_more() -> None:
    lists = [["a", "b", "c", "d"], ["d", "c", "b", "a"], ["a", "x", "y", "z"]]
    assert reciprocal_rank_fusion(lists, k=1)[0][0] == "a"
    scores_k1 = dict(reciprocal_rank_fusion([["a", "b"]], k=1))
    scores_k60 = dict(reciprocal_rank_fusion([["a", "b"]], k=60))
    assert scores_k1["a"] / scores_k1["b"] > scores_k60["a"] / scores_k60["b"]


# -- relative score fusion -----------------------------------------------------------------


def test_score_fusion_rescales_each_list_and_averages() -> None:
    # Cosine similarities and BM25 scores live on different scales; each list is rescaled to
    # 0..1 (best 1, worst 0) and an item missing from a list gets 0 there.
    vector = [("a", 0.80), ("b", 0.60), ("c", 0.40)]
    keyword = [("c", 12.0), ("d", 9.0), ("a", 3.0)]
    fused = dict(relative_score_fusion([vector, keyword]))
    assert fused["a"] == pytest.approx((1.0 + 0.0) / 2)
    assert fused["b"] == pytest.approx((0.5 + 0.0) / 2)
    assert fused["c"] == pytest.approx((0.0 + 1.0) / 2)
    assert fused["d"] == pytest.approx((0.0 + (9 - 3) / (12 - 3)) / 2)
    assert all(0.0 <= v <= 1.0 for v in fused.values())


def test_score_fusion_keeps_a_clear_lead_that_rrf_gives_away() -> None:
    # The answer is second in the vector list, just behind the best, and absent from the
    # keyword list; two passages that both lists rank low (near each list's worst score)
    # overtake it under RRF but not under score fusion, which sees how far ahead it is.
    vector = [("v1", 0.71), ("answer", 0.70), ("x", 0.52), ("y", 0.51), ("v5", 0.50)]
    keyword = [("k1", 20.0), ("k2", 19.0), ("x", 4.2), ("y", 4.1), ("k5", 4.0)]
    by_score = [item for item, _ in relative_score_fusion([vector, keyword])]
    by_rank = [
        item
        for item, _ in reciprocal_rank_fusion(
            [[i for i, _ in vector], [i for i, _ in keyword]], k=20
        )
    ]
    assert by_score.index("answer") < by_score.index("x")
    assert by_rank.index("answer") > by_rank.index("x")


def test_score_fusion_edge_cases() -> None:
    assert relative_score_fusion([[], []]) == []
    # A list whose scores are all equal (or a single hit) counts as a full match.
    assert relative_score_fusion([[("a", 3.0)], []]) == [("a", 0.5)]
    # Ties keep first-seen order; a duplicate within a list counts once, at its best score.
    fused = relative_score_fusion([[("a", 1.0), ("b", 0.0), ("a", 0.5)], [("b", 1.0), ("a", 0.0)]])
    assert [i for i, _ in fused] == ["a", "b"]
    assert dict(fused)["a"] == pytest.approx(0.5)
    # Weights: a weighted mean, so a zero weight leaves the other list's order.
    only_keyword = relative_score_fusion(
        [[("a", 0.9), ("b", 0.1)], [("b", 2.0), ("a", 1.0)]], [0.0, 1.0]
    )
    assert only_keyword == [("b", 1.0), ("a", 0.0)]
    with pytest.raises(ValueError):
        relative_score_fusion([[("a", 1.0)]], weights=[1.0, 2.0])
    with pytest.raises(ValueError):
        relative_score_fusion([[("a", 1.0)]], weights=[-1.0])


# -- FTS5 query sanitising ------------------------------------------------------------------


def test_query_terms_drop_stop_words_and_duplicates() -> None:
    assert query_terms("What is the boiling point of the Water? water!") == [
        "boiling",
        "point",
        "water",
    ]
    assert query_terms("to be or not to be") == ["to", "be", "or", "not"]
    assert query_terms("  ?!  ") == []


def test_query_terms_read_contractions_as_their_words() -> None:
    # "isn't" is not the words "isn" and "t", which a library lacks and which counted
    # towards declining the question
    assert query_terms("Why isn't the venv module in the main package?") == [
        "venv",
        "module",
        "main",
        "package",
    ]
    assert query_terms("I can’t open R's console; won't it start?") == [
        "open",
        "r",
        "console",
        "start",
    ]
    assert query_terms("Doesn't it work? You're sure they'll say it's fine") == [
        "work",
        "sure",
        "fine",
    ]


HOSTILE = [
    'he said "hello',
    "NEAR(a b) OR NOT c AND",
    "col:value ^start prefix*",
    "(((unbalanced",
    "x' OR '1'='1; DROP TABLE chunks; --",
    "-- -a +b {c} [d]",
    "naïve café — résumé",
    "\x00\x01 control",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_fts_query_is_always_valid_fts5(text: str, tmp_path: Path) -> None:
    store = Store(tmp_path / "lib.sqlite3")
    try:
        doc = store.insert_document("/x/a.txt", "a.txt", 1, 0.0)
        store.replace_chunks(doc, [(0, 1, 1, 0, 20, 0, 5, "hello naive cafe resume prefix", "h")])
        chunk = store.pending_chunks(10, None)
        store.update_document(doc, status="indexing")
        chunk = store.pending_chunks(10, None)
        with store.transaction():
            store.mark_embedded(chunk)
        match = fts_query(text)
        assert match is not None
        store.keyword_search(match, 5)  # must not raise
    finally:
        store.close()


def _store_of(tmp_path: Path, first: str) -> tuple[Store, int]:
    """A store with one document of two indexed chunks: `first`, then an unrelated one."""
    store = Store(tmp_path / "lib.sqlite3")
    doc = store.insert_document("/x/a.txt", "a.txt", 1, 0.0)
    store.replace_chunks(
        doc,
        [
            (0, 1, 1, 0, len(first), 0, 6, first, "h1"),
            (1, 2, 2, 0, 30, len(first) + 2, 6, "Nothing relevant in this chunk at all", "h2"),
        ],
        status="indexing",
    )
    with store.transaction():
        store.mark_embedded(store.pending_chunks(10))
    return store, doc


def test_fts_query_matches_stemmed_and_accented_words(tmp_path: Path) -> None:
    store, doc = _store_of(tmp_path, "The engines were running at résumé speed")
    try:
        found = store.keyword_search(fts_query("engine runs resume") or "", 5)
        assert [cid for cid, _ in found][:1] == [store.chunk_ids(doc)[0]]
        assert found[0][1] > 0  # negated bm25: higher is better
        assert store.keyword_search(fts_query("engine") or "", 5, doc_ids=[]) == []
    finally:
        store.close()


def test_fts_query_none_without_words() -> None:
    assert fts_query("?? -- !!") is None
    assert fts_query('say "x"') == '"x"'


def test_raw_fts_syntax_would_fail_without_sanitising(tmp_path: Path) -> None:
    """The reason for fts_query: the same text given raw is an FTS5 syntax error."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(text)")
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("SELECT * FROM t WHERE t MATCH ?", ('he said "hello',)).fetchall()
    conn.execute("SELECT * FROM t WHERE t MATCH ?", (fts_query('he said "hello'),)).fetchall()


# -- merging neighbours --------------------------------------------------------------------

FULL = "".join(f"word{i:03d} " for i in range(200))


def cand(
    cid: int, doc: int, ordinal: int, start: int, end: int, page: int, score: float
) -> Candidate:
    return Candidate(
        chunk_id=cid,
        doc_id=doc,
        ordinal=ordinal,
        file=f"/docs/d{doc}.pdf",
        page_start=page,
        page_end=page,
        char_start=start,
        char_end=end,
        text=FULL[start:end],
        score=score,
    )


def test_overlapping_neighbours_merge_into_exact_text() -> None:
    a = cand(1, 7, 4, 100, 300, 3, 0.9)
    b = cand(2, 7, 5, 260, 460, 4, 0.5)  # overlaps a by 40 chars
    hits = merge_neighbours([a, b])
    assert len(hits) == 1
    h = hits[0]
    assert h.text == FULL[100:460]
    assert (h.page, h.page_end, h.char_start, h.char_end) == (3, 4, 100, 460)
    assert h.score == 0.9
    assert h.chunk_ids == (1, 2)


def test_merge_keeps_rank_of_best_member_and_separates_documents() -> None:
    ranked = [
        cand(10, 1, 0, 0, 100, 1, 0.9),
        cand(20, 2, 5, 0, 100, 9, 0.8),
        cand(11, 1, 1, 90, 200, 1, 0.7),  # neighbour of the first
        cand(13, 1, 3, 300, 400, 2, 0.6),  # not a neighbour (gap of one chunk)
    ]
    hits = merge_neighbours(ranked)
    assert [h.doc_id for h in hits] == [1, 2, 1]
    assert hits[0].chunk_ids == (10, 11)
    assert hits[0].text == FULL[0:200]
    assert hits[2].chunk_ids == (13,)


def test_merge_bridges_groups_and_respects_cap() -> None:
    ranked = [
        cand(1, 1, 0, 0, 100, 1, 0.9),
        cand(3, 1, 2, 180, 280, 1, 0.8),
        cand(2, 1, 1, 90, 190, 1, 0.7),  # joins 0 and 2 into one hit
    ]
    hits = merge_neighbours(ranked)
    assert len(hits) == 1 and hits[0].text == FULL[0:280]
    capped = merge_neighbours(ranked, max_chunks=2)
    assert len(capped) == 2


def test_join_overlapping_falls_back_when_offsets_disagree() -> None:
    assert join_overlapping("alpha beta gamma", "gamma delta", 5) == "alpha beta gamma delta"
    assert join_overlapping("alpha beta gamma", "beta gamma delta", 99) == "alpha beta gamma delta"
    assert join_overlapping("one", "two") == "one two"


def test_hit_labels_and_passages() -> None:
    h = Hit(3, "/docs/manual.pdf", 4, 5, 0.1, "text", 0, 4)
    assert h.label() == "manual.pdf, pages 4-5"
    assert h.covers_page(5) and not h.covers_page(6)
    (p,) = to_passages([h])
    assert p.label == "manual.pdf, pages 4-5" and p.text == "text"


def test_collection_name_is_valid_for_chroma() -> None:
    name = collection_name("all-MiniLM-L6-v2.F32.gguf", 384)
    assert name == "all-MiniLM-L6-v2.F32-384"
    assert collection_name("  ~weird name!!.gguf", 768) == "weird-name-768"


def test_merge_across_pages_uses_document_offsets() -> None:
    # Page 1 starts at 0, page 2 at 250 in the document string; offsets are page-relative.
    a = Candidate(1, 1, 0, "/d.pdf", 1, 2, 150, 300, FULL[150:300], 0.5, doc_offset=0)
    b = Candidate(2, 1, 1, "/d.pdf", 2, 2, 20, 200, FULL[270:450], 0.9, doc_offset=250)
    (hit,) = merge_neighbours([b, a])
    assert hit.text == FULL[150:450]
    assert (hit.page, hit.page_end, hit.char_start, hit.char_end) == (1, 2, 150, 450)
    assert hit.score == 0.9


def test_tables_of_contents_go_after_passages_with_content() -> None:
    from rag.retrieve import Candidate, is_navigation, top_passages

    toc = (
        "C CPLEX LP Format 158 C.1 Prelude . . . . . . . . . . . . . . . 158 "
        "C.2 Objective function definition . . . . . . . . . . . . . 160 "
        "C.3 Constraints section . . . . . . . . . . . . . . . . . . 161"
    )
    dense_toc = "1 Intro........3\n2 Usage........7\n3 Options........12\n"
    prose = (
        "If the objective function has no name, the default name is used. "
        "Version 2.1 . . . of the format (see page 12) added the section."
    )
    # A chunk cut from dense leaders: two entries and a third cut off before its page number
    # (the R reference manual's contents, 128-token chunks: every dot is a token).
    fragment = " ." * 34 + " 160\n\ndimnames" + " ." * 41 + " 161\ndo.call" + " ." * 40
    assert is_navigation(toc) and is_navigation(dense_toc) and is_navigation(fragment)
    assert not is_navigation(prose)
    assert not is_navigation("Wait . . . . . . and then . . . . . . it rang, twice.")
    assert not is_navigation("Totals . . . . 12")  # one leader is not a table
    # a book's index without leaders (DocBook through FOP; LaTeX's makeindex)
    index = (
        "timer.s(), sample usage\nexamples of SystemTap scripts, 62, 64\ntracepoint, 14, 44\n"
        "tracing call graph\nexamples of SystemTap scripts, 57\nU\nuid()\nfunctions, 17\n"
        "uname -m, 7\nuname -r, 4\naggregation overflow, 72\ncopy fault, 72\n"
    )
    assert is_navigation(index)
    # prose whose lines end in numbers, and a table of numbers, are not
    assert not is_navigation("The default port is\n3493, and the old one 3305, in version\n2.0, 12")
    assert not is_navigation("\n".join(f"{i}, {i * i}" for i in range(1, 12)))

    def cand(i: int, text: str, ordinal: int | None = None) -> Candidate:
        # one chunk per page, 1000 characters apart: neighbours by ordinal only
        o = i if ordinal is None else ordinal
        return Candidate(i, 1, o, "/m.pdf", o, o, 0, len(text), text, doc_offset=1000 * o)

    answer = "Plain text answer."
    ranked = [cand(1, toc, 1), cand(2, prose, 5), cand(3, dense_toc, 9), cand(4, answer, 20)]
    assert [h.chunk_ids for h in top_passages(ranked, k=4)] == [(2,), (4,), (1,), (3,)]
    assert [h.chunk_ids for h in top_passages(ranked, k=2)] == [(2,), (4,)]
    # A contents chunk next to a passage is not merged into it.
    ranked = [cand(1, toc, 4), cand(2, prose, 5), cand(4, answer, 6)]
    assert [h.chunk_ids for h in top_passages(ranked, k=3)] == [(2, 4), (1,)]
    assert top_passages([], k=3) == []


def test_a_british_question_finds_an_american_manual(tmp_path: Path) -> None:
    """'optimisation' is asked of a manual that writes 'optimization': the word does not
    count as one the library lacks (which would lower every sentence's score and could make
    Hearth say the documents do not cover it)."""
    store, _ = _store_of(tmp_path, "Linear optimization of the colors in the center; send it")
    try:
        assert store.unknown_terms(["optimisation", "colour", "centre", "sent", "thermostat"]) == [
            "thermostat"
        ]
    finally:
        store.close()


def test_a_name_the_library_writes_as_a_library_file_is_known(tmp_path: Path) -> None:
    """Nettle's manual writes "libhogweed" and "-lhogweed", never "hogweed" alone: asked
    about Hogweed, it is not a word the library lacks."""
    store, _ = _store_of(tmp_path, "Link with -lhogweed; libhogweed needs GMP and Nettle.")
    try:
        assert store.unknown_terms(["hogweed", "nettle", "gmp", "gnutls"]) == ["gnutls"]
        match = fts_query("What is Hogweed?")
        assert match is not None and len(store.keyword_search(match, 5)) == 1  # found by name
        # a short term's "lib" form is another library: "R's" has the term "s", not "libs"
        assert "libs" not in (fts_query("How do I print R's results?") or "")
    finally:
        store.close()


def test_a_word_only_in_a_links_address_is_missing(tmp_path: Path) -> None:
    """The Kerberos guide names Heimdal once, in a bug tracker's address: a question about
    migrating from Heimdal is about a topic it does not cover."""
    text = (
        "See https://bugs.launchpad.net/ubuntu/+source/libpam-heimdal/+bug/86528 for the "
        "launchpad report. Use kdb5_util to dump the database."
    )
    store, _ = _store_of(tmp_path, text)
    try:
        assert store.unknown_terms(["heimdal", "launchpad", "dump"]) == ["heimdal"]
    finally:
        store.close()


def test_a_folder_is_a_directory(tmp_path: Path) -> None:
    """A user asks about a "folder", the manual writes "directory": not a word it lacks. Only
    such pairs: "picture" is not "image" here."""
    store, _ = _store_of(tmp_path, "Each version lives in its own directory of images.")
    try:
        assert store.unknown_terms(["folder", "folders", "picture", "image"]) == ["picture"]
    finally:
        store.close()


def test_quantifiers_are_no_sign_of_an_uncovered_question(tmp_path: Path) -> None:
    """'several pieces of a path' asks about the pieces of a path: a library that never
    writes 'several' is no less likely to cover it."""
    store, _ = _store_of(tmp_path, "The join method joins the path segments together.")
    try:
        assert unknown_share(store, "How do I join several segments of a path?") == 0.0
        # a rare word the library lacks: one of three, in full (rag.word_rarity)
        assert rarity("subpaths") == 1.0
        lacks_one = absence_weight(store.chunk_count()) / 3
        assert unknown_share(store, "How do I join several subpaths of a path?") == lacks_one
        assert unknown_share(store, "How do I join the whole path?") == 0.0
        assert unknown_share(store, "How do I join certain segments?") == 0.0
    finally:
        store.close()


def test_what_the_user_does_not_want_is_no_sign_of_an_uncovered_question(tmp_path: Path) -> None:
    """GLPK's "How do I append formatted output to an existing text file instead of
    overwriting it?" was declined: the manual never writes "overwriting". What a question
    contrasts with what it asks for ("instead of ...", "rather than ...") does not count."""
    store, _ = _store_of(tmp_path, "The flag >> appends the output to an existing file.")
    try:
        assert rarity("overwriting") > 0.0 and store.unknown_terms(["overwriting"])
        asked = "How do I append the output to an existing file"
        assert unknown_share(store, f"{asked} instead of overwriting it?") == 0.0
        assert unknown_share(store, f"{asked}, rather than overwriting it?") == 0.0
        assert unknown_share(store, f"{asked} without overwriting it?") > 0.0
        # a word before the contrast still counts
        assert unknown_share(store, "How do I overwrite a file instead of appending?") > 0.0
    finally:
        store.close()


def test_the_light_verb_of_a_request_is_no_sign_of_an_uncovered_question(tmp_path: Path) -> None:
    """ "turn on syntax highlighting" asks about syntax highlighting: a library that writes
    "Switch on syntax highlighting" and never "turn" covers it as well."""
    store, _ = _store_of(tmp_path, "Switch on syntax highlighting with the syntax command.")
    try:
        assert unknown_share(store, "How do I turn on syntax highlighting?") == 0.0
        assert unknown_share(store, "How do I get syntax highlighting?") == 0.0
        # "excel" is half an everyday word (Zipf 3.7): it counts for what it is
        lacks_one = absence_weight(store.chunk_count()) * rarity("excel") / 3
        assert 0 < rarity("excel") < 1
        assert unknown_share(store, "How do I turn on syntax highlighting in Excel?") == lacks_one
    finally:
        store.close()


@pytest.mark.parametrize(
    ("word", "variants"),
    [
        ("optimisation", ["optimization"]),
        ("analyze", ["analyse"]),
        ("colour", ["color"]),
        ("centre", ["center"]),
        ("analyses", ["analyzes"]),
        ("catalogue", ["catalog"]),
        ("kettle", []),
        ("our", []),  # too short to be a spelling
        ("sent", ["send"]),  # irregular verbs: no stemmer joins their forms
        ("Wrote", ["write", "written"]),
        ("bound", []),  # also a word of its own ("upper bound"), left alone
        ("bit", []),  # an "8-bit" value, not a bite
        ("sat", []),  # a SAT solver
    ],
)
def test_spelling_variants(word: str, variants: list[str]) -> None:
    assert spelling.variants(word) == variants


def test_a_missing_word_says_more_the_larger_the_library() -> None:
    """A 35-page guide lacks many everyday words whatever it covers; a shelf of manuals that
    lacks "thermostat" is not about thermostats."""
    weights = [absence_weight(n) for n in (0, 1, 120, 500, 5_000)]
    assert weights == sorted(weights)
    assert weights[0] == 0.0
    assert 0.4 < weights[2] < 0.5  # a short user guide
    assert weights[-1] > 0.99  # the six evaluation manuals, 5,395 chunks


def test_closed_class_words_are_no_sign_of_an_uncovered_question(tmp_path: Path) -> None:
    """ "a value shared across probes" asks about sharing a value between probes: a guide
    that never writes "across" covers it as well. A word that names a topic still counts."""
    store, _ = _store_of(tmp_path, "A global variable is shared by all probes of a script.")
    try:
        assert unknown_share(store, "How is a variable shared across probes?") == 0.0
        question = "Is it global versus per-CPU, or does it never seem shared?"
        assert unknown_share(store, question) > 0  # "cpu"; not "never" or "seem"
        # "across" still counts among the question's words: one missing word of four
        lacks_one = absence_weight(store.chunk_count()) / 4
        assert unknown_share(store, "Is a variable shared across GPUs?") == lacks_one
    finally:
        store.close()
