"""The real worker, thread and controller wiring, driven by a scripted fake engine."""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import Qt
from ui_fakes import Script, fake_factory, fake_resolver, wait_ready

from app.engine_worker import EngineHost, LoadSpec
from engine.types import ChatMessage, GenerationRequest


def test_signal_order_on_the_engine_thread(qtbot: Any) -> None:
    script = Script(replies=[["a", "b", "c", "d", "e"]])
    host = EngineHost(fake_factory(script), resolver=fake_resolver)
    events: list[tuple] = []
    host.loaded.connect(lambda m: events.append(("loaded", m.info.name)))
    host.started.connect(lambda rid: events.append(("started", rid)))
    host.tokens.connect(lambda rid, t: events.append(("token", rid, t)))
    host.finished.connect(lambda rid, s: events.append(("finished", rid, s.stop_reason)))
    try:
        host.load(LoadSpec("/models/fake.gguf"))
        with qtbot.waitSignal(host.finished, timeout=5000):
            rid = host.generate(GenerationRequest([ChatMessage("user", "hi")]))
        # Tokens come in batches (as many as arrived since the GUI thread took the last):
        # all of them, in order, between started and finished.
        kinds = [e[0] for e in events]
        assert kinds[:2] == ["loaded", "started"] and kinds[-1] == "finished"
        assert set(kinds[2:-1]) == {"token"}
        assert events[1] == ("started", rid) and events[-1] == ("finished", rid, "stop")
        assert {e[1] for e in events[2:-1]} == {rid}
        assert "".join(e[2] for e in events[2:-1]) == "abcde"
    finally:
        assert host.shutdown(2.0)
    assert script.closed == 1


def test_queued_load_superseded_and_same_spec_kept(qtbot: Any) -> None:
    gate = threading.Event()  # one.gguf loads until both later loads are queued
    script = Script(load_gate=gate)
    host = EngineHost(fake_factory(script), resolver=fake_resolver)
    try:
        with qtbot.waitSignal(host.loading, timeout=5000):
            host.load(LoadSpec("/m/one.gguf"))
        host.load(LoadSpec("/m/two.gguf"))
        last = host.load(LoadSpec("/m/three.gguf"))
        gate.set()
        with qtbot.waitSignal(
            host.loaded, timeout=5000, check_params_cb=lambda m: m.spec.load_id == last.load_id
        ):
            pass
        # one.gguf was already loading; two.gguf was skipped as superseded
        assert [x["model_path"] for x in script.loads] == ["/m/one.gguf", "/m/three.gguf"]
        with qtbot.waitSignal(host.loaded, timeout=5000):
            host.load(LoadSpec("/m/three.gguf"))
        assert len(script.loads) == 2  # same spec: kept, not reloaded
    finally:
        gate.set()
        host.shutdown(2.0)


def test_send_streams_into_view_and_store(make_gui: Any, qtbot: Any) -> None:
    gui = make_gui(
        Script(
            replies=[
                [
                    "# Title\n\n",
                    "- one\n",
                    "- two\n\n",
                    "```python\n",
                    "print('x')\n",
                    "```\n",
                    "done",
                ]
            ]
        )
    )
    wait_ready(qtbot, gui)
    with qtbot.waitSignal(gui.controller.generationFinished, timeout=5000) as blocker:
        assert gui.controller.send("hello there")
    mid, reason = blocker.args
    assert reason == "stop"
    text = "# Title\n\n- one\n- two\n\n```python\nprint('x')\n```\ndone"
    assert gui.window.chat_view.text_of(mid) == text
    rows = gui.store.messages(gui.controller.chat_id)
    assert [(r.role, r.content, r.status) for r in rows] == [
        ("user", "hello there", "complete"),
        ("assistant", text, "complete"),
    ]
    assert rows[1].model == "Fake-1B"
    blocks = gui.window.chat_view.widget_for(mid).body.code_blocks()
    assert [b.code() for b in blocks] == ["print('x')"]
    blocks[0].copy()
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == "print('x')"
    # the chat took its title from the first message, and the status bar shows speed
    assert gui.store.get_chat(gui.controller.chat_id).title == "hello there"
    assert "Context 17 / 4,096" in gui.window.context_label.text()


