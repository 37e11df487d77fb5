"""`hearth bench download REPO[:QUANT]`: Hearth's downloader against plain curl, same file,
same machine.

Each of --runs rounds fetches the variant's first file with curl (one GET, to a temporary
file) and then with Hearth's Downloader (metadata, download, sha256 check, move into place)
into a fresh temporary models folder; the files are deleted after each round. Prints one
JSON object. Stable keys: repo, file, bytes, runs, curl_s, hearth_s (medians),
curl_mb_per_s, hearth_mb_per_s, hearth_vs_curl (curl's seconds / Hearth's: 1.0 = as fast
as curl; 0.9 or more was the goal on an idle machine), verified (Hearth's sha256 check
passed), endpoint. The hub is the one in Settings, or --endpoint (a local test hub: see
tests/hubserver.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", metavar="REPO[:QUANT]", help="e.g. owner/name:Q4_K_M")
    p.add_argument("--file", default="", help="a file name in the repository")
    p.add_argument("--endpoint", default="", help="hub address (default: from settings)")
    p.add_argument("--runs", type=int, default=5)


def run(args: argparse.Namespace) -> int:
    from huggingface_hub import hf_hub_url

    from app.paths import get_paths
    from app.settings import Settings
    from engine.download import Downloader
    from engine.errors import InvalidRequestError
    from engine.hub import Hub, parse_repo_spec, pick_variant, resolve_endpoint

    curl = shutil.which("curl")
    if curl is None:
        raise InvalidRequestError("hearth bench download compares with curl, which is not found.")
    settings = Settings.load(get_paths().settings_file)
    endpoint = resolve_endpoint(args.endpoint or settings.hub_endpoint)
    repo_id, quant = parse_repo_spec(args.spec)
    repo = Hub(endpoint, settings.hub_token).repo_files(repo_id)
    variant = pick_variant(repo, quant=quant, filename=args.file)
    first = variant.first_file
    url = hf_hub_url(repo_id, first.path, revision=repo.revision, endpoint=endpoint)
    curl_s: list[float] = []
    hearth_s: list[float] = []
    verified = True
    with tempfile.TemporaryDirectory(prefix="hearth-bench-download-") as tmp:
        for i in range(max(1, args.runs)):
            out = Path(tmp) / "curl.bin"
            t = time.perf_counter()
            subprocess.run([curl, "-sSfL", "-o", str(out), url], check=True)
            curl_s.append(time.perf_counter() - t)
            out.unlink()
            models = Path(tmp) / f"models{i}"
            t = time.perf_counter()
            path = Downloader(models, endpoint, settings.hub_token).download_variant(repo, variant)
            hearth_s.append(time.perf_counter() - t)
            verified = verified and path is not None  # the Downloader checks the sha256
            shutil.rmtree(models)
    size = first.size
    c, h = statistics.median(curl_s), statistics.median(hearth_s)
    result = {
        "repo": repo_id,
        "file": first.path,
        "bytes": size,
        "runs": len(curl_s),
        "curl_s": round(c, 3),
        "hearth_s": round(h, 3),
        "curl_mb_per_s": round(size / c / 1e6, 1),
        "hearth_mb_per_s": round(size / h / 1e6, 1),
        "hearth_vs_curl": round(c / h, 3),
        "verified": verified,
        "endpoint": endpoint,
        "runs_curl_s": [round(x, 3) for x in curl_s],
        "runs_hearth_s": [round(x, 3) for x in hearth_s],
    }
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0
