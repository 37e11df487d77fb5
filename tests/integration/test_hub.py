"""Hub search, file listing and downloads against a local HF-compatible server, with the real
huggingface_hub client and real model files (SmolLM2 variants made by llama.cpp's quantizer,
the all-MiniLM-L6-v2 checkpoint)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hubserver import (
    BASE,
    GGUF_REPO,
    MINILM_REPO,
    REPO_ROOT,
    SHARDED_REPO,
    TINY_REPO,
    HubServer,
    file_sha256,
    free_port,
    standard_hub,
)

from engine.catalog import Catalog, sha256_file
from engine.download import Downloader, DownloadError, DownloadProgress, check_free_space
from engine.errors import HubError
from engine.hub import Hub


@pytest.fixture(scope="module")
def server() -> Iterator[HubServer]:
    srv = standard_hub()
    yield srv
    srv.stop()


@pytest.fixture
def hub(server: HubServer, monkeypatch: pytest.MonkeyPatch) -> Hub:
    """The hub client pointed at the local server, the way a user's HF_ENDPOINT would."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_ENDPOINT", server.url)
    # huggingface_hub reads HF_ENDPOINT once at import; Hearth passes the endpoint to every
    # call, and the constants are patched too so nothing can reach the real hub.
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(
        constants,
        "HUGGINGFACE_CO_URL_TEMPLATE",
        server.url + "/{repo_id}/resolve/{revision}/{filename}",
    )
    server.requests.clear()
    server.drop_after, server.drop_count, server.corrupt = None, 0, False
    server.ignore_range = False
    return Hub()


@pytest.fixture
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    return folder


def _files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# -- search and listing ------------------------------------------------------------------------


def test_search_finds_gguf_repos_by_downloads_and_by_date(hub: Hub) -> None:
    by_downloads = [m.repo_id for m in hub.search("", sort="downloads")]
    # the MiniLM checkpoint has the most downloads but no GGUF: filtered out
    assert by_downloads == [GGUF_REPO, TINY_REPO, SHARDED_REPO]
    recent = [m.repo_id for m in hub.search("", sort="recent")]
    assert recent == [TINY_REPO, GGUF_REPO, SHARDED_REPO]
    found = hub.search("smollm2")
    assert [m.repo_id for m in found] == [GGUF_REPO]
    assert found[0].downloads == 500 and found[0].likes == 7
    assert found[0].last_modified is not None and found[0].last_modified.year == 2025
    assert len(hub.search("", limit=1)) == 1
    assert hub.search("no-such-model") == []


def test_files_are_grouped_by_quantization_with_sizes_and_checksums(hub: Hub) -> None:
    repo = hub.repo_files(GGUF_REPO)
    assert [v.quant for v in repo.variants] == ["Q4_K_M", "Q8_0", "F16"]  # smallest first
    f16 = repo.by_quant()["F16"][0]
    disk = REPO_ROOT / ".cache" / "test-hub" / f"{BASE}.F16.gguf"
    assert f16.size == disk.stat().st_size
    assert f16.first_file.sha256 == file_sha256(disk)
    assert len(repo.revision) == 40


def test_shards_are_listed_as_one_variant(hub: Hub) -> None:
    repo = hub.repo_files(SHARDED_REPO)
    assert len(repo.variants) == 1
    v = repo.variants[0]
    assert v.quant == "Q8_0" and v.shards == 2 and v.complete
    assert v.size == sum(f.size for f in v.files)
    assert [f.path.rsplit("-", 3)[-3:] for f in v.files][0] == ["00001", "of", "00002.gguf"]


def test_a_checkpoint_repo_has_no_gguf_variants(hub: Hub) -> None:
    repo = hub.repo_files(MINILM_REPO)
    assert repo.variants == []
    paths = {f.path for f in repo.all_files}
    assert {"model.safetensors", "config.json", "1_Pooling/config.json"} <= paths


def test_unknown_repo_is_a_clear_error(hub: Hub) -> None:
    with pytest.raises(HubError, match="no such repository"):
        hub.repo_files("nobody/nothing")