def test_late_tokens_of_a_stopped_request_are_ignored(make_gui: Any, qtbot: Any) -> None:
    """An engine that goes on producing tokens after cancel: Stop ends the turn without
    waiting for it, and its late tokens never reach the view."""
    release = threading.Event()
    script = Script(
        replies=[[f"old{i} " for i in range(2000)], ["new"]],
        token_delay_s=0.01,
        stubborn_until=release,
    )
    gui = make_gui(script)
    wait_ready(qtbot, gui)
    c = gui.controller
    ended: list[bool] = []
    late: list[str] = []
    c.engine.tokens.connect(lambda _rid, text: late.append(text) if ended else None)
    try:
        assert c.send("first")
        first_mid = c._stream.message_id
        qtbot.waitUntil(lambda: "old3" in gui.window.chat_view.text_of(first_mid), timeout=5000)
        with qtbot.waitSignal(c.generationFinished, timeout=10_000) as blocker:
            c.stop()
        ended.append(True)
        assert blocker.args == [first_mid, "cancelled"]
        stopped_text = gui.window.chat_view.text_of(first_mid)
        qtbot.waitUntil(lambda: len(late) >= 5, timeout=10_000)  # the engine goes on
    finally:
        release.set()
    assert gui.window.chat_view.text_of(first_mid) == stopped_text
    with qtbot.waitSignal(c.generationFinished, timeout=5000) as blocker:
        assert c.send("second")
    second_mid = blocker.args[0]
    assert gui.window.chat_view.text_of(second_mid) == "new"
    assert gui.window.chat_view.text_of(first_mid) == stopped_text
    rows = {r.id: r for r in gui.store.messages(c.chat_id)}
    assert rows[first_mid].status == "incomplete" and rows[first_mid].content == stopped_text
    assert rows[second_mid].content == "new"


def test_stop_while_queued_behind_a_slow_load(make_gui: Any, qtbot: Any) -> None:
    """Stop ends a turn that waits behind a load without waiting for the load."""
    gate = threading.Event()
    gui = make_gui(Script(load_gate=gate))
    c = gui.controller
    try:
        assert c.model_state.value == "loading"
        assert c.send("hi")  # accepted: it waits behind the load on the engine thread
        with qtbot.waitSignal(c.generationFinished, timeout=10_000) as blocker:
            c.stop()
        assert blocker.args[1] == "cancelled"
        assert c.model_state.value == "loading"  # ended while the engine was still loading
        assert not c.busy and gui.window.composer.send_button.isEnabled()
    finally:
        gate.set()
    wait_ready(qtbot, gui)


