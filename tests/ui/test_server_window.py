"""The window as an API server (Settings ▸ Server) and as a client of bigger ones (Settings ▸
Engine), with the real model and real servers: llama.cpp's own and a second Hearth's
`hearth serve`. The API's requests and the window's chat turns take turns on the window's
one engine thread."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import openai
import pytest
from servers import SERVE_KEY as KEY
from servers import free_port
from ui_fakes import Script, wait_ready

from app.paths import get_paths
from app.settings import Settings
from engine.types import SamplingParams

LOAD_TIMEOUT_MS = 120_000
ANSWER_TIMEOUT_MS = 300_000


def settings_with(**changes: Any) -> Settings:
    settings = Settings(n_ctx=2048, sampling=SamplingParams(temperature=0.0, max_tokens=24))
    for key, value in changes.items():
        setattr(settings, key, value)
    return settings


def test_the_window_serves_its_model_while_it_chats(
    make_gui: Any, qtbot: Any, models: Path
) -> None:
    port = free_port()
    settings_with(server_enabled=True, server_port=port).save(get_paths().ensure().settings_file)
    gui = make_gui(real=True)
    wait_ready(qtbot, gui, LOAD_TIMEOUT_MS)
    server = gui.services.server
    assert server.state.running and server.state.url == f"http://127.0.0.1:{port}/v1"
    assert gui.window.server_ui.button.text() == f"API: {server.state.url}"
    client = openai.OpenAI(base_url=server.state.url, api_key="none", max_retries=0)
    assert [m.id for m in client.models.list()][0] == "SmolLM2-135M-Instruct.Q4_1"
    api_answer: list[str] = []

    def ask() -> None:  # another program, while the window answers its own question
        stream = client.chat.completions.create(
            model="SmolLM2-135M-Instruct.Q4_1",
            messages=[{"role": "user", "content": "Name a planet."}],
            max_tokens=16,
            temperature=0,
            stream=True,
        )
        api_answer.append("".join(c.choices[0].delta.content or "" for c in stream if c.choices))

    other = threading.Thread(target=ask)
    with qtbot.waitSignal(gui.controller.generationFinished, timeout=ANSWER_TIMEOUT_MS) as done:
        assert gui.controller.send("Name a colour.")
        other.start()
    assert done.args[1] in ("stop", "length")
    qtbot.waitUntil(lambda: not other.is_alive(), timeout=ANSWER_TIMEOUT_MS)
    assert api_answer and api_answer[0].strip()
    rows = gui.store.messages(gui.controller.chat_id)
    assert [r.role for r in rows] == ["user", "assistant"] and rows[1].content.strip()
    qtbot.waitUntil(lambda: len(server.records) >= 2)  # the log: /v1/models, the answer
    last = server.records[-1]
    assert (last.path, last.status, last.finish) == ("/v1/chat/completions", 200, "length")
    gui.window.close()  # stops the server with the window
    assert not server.state.running
    with pytest.raises(openai.APIConnectionError):
        client.models.list()


def test_a_server_that_may_not_start_says_why(make_gui: Any, qtbot: Any) -> None:
    gui = make_gui(Script())
    new = gui.controller.settings.copy()
    new.server_enabled, new.server_host, new.server_port = True, "0.0.0.0", free_port()
    gui.controller.apply_settings(new)
    server = gui.services.server
    assert not server.state.running and "without an API key" in server.state.error
    assert gui.window.server_ui.button.text() == "⚠ API server stopped"
    assert "without an API key" in gui.window.server_ui.button.toolTip()
    new = new.copy()
    new.server_enabled = False
    gui.controller.apply_settings(new)
    assert not gui.window.server_ui.button.isVisible()


def test_settings_pages_for_the_engine_and_the_server(
    make_gui: Any, qtbot: Any, hearth_server: str
) -> None:
    gui = make_gui(Script())
    dialog = gui.window.settings_dialog()
    engine, server = dialog.page("Engine"), dialog.page("Server")
    assert engine is not None and server is not None
    engine.remote.setChecked(True)
    engine.url.setText(hearth_server)
    engine.key.setText(KEY)
    with qtbot.waitSignal(engine.modelsListed, timeout=30_000):
        engine.refresh.click()
    assert engine.model.itemText(0) == "SmolLM2-135M-Instruct.Q4_1"
    server.enabled.setChecked(True)
    server.port.setValue(free_port())
    chosen = dialog.result_settings()
    assert (chosen.backend, chosen.remote_base_url, chosen.remote_api_key) == (
        "openai", hearth_server, KEY,
    )  # fmt: skip
    assert chosen.remote_model == "SmolLM2-135M-Instruct.Q4_1" and chosen.server_enabled
    dialog.reject()


@pytest.mark.parametrize("which", ["llama.cpp", "hearth"])
def test_the_window_answers_with_a_servers_model_and_stops(
    which: str, request: pytest.FixtureRequest, make_gui: Any, qtbot: Any
) -> None:
    url = request.getfixturevalue("llama_cpp_server" if which == "llama.cpp" else "hearth_server")
    remote = settings_with(backend="openai", remote_base_url=url, remote_api_key=KEY)
    remote.save(get_paths().ensure().settings_file)
    gui = make_gui(real=True)
    wait_ready(qtbot, gui, LOAD_TIMEOUT_MS)
    assert "remote" in gui.window.model_label.text()
    c = gui.controller
    with qtbot.waitSignal(c.generationFinished, timeout=ANSWER_TIMEOUT_MS) as done:
        assert c.send("Name a colour.")
    assert done.args[1] in ("stop", "length")
    assert gui.store.messages(c.chat_id)[-1].content.strip()
    # Stop: a long answer ends as soon as it is asked to
    long = settings_with(backend="openai", remote_base_url=url, remote_api_key=KEY)
    long.sampling.max_tokens = 1000
    c.apply_settings(long)
    c.streamDelta.connect(lambda *_: c.stop())
    with qtbot.waitSignal(c.generationFinished, timeout=ANSWER_TIMEOUT_MS) as done:
        assert c.send("Count from one to five hundred in words.")
    assert done.args[1] == "cancelled"


def test_an_unreachable_server_is_one_clear_message(make_gui: Any, qtbot: Any) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    settings_with(backend="openai", remote_base_url=nobody).save(get_paths().ensure().settings_file)
    gui = make_gui(real=True)
    qtbot.waitUntil(lambda: gui.controller.model_state.value == "failed", timeout=60_000)
    assert gui.controller.model_text == f"Cannot reach the server at {nobody}. Is it running?"


def test_changing_only_the_default_sampling_keeps_the_server(make_gui: Any, qtbot: Any) -> None:
    gui = make_gui(Script())
    server = gui.services.server
    new = gui.controller.settings.copy()
    new.server_enabled, new.server_port = True, free_port()
    gui.controller.apply_settings(new)
    url = server.state.url
    assert server.state.running
    states: list[Any] = []
    server.stateChanged.connect(states.append)
    warmer = new.copy()
    warmer.sampling.temperature = 1.3
    gui.controller.apply_settings(warmer)
    assert states == [] and server.state.url == url  # not restarted: answers in flight go on
    moved = warmer.copy()
    moved.server_port = free_port()
    gui.controller.apply_settings(moved)
    assert server.state.running and server.state.url == f"http://127.0.0.1:{moved.server_port}/v1"
