"""The window's grounded document answers (app/grounded_turn.py): the quoted sentences
appear first with their pages, the model's sentence only when its passage backs it, the
sources under the answer show what was quoted from which page (clicking opens it), an
uncovered question is answered with the abstention, and a follow-up is sent the history as
the model read it. Real documents thread and embedding model; a scripted chat model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QUrl
from test_documents import passage_factory
from test_documents_support import (  # noqa: F401  (docs_gui_fixture: the docs_gui fixture)
    FACT_PAGE,
    FACT_QUESTION,
    docs_gui_fixture,
    facts_pdf,
    wait_statuses,
)
from ui_fakes import Script, wait_ready

from rag.answer import ABSTAIN_TEXT
from ui.sources_view import SourcesView

MODEL_SENTENCES = [
    ["The copper kettle was forged by ", "Agnethe Brusk [1]. "],
    ["It was forged in 1999 by Agnethe Brusk [1]."],
]


def test_quotes_first_then_the_checked_sentence_with_pages(
    docs_gui: Any, qtbot: Any, tmp_path: Path
) -> None:
    script = Script(replies=[[*MODEL_SENTENCES[0], *MODEL_SENTENCES[1]], ["Skarnes [1]."]])
    gui = docs_gui(passage_factory(script))
    wait_ready(qtbot, gui)
    c = gui.controller
    gui.window.documents_ui.add_paths([str(facts_pdf(tmp_path / "in"))])
    wait_statuses(qtbot, gui, {"varnholm.pdf": "ready"})
    deltas: list[str] = []
    c.streamDelta.connect(lambda _mid, text: deltas.append(text))

    with qtbot.waitSignal(c.generationFinished, timeout=60_000) as blocker:
        assert c.send(FACT_QUESTION)
    mid, reason = blocker.args
    assert reason == "stop"
    # The quote was shown before any of the model's words
    assert deltas and "Agnethe Brusk" in deltas[0] and "[1]" in deltas[0]
    assert "copper kettle was forged by" not in deltas[0]
    request = script.requests[-1]
    assert request.passages == [] and request.output is not None  # quotes only, a grammar
    assert "Agnethe Brusk" in request.messages[-1].content
    row = gui.store.messages(c.chat_id)[-1]
    assert row.id == mid and row.content.startswith(">")
    assert "Agnethe Brusk [1]" in row.content  # the model's sentence, backed: shown
    assert "1999" not in row.content  # the invented year: never shown
    assert row.stats["grounded"] and row.stats["model_sentences_dropped"] == 1
    source = row.sources[0]
    assert source["page"] == FACT_PAGE and source["name"] == "varnholm.pdf"
    assert any("Agnethe Brusk" in q for q in source["quotes"])

    view = gui.window.chat_view.widget_for(mid).footer
    assert isinstance(view, SourcesView)
    assert view.titles()[0] == f"[1] varnholm.pdf, page {FACT_PAGE}"
    first = view.rows[0]
    assert first.quotes.isVisibleTo(view) and "Agnethe Brusk" in first.quotes.text()
    opened: list[QUrl] = []
    view.opener = lambda url: opened.append(url) or True
    first.activated()
    assert opened and opened[0].fragment() == f"page={FACT_PAGE}"

    # A question the documents do not cover: the abstention, no model
    asked = len(script.requests)
    with qtbot.waitSignal(c.generationFinished, timeout=60_000):
        assert c.send("How do I set the weekly schedule of my heating thermostat?")
    row = gui.store.messages(c.chat_id)[-1]
    assert row.content.startswith(ABSTAIN_TEXT) and row.stats["abstained"]
    assert len(script.requests) == asked and row.sources  # the closest passages

    # A follow-up is sent the earlier turns as the model read them (its cache matches)
    with qtbot.waitSignal(c.generationFinished, timeout=60_000):
        assert c.send("Where did the smith who forged the copper kettle live?")
    sent = script.requests[-1].messages
    first_turn = [m for m in sent if m.role == "user"][0]
    assert first_turn.content.startswith("Quotes from the user's documents")
    assert "Agnethe Brusk" in first_turn.content
    answer = [m for m in sent if m.role == "assistant"][0]
    assert answer.content == "".join(MODEL_SENTENCES[0] + MODEL_SENTENCES[1])
