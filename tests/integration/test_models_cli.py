"""`hearth models` end to end, as a user runs it: a real process, the real hub client against the
local test hub, real model files. pull/convert/quantize print the new file's path last."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hubserver import BASE, GGUF_REPO, REPO_ROOT, HubServer, free_port, standard_hub

from engine.catalog import sha256_file


@pytest.fixture(scope="module")
def server() -> Iterator[HubServer]:
    srv = standard_hub()
    yield srv
    srv.stop()


def hearth(
    *args: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **env},
        cwd=REPO_ROOT,
        timeout=timeout,
    )


@pytest.fixture
def env(
    server: HubServer, tmp_path: Path, hearth_home: Path, minilm_gguf: Path, gemma_path: Path
) -> dict[str, str]:
    """A models folder of the test's own, with the default models as first use leaves them
    (tests/prepared_models.py): the commands find them prepared."""
    from prepared_models import like_first_use

    models = like_first_use(tmp_path / "models", minilm_gguf, gemma_path)
    return {
        "HEARTH_HOME": str(hearth_home),
        "HEARTH_MODELS_DIR": str(models),
        "HF_ENDPOINT": server.url,
    }


def last_line(out: str) -> str:
    return out.strip().splitlines()[-1]


def test_pull_quantize_list_and_remove(
    env: dict[str, str], server: HubServer, minilm_gguf: Path, gemma_path: Path
) -> None:
    models = Path(env["HEARTH_MODELS_DIR"])
    pulled = hearth("models", "pull", f"{GGUF_REPO}:F16", env=env)
    assert pulled.returncode == 0, pulled.stderr
    path = Path(last_line(pulled.stdout))
    assert path == models / f"{BASE}.F16.gguf" and path.exists()
    assert "downloading" in pulled.stderr and "100%" in pulled.stderr
    f16_sha = server.repos[GGUF_REPO].files[path.name]
    assert sha256_file(path) == sha256_file(f16_sha)

    q = hearth("models", "quantize", f"{BASE}.F16", "Q4_0", env=env)
    assert q.returncode == 0, q.stderr
    q_path = Path(last_line(q.stdout))
    assert q_path == models / f"{BASE}.Q4_0.gguf" and q_path.exists()
    assert "quantizing" in q.stderr

    # a damaged file is listed with its error, not hidden
    (models / "broken.gguf").write_bytes(path.read_bytes()[:5_000_000])
    listing = hearth("models", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    data = json.loads(listing.stdout)
    by_name = {m["name"]: m for m in data["models"]}
    assert by_name[f"{BASE}.Q4_0"]["quantization"] == "Q4_0"
    assert by_name[f"{BASE}.F16"]["parameters"] > 100_000_000
    assert by_name[f"{BASE}.F16"]["fit"] in ("fits", "tight", "does not fit")
    assert by_name[f"{BASE}.F16"]["chat_template"] is True
    assert "incomplete" in by_name["broken"]["error"]
    table = hearth("models", env=env)
    assert "DAMAGED" in table.stdout and f"{BASE}.Q4_0" in table.stdout

    rm = hearth("models", "rm", "broken", "--yes", env=env)
    assert rm.returncode == 0, rm.stderr
    rm = hearth("models", "rm", f"{BASE}.Q4_0", "--yes", env=env)
    assert rm.returncode == 0, rm.stderr
    assert sorted(p.name for p in models.glob("*.gguf")) == sorted(
        [f"{BASE}.F16.gguf", gemma_path.name, minilm_gguf.name]  # the pulled file, the defaults
    )
    # the bundled model inside the installation is never deleted
    rm = hearth("models", "rm", f"{BASE}.Q4_1", "--yes", env=env)
    assert rm.returncode == 1 and "not in the models folder" in rm.stderr


def test_search_and_files(env: dict[str, str]) -> None:
    s = hearth("models", "search", "smollm2", "--sort", "recent", env=env)
    assert s.returncode == 0, s.stderr
    assert GGUF_REPO in s.stdout
    f = hearth("models", "files", GGUF_REPO, "--json", env=env)
    assert f.returncode == 0, f.stderr
    quants = [v["quant"] for v in json.loads(f.stdout)["variants"]]
    assert quants == ["Q4_K_M", "Q8_0", "F16"]


def test_offline_is_a_clear_message(env: dict[str, str]) -> None:
    offline = {**env, "HF_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    s = hearth("models", "search", "llama", env=offline)
    assert s.returncode == 1
    assert "You appear to be offline" in s.stderr
    assert "Traceback" not in s.stderr
    listing = hearth("models", env=offline)
    assert listing.returncode == 0 and f"{BASE}.Q4_1" in listing.stdout


def test_convert_prints_the_new_file_last(env: dict[str, str], tmp_path: Path) -> None:
    from engine.catalog import minilm_source_dir

    src = minilm_source_dir()
    assert src is not None
    out = tmp_path / "minilm.F16.gguf"
    c = hearth("models", "convert", str(src), "--outtype", "f16", "--out", str(out), env=env)
    assert c.returncode == 0, c.stderr
    assert Path(last_line(c.stdout)) == out and out.exists()
    from engine.gguf_file import read_header

    assert read_header(out).file_type_name == "F16"


# -- the memory estimate against reality ------------------------------------------------------

_PROBE = """
import json, sys, psutil
import llama_cpp
path, n_ctx, embed = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
llm = llama_cpp.Llama(path, n_ctx=n_ctx, n_batch=512, n_threads=2, embedding=embed, verbose=False)
text = "The quick brown fox jumps over the lazy dog near the river bank. " * 200
tokens = llm.tokenize(text.encode())[: n_ctx - 16]
if embed:
    llm.embed(llm.detokenize(tokens).decode(errors="ignore"))
else:
    llm.eval(tokens)
print(json.dumps({"rss": psutil.Process().memory_info().rss}))
"""
N_CTX = 512


def test_memory_estimate_matches_measured_rss(
    smollm2_path: Path, gemma_path: Path, minilm_gguf: Path
) -> None:
    """Each bundled model is loaded in a fresh process and fed a prompt that fills the context;
    the listing's estimate must be within 15% of the process's resident memory."""
    listing = hearth("models", "--json", "--ctx", str(N_CTX), env={})
    assert listing.returncode == 0, listing.stderr
    estimates = {m["path"]: m for m in json.loads(listing.stdout)["models"] if "error" not in m}
    report = []
    for path in (smollm2_path, gemma_path, minilm_gguf):
        entry = estimates[str(path)]
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                _PROBE,
                str(path),
                str(N_CTX),
                "1" if entry["embedding"] else "0",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert probe.returncode == 0, probe.stderr[-2000:]
        rss = json.loads(probe.stdout.strip().splitlines()[-1])["rss"]
        est = entry["memory"]["total_bytes"]
        report.append((path.name, est, rss, est / rss - 1))
    print(
        "\n".join(
            f"{n}: estimate {e / 1e6:.0f} MB, measured {r / 1e6:.0f} MB, {d:+.1%}"
            for n, e, r, d in report
        )
    )
    for name, _est, _rss, diff in report:
        assert abs(diff) < 0.15, (name, report)