def test_keys_enter_shift_enter_ctrl_enter(make_gui: Any, qtbot: Any) -> None:
    gui = make_gui(Script(replies=[["ok"]]))
    wait_ready(qtbot, gui)
    edit = gui.window.composer.edit
    edit.setFocus()
    qtbot.keyClicks(edit, "line one")
    qtbot.keyClick(edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(edit, "line two")
    assert edit.toPlainText() == "line one\nline two"
    with qtbot.waitSignal(gui.controller.generationFinished, timeout=5000):
        qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert edit.toPlainText() == ""
    assert gui.store.messages(gui.controller.chat_id)[0].content == "line one\nline two"
    qtbot.keyClicks(edit, "again")
    with qtbot.waitSignal(gui.controller.generationFinished, timeout=5000):
        qtbot.keyClick(edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert len(gui.store.messages(gui.controller.chat_id)) == 4


def test_escape_stops(make_gui: Any, qtbot: Any) -> None:
    gui = make_gui(Script(replies=[["x "] * 500], token_delay_s=0.01))
    wait_ready(qtbot, gui)
    assert gui.controller.send("go")
    qtbot.waitUntil(
        lambda: bool(gui.controller._stream and gui.controller._stream.text), timeout=5000
    )
    with qtbot.waitSignal(gui.controller.generationFinished, timeout=1000) as blocker:
        qtbot.keyClick(gui.window.composer.edit, Qt.Key.Key_Escape)
    assert blocker.args[1] == "cancelled"


def test_chats_sidebar_rename_delete_search(make_gui: Any, qtbot: Any) -> None:
    gui = make_gui(Script(replies=[["blue whales are big"], ["penguins swim"]]))
    wait_ready(qtbot, gui)
    c, win = gui.controller, gui.window
    with qtbot.waitSignal(c.generationFinished, timeout=5000):
        c.send("tell me about whales")
    first = c.chat_id
    qtbot.keyClick(win, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert c.chat_id != first and win.chat_view.message_ids() == []
    with qtbot.waitSignal(c.generationFinished, timeout=5000):
        c.send("and penguins?")
    second = c.chat_id
    assert win.sidebar.chat_ids() == [second, first]  # newest first
    win.rename_chat(first, "Whale facts")
    assert gui.store.get_chat(first).title == "Whale facts"
    # search across all messages
    win.sidebar.search.setText("whale")
    qtbot.waitUntil(lambda: win.sidebar.searching, timeout=2000)
    items = [win.sidebar.list.item(i).text() for i in range(win.sidebar.list.count())]
    assert any("Whale facts" in t and "«whales»" in t for t in items), items
    win.sidebar._activated(win.sidebar.list.item(0))
    assert c.chat_id == first
    win.sidebar.search.clear()
    qtbot.waitUntil(lambda: not win.sidebar.searching, timeout=2000)
    win.delete_chat(first, confirm=False)
    assert [x.id for x in gui.store.list_chats()] == [second]
    assert win.sidebar.chat_ids() == [second]


def test_load_failure_is_visible_and_sending_reports_it(make_gui: Any, qtbot: Any) -> None:
    gui = make_gui(Script(fail_load="The model file is damaged (test)."))
    qtbot.waitUntil(lambda: gui.controller.model_state.value == "failed", timeout=5000)
    assert "damaged" in gui.window.model_label.text()
    with qtbot.waitSignal(gui.controller.generationFinished, timeout=5000) as blocker:
        gui.controller.send("hi")
    assert blocker.args[1] == "error"
    assert gui.presenter.history and "damaged" in gui.presenter.history[-1].message
    rows = gui.store.messages(gui.controller.chat_id)
    assert rows[-1].status == "error"


def test_settings_change_reloads_in_background(make_gui: Any, qtbot: Any) -> None:
    script = Script()
    gui = make_gui(script)
    wait_ready(qtbot, gui)
    dialog = gui.window.settings_dialog()
    page = dialog.page("Model")
    page.n_ctx.setValue(2048)
    gen = dialog.page("Generation")
    gen.sampling.temperature.setValue(0.2)
    gen.system_prompt.setPlainText("Be brief.")
    with qtbot.waitSignal(gui.controller.engine.loaded, timeout=5000):
        gui.controller.apply_settings(dialog.result_settings())
    assert script.loads[-1]["n_ctx"] == 2048
    from app.presets import with_preset
    from app.settings import Settings

    saved = Settings.load(gui.controller.paths.settings_file)
    # Settings ▸ Model sets the preset of the model chosen there (the default one)
    assert with_preset(saved, "").n_ctx == 2048 and saved.sampling.temperature == 0.2
    assert saved.system_prompt == "Be brief."
    # per-chat overrides: system prompt and sampling reach the request
    with qtbot.waitSignal(gui.controller.generationFinished, timeout=5000):
        gui.controller.send("x")
    gui.controller.set_chat_settings(
        gui.controller.chat_id,
        {"system_prompt": "Talk like a pirate.", "sampling": {"temperature": 1.3, "seed": 7}},
    )
    with qtbot.waitSignal(gui.controller.generationFinished, timeout=5000):
        gui.controller.send("y")
    request = script.requests[-1]
    assert request.messages[0] == ChatMessage("system", "Talk like a pirate.")
    assert request.sampling.temperature == 1.3 and request.sampling.seed == 7
    assert request.sampling.max_tokens == saved.sampling.max_tokens


def test_close_mid_generation_saves_partial(make_gui: Any, qtbot: Any) -> None:
    gui = make_gui(Script(replies=[[f"w{i} " for i in range(5000)]], token_delay_s=0.002))
    wait_ready(qtbot, gui)
    c = gui.controller
    assert c.send("long please")
    qtbot.waitUntil(lambda: c._stream is not None and len(c._stream.text) > 20, timeout=5000)
    chat_id = c.chat_id
    gui.window.close()  # 5,000 tokens were asked for: closing stops them
    assert not c.engine.thread_.isRunning()
    answer = gui.store.messages(chat_id)[-1]
    assert answer.role == "assistant" and answer.status == "incomplete"
    assert answer.content.startswith("w0 w1 ")


def test_window_state_is_remembered(make_gui: Any, qtbot: Any) -> None:
    gui = make_gui()
    gui.window.resize(790, 520)  # room for a 300 px list beside the 480 px conversation
    gui.window.splitter.setSizes([300, 490])
    gui.window.close()
    again = make_gui()
    assert again.window.size().width() == 790
    assert abs(again.window.splitter.sizes()[0] - 300) <= 2


def test_delete_asks_for_confirmation(make_gui: Any, qtbot: Any) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    gui = make_gui(Script(replies=[["ok"]]))
    wait_ready(qtbot, gui)
    with qtbot.waitSignal(gui.controller.generationFinished, timeout=5000):
        gui.controller.send("keep me?")
    chat_id = gui.controller.chat_id

    def answer(label: str) -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox) and "cannot be undone" in box.text()
        next(b for b in box.buttons() if b.text() == label).click()

    QTimer.singleShot(100, lambda: answer("Cancel"))
    gui.window.delete_chat(chat_id)
    assert [c.id for c in gui.store.list_chats()] == [chat_id]
    QTimer.singleShot(100, lambda: answer("Delete"))
    gui.window.delete_chat(chat_id)
    assert gui.store.list_chats() == []
    assert gui.window.chat_view.message_ids() == []


def test_switching_chats_mid_answer_keeps_the_stream(make_gui: Any, qtbot: Any) -> None:
    reply = [f"t{i} " for i in range(300)]
    gui = make_gui(Script(replies=[reply], token_delay_s=0.005))
    wait_ready(qtbot, gui)
    c, view = gui.controller, gui.window.chat_view
    assert c.send("long answer please")
    first, answer_id = c.chat_id, c.streaming_message_id
    qtbot.waitUntil(lambda: len(view.text_of(answer_id)) > 20, timeout=5000)
    c.new_chat()
    assert c.chat_id != first and view.message_ids() == []
    qtbot.wait(300)  # tokens keep coming for the chat not shown
    with qtbot.waitSignal(c.generationFinished, timeout=10000):
        c.open_chat(first)
        assert view.text_of(answer_id) == c._stream.text
    assert view.text_of(answer_id) == "".join(reply)
    assert gui.store.messages(first)[-1].content == "".join(reply)


def test_removed_messages_are_hidden_at_once_not_when_qt_deletes_them(
    make_gui: Any, qtbot: Any
) -> None:
    """Qt deletes a removed widget only when control is back in the event loop; until then
    the old chat's messages must not be painted under the new one's (seen under Xvfb with a
    script that drove the window without an event loop: two answers on top of each other)."""
    gui = make_gui(Script(replies=[["first answer"], ["again"]]))
    wait_ready(qtbot, gui)
    c, view = gui.controller, gui.window.chat_view
    with qtbot.waitSignal(c.generationFinished, timeout=5000):
        assert c.send("hello")
    first = c.chat_id
    old = [view.widget_for(mid) for mid in view.message_ids()]
    assert len(old) == 2 and all(w.isVisibleTo(gui.window) for w in old)
    c.new_chat()  # no event processed in between
    assert not any(w.isVisibleTo(gui.window) for w in old)
    c.open_chat(first)
    answer = view.widget_for(view.message_ids()[-1])
    assert c.regenerate()  # the answer is removed (and answered again)
    assert not answer.isVisibleTo(gui.window)
    qtbot.waitUntil(lambda: view.text_of(view.message_ids()[-1]) == "again", timeout=5000)


def test_long_chat_opens_with_the_last_messages_then_loads_older(make_gui: Any, qtbot: Any) -> None:
    gui = make_gui(Script())
    wait_ready(qtbot, gui)
    store, view = gui.store, gui.window.chat_view
    chat_id = store.create_chat("long")
    ids = [
        store.add_message(chat_id, "user" if i % 2 == 0 else "assistant", f"message {i}")
        for i in range(40)
    ]
    gui.controller.open_chat(chat_id)
    assert view.message_ids() == ids[-12:]  # shown at once
    qtbot.waitUntil(lambda: view.message_ids() == ids, timeout=5000)  # the rest follows
    assert [view.text_of(m) for m in ids] == [f"message {i}" for i in range(40)]
    # revealing a message not yet loaded (search hit) loads it first
    gui.controller.open_chat(chat_id)
    view.reveal(ids[0])
    assert view.message_ids() == ids
