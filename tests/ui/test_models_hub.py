"""The Models window's hub part against a local HF-compatible server (tests/hubserver.py) with
the real huggingface_hub client, real downloads and real model files. The engine is a scripted
fake: these tests are about the models window, not about generation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubserver import BASE, GGUF_REPO, SHARDED_REPO, HubServer, free_port, standard_hub
from PySide6.QtCore import Qt
from ui_fakes import Script, wait_ready

from app.model_jobs import JobProgress
from engine.catalog import sha256_file


@pytest.fixture(scope="module")
def server() -> Iterator[HubServer]:
    srv = standard_hub()
    yield srv
    srv.stop()


def _point_hub_at(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}"
    )


@pytest.fixture
def hub_env(server: HubServer, monkeypatch: pytest.MonkeyPatch) -> HubServer:
    _point_hub_at(server.url, monkeypatch)
    server.requests.clear()
    server.drop_after, server.drop_count, server.corrupt = None, 0, False
    server.ignore_range = False
    return server


def _open(gui: Any, tab: str = "hub") -> Any:
    from ui.models_page import ModelsUi

    return gui.window.findChild(ModelsUi).open(tab=tab)


def _open_repo(qtbot: Any, hub: Any, repo_id: str) -> Any:
    with qtbot.waitSignal(hub.repoLoaded, timeout=30000) as blocker:
        hub.open_repo(repo_id)
    return blocker.args[0]


def test_search_open_download_cancel_restart_and_resume(
    make_gui: Any, qtbot: Any, hub_env: HubServer, models: Path
) -> None:
    gui = make_gui(Script())
    wait_ready(qtbot, gui)
    hub = _open(gui).hub

    # search, by downloads and by recency
    with qtbot.waitSignal(hub.searchFinished, timeout=30000):
        hub.search("", sort="downloads")
    assert [m.repo_id for m in hub.found][:1] == [GGUF_REPO]
    with qtbot.waitSignal(hub.searchFinished, timeout=30000):
        hub.search("smollm2")
    assert [m.repo_id for m in hub.found] == [GGUF_REPO]
    assert [hub.results.item(0, c).text() for c in range(3)] == [GGUF_REPO, "500", "7"]
    assert "1 GGUF repositories match" in hub.status.text()

    # open the repository: files grouped by quantization, smallest first, with sizes and fit
    repo = _open_repo(qtbot, hub, hub._repo_at(0))
    quants = [hub.files.item(r, 0).text() for r in range(hub.files.rowCount())]
    assert quants == ["Q4_K_M", "Q8_0", "F16"]
    q4 = hub.files.item(0, 0)
    assert q4.child(0, 0).text() == f"{BASE}.Q4_K_M.gguf"
    assert q4.child(0, 1).text().endswith("MB")
    assert q4.child(0, 4).text().endswith(("fits", "tight", "does not fit"))

    # download through the page; cancel it part-way from the progress callback
    assert hub.select_quant("Q4_K_M")
    variant = hub.selected_variant()
    assert variant is not None and variant.quant == "Q4_K_M"
    job = hub.download_selected()
    assert job is not None
    seen: list[JobProgress] = []
    job.progress.connect(seen.append)
    job.progress.connect(
        lambda p: job.cancel() if p.fraction >= 0.1 else None, Qt.ConnectionType.DirectConnection
    )
    row = _open(gui).jobs.rows[id(job)]
    with qtbot.waitSignal(job.cancelled, timeout=60000):
        pass
    part = models / ".partial" / f"{BASE}.Q4_K_M.gguf.part"
    kept = part.stat().st_size
    assert 0 < kept < variant.size
    assert not (models / f"{BASE}.Q4_K_M.gguf").exists()
    qtbot.waitUntil(lambda: "Cancelled" in row.detail.text(), timeout=5000)
    texts = [p.text for p in seen if p.fraction > 0]
    assert texts and " of " in texts[0] and "/s" in texts[0] and "left" in texts[0]
    assert hub.pending_box.isVisibleTo(hub) and hub.pending_list.count() == 1
    assert "partial" in hub.files.item(0, 0).child(0, 5).text()

    # "restart": close the window, open a new one on the same user folder
    gui.close()
    gui2 = make_gui(Script())
    wait_ready(qtbot, gui2)
    dialog = _open(gui2)
    hub2 = dialog.hub
    assert hub2.pending_list.count() == 1
    assert hub2.pending_list.item(0).text().startswith(f"{GGUF_REPO} · {BASE}.Q4_K_M")
    hub_env.requests.clear()
    job2 = hub2.resume_selected()
    assert job2 is not None
    with qtbot.waitSignal(job2.succeeded, timeout=120000) as blocker:
        pass
    path = Path(blocker.args[0])
    assert path == models / f"{BASE}.Q4_K_M.gguf"
    assert sha256_file(path) == variant.first_file.sha256
    assert hub_env.range_requests(variant.first_file.path) == [f"bytes={kept}-"]
    assert not (models / ".partial").exists()
    qtbot.waitUntil(lambda: hub2.pending_list.count() == 0, timeout=5000)

    # the new file is a variant of the bundled SmolLM2, and its origin is remembered
    installed = dialog.installed
    qtbot.waitUntil(
        lambda: any(r[0].startswith(f"{BASE}.Q4_K_M") for r in installed.row_texts()),
        timeout=5000,
    )
    group = next(g for g in installed.groups if g.key == BASE.lower())
    assert sorted(v.quant for v in group.variants) == ["Q4_1", "Q4_K_M"]
    records = json.loads((gui2.controller.paths.config / "models.json").read_text())
    assert records["origins"][f"{BASE}.Q4_K_M.gguf"]["repo_id"] == repo.repo_id
    assert records["downloads"] == {}


def test_a_download_left_by_the_command_line_is_offered_to_resume(
    make_gui: Any, qtbot: Any, hub_env: HubServer, models: Path
) -> None:
    import threading

    from engine.download import Downloader, DownloadProgress
    from engine.hub import Hub

    repo = Hub().repo_files(GGUF_REPO)
    variant = repo.by_quant()["Q8_0"][0]
    cancel = threading.Event()

    def stop_midway(p: DownloadProgress) -> None:
        if p.done > 20_000_000:
            cancel.set()

    # `hearth models pull` interrupted: partial bytes and the downloader's sidecar only
    assert Downloader(models).download_variant(repo, variant, stop_midway, cancel) is None
    gui = make_gui(Script())
    hub = _open(gui).hub
    assert hub.pending_list.count() == 1
    assert hub.pending_list.item(0).text().startswith(f"{GGUF_REPO} · {BASE}.Q8_0")
    job = hub.resume_selected()
    with qtbot.waitSignal(job.succeeded, timeout=120000) as blocker:
        pass
    assert sha256_file(Path(blocker.args[0])) == variant.first_file.sha256
    assert len(hub_env.range_requests(variant.first_file.path)) == 1
    qtbot.waitUntil(lambda: hub.pending_list.count() == 0, timeout=5000)
    assert not hub.discard_selected(ask=False)  # nothing left to discard


def test_a_split_model_is_one_entry_and_downloads_every_part(
    make_gui: Any, qtbot: Any, hub_env: HubServer, models: Path
) -> None:
    gui = make_gui(Script())
    hub = _open(gui).hub
    repo = _open_repo(qtbot, hub, SHARDED_REPO)
    assert hub.files.rowCount() == 1 and hub.files.item(0, 0).rowCount() == 1
    assert hub.files.item(0, 0).child(0, 2).text() == "2 of 2"
    assert "split models are shown as one" in hub.repo_label.text()
    assert hub.select_quant("Q8_0")
    job = hub.download_selected()
    with qtbot.waitSignal(job.succeeded, timeout=120000):
        pass
    for f in repo.variants[0].files:
        assert sha256_file(models / f.path) == f.sha256
    # the row is refreshed when the manager sees the job end, a queued signal after `succeeded`
    qtbot.waitUntil(lambda: hub.files.item(0, 0).child(0, 5).text() == "installed", timeout=5000)


def test_settings_download_a_level_from_the_models_repository_then_reload(
    make_gui: Any, qtbot: Any, hub_env: HubServer, models: Path
) -> None:
    """A model that came from the hub offers its repository's other levels in Settings;
    choosing one downloads it (through a dropped connection) and reloads the engine."""
    script = Script()
    gui = make_gui(script)
    wait_ready(qtbot, gui)
    hub = _open(gui).hub
    _open_repo(qtbot, hub, GGUF_REPO)
    assert hub.select_quant("Q4_K_M")
    job = hub.download_selected()
    with qtbot.waitSignal(job.succeeded, timeout=120000):
        pass

    dialog = gui.window.settings_dialog()
    page = dialog.page("Quantization")
    qtbot.waitUntil(lambda: any(c.status == "download" for c in page.choices), timeout=30000)
    by_quant = {c.quant: c for c in page.choices}
    assert by_quant["Q4_1"].status == "installed" and by_quant["Q4_K_M"].status == "installed"
    assert by_quant["Q8_0"].status == "download" and by_quant["F16"].status == "download"
    assert "Downloadable levels come from " + GGUF_REPO in page.hub_note.text()
    assert page.select_quant("Q8_0")
    hub_env.drop_after, hub_env.drop_count = 40_000_000, 1
    with qtbot.waitSignal(
        gui.controller.engine.loaded,
        timeout=120000,
        check_params_cb=lambda m: m.info.path.endswith("Q8_0.gguf"),
    ):
        gui.controller.apply_settings(dialog.result_settings())
    target = models / f"{BASE}.Q8_0.gguf"
    assert sha256_file(target) == by_quant["Q8_0"].hub[1].first_file.sha256  # type: ignore[index]
    assert len(hub_env.range_requests(f"{BASE}.Q8_0.gguf")) == 1  # resumed after the drop
    assert gui.controller.settings.default_model == f"{BASE}.Q8_0"
    assert script.loads[-1]["model_path"] == str(target)


def test_offline_hub_says_so_and_installed_models_keep_working(
    make_gui: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch, models: Path
) -> None:
    _point_hub_at(f"http://127.0.0.1:{free_port()}", monkeypatch)
    gui = make_gui(Script())
    wait_ready(qtbot, gui)
    dialog = _open(gui)
    with qtbot.waitSignal(dialog.hub.searchFinished, timeout=30000) as blocker:
        dialog.hub.search("anything")
    assert "offline" in blocker.args[0].user_message
    assert "offline" in dialog.hub.status.text()
    assert dialog.hub.search_button.isEnabled()
    assert any(r[0].startswith("SmolLM2") for r in dialog.installed.row_texts())
    with qtbot.waitSignal(gui.controller.generationFinished, timeout=10000):
        assert gui.controller.send("still there?")
    # Let the documents thread's start-up signals arrive before the window closes (a late
    # documentsChanged after close makes the documents panel read a closed store).
    qtbot.wait(500)
