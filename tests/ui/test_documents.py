"""Documents in the window, with the real document library (real PDFs, the real converted
all-MiniLM-L6-v2, real Chroma and SQLite) on the real documents thread. The chat engine is the
scripted fake where a test is about the wiring, not about generation (test_documents_real.py
uses SmolLM2)."""

from __future__ import annotations

import http.server
import json
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pdf_factory
import pytest
from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication
from test_documents_support import (  # noqa: F401  (docs_gui_fixture: the docs_gui fixture)
    FACT_PAGE,
    FACT_QUESTION,
    collect,
    docs_gui_fixture,
    drop_files,
    facts_pdf,
    rows_by_name,
    wait_statuses,
)
from ui_fakes import FakeEngine, Script, wait_ready

from app.conversation import NOT_SEARCHED_NOTE
from app.paths import get_paths
from app.settings import Settings
from app.sources import (
    NEW_CHAT_SOURCES,
    SourceScope,
    chat_sources,
    default_sources,
    remember_sources,
)
from engine.types import GenerationRequest
from rag.progress import Progress
from ui.documents_model import overall_text, status_text
from ui.documents_settings import DocumentsSettingsPage
from ui.message_view import MarkdownView
from ui.sources_view import SourcesView, source_title, source_url


class PassageEngine(FakeEngine):
    """The scripted fake, reporting that the first `fit` passages fitted in the prompt."""

    fit: int | None = None

    def generate(self, request: GenerationRequest, cancel: threading.Event) -> Any:
        gen = super().generate(request, cancel)
        n = len(request.passages)
        gen.stats.passages_used = n if self.fit is None else min(self.fit, n)
        return gen


def passage_factory(script: Script, fit: int | None = None) -> Any:
    def factory(model_path: str, **options: int) -> PassageEngine:
        engine = PassageEngine(script, model_path, **options)
        engine.fit = fit
        return engine

    return factory


def library_db() -> Path:
    return get_paths().documents_dir / "library.sqlite3"


def test_drop_a_pdf_indexes_it_readding_does_nothing_remove_works(
    docs_gui: Any, qtbot: Any, tmp_path: Path
) -> None:
    gui = docs_gui(passage_factory(Script()))
    docs = gui.controller.docs
    progress = collect(docs.progress)
    updates = collect(docs.rowsUpdated)
    pdf = facts_pdf(tmp_path / "in")

    assert drop_files(gui.window, [pdf])
    assert gui.window.documents_ui.dock.isVisible()
    rows = wait_statuses(qtbot, gui, {"varnholm.pdf": "ready"})
    row = rows["varnholm.pdf"]
    assert row.pages == 3 and row.chunks >= 1 and row.embedded == row.chunks
    # Progress arrived while it was indexed: overall progress and per-file rows
    qtbot.waitUntil(lambda: bool(progress) and progress[-1].ready == 1, timeout=10_000)
    assert progress[0].reading == 1 and progress[0].ready == 0
    assert any(r.status == "indexing" for batch in updates for r in batch)
    panel = gui.window.documents_ui.panel
    model = panel.model
    assert model.rowCount() == 1
    assert model.index(0, 1).data() == "3"
    assert model.index(0, 2).data() == str(row.chunks)
    assert model.index(0, 4).data() == "ready"
    # The drop turned this chat's sources on
    assert gui.window.documents_ui.sources_bar.scope().mode == "all"

    # Re-adding the unchanged file does nothing: no ingestion step, the row is untouched.
    steps = docs.worker.steps
    assert drop_files(gui.window, [pdf], target=gui.window.composer.edit)
    qtbot.wait(600)
    again = rows_by_name(gui)["varnholm.pdf"]
    assert docs.worker.steps == steps
    assert (again.id, again.status, again.chunks, again.updated_at) == (
        row.id,
        "ready",
        row.chunks,
        row.updated_at,
    )

    # Remove (confirmed in the panel)
    panel.select_ids([row.id])
    assert panel.selected_ids() == [row.id]
    with qtbot.waitSignal(docs.documentsChanged, timeout=30_000):
        panel.remove_selected(confirm=False)
    qtbot.waitUntil(lambda: model.rowCount() == 0, timeout=10_000)
    con = sqlite3.connect(library_db())
    try:
        assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM chunks").fetchone()[0] == 0
    finally:
        con.close()


