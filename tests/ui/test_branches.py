"""Branches: Regenerate and Edit add alternatives instead of deleting, the view shows ‹ n / m ›
and switches the path it shows, the engine is sent that path, and the choice is remembered.
Also what the chat says about its answers: folded thoughts (kept out of the next prompt) and
old turns left out of a full context. Driven by the scripted fake engine."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from ui_fakes import Script, wait_ready

from engine.types import ChatMessage


def send(qtbot: Any, gui: Any, text: str) -> int:
    with qtbot.waitSignal(gui.controller.generationFinished, timeout=5000) as blocker:
        assert gui.controller.send(text)
    return int(blocker.args[0])


def shown(gui: Any) -> list[str]:
    view = gui.window.chat_view
    return [view.text_of(mid) for mid in view.message_ids()]


def switcher(gui: Any, mid: int) -> str:
    widget = gui.window.chat_view.widget_for(mid)
    return widget.branches.label.text() if widget.branches.isVisibleTo(widget) else ""


def sent(script: Script) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in script.requests[-1].messages if m.role != "system"]


def test_regenerate_twice_and_switch_between_answers(make_gui: Any, qtbot: Any) -> None:
    script = Script(replies=[["a1"], ["a2 first"], ["a2 second"], ["a2 third"], ["a3"]])
    gui = make_gui(script)
    wait_ready(qtbot, gui)
    c, view = gui.controller, gui.window.chat_view
    send(qtbot, gui, "q1")
    first = send(qtbot, gui, "q2")
    for _ in range(2):
        last = view.widget_for(view.message_ids()[-1])
        assert last.regen_button.isVisibleTo(last)
        with qtbot.waitSignal(c.generationFinished, timeout=5000):
            last.regen_button.click()
    assert shown(gui) == ["q1", "a1", "q2", "a2 third"]
    assert sent(script) == [("user", "q1"), ("assistant", "a1"), ("user", "q2")]
    third = view.message_ids()[-1]
    assert switcher(gui, third) == "3 / 3"
    assert switcher(gui, view.message_ids()[0]) == ""  # no alternatives, no switch
    # nothing was deleted: all three answers are stored
    answers = [r.content for r in gui.store.messages(c.chat_id) if r.content.startswith("a2")]
    assert answers == ["a2 first", "a2 second", "a2 third"]

    widget = view.widget_for(third)
    widget.branches.prev_button.click()
    widget = view.widget_for(view.message_ids()[-1])
    widget.branches.prev_button.click()
    assert shown(gui) == ["q1", "a1", "q2", "a2 first"]
    assert view.message_ids()[-1] == first
    assert switcher(gui, first) == "1 / 3"
    assert not view.widget_for(first).branches.prev_button.isEnabled()

    # the next question follows the answer shown, and the engine is sent that path
    send(qtbot, gui, "q3")
    assert sent(script) == [
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "q2"),
        ("assistant", "a2 first"),
        ("user", "q3"),
    ]
    assert shown(gui) == ["q1", "a1", "q2", "a2 first", "q3", "a3"]


def test_edit_a_middle_turn_then_switch_back_and_reload(make_gui: Any, qtbot: Any) -> None:
    script = Script(replies=[["a1"], ["a2"], ["a3"], ["a2 edited"]])
    gui = make_gui(script)
    wait_ready(qtbot, gui)
    c, view = gui.controller, gui.window.chat_view
    for text in ("q1", "q2", "q3"):
        send(qtbot, gui, text)
    q2 = view.message_ids()[2]
    widget = view.widget_for(q2)
    widget.edit_button.click()
    warning = widget.editor.findChild(type(widget.role_label), "editWarning")
    assert "new version" in warning.text() and "3 later messages" in warning.text()
    with qtbot.waitSignal(c.generationFinished, timeout=5000):
        view.editSubmitted.emit(q2, "q2 edited")
    assert shown(gui) == ["q1", "a1", "q2 edited", "a2 edited"]
    assert sent(script) == [("user", "q1"), ("assistant", "a1"), ("user", "q2 edited")]
    edited = view.message_ids()[2]
    assert switcher(gui, edited) == "2 / 2"

    # back to the first version of q2: the conversation that followed it is all there
    view.widget_for(edited).branches.prev_button.click()
    assert shown(gui) == ["q1", "a1", "q2", "a2", "q3", "a3"]
    assert switcher(gui, q2) == "1 / 2"
    chat = c.chat_id
    gui.close()

    # the chosen path is remembered with the chat
    gui2 = make_gui(Script())
    assert gui2.controller.chat_id == chat
    assert shown(gui2) == ["q1", "a1", "q2", "a2", "q3", "a3"]
    assert switcher(gui2, q2) == "1 / 2"
    qtbot.wait(200)  # the documents thread's start-up signals arrive before closing


def test_deleting_a_version_asks_first(make_gui: Any, qtbot: Any) -> None:
    gui = make_gui(Script(replies=[["one"], ["two"]]))
    wait_ready(qtbot, gui)
    c, view = gui.controller, gui.window.chat_view
    send(qtbot, gui, "q")
    with qtbot.waitSignal(c.generationFinished, timeout=5000):
        c.regenerate()
    second = view.message_ids()[-1]
    widget = view.widget_for(second)
    assert widget.delete_button.isVisibleTo(widget)

    answers: list[str] = []

    def answer(button: QMessageBox.StandardButton | None) -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox) and "cannot be undone" in box.text()
        answers.append(box.text())
        if button is None:
            next(b for b in box.buttons() if b.text() == "Delete").click()
        else:
            box.button(button).click()

    QTimer.singleShot(0, lambda: answer(QMessageBox.StandardButton.Cancel))
    widget.delete_button.click()
    assert len(answers) == 1 and shown(gui) == ["q", "two"]  # cancelled: nothing deleted
    QTimer.singleShot(0, lambda: answer(None))
    widget.delete_button.click()
    assert shown(gui) == ["q", "one"]
    assert [r.content for r in gui.store.messages(c.chat_id)] == ["q", "one"]
    assert switcher(gui, view.message_ids()[-1]) == ""


def test_thoughts_are_folded_and_left_out_of_the_next_prompt(make_gui: Any, qtbot: Any) -> None:
    reply = ["<think>", "The user greets me.", " Be brief.", "</think>", "\n\nHello!"]
    script = Script(replies=[reply, ["Fine."]])
    gui = make_gui(script)
    wait_ready(qtbot, gui)
    answer = send(qtbot, gui, "hi")
    widget = gui.window.chat_view.widget_for(answer)
    assert widget.thoughts.isVisibleTo(widget) and widget.thoughts.is_folded()
    assert widget.thoughts.toggle.text() == "Thoughts"
    assert not widget.thoughts.text.isVisibleTo(widget)
    assert widget.thoughts.text.text() == "The user greets me. Be brief."
    assert widget.body.shown_text() == "Hello!"  # the answer, without its thinking
    widget.thoughts.toggle.click()
    assert widget.thoughts.text.isVisibleTo(widget)
    # the stored answer keeps its thinking; the next prompt does not
    assert gui.store.messages(gui.controller.chat_id)[-1].content == "".join(reply)
    send(qtbot, gui, "how are you?")
    assert script.requests[-1].messages[-3:] == [
        ChatMessage("user", "hi"),
        ChatMessage("assistant", "Hello!"),
        ChatMessage("user", "how are you?"),
    ]


def test_the_chat_says_when_old_turns_no_longer_fit(make_gui: Any, qtbot: Any) -> None:
    gui = make_gui(Script(replies=[["short"]], turns_dropped=2))
    wait_ready(qtbot, gui)
    answer = send(qtbot, gui, "a question late in a long chat")
    widget = gui.window.chat_view.widget_for(answer)
    assert widget.context_note.isVisibleTo(widget)
    assert "oldest 2 turns" in widget.context_note.text()
    assert "4,096 tokens" in widget.context_note.text()


def test_the_window_title_follows_the_chat(make_gui: Any, qtbot: Any) -> None:
    gui = make_gui(Script(replies=[["ok"]]))
    wait_ready(qtbot, gui)
    gui.controller.new_chat()
    assert gui.window.windowTitle() == "New chat — Hearth"
    send(qtbot, gui, "Plan a walk along the coast")
    assert gui.window.windowTitle() == "Plan a walk along the coast — Hearth"
    gui.window.rename_chat(gui.controller.chat_id, "Coast walk")
    assert gui.window.windowTitle() == "Coast walk — Hearth"


def test_a_search_hit_in_a_hidden_version_shows_that_version(make_gui: Any, qtbot: Any) -> None:
    script = Script(replies=[["narwhal tusks spiral"], ["a different answer"], ["a3"]])
    gui = make_gui(script)
    wait_ready(qtbot, gui)
    c, win, view = gui.controller, gui.window, gui.window.chat_view
    send(qtbot, gui, "q1")
    hidden = view.message_ids()[-1]
    last = view.widget_for(hidden)
    with qtbot.waitSignal(c.generationFinished, timeout=5000):
        last.regen_button.click()
    send(qtbot, gui, "q2")
    assert "narwhal tusks spiral" not in shown(gui)  # the first answer is one ‹ away

    win.sidebar.search.setText("narwhal")
    qtbot.waitUntil(lambda: win.sidebar.searching, timeout=2000)
    hit = win.sidebar.list.item(0)
    assert "«narwhal»" in hit.text()
    win.sidebar._activated(hit)
    assert shown(gui) == ["q1", "narwhal tusks spiral"]  # that version, and where it went
    assert hidden in view.message_ids() and switcher(gui, hidden) == "1 / 2"
    # A hit on the shown path changes nothing
    assert not c.switch_branch(view.message_ids()[0], 0)
    assert shown(gui) == ["q1", "narwhal tusks spiral"]
