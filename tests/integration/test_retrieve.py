"""Retrieval through the CLI, as a user runs it: `hearth docs add/list/search --json/rm` and an
end-to-end `hearth ask` whose sources name the page that holds the fact. Plus hybrid search
on a real manual (shared-mime-info's specification) with questions from the eval set."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pdf_factory
import pytest
from data_files import MissingTestData, data_pdf

from rag.config import LibraryConfig
from rag.evaluate import first_hit_rank, load_questions
from rag.library import Library

REPO = Path(__file__).resolve().parents[2]
HEARTH = REPO / ".venv" / "bin" / "hearth"

PAGES = [
    [
        "Varnholm island handbook.",
        "The old lighthouse of Varnholm was built from grey granite quarried on the island.",
        "Its lamp is lit by the keeper every evening before sunset.",
    ],
    [
        "Climbing the tower.",
        "The keeper of the Varnholm lighthouse climbs exactly 412 steps to reach the lamp room.",
        "The stairs wind around a central column of iron.",
    ],
    [
        "Getting there.",
        "Ferries to the mainland leave on Tuesdays and Fridays, and the crossing takes ninety",
        "minutes when the sea is calm.",
    ],
]


def hearth(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HEARTH), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),  # HEARTH_HOME and HEARTH_MODELS_DIR from the fixtures
        check=False,
    )


@pytest.fixture
def island_pdf(tmp_path: Path) -> Path:
    return pdf_factory.text_pdf(tmp_path / "island.pdf", PAGES)


def test_cli_add_list_search_json_and_rm(
    island_pdf: Path, tmp_path: Path, minilm_gguf: Path
) -> None:
    bad = pdf_factory.garbage_pdf(tmp_path / "broken.pdf")
    added = hearth("docs", "add", str(island_pdf), str(bad))
    assert added.returncode == 1, added.stderr  # one file failed, and says so
    assert "ready" in added.stdout and "failed" in added.stdout

    listed = json.loads(hearth("docs", "list", "--json").stdout)
    by_name = {d["name"]: d for d in listed}
    assert by_name["island.pdf"]["status"] == "ready"
    assert by_name["island.pdf"]["pages"] == 3
    assert by_name["broken.pdf"]["status"] == "failed" and by_name["broken.pdf"]["message"]

    found = hearth("docs", "search", "how many steps to the lamp room", "-k", "2", "--json")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert 1 <= len(hits) <= 2
    for h in hits:
        assert {"file", "page", "score", "text"} <= set(h)
        assert isinstance(h["page"], int) and h["page"] >= 1
    assert hits[0]["file"] == str(island_pdf)
    assert hits[0]["page"] <= 2 <= hits[0]["page_end"]
    assert "412" in hits[0]["text"]

    # Hostile query text is searched as words, never an error.
    odd = hearth("docs", "search", 'steps" OR NEAR(( lamp*', "--json")
    assert odd.returncode == 0, odd.stderr

    assert hearth("docs", "rm", "broken.pdf").returncode == 0
    missing = hearth("docs", "rm", "no-such-doc")
    assert missing.returncode == 1 and "No document" in missing.stderr
    listed = json.loads(hearth("docs", "list", "--json").stdout)
    assert [d["name"] for d in listed] == ["island.pdf"]


def test_ask_cites_the_page_with_the_fact(
    island_pdf: Path, minilm_gguf: Path, smollm2_path: Path
) -> None:
    assert hearth("docs", "add", "-q", str(island_pdf)).returncode == 0
    asked = hearth(
        "ask",
        "How many steps does the keeper climb to reach the lamp room?",
        "-k",
        "3",
        "--max-tokens",
        "40",
        "--temperature",
        "0",
        "--json",
        "--plain",  # the model's own answer over whole passages (grounded answers:
    )  # tests/integration/test_grounded_answers.py)
    assert asked.returncode == 0, asked.stderr
    result = json.loads(asked.stdout)
    assert result["answer"].strip()
    sources = result["sources"]
    assert sources, result
    assert len(sources) == result["stats"]["passages_used"]
    assert any(s["file"] == str(island_pdf) and s["page"] <= 2 <= s["page_end"] for s in sources)

    # The plain form prints the answer, then numbered sources with file and page.
    plain = hearth(
        "ask", "Which days do ferries leave?", "--max-tokens", "24", "-k", "2", "--plain"
    )
    assert plain.returncode == 0, plain.stderr
    tail = plain.stdout.split("Sources:")[-1]
    assert "[1] " + str(island_pdf) in tail and "page" in tail


def test_ask_with_an_empty_library_is_a_clear_error(minilm_gguf: Path) -> None:
    asked = hearth("ask", "anything?")
    assert asked.returncode == 1
    assert "library is empty" in asked.stderr


def test_hybrid_finds_answer_pages_in_a_real_manual(tmp_path: Path, minilm_gguf: Path) -> None:
    try:
        pdf = data_pdf("shared-mime-info/shared-mime-info-spec.pdf")
    except MissingTestData as exc:
        pytest.skip(str(exc))
    questions = [q for q in load_questions() if q.file.startswith("shared-mime-info/")]
    assert len(questions) >= 5
    lib = Library(tmp_path / "lib", LibraryConfig(embedding_model=minilm_gguf, embed_threads=1))
    try:
        lib.add([pdf])
        lib.ingest()
        assert lib.resolve(str(pdf)).status == "ready"
        ranks = {
            mode: [
                first_hit_rank(lib.search(q.question, k=5, mode=mode), pdf, q.pages)
                for q in questions
            ]
            for mode in ("vector", "keyword")
        }
        for fusion in ("score", "rrf"):  # Hearth's default, and the alternative setting
            lib.searcher.config = replace(lib.config, fusion=fusion)
            hits = [lib.search(q.question, k=5) for q in questions]
            ranks[fusion] = [
                first_hit_rank(h, pdf, q.pages) for h, q in zip(hits, questions, strict=True)
            ]
            found = sum(r is not None for r in ranks[fusion])
            assert found >= len(questions) - 1, ranks
            for mode in ("vector", "keyword"):
                assert found >= sum(r is not None for r in ranks[mode]), ranks
            if fusion == "score":  # fused scores: a weighted mean of 0..1 scores, best first
                for h in hits:
                    scores = [p.score for p in h]
                    assert scores == sorted(scores, reverse=True)
                    assert all(0.0 <= s <= 1.0 for s in scores), scores
    finally:
        lib.close()


def test_a_table_of_contents_never_outranks_the_page_it_points_to(
    tmp_path: Path, minilm_gguf: Path
) -> None:
    """A contents page repeats the words of every section it lists; cut into chunks of mostly
    dots, its vectors sit near every query. It must come after passages with content, in
    every mode, before and after fusion."""
    leaders = " ." * 45
    contents = [
        "Contents",
        f"Climbing the tower: how many steps the keeper climbs{leaders} 3",
        f"Getting there: ferries to the mainland{leaders} 4",
        f"Varnholm island handbook{leaders} 2",
    ]
    # pages between, so that the contents and the answer are not neighbours (merged)
    filler = [
        [f"Notes on the {topic} of the island, part {i}." for i in range(1, 14)]
        for topic in ("seabirds", "weather", "fishing boats", "wild flowers")
    ]
    pdf = pdf_factory.text_pdf(tmp_path / "handbook.pdf", [contents, *filler, *PAGES])
    lib = Library(tmp_path / "lib", LibraryConfig(embedding_model=minilm_gguf, embed_threads=1))
    try:
        lib.add([pdf])
        lib.ingest()
        for mode in ("hybrid", "vector", "keyword"):
            hits = lib.search("How many steps does the keeper climb?", k=3, mode=mode)
            pages = [(h.page, h.page_end, h.text[:60]) for h in hits]
            assert hits and hits[0].covers_page(7), (mode, pages)
            # the contents chunk that holds the query's very words comes after the passages
            # (keyword search finds only two chunks)
            last = 1 if mode == "keyword" else 2
            assert all(not h.text.startswith("Contents") for h in hits[:last]), (mode, pages)
    finally:
        lib.close()


HANDBOOK = [
    [
        "Keeper's Handbook",
        "The lighthouse on Varnholm island was built of granite in the year 1851.",
        "Its lamp is lit every evening half an hour before sunset, in every season.",
        "The keeper writes the weather into the log book at six, at noon and at midnight.",
        "Ferries to the mainland leave on Tuesdays and Fridays when the sea allows it.",
        "The harbour master keeps the spare lamp wicks in a locked oak chest that stands in the",
    ],
    [
        "Keeper's Handbook",
        "north corner of the boat shed, beside the oars.",
        "Visitors may climb the tower on Sundays if the keeper is at home.",
        "The fog horn is sounded twice a minute whenever the far beacon cannot be seen.",
    ],
]


def test_a_sentence_cut_by_a_chunk_and_a_page_break_is_quoted_whole(
    tmp_path: Path, minilm_gguf: Path
) -> None:
    """Chunks small enough that one ends at the page break inside the sentence, and none
    merged: the passage that holds the sentence's start and the one that holds its end each
    quote it whole, cited with the page it starts on, without the running head between."""
    from rag.evidence import choose

    pdf = pdf_factory.text_pdf(tmp_path / "handbook.pdf", HANDBOOK)
    config = LibraryConfig(
        embedding_model=minilm_gguf, chunk_tokens=40, chunk_overlap=10, merge_max_chunks=1
    )
    lib = Library(tmp_path / "lib", config)
    try:
        lib.add([pdf])
        lib.ingest()
        texts = [r[0] for r in lib.store.conn.execute("SELECT text FROM chunks ORDER BY ordinal")]
        assert any(t.endswith("stands in the") for t in texts)  # the case under test
        assert any(t.startswith("Keeper's Handbook\nnorth corner") for t in texts)
        whole = (
            "The harbour master keeps the spare lamp wicks in a locked oak chest that stands "
            "in the north corner of the boat shed, beside the oars."
        )
        hits = lib.search("Where are the spare lamp wicks kept?", k=3)
        holding = [h for h in hits if "lamp wicks" in h.text or "north corner" in h.text]
        assert len(holding) == 2
        for hit in holding:
            assert "north corner of the boat shed, beside the oars." in hit.text
            assert hit.text.startswith("The harbour master") and hit.page == 1
            assert hit.page_end == 2 and hit.page_breaks
            assert whole in [s.text for s in hit.sentences]
        quote = choose(hits).quotes[0]
        assert quote.text == whole and quote.page == 1
    finally:
        lib.close()