def test_bad_files_fail_with_a_reason_while_a_good_one_indexes(
    docs_gui: Any, qtbot: Any, tmp_path: Path
) -> None:
    gui = docs_gui(passage_factory(Script()))
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = facts_pdf(folder, "good.pdf")
    locked = pdf_factory.encrypted_pdf(folder / "locked.pdf")
    scan = pdf_factory.image_only_pdf(folder / "scan.pdf")
    assert drop_files(gui.window, [good, locked, scan])
    rows = wait_statuses(
        qtbot, gui, {"good.pdf": "ready", "locked.pdf": "failed", "scan.pdf": "failed"}
    )
    assert rows["good.pdf"].chunks >= 1
    assert "password" in rows["locked.pdf"].message.lower()
    assert "scanned" in rows["scan.pdf"].message.lower() or "ocr" in rows["scan.pdf"].message
    model = gui.window.documents_ui.panel.model
    for name in ("locked.pdf", "scan.pdf"):
        i = next(i for i, r in enumerate(model.rows()) if r.name == name)
        status = model.index(i, 4)
        assert status.data() == "failed"
        assert status.data(Qt.ItemDataRole.ToolTipRole) == rows[name].message
        assert status.data(Qt.ItemDataRole.ForegroundRole) is not None


def test_answer_uses_the_chats_sources_and_stores_what_fitted(
    docs_gui: Any, qtbot: Any, tmp_path: Path
) -> None:
    script = Script(replies=[["The kettle", " was forged by Agnethe Brusk [1]."]])
    gui = docs_gui(passage_factory(script, fit=2))
    wait_ready(qtbot, gui)
    c = gui.controller
    # The model's own answer over whole passages, what fitted (the grounded answer that the
    # window gives by default: tests/ui/test_grounded_window.py)
    c.turns.grounded = False
    bar = gui.window.documents_ui.sources_bar
    pdf = facts_pdf(tmp_path / "in")
    other = pdf_factory.text_pdf(tmp_path / "in" / "river.pdf", pdf_factory.lorem_pages(3))
    gui.window.documents_ui.add_paths([str(pdf), str(other)])
    wait_statuses(qtbot, gui, {"varnholm.pdf": "ready", "river.pdf": "ready"})

    # "Selected" with only the fact file: every passage comes from it, in rank order
    bar.choose_documents = lambda _current: [str(pdf)]
    bar.combo.setCurrentIndex(bar.combo.findData("selected"))
    bar.combo.activated.emit(bar.combo.currentIndex())
    chat = c.current_chat()
    assert SourceScope.from_chat_settings(chat.settings).paths == [str(pdf)]
    assert "varnholm.pdf" in bar.summary.text()

    with qtbot.waitSignal(c.generationFinished, timeout=60_000) as blocker:
        assert c.send(FACT_QUESTION)
    mid, reason = blocker.args
    assert reason == "stop"
    request = script.requests[-1]
    assert request.passages, "no passages reached the engine"
    assert all(p.label.startswith("varnholm.pdf, page") for p in request.passages)
    # The fact is among the passages that fitted (the fake engine fits two). Its exact rank
    # among this PDF's near-identical filler lines is a retrieval matter (tests/integration).
    assert any("Agnethe Brusk" in p.text for p in request.passages[:2])
    row = gui.store.messages(c.chat_id)[-1]
    assert row.id == mid
    assert len(row.sources) == min(2, len(request.passages))  # what fitted, not all
    holding = [s for s in row.sources if "Agnethe Brusk" in s["text"]]
    assert holding, "the stored sources lost the passage with the fact"
    fact = holding[0]
    assert fact["page"] <= FACT_PAGE <= fact["page_end"] and fact["name"] == "varnholm.pdf"
    assert fact["file"] == str(pdf)
    assert all(set(s) >= {"file", "name", "page", "page_end", "score", "text"} for s in row.sources)
    view = gui.window.chat_view.widget_for(mid).footer
    assert isinstance(view, SourcesView)
    assert view.titles()[0] == "[1] " + request.passages[0].label

    # "No documents": nothing is searched, no passages, no sources
    bar.set_scope(SourceScope("none"))
    with qtbot.waitSignal(c.generationFinished, timeout=60_000):
        assert c.send("And who keeps the lighthouse?")
    assert script.requests[-1].passages == []
    assert gui.store.messages(c.chat_id)[-1].sources == []


