"""Documents in the window with the real chat model (SmolLM2-135M through LlamaEngine) and
the real document library; and searches answered while a real manual indexes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from data_files import MissingTestData, data_pdf
from test_documents_support import (  # noqa: F401  (docs_gui_fixture: the docs_gui fixture)
    FACT_PAGE,
    FACT_QUESTION,
    docs_gui_fixture,
    drop_files,
    facts_pdf,
    wait_statuses,
)
from ui_fakes import Script, fake_factory, wait_ready

from app.paths import get_paths
from app.settings import Settings
from engine.types import SamplingParams
from ui.sources_view import SourcesView

LOAD_TIMEOUT_MS = 120_000
ANSWER_TIMEOUT_MS = 300_000


@pytest.fixture(autouse=True)
def small_answers(smollm2_path: Any) -> Settings:
    settings = Settings(
        n_ctx=4096, n_threads=1, sampling=SamplingParams(temperature=0.0, max_tokens=32, seed=1)
    )
    settings.save(get_paths().ensure().settings_file)
    return settings


def covers_fact(source: dict) -> bool:
    return source["page"] <= FACT_PAGE <= source["page_end"] and "Agnethe Brusk" in source["text"]


def test_answer_with_all_documents_cites_the_page_and_sources_survive_a_restart(
    docs_gui: Any, qtbot: Any, tmp_path: Path
) -> None:
    gui = docs_gui()  # the real engine
    pdf = facts_pdf(tmp_path / "docs")
    assert drop_files(gui.window, [pdf])  # turns this chat's sources to "all"
    wait_statuses(qtbot, gui, {"varnholm.pdf": "ready"})
    wait_ready(qtbot, gui, LOAD_TIMEOUT_MS)
    c = gui.controller
    assert gui.window.documents_ui.sources_bar.scope().mode == "all"
    with qtbot.waitSignal(c.generationFinished, timeout=ANSWER_TIMEOUT_MS) as blocker:
        assert c.send(FACT_QUESTION)
    mid, reason = blocker.args
    assert reason in ("stop", "length")
    chat_id = c.chat_id
    row = gui.store.messages(chat_id)[-1]
    assert row.id == mid and row.content.strip()
    assert row.stats["grounded"] and len(row.sources) >= 1  # quotes, with their pages
    assert any(covers_fact(s) for s in row.sources), row.sources
    footer = gui.window.chat_view.widget_for(mid).footer
    assert isinstance(footer, SourcesView)
    shown = footer.titles()
    assert len(shown) == len(row.sources) and shown[0].startswith("[1] varnholm.pdf, page")
    gui.window.close()

    again = docs_gui()
    qtbot.waitUntil(lambda: again.controller.chat_id == chat_id, timeout=10_000)
    widget = again.window.chat_view.widget_for(mid)
    assert widget is not None
    assert isinstance(widget.footer, SourcesView)
    assert widget.footer.titles() == shown
    assert any(covers_fact(r.source) for r in widget.footer.rows)


def test_searches_are_answered_while_a_real_manual_indexes(
    docs_gui: Any, qtbot: Any, tmp_path: Path
) -> None:
    """Searches asked while a real manual (libtasn1.pdf, 36 pages) is read, chunked and
    embedded are answered between two ingestion steps, not after the manual is done. The
    chat engine is the scripted fake: this test is about the documents thread. How long a
    search waits, and the GUI thread's worst gap meanwhile, are speeds: `hearth bench ui
    --documents PATH` measures them (documents.search_latency_worst_s, worst_stall_ms)."""
    try:
        manual = data_pdf("libtasn1-doc/libtasn1.pdf")
    except MissingTestData as exc:
        pytest.skip(str(exc))
    gui = docs_gui(fake_factory(Script()))
    docs = gui.controller.docs
    # A first document opens Chroma and loads the embedding model before the manual.
    gui.window.documents_ui.add_paths([str(facts_pdf(tmp_path / "first"))])
    wait_statuses(qtbot, gui, {"varnholm.pdf": "ready"})
    qtbot.waitUntil(lambda: docs.state == "idle", timeout=30_000)

    def manual_row() -> Any:
        return next((r for r in docs.documents() if r.name == manual.name), None)

    asked: set[int] = set()
    answered_while: list[str] = []  # the manual's status when each answer arrived

    def on_result(rid: int, hits: list) -> None:
        if rid in asked:
            asked.discard(rid)
            answered_while.append(manual_row().status if hits else "no hits")

    docs.retrieved.connect(on_result)
    gui.window.documents_ui.add_paths([str(manual)])
    while (row := manual_row()) is None or row.status not in ("ready", "failed"):
        qtbot.wait(50)  # pytest-timeout ends a run that never finishes
        if not asked and row is not None and row.embedded:
            asked.add(docs.retrieve("How do I read a DER encoded structure?", 6))
    assert row.status == "ready", row.message
    assert row.pages == 36
    print(f"\n{manual.name}: {row.chunks} chunks; answers while: {answered_while}")
    assert "indexing" in answered_while, answered_while
