"""`hearth bench download` against a hub server in its own process (so the server and the
client do not share a GIL): Hearth's downloader and plain curl on the same file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hubserver import BASE, REPO_ROOT, smollm2_f16


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
def test_bench_download_compares_with_curl(
    served: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """`hearth bench download` fetches the same file with curl and with Hearth's downloader
    (which checks its sha256) and reports both speeds. How they compare is a measurement,
    not asserted here (0.9 of curl's speed or better is the goal on an idle machine)."""
    import argparse
    import json

    from app.benchmarks import download as bench

    url, src = served
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args([f"local/{src.parent.name}", "--endpoint", url, "--runs", "1"])
    assert bench.run(args) == 0
    result = json.loads(capsys.readouterr().out)
    print(result)
    assert result["file"] == src.name and result["bytes"] == src.stat().st_size
    assert result["verified"] is True and result["runs"] == 1
    assert result["curl_mb_per_s"] > 0 and result["hearth_mb_per_s"] > 0
    assert result["hearth_vs_curl"] > 0