def test_a_new_chat_answers_from_what_the_user_chose_last(
    docs_gui: Any, qtbot: Any, tmp_path: Path
) -> None:
    """A window whose library holds documents opens new chats on them (a user who dropped
    PDFs yesterday asks about them today), until the user picks "No documents"; the choice
    is kept in the settings file for the next start."""
    script = Script(replies=[["Plain reply."]])
    gui = docs_gui(passage_factory(script))
    wait_ready(qtbot, gui)
    c = gui.controller
    c.turns.grounded = False  # the passages the model is sent show what was searched
    bar = gui.window.documents_ui.sources_bar
    qtbot.waitUntil(lambda: c.docs.listed, timeout=15_000)
    assert not c.docs.may_hold_documents()  # an empty library, listed
    assert default_sources(c.settings, False).mode == "none"  # nothing added yet: plain chats
    gui.window.documents_ui.add_paths([str(facts_pdf(tmp_path / "in"))])
    wait_statuses(qtbot, gui, {"varnholm.pdf": "ready"})
    with qtbot.waitSignal(c.generationFinished, timeout=60_000):
        assert c.send(FACT_QUESTION)
    first = c.chat_id

    second = c.new_chat()
    assert second is not None and second != first
    assert "sources" not in c.current_chat().settings  # it has not chosen ...
    assert bar.combo.currentData() == "all" and "1 document" in bar.summary.text()  # ... yet
    with qtbot.waitSignal(c.generationFinished, timeout=60_000):
        assert c.send(FACT_QUESTION)
    assert any("Agnethe Brusk" in p.text for p in script.requests[-1].passages)
    with qtbot.waitSignal(c.generationFinished, timeout=60_000):
        assert c.send("Thanks a lot!")  # small talk: the model answers, no search
    assert script.requests[-1].passages == []
    # More documents for a chat that answers from all of them already: nothing to announce
    with qtbot.assertNotEmitted(bar.followed, wait=200):
        gui.window.documents_ui.add_paths([str(facts_pdf(tmp_path / "more"))])
    assert bar.combo.currentData() == "all"

    bar.combo.setCurrentIndex(bar.combo.findData("none"))  # the user's own choice
    bar.combo.activated.emit(bar.combo.currentIndex())
    third = c.new_chat()
    assert third not in (None, first, second) and bar.combo.currentData() == "none"
    with qtbot.waitSignal(c.generationFinished, timeout=60_000):
        assert c.send("Tell me a joke.")
    assert script.requests[-1].passages == []
    saved = Settings.load(get_paths().settings_file)
    assert json.loads(saved.ui_state[NEW_CHAT_SOURCES])["mode"] == "none"
    # A damaged value reads as "No documents", never as an error
    c.settings.ui_state[NEW_CHAT_SOURCES] = "{not json"
    assert default_sources(c.settings, True) == SourceScope("none")
    # Before any choice (documents added from the command line, or before this version), a
    # library that holds documents is where new chats look
    del c.settings.ui_state[NEW_CHAT_SOURCES]
    assert c.new_chat() not in (None, third) and bar.combo.currentData() == "all"
    assert default_sources(c.settings, False) == SourceScope("none")


def test_when_no_document_can_be_searched_the_model_answers_and_says_so(
    docs_gui: Any, qtbot: Any, tmp_path: Path
) -> None:
    script = Script(replies=[["The documents do not cover it."]])
    gui = docs_gui(passage_factory(script))
    wait_ready(qtbot, gui)
    c = gui.controller
    scan = pdf_factory.image_only_pdf(tmp_path / "scan.pdf")
    gui.window.documents_ui.add_paths([str(scan)])
    wait_statuses(qtbot, gui, {"scan.pdf": "failed"})
    gui.window.documents_ui.sources_bar.set_scope(SourceScope("selected", [str(scan)]))
    with qtbot.waitSignal(c.generationFinished, timeout=60_000) as blocker:
        assert c.send("What does the scan say?")
    assert blocker.args[1] == "stop"
    assert script.requests[-1].passages == []
    row = gui.store.messages(c.chat_id)[-1]
    # said before the model's own words: no document answered, none could be searched
    assert row.content == NOT_SEARCHED_NOTE + "The documents do not cover it."
    assert row.sources == []