# -- downloads ---------------------------------------------------------------------------------


def test_pull_end_to_end_registers_the_model(hub: Hub, server: HubServer, models: Path) -> None:
    repo = hub.repo_files(GGUF_REPO)
    variant = repo.by_quant()["Q8_0"][0]
    seen: list[DownloadProgress] = []
    path = Downloader(models).download_variant(repo, variant, progress=seen.append)
    assert path == models / f"{BASE}.Q8_0.gguf"
    assert sha256_file(path) == variant.first_file.sha256
    assert not (models / ".partial").exists()
    names = [m.name for m in Catalog(models).list()]
    assert f"{BASE}.Q8_0" in names
    assert seen and seen[-1].stage == "verifying" and seen[-1].done == variant.size
    downloading = [p for p in seen if p.stage == "downloading"]
    assert all(b.done >= a.done for a, b in zip(downloading, downloading[1:], strict=False))
    assert server.range_requests(variant.first_file.path) == []  # one plain GET
    # pulling again is a no-op that returns the installed file
    again = Downloader(models).download_variant(repo, variant)
    assert again == path


def test_download_resumes_after_a_dropped_connection(
    hub: Hub, server: HubServer, models: Path
) -> None:
    repo = hub.repo_files(GGUF_REPO)
    variant = repo.by_quant()["Q4_K_M"][0]
    server.drop_after, server.drop_count = 20_000_000, 1
    path = Downloader(models).download_variant(repo, variant)
    assert path is not None and sha256_file(path) == variant.first_file.sha256
    ranges = server.range_requests(variant.first_file.path)
    assert len(ranges) == 1
    offset = int(ranges[0].removeprefix("bytes=").rstrip("-"))
    assert 0 < offset <= 20_000_000  # continued from the bytes already on disk


def test_redirects_are_followed_and_an_endless_chain_is_refused(
    hub: Hub, server: HubServer, models: Path
) -> None:
    """The hub sends a model's bytes from elsewhere (a CDN) through redirects."""
    repo = hub.repo_files(GGUF_REPO)
    variant = repo.by_quant()["Q4_K_M"][0]
    before = len(server.requests)
    server.redirects = 3
    try:
        path = Downloader(models).download_variant(repo, variant)
        assert path is not None and sha256_file(path) == variant.first_file.sha256
        gets = [
            r for r in server.requests[before:] if r.method == "GET" and r.path.endswith(path.name)
        ]
        assert len(gets) == 4  # three redirects, then the bytes
        path.unlink()
        server.redirects = 50
        with pytest.raises(DownloadError, match="redirected too many times"):
            Downloader(models).download_variant(repo, variant)
        assert not path.exists()
    finally:
        server.redirects = 0


def test_download_resumes_after_a_restart(hub: Hub, server: HubServer, models: Path) -> None:
    repo = hub.repo_files(GGUF_REPO)
    variant = repo.by_quant()["Q4_K_M"][0]
    cancel = threading.Event()

    def stop_midway(p: DownloadProgress) -> None:
        if p.done > 30_000_000:
            cancel.set()

    assert Downloader(models).download_variant(repo, variant, stop_midway, cancel) is None
    part = models / ".partial" / (variant.first_file.path + ".part")
    kept = part.stat().st_size
    assert kept > 30_000_000 and not (models / variant.first_file.path).exists()
    assert Catalog(models).list() == [m for m in Catalog(models).list() if m.bundled]

    server.requests.clear()  # "restart": a new downloader, as after relaunching the app
    path = Downloader(models).download_variant(repo, variant)
    assert path is not None and sha256_file(path) == variant.first_file.sha256
    assert server.range_requests(variant.first_file.path) == [f"bytes={kept}-"]
    assert not (models / ".partial").exists()


def test_corrupted_bytes_are_rejected_and_nothing_is_registered(
    hub: Hub, server: HubServer, models: Path
) -> None:
    repo = hub.repo_files(GGUF_REPO)
    variant = repo.by_quant()["Q4_K_M"][0]
    server.corrupt = True
    with pytest.raises(DownloadError, match="damaged in transit") as err:
        Downloader(models).download_variant(repo, variant)
    assert "sha256" in err.value.details
    assert _files_in(models) == []  # no model, no partial file


