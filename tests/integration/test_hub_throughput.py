"""Download throughput against plain curl, from a hub server in its own process (so the
server and the client do not share a GIL): same file, same machine, median of several runs."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hubserver import BASE, REPO_ROOT, smollm2_f16

from engine.catalog import sha256_file
from engine.download import Downloader
from engine.hub import Hub

RUNS = 5


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("served")
    src = folder / f"{BASE}.F16.gguf"
    os.link(smollm2_f16(), src) if _same_fs(smollm2_f16(), folder) else shutil.copyfile(
        smollm2_f16(), src
    )
    proc = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "tests" / "hubserver.py"), str(folder)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    try:
        yield url, src
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _same_fs(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_download_keeps_up_with_curl(served: tuple[str, Path], tmp_path: Path) -> None:
    url, src = served
    repo_id = f"local/{src.parent.name}"
    repo = Hub(endpoint=url).repo_files(repo_id)
    variant = repo.variants[0]
    file_url = f"{url}/{repo_id}/resolve/main/{src.name}"
    curl_s, hearth_s = [], []
    for i in range(RUNS):
        out = tmp_path / "curl.bin"
        t = time.perf_counter()
        subprocess.run(["curl", "-sSf", "-o", str(out), file_url], check=True)
        curl_s.append(time.perf_counter() - t)
        out.unlink()
        models = tmp_path / f"models{i}"
        t = time.perf_counter()
        path = Downloader(models, endpoint=url).download_variant(repo, variant)
        hearth_s.append(time.perf_counter() - t)
        assert path is not None
        if i == 0:
            assert sha256_file(path) == variant.first_file.sha256
        shutil.rmtree(models)
    size = src.stat().st_size
    c, h = statistics.median(curl_s), statistics.median(hearth_s)
    ratio = c / h
    print(
        f"\n{size / 1e6:.0f} MB: curl {size / c / 1e6:.0f} MB/s, hearth {size / h / 1e6:.0f} MB/s "
        f"(metadata + download + sha256 + rename), ratio {ratio:.2f}"
    )
    # 0.9 is the goal on an idle machine; the bound here leaves room for a busy CI machine
    assert ratio > 0.5, (curl_s, hearth_s)