def ingest_lock_free() -> bool:
    """True if no process holds the library's ingest lock (it is taken and given back)."""
    import filelock

    lock = filelock.FileLock(str(get_paths().documents_dir / "ingest.lock"), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        return False
    lock.release()
    return True


def test_pause_resume_and_cancel(docs_gui: Any, qtbot: Any, tmp_path: Path) -> None:
    gui = docs_gui(passage_factory(Script()))
    docs = gui.controller.docs
    panel = gui.window.documents_ui.panel
    small = facts_pdf(tmp_path / "done")
    gui.window.documents_ui.add_paths([str(small)])
    wait_statuses(qtbot, gui, {"varnholm.pdf": "ready"})

    big = pdf_factory.text_pdf(tmp_path / "long.pdf", pdf_factory.lorem_pages(120))
    gui.window.documents_ui.add_paths([str(big)])
    qtbot.waitUntil(lambda: docs.state == "indexing", timeout=60_000)
    panel.pause_button.click()
    qtbot.waitUntil(lambda: docs.state == "paused", timeout=10_000)
    assert panel.pause_button.text() == "Resume" and docs.paused
    steps = docs.worker.steps
    qtbot.wait(800)
    assert docs.worker.steps == steps  # nothing runs while paused
    assert rows_by_name(gui)["long.pdf"].status in ("queued", "indexing")
    assert ingest_lock_free()  # `hearth docs add` would index meanwhile, not wait
    panel.pause_button.click()
    qtbot.waitUntil(lambda: docs.worker.steps > steps, timeout=10_000)
    if rows_by_name(gui)["long.pdf"].status != "ready":
        assert not ingest_lock_free()  # the window indexes again
    assert panel.pause_button.text() == "Pause" and not docs.paused

    # Cancel: stops at a batch boundary and removes what was not finished
    if rows_by_name(gui)["long.pdf"].status == "ready":
        pytest.skip("the long file finished before it could be cancelled")
    with qtbot.waitSignal(docs.documentsChanged, timeout=30_000):
        panel.cancel_indexing(confirm=False)
    qtbot.waitUntil(lambda: docs.state == "idle", timeout=10_000)
    assert set(rows_by_name(gui)) == {"varnholm.pdf"}
    assert [r.name for r in panel.model.rows()] == ["varnholm.pdf"]
    steps = docs.worker.steps
    qtbot.wait(500)
    assert docs.worker.steps == steps


def test_close_mid_indexing_stops_it_and_indexing_resumes_on_next_start(
    docs_gui: Any, qtbot: Any, tmp_path: Path
) -> None:
    gui = docs_gui(passage_factory(Script()))
    docs = gui.controller.docs
    big = pdf_factory.text_pdf(tmp_path / "long.pdf", pdf_factory.lorem_pages(40))
    gui.window.documents_ui.add_paths([str(big)])
    qtbot.waitUntil(
        lambda: docs.last_progress is not None and docs.last_progress.chunks_done > 0,
        timeout=120_000,
    )
    assert rows_by_name(gui)["long.pdf"].status == "indexing"
    gui.window.close()  # stops at the next batch: the documents thread is gone after it
    assert not docs.thread_.isRunning()

    again = docs_gui(passage_factory(Script()))
    rows = wait_statuses(qtbot, again, {"long.pdf": "ready"})
    assert rows["long.pdf"].pages == 40 and rows["long.pdf"].embedded == rows["long.pdf"].chunks
    con = sqlite3.connect(library_db())
    try:
        dup = con.execute(
            "SELECT count(*) - count(DISTINCT ordinal) FROM chunks WHERE doc_id = ?",
            (rows["long.pdf"].id,),
        ).fetchone()[0]
    finally:
        con.close()
    assert dup == 0


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        _Recorder.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_answers_never_load_remote_or_local_resources(qapp: Any, tmp_path: Path) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_port
        image = tmp_path / "local.png"
        real = QImage(7, 5, QImage.Format.Format_ARGB32)
        real.fill(0xFFFF0000)
        assert real.save(str(image), "PNG")
        view = MarkdownView()
        view.resize(500, 300)
        view.show()
        view.set_markdown(
            f"See ![chart](http://127.0.0.1:{port}/remote.png) and "
            f"![file]({QUrl.fromLocalFile(str(image)).toString()}) "
            f"<img src='http://127.0.0.1:{port}/tag.png'> [link](http://127.0.0.1:{port}/l)"
        )
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            QApplication.processEvents()
            time.sleep(0.02)
        assert _Recorder.hits == []
        # Images named in an answer are a blank pixel: neither the local file nor the URL
        # is read (a null answer would make Qt read local files itself).
        local = QUrl.fromLocalFile(str(image))
        for url in (local, QUrl(f"http://127.0.0.1:{port}/remote.png")):
            got = view.loadResource(2, url)
            assert isinstance(got, QImage) and (got.width(), got.height()) == (1, 1)
        shown = view.document().resource(2, local)
        assert shown is None or (shown.width(), shown.height()) == (1, 1)
        assert _Recorder.hits == []
        view.close()
    finally:
        server.shutdown()


def test_sources_view_opens_the_page_or_shows_the_passage(qapp: Any, tmp_path: Path) -> None:
    pdf = facts_pdf(tmp_path)
    sources = [
        {
            "file": str(pdf),
            "name": pdf.name,
            "page": 2,
            "page_end": 2,
            "score": 0.03,
            "text": "The copper kettle was forged in 1887.",
        },
        {
            "file": str(tmp_path / "gone.pdf"),
            "name": "gone.pdf",
            "page": 4,
            "page_end": 5,
            "score": 0.02,
            "text": "<b>not html</b>",
        },
    ]
    view = SourcesView(sources)
    opened: list[QUrl] = []
    view.opener = lambda url: opened.append(url) or True
    assert view.titles() == ["[1] varnholm.pdf, page 2", "[2] gone.pdf, pages 4-5"]
    assert "1887" in view.rows[0].title.toolTip()
    view.rows[0].activated()
    assert opened and opened[0].toLocalFile() == str(pdf) and opened[0].fragment() == "page=2"
    assert not view.rows[0].expanded
    view.rows[1].activated()  # the file is gone: the passage is shown instead
    assert view.rows[1].expanded and len(opened) == 1
    assert view.rows[1].passage.toPlainText() == "<b>not html</b>"  # plain text, not HTML
    assert source_url(sources[1]) is None
    assert source_title(1, {"file": "/x/notes.md", "page": 0}) == "[1] notes.md"
    section = {"file": "/x/notes.md", "page": 1, "page_end": 1, "section": "Install"}
    assert source_title(2, section) == "[2] notes.md, § Install"


def test_quoted_code_is_shown_in_the_code_font_and_nothing_is_interpreted(qapp: Any) -> None:
    """The sources listed raw backticks ("`glp_open_tee`"); a quote that holds markup is
    still text."""
    quotes = ["The routine `glp_open_tee` starts   copying.", "It <b>is</b> `a<b>`."]
    row = SourcesView([{"file": "/x/glpk.pdf", "name": "glpk.pdf", "quotes": quotes}]).rows[0]
    assert row.quotes.textFormat() == Qt.TextFormat.RichText
    assert row.quotes.text() == (
        "“The routine <code>glp_open_tee</code> starts copying.”<br>"
        "“It &lt;b&gt;is&lt;/b&gt; <code>a&lt;b&gt;</code>.”"
    )
    assert SourcesView([{"file": "/x/a.pdf", "quotes": []}]).rows[0].quotes.text() == ""


def test_documents_settings_page_and_pure_helpers(docs_gui: Any, qtbot: Any) -> None:
    gui = docs_gui(passage_factory(Script()), show=False)
    dialog = gui.window.settings_dialog()
    page = dialog.page("Documents")
    assert isinstance(page, DocumentsSettingsPage)
    assert page.top_k.value() == gui.controller.settings.rag_top_k
    page.top_k.setValue(3)
    assert dialog.result_settings().rag_top_k == 3
    dialog.close()

    class Row:
        status, message, progress, changed = "indexing", "", 0.42, 0

    assert status_text(Row()) == "indexing 42%"
    Row.message = "reading pages"
    assert status_text(Row()) == "reading pages"

    Row.message, Row.changed = "", 1
    assert status_text(Row()) == "changed – re-indexing"
    Row.changed, Row.rereading = 2, True  # the file is as it was: Hearth reads it better now
    assert status_text(Row()) == "re-reading"
    Row.status = "missing"
    assert status_text(Row()) == "missing"

    p = Progress(indexing=1, ready=2, failed=1, missing=1, chunks_total=400, chunks_done=100,
                 chunks_per_s=50.0, pages_read=113, eta_s=6.0, current="R-intro.pdf",
                 current_chunks=400, current_done=100)  # fmt: skip
    text = overall_text(p)
    assert text.startswith("Indexing R-intro.pdf 25% (100/400 chunks) · 50 chunks/s")
    assert "50 chunks/s" in text and "113 pages" in text
    assert "~6 s left" in text and "1 failed" in text and "1 missing" in text
    assert "another Hearth process" not in text
    for state, first in (("paused", "Paused"), ("error", "Stopped by an error")):
        stopped = overall_text(p, state)  # nothing moves: no rate, no time left
        assert stopped.startswith(first) and "100/400 chunks" in stopped
        assert "chunks/s" not in stopped and "left" not in stopped
    # `hearth docs add` holds the library
    assert overall_text(replace(p, elsewhere=True)).startswith("Indexed by another Hearth process")


def test_every_process_puts_the_vectors_where_the_settings_say(tmp_path: Path) -> None:
    """The window, `hearth docs list/rm` and `hearth docs add/ask` all take the vector store
    from one setting: this computer's shared store, or the user's Chroma server."""
    from app.docs_worker import DocsConfig
    from app.settings import Settings
    from app.user_library import open_user_library
    from rag.config import VECTOR_STORE_PROCESS

    paths = get_paths()
    local = Settings()
    assert local.vector_store == VECTOR_STORE_PROCESS
    assert DocsConfig.from_settings(paths, local).vector_store == VECTOR_STORE_PROCESS
    remote = Settings(chroma_url="http://10.0.0.5:8000", chroma_token="its-token")
    assert remote.vector_store == "http://10.0.0.5:8000"
    assert DocsConfig.from_settings(paths, remote).vector_store == "http://10.0.0.5:8000"
    assert DocsConfig.from_settings(paths, remote).vector_store_token == "its-token"
    for settings in (local, remote):  # the command line's library, from the settings file
        paths.config.mkdir(parents=True, exist_ok=True)
        settings.save(paths.settings_file)
        with open_user_library(with_model=False) as lib:
            assert lib.config.vector_store == settings.vector_store
            assert lib.config.vector_store_token == settings.chroma_token
    remote.save(tmp_path / "settings.json")
    assert "vector_store" not in (tmp_path / "settings.json").read_text()  # derived, not saved


def test_a_chat_that_has_not_chosen_searches_a_library_that_may_hold_documents() -> None:
    """Before the documents thread has listed the library (a question sent at start-up), a
    chat that has not chosen searches it (an empty library finds nothing and the model
    answers alone), rather than answering a document question without the documents."""

    class Library:
        def __init__(self, may: bool) -> None:
            self.may = may

        def may_hold_documents(self) -> bool:
            return self.may

    settings = Settings()
    assert chat_sources(settings, {}, Library(True)) == SourceScope("all")
    assert chat_sources(settings, {}, Library(False)) == SourceScope("none")
    assert chat_sources(settings, {}, None) == SourceScope("none")  # no documents thread
    own = {"sources": SourceScope("none").as_setting()}
    assert chat_sources(settings, own, Library(True)) == SourceScope("none")  # its choice
    remember_sources(settings, SourceScope("selected", ["/a.pdf"]))
    assert chat_sources(settings, {}, Library(False)) == SourceScope("selected", ["/a.pdf"])


def test_source_scope_and_source_dicts_are_robust() -> None:
    from app.docs_worker import passage_label, source_dicts
    from rag.retrieve import Hit

    assert SourceScope.from_chat_settings(None).mode == "none"
    assert SourceScope.from_chat_settings({"sources": "all"}).mode == "none"  # damaged
    assert SourceScope.from_chat_settings({"sources": {"mode": "bogus"}}).mode == "none"
    sel = SourceScope.from_chat_settings({"sources": {"mode": "selected", "paths": ["/a", 3]}})
    assert sel.paths == ["/a"] and sel.enabled and sel.search_paths() == ("/a",)
    assert not SourceScope("selected", []).enabled and SourceScope("all").search_paths() is None
    assert SourceScope.from_chat_settings({"sources": sel.as_setting()}) == sel

    hit = Hit(1, "/docs/guide.pdf", 4, 5, 0.0312345678, "passage", char_start=0, char_end=7)
    assert passage_label(hit) == "guide.pdf, pages 4-5"
    assert source_dicts([hit]) == [
        {
            "file": "/docs/guide.pdf",
            "name": "guide.pdf",
            "page": 4,
            "page_end": 5,
            "score": 0.031235,
            "text": "passage",
        }
    ]


def test_documents_thread_falls_back_to_an_installed_model_when_preparing_fails(
    qapp: Any, tmp_path: Path, minilm_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk while preparing the default embedding model: the documents thread uses an
    installed embedding model (here Hearth's older F16 file) if there is one, and otherwise
    reports the preparation's own reason, not a vague "no model"."""
    import shutil
    from collections import namedtuple

    import engine.convert
    from app.docs_worker import DocsConfig, DocsWorker
    from engine.catalog import LEGACY_MINILM_GGUF

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(engine.convert.shutil, "disk_usage", lambda _p: usage(1 << 30, 1 << 30, 0))
    models = tmp_path / "models"
    models.mkdir()
    events = (threading.Event(), threading.Event(), threading.Event())
    worker = DocsWorker(DocsConfig(data_dir=tmp_path / "docs", models_dir=models), *events)
    notices: list[str] = []
    worker.notice.connect(notices.append)

    assert worker._resolve_model() is None
    assert worker._model_error is not None
    assert "Not enough disk space" in worker._model_error.user_message
    assert notices == ["Preparing the embedding model (first use)…"]

    shutil.copyfile(minilm_gguf, models / LEGACY_MINILM_GGUF)
    assert worker._resolve_model() == models / LEGACY_MINILM_GGUF
    assert worker._model_error is None
    assert sorted(p.name for p in models.iterdir()) == [LEGACY_MINILM_GGUF]  # nothing left over


def test_indexing_that_fails_gives_the_library_up(
    docs_gui: Any, qtbot: Any, tmp_path: Path
) -> None:
    """Indexing stops with an error (here the user's Chroma server stops answering): the window
    says why and lets go of the library's ingest lock, so `hearth docs add` is not left waiting
    behind a window that has stopped."""
    from app.settings import Settings
    from rag.chroma_server import ChromaProcess

    server = ChromaProcess(tmp_path / "server-store")
    try:
        paths = get_paths().ensure()
        settings = Settings.load(paths.settings_file)
        settings.chroma_url = f"http://127.0.0.1:{server.port}"
        settings.chroma_token = server.token  # it admits only holders of its token
        settings.save(paths.settings_file)
        gui = docs_gui(passage_factory(Script()))
        failures = collect(gui.controller.docs.errorRaised)
        assert drop_files(gui.window, [facts_pdf(tmp_path / "in")])
        wait_statuses(qtbot, gui, {"varnholm.pdf": "ready"})
        server.close()
        other = pdf_factory.text_pdf(tmp_path / "other.pdf", pdf_factory.lorem_pages(2))
        assert drop_files(gui.window, [other])
        qtbot.waitUntil(lambda: bool(failures), timeout=60_000)
        assert "stopped answering" in failures[-1].user_message
        qtbot.waitUntil(ingest_lock_free, timeout=10_000)
    finally:
        server.close()


def test_a_full_disk_stops_indexing_and_retry_carries_on(
    docs_gui: Any, qtbot: Any, tmp_path: Path
) -> None:
    """The disk fills up while a manual is indexed: the window says why, keeps what was
    indexed, offers Retry and lets go of the library; once there is room again, Retry carries
    on where indexing stopped."""
    from PySide6.QtCore import QTimer

    gui = docs_gui(passage_factory(Script()))
    docs = gui.controller.docs
    panel = gui.window.documents_ui.panel
    failures = collect(docs.errorRaised)
    big = pdf_factory.text_pdf(tmp_path / "long.pdf", pdf_factory.lorem_pages(40))
    assert drop_files(gui.window, [big])

    def indexing_under_way() -> bool:
        row = rows_by_name(gui).get("long.pdf")
        return row is not None and row.status == "indexing" and row.progress > 0.1

    qtbot.waitUntil(indexing_under_way, timeout=120_000)

    def on_documents_thread(sql: str) -> None:  # the library's connection belongs there
        done: list[bool] = []

        def run() -> None:
            conn = docs.worker._lib.store.conn
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(sql.format(pages=pages))
            done.append(True)

        QTimer.singleShot(0, docs.worker, run)
        qtbot.waitUntil(lambda: bool(done), timeout=10_000)

    # A real SQLITE_FULL: the library's file may not grow any more.
    on_documents_thread("PRAGMA max_page_count = {pages}")
    qtbot.waitUntil(lambda: bool(failures), timeout=60_000)
    assert failures[0].user_message.startswith("Indexing stopped: the disk is full")
    qtbot.waitUntil(lambda: docs.state == "error", timeout=10_000)
    assert panel.retry_button.isVisible() and not panel.pause_button.isVisible()
    assert panel.cancel_button.isVisible()
    assert panel.overall_label.text().startswith("Stopped by an error")
    assert rows_by_name(gui)["long.pdf"].status in ("queued", "indexing")
    qtbot.waitUntil(ingest_lock_free, timeout=10_000)  # `hearth docs add` is not kept waiting

    on_documents_thread("PRAGMA max_page_count = 1073741823")  # room again
    panel.retry_button.click()
    wait_statuses(qtbot, gui, {"long.pdf": "ready"})
    assert len(failures) == 1
    assert not panel.retry_button.isVisible()
    doc = rows_by_name(gui)["long.pdf"]
    db = get_paths().documents_dir / "library.sqlite3"
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        ordinals = [r[0] for r in conn.execute("SELECT ordinal FROM chunks ORDER BY ordinal")]
        embedded = conn.execute("SELECT count(*) FROM chunks WHERE embedded = 1").fetchone()[0]
    finally:
        conn.close()
    assert ordinals == list(range(doc.chunks)) and embedded == doc.chunks  # nothing twice


def test_the_panel_follows_the_command_line(
    docs_gui: Any, qtbot: Any, tmp_path: Path, minilm_gguf: Path
) -> None:
    """`hearth docs add` and `hearth docs rm` while the window is open and idle: the panel shows
    the document the command indexed, then its removal, without a restart."""
    from rag.config import VECTOR_STORE_PROCESS, LibraryConfig
    from rag.embedder import Embedder
    from rag.library import Library

    gui = docs_gui(passage_factory(Script()))
    assert drop_files(gui.window, [facts_pdf(tmp_path / "in")])
    wait_statuses(qtbot, gui, {"varnholm.pdf": "ready"})

    emb = Embedder(minilm_gguf, n_threads=1)
    config = LibraryConfig(vector_store=VECTOR_STORE_PROCESS)
    command = Library(get_paths().documents_dir, config, embedder=emb)
    try:
        other = pdf_factory.text_pdf(tmp_path / "other.pdf", pdf_factory.lorem_pages(2))
        command.add([other])
        command.ingest()
        wait_statuses(qtbot, gui, {"varnholm.pdf": "ready", "other.pdf": "ready"}, 15_000)
        command.remove(command.resolve("other.pdf").id)
        qtbot.waitUntil(lambda: set(rows_by_name(gui)) == {"varnholm.pdf"}, timeout=15_000)
    finally:
        command.close()
        emb.close()


def test_a_paused_window_leaves_the_library_to_the_command_line(
    docs_gui: Any, qtbot: Any, tmp_path: Path, minilm_gguf: Path
) -> None:
    """The window is paused half-way through a file when `hearth docs add` runs: the command
    indexes at once (it does not wait for a resume), the panel follows it and says so, and
    once the command has finished there is nothing left to resume."""
    from rag.config import VECTOR_STORE_PROCESS, LibraryConfig
    from rag.embedder import Embedder
    from rag.library import Library

    gui = docs_gui(passage_factory(Script()))
    docs = gui.controller.docs
    panel = gui.window.documents_ui.panel
    big = pdf_factory.text_pdf(tmp_path / "long.pdf", pdf_factory.lorem_pages(24))
    gui.window.documents_ui.add_paths([str(big)])
    qtbot.waitUntil(lambda: docs.state == "indexing", timeout=60_000)
    panel.pause_button.click()
    qtbot.waitUntil(lambda: docs.state == "paused", timeout=10_000)
    qtbot.waitUntil(ingest_lock_free, timeout=10_000)

    emb = Embedder(minilm_gguf, n_threads=1)
    config = LibraryConfig(vector_store=VECTOR_STORE_PROCESS)
    command = Library(get_paths().documents_dir, config, embedder=emb)
    try:
        command.add([pdf_factory.text_pdf(tmp_path / "other.pdf", pdf_factory.lorem_pages(2))])
        report = command.ingest_step()
        assert not report.elsewhere  # the paused window does not hold the library
        qtbot.waitUntil(
            lambda: "another Hearth process" in panel.overall_label.text(), timeout=15_000
        )
        assert panel.pause_button.text() == "Resume"
        command.ingest()
        wait_statuses(qtbot, gui, {"long.pdf": "ready", "other.pdf": "ready"}, 15_000)
        qtbot.waitUntil(lambda: docs.state == "idle" and not docs.paused, timeout=15_000)
    finally:
        command.close()
        emb.close()


class _DocsHost(QObject):
    """Stands in for the documents thread's GUI handle: the panel only reads these."""

    documentsChanged = Signal()
    rowsUpdated = Signal(list)
    progress = Signal(object)
    stateChanged = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Any] = []
        self.state = "idle"
        self.last_progress = None

    def documents(self) -> list[Any]:
        return list(self.rows)


def test_columns_fit_their_text_when_rows_arrive(qapp: Any, qtbot: Any) -> None:
    """The panel is shown before the library has been read (start-up), then files are added:
    the number columns follow their text ("632.0 KB", not "63…")."""
    from rag.index import DocRow
    from ui.documents_model import SIZE
    from ui.documents_panel import DocumentsPanel

    host = _DocsHost()
    panel = DocumentsPanel(host)
    qtbot.addWidget(panel)
    panel.resize(420, 400)
    panel.show()  # shown empty: the library has not been read yet
    qtbot.waitExposed(panel)
    host.rows = [
        DocRow(i, f"/docs/{name}", name, size, 0.0, "", 100, 700, "ready", "", 1.0, 0.0, 0.0, 700)
        for i, (name, size) in enumerate(
            [("R-intro.pdf", 647_168), ("shared-mime-info-spec.pdf", 143_770)], 1
        )
    ]
    host.documentsChanged.emit()
    assert panel.overall_label.text() == "2 documents ready"  # no progress since start-up
    header = panel.table.horizontalHeader()
    qtbot.waitUntil(
        lambda: header.sectionSize(SIZE) >= panel.table.sizeHintForColumn(SIZE), timeout=2000
    )
    big = replace(host.rows[0], id=3, name="big.pdf", size=1_363_148_800)  # "1.3 GB"
    host.rows = [*host.rows, big]
    host.documentsChanged.emit()
    qtbot.waitUntil(
        lambda: header.sectionSize(SIZE) >= panel.table.sizeHintForColumn(SIZE), timeout=2000
    )


def test_names_show_as_stored_and_a_ready_documents_note_is_its_tooltip(qapp: Any) -> None:
    """A file name with a right-to-left override is shown in the order its characters are
    stored; a document kept ready without section labels says why in its status tooltip."""
    from rag.index import DocRow
    from ui.documents_model import NAME, STATUS, DocumentsModel

    note = "island.pdf: reading it stalled. It answers from the text read before, without labels."
    row = DocRow(1, "/d/door\u202efdp.txt", "door\u202efdp.txt", 10, 0.0, "", 1, 3, "ready",
                 note, 1.0, 0.0, 0.0, embedded=3)  # fmt: skip
    model = DocumentsModel()
    model.set_rows([row])
    assert model.index(0, NAME).data() == "door fdp.txt"
    assert model.index(0, STATUS).data() == "ready"
    assert model.index(0, STATUS).data(Qt.ItemDataRole.ToolTipRole) == note
