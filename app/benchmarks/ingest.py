"""`hearth bench ingest PATH...`: document indexing throughput and memory.

Indexes the files (or folders) into a fresh temporary library (unless --library is given)
through the real pipeline: extraction processes, chunking, embedding, Chroma and FTS5. Prints
one JSON object. Stable keys: files, pages, chunks, tokens, extract_s, extract_pages_per_s,
embed_s, embed_chunks_per_s, embed_tokens_per_s, store_s, total_s, peak_rss_mb,
peak_child_rss_mb, load_avg (1-minute load when the run started and ended).

extract_s is the wall time from handing the first file to the extraction processes until the
last one came back; with several files it overlaps embedding (that is how the library runs).

With --pool-ratio, the same files are then extracted once more outside the library, first in
this process and then by a pool of --workers processes (default: as the library's), and
`extract_pool_cpu_ratio` is one process's CPU seconds divided by the busiest pool worker's
(`extract_single_cpu_s`, `extract_worker_cpu_s`). It says how evenly the pool spreads the
work: the ideal is the number of workers (2 on a 2-core machine; 1.8 or more was the target
for ten real manuals). CPU seconds, not wall time, so other programs on the machine change it
little.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to index")
    p.add_argument("--library", help="index into this folder (kept) instead of a temporary one")
    p.add_argument("--batch", type=int, default=32, help="chunks per embedding batch")
    p.add_argument("--workers", type=int, default=0, help="extraction processes (0: default)")
    p.add_argument("--chunk-tokens", type=int, default=None, help="default: the library's")
    p.add_argument("--chunk-overlap", type=int, default=None)
    p.add_argument("--model", default="", help="embedding model name or GGUF path")
    p.add_argument(
        "--pool-ratio",
        action="store_true",
        help="also measure how evenly the extraction pool spreads the files (CPU seconds)",
    )


def _rss_mb(who: int) -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return resource.getrusage(who).ru_maxrss / scale


def pool_cpu_ratio(paths: list[Path], workers: int = 0) -> dict[str, object]:
    """One process's CPU seconds for extracting `paths` against the busiest worker's in a
    pool of `workers` processes (0: the library's default). Start-up (importing pypdf) is
    not counted: the pool is started before the clock."""
    import psutil

    from rag.extract import Extractor
    from rag.file_text import extract_file

    started = time.process_time()
    for path in paths:
        extract_file(path)
    single_cpu = time.process_time() - started
    with Extractor(max_workers=workers or None) as extractor:
        extractor.start()
        procs = [psutil.Process(w.process.pid) for w in extractor._workers]
        before = [sum(p.cpu_times()[:2]) for p in procs]
        for _ in extractor.extract_many(paths):
            pass
        after = [sum(p.cpu_times()[:2]) for p in procs]
    used = [b - a for a, b in zip(before, after, strict=True)]
    busiest = max(used)
    return {
        "extract_pool_workers": len(used),
        "extract_single_cpu_s": round(single_cpu, 2),
        "extract_worker_cpu_s": [round(u, 2) for u in used],
        "extract_pool_cpu_ratio": round(single_cpu / busiest, 3) if busiest > 0 else 0.0,
    }


def run(args: argparse.Namespace) -> int:
    from app.paths import get_paths
    from engine.catalog import Catalog
    from rag.config import LibraryConfig
    from rag.library import Library

    paths = get_paths()
    model = Catalog(paths.models).resolve(args.model, embedding=True)
    folder = Path(args.library) if args.library else Path(tempfile.mkdtemp(prefix="hearth-bench-"))
    load_start = os.getloadavg()[0]
    t0 = time.perf_counter()
    chunking = {}
    if args.chunk_tokens is not None:
        chunking["chunk_tokens"] = args.chunk_tokens
    if args.chunk_overlap is not None:
        chunking["chunk_overlap"] = args.chunk_overlap
    lib = Library(
        folder,
        LibraryConfig(
            embedding_model=Path(model.path),
            batch_size=args.batch,
            extract_workers=args.workers,
            **chunking,
        ),
    )
    try:
        rows = lib.add(args.paths)
        last = [0.0]

        def progress(report: object) -> None:
            now = time.monotonic()
            if now - last[0] >= 5:
                last[0] = now
                p = report.progress  # type: ignore[attr-defined]
                sys.stderr.write(
                    f"{p.pages_read} pages, {p.chunks_done}/{p.chunks_total} chunks, "
                    f"{p.chunks_per_s:.1f} chunks/s\n"
                )

        stats = lib.ingest(on_progress=progress)
        total_s = time.perf_counter() - t0
        docs = lib.documents()
        failed = {d.name: d.message for d in docs if d.status == "failed"}
        result = {
            "files": len(rows),
            "failed": failed,
            "pages": stats.pages,
            "chunks": stats.chunks,
            "chunks_reused": stats.chunks_reused,
            "tokens": stats.tokens,
            "extract_s": round(stats.extract_s, 3),
            "extract_pages_per_s": round(stats.pages / stats.extract_s, 2)
            if stats.extract_s
            else 0.0,
            "embed_s": round(stats.embed_s, 3),
            "embed_chunks_per_s": round(stats.chunks / stats.embed_s, 2) if stats.embed_s else 0.0,
            "embed_tokens_per_s": round(stats.tokens / stats.embed_s, 1) if stats.embed_s else 0.0,
            "store_s": round(stats.store_s, 3),
            "total_s": round(total_s, 3),
            "peak_rss_mb": round(_rss_mb(resource.RUSAGE_SELF), 1),
            "peak_child_rss_mb": round(_rss_mb(resource.RUSAGE_CHILDREN), 1),
            "embedding_model": Path(model.path).name,
            "batch": args.batch,
            "chunk_tokens": lib.config.chunk_tokens,
            "chunk_overlap": lib.config.chunk_overlap,
            "cpu_count": os.cpu_count(),
            "load_avg": [round(load_start, 2), round(os.getloadavg()[0], 2)],
            "library": str(folder) if args.library else None,
        }
        if args.pool_ratio:
            result.update(pool_cpu_ratio([Path(r.path) for r in rows], args.workers))
    finally:
        lib.close()
        if not args.library:
            shutil.rmtree(folder, ignore_errors=True)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0