def test_multi_file_download_gets_every_shard(hub: Hub, models: Path) -> None:
    repo = hub.repo_files(SHARDED_REPO)
    variant = repo.variants[0]
    first = Downloader(models).download_variant(repo, variant)
    assert first is not None and first.name.endswith("-00001-of-00002.gguf")
    for f in variant.files:
        assert sha256_file(models / f.path) == f.sha256


def test_checkpoint_files_download_and_verify(hub: Hub, models: Path) -> None:
    repo = hub.repo_files(MINILM_REPO)
    weights = next(f for f in repo.all_files if f.path == "model.safetensors")
    assert weights.sha256  # stored with LFS
    path = Downloader(models).download_file(MINILM_REPO, weights, repo.revision)
    assert path is not None and sha256_file(path) == weights.sha256


def test_unreachable_hub_fails_fast_with_an_offline_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("HF_ENDPOINT", dead)
    with pytest.raises(HubError, match="You appear to be offline"):
        Hub().search("llama")
    with pytest.raises(HubError, match="You appear to be offline"):
        Hub(endpoint=dead).repo_files(GGUF_REPO)
    from engine.hub import HubFile

    with pytest.raises(HubError, match="You appear to be offline"):
        Downloader(tmp_path / "m", endpoint=dead).download_file(GGUF_REPO, HubFile("x.gguf", 10))
    # what is installed keeps working
    assert any(m.bundled for m in Catalog(tmp_path / "m").list())


def test_not_enough_free_space_is_refused_before_downloading(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="Not enough free disk space"):
        check_free_space(tmp_path, 1 << 60)


_DISK_FULL_CHILD = """
import json, resource, signal, sys
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (40_000_000, 40_000_000))
from engine.download import Downloader
from engine.errors import DownloadError
from engine.hub import Hub
repo = Hub().repo_files(sys.argv[2])
variant = next(v for v in repo.variants if v.quant == "F16")
try:
    Downloader(Path(sys.argv[1])).download_variant(repo, variant)
    print(json.dumps({"ok": True}))
except DownloadError as exc:
    print(json.dumps({"error": exc.user_message}))
"""


def test_disk_full_mid_download_is_a_clear_error(hub: Hub, server: HubServer, models: Path) -> None:
    before = _files_in(models)
    env = {**os.environ, "HF_ENDPOINT": server.url, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", _DISK_FULL_CHILD, str(models), GGUF_REPO],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert "disk became full" in result["error"]
    assert _files_in(models) == before  # the models folder is unchanged


def test_one_download_of_a_file_at_a_time(hub: Hub, models: Path) -> None:
    repo = hub.repo_files(TINY_REPO)
    variant = repo.variants[0]
    lock = models / ".partial" / (variant.first_file.path + ".lock")
    lock.parent.mkdir()
    lock.write_text(str(os.getpid()))  # a live owner: this very process
    with pytest.raises(DownloadError, match="already being downloaded"):
        Downloader(models).download_variant(repo, variant)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    lock.write_text(gone.stdout.decode().strip())  # a stale lock: its owner has exited
    path = Downloader(models).download_variant(repo, variant)
    assert path is not None and sha256_file(path) == variant.first_file.sha256
    assert _files_in(models) == [path.name]


def test_a_server_that_ignores_range_gets_a_clean_restart(
    hub: Hub, server: HubServer, models: Path
) -> None:
    repo = hub.repo_files(TINY_REPO)
    variant = repo.variants[0]
    cancel = threading.Event()

    def stop_midway(p: DownloadProgress) -> None:
        if p.done > 10_000_000:
            cancel.set()

    assert Downloader(models).download_variant(repo, variant, stop_midway, cancel) is None
    server.ignore_range = True  # the resume request is answered with the whole file
    path = Downloader(models).download_variant(repo, variant)
    assert path is not None and sha256_file(path) == variant.first_file.sha256
    assert len(server.range_requests(variant.first_file.path)) == 1
