"""`hearth bench retrieve`: query latency (embed + vector + keyword + fusion + merge).

Without options it measures the user's library as it is. With --synthetic-chunks N it fills a
temporary library with N chunks of real text (the evaluation manuals, extracted and chunked by
the real pipeline; text repeats, as further "copies", once the distinct chunks run out). The
first --embedded chunks get real embeddings; the others get a real chunk's embedding plus
Gaussian noise, renormalised (embedding 20,000 chunks for real takes an hour on two cores, and
the index's search cost does not depend on where the vectors came from). --embedded 0 with
--embed-all embeds everything for real.

Prints one JSON object. Stable keys: chunks, documents, queries, k, median_ms, p95_ms, max_ms,
embed_median_ms, vector_median_ms, keyword_median_ms, target_ms, meets_target, load_avg.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_MS = 200.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--queries", type=int, default=50, help="queries to time")
    p.add_argument("-k", type=int, default=6, help="passages per query")
    p.add_argument("--mode", choices=["hybrid", "vector", "keyword"], default="hybrid")
    p.add_argument(
        "--synthetic-chunks", type=int, default=0, metavar="N",
        help="measure a temporary library of N real-text chunks instead of yours",
    )  # fmt: skip
    p.add_argument("--embedded", type=int, default=1000, help="chunks embedded for real")
    p.add_argument("--embed-all", action="store_true", help="embed every synthetic chunk")
    p.add_argument("--source", nargs="+", help="files whose text fills the synthetic library")
    p.add_argument("--keep", help="build the synthetic library in this folder and keep it")
    p.add_argument(
        "--vector-store", default="", metavar="WHERE",
        help='"" (default): Chroma in this process; "process": a Chroma child process, as the '
        "window and the CLI use for your library; or a Chroma server's URL",
    )  # fmt: skip


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    idx = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[idx]


def _queries(n: int, lib: Any) -> list[str]:
    try:
        from rag.evaluate import load_questions

        texts = [q.question for q in load_questions()]
    except (OSError, ValueError, KeyError):
        texts = []
    if not texts:  # the start of some chunks, as pseudo-questions
        texts = [" ".join(t.split()[:10]) for t in lib.store.sample_embedded_texts(n)]
    if not texts:
        return []
    return [texts[i % len(texts)] for i in range(n)]


def _default_sources() -> list[Path]:
    from rag.evaluate import KNOWN_LOCATIONS

    names = {
        "r-doc-pdf": ["fullrefman.pdf", "R-intro.pdf"],
        "gnuplot-doc": ["gnuplot.pdf"],
        "glpk-doc": ["glpk.pdf"],
        "libtasn1-doc": ["libtasn1.pdf"],
    }
    found = []
    for package, files in names.items():
        for name in files:
            p = Path(KNOWN_LOCATIONS[package]) / name
            if p.is_file():
                found.append(p)
    return found


def _fill_synthetic(lib: Any, n_chunks: int, sources: list[Path], n_real: int) -> dict[str, Any]:
    """Real text, chunked by the real chunker, stored as documents; vectors as documented."""
    import numpy as np

    from rag.chunking import chunk_pages
    from rag.config import CHUNK_OVERLAP, CHUNK_TOKENS
    from rag.extract import Extractor
    from rag.reading import chunk_rows, page_offsets

    emb = lib.embedder
    pieces: list[tuple[str, list[Any], list[Any]]] = []  # (name, chunks, pages)
    distinct = 0
    t0 = time.perf_counter()
    extractor = Extractor()
    try:
        for result in extractor.extract_many(sources):
            if result.status != "ok":
                sys.stderr.write(f"skipped {result.path}: {result.message}\n")
                continue
            chunks = chunk_pages(result.pages, emb.count_tokens, CHUNK_TOKENS, CHUNK_OVERLAP, 510)
            pieces.append((Path(result.path).name, chunks, result.pages))
            distinct += len(chunks)
            sys.stderr.write(f"{Path(result.path).name}: {len(chunks)} chunks\n")
            if distinct >= n_chunks:
                break
    finally:
        extractor.close()
    if not distinct:
        raise SystemExit("hearth bench retrieve: no source text (install the eval manuals)")
    prepare_s = time.perf_counter() - t0

    store = lib.store
    vectors = lib.vectors
    rng = np.random.default_rng(0)
    made = 0
    copy = 0
    real_vectors: list[np.ndarray] = []
    t_embed = 0.0
    while made < n_chunks:
        for name, chunks, pages in pieces:
            if made >= n_chunks:
                break
            take = chunks[: n_chunks - made]
            doc_id = store.insert_document(f"/synthetic/copy{copy}/{name}", name, 0, 0.0)
            rows = chunk_rows(take, page_offsets(pages))
            store.replace_chunks(doc_id, rows, status="indexing", chunks=len(rows))
            ids = store.chunk_ids(doc_id)
            stored = store.chunks_by_ids(ids)
            ordered = [stored[i] for i in sorted(ids)]
            for start in range(0, len(ordered), 64):
                batch = ordered[start : start + 64]
                if len(real_vectors) < n_real:
                    t1 = time.perf_counter()
                    mat = emb.embed([c.text for c in batch])
                    t_embed += time.perf_counter() - t1
                    real_vectors.extend(mat)
                else:
                    base = np.stack(
                        [real_vectors[int(j)] for j in rng.integers(0, n_real, len(batch))]
                    )
                    noise = rng.normal(0, 0.35 / np.sqrt(base.shape[1]), base.shape)
                    mat = (base + noise).astype(np.float32)
                    mat /= np.linalg.norm(mat, axis=1, keepdims=True)
                vectors.upsert([c.id for c in batch], mat, [c.doc_id for c in batch])
                with store.transaction():
                    store.mark_embedded(batch)
            store.update_document(doc_id, status="ready", progress=1.0)
            made += len(rows)
            if made and made % 2000 < len(rows):
                sys.stderr.write(f"{made}/{n_chunks} chunks stored\n")
        copy += 1
    return {
        "distinct_chunks": distinct,
        "embedded_for_real": len(real_vectors),
        "perturbed_vectors": n_chunks - len(real_vectors),
        "prepare_s": round(prepare_s, 1),
        "embed_s": round(t_embed, 1),
    }


def run(args: argparse.Namespace) -> int:
    from app.paths import get_paths
    from engine.catalog import Catalog
    from rag.config import LibraryConfig
    from rag.library import Library

    synthetic: dict[str, Any] | None = None
    folder: Path | None = None
    if args.synthetic_chunks:
        paths = get_paths()
        model = Catalog(paths.models).resolve("", embedding=True)
        folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="hearth-bench-"))
        config = LibraryConfig(embedding_model=Path(model.path), vector_store=args.vector_store)
        lib = Library(folder, config)
    else:
        from app.user_library import open_user_library

        overrides = {"vector_store": args.vector_store} if args.vector_store else {}
        lib = open_user_library(**overrides)
    try:
        if args.synthetic_chunks and not lib.store.counts()["embedded"]:
            sources = [Path(s) for s in args.source] if args.source else _default_sources()
            n_real = args.synthetic_chunks if args.embed_all else max(1, args.embedded)
            synthetic = _fill_synthetic(lib, args.synthetic_chunks, sources, n_real)
        counts = lib.counts()
        if not counts["embedded"]:
            raise SystemExit(
                "hearth bench retrieve: the library is empty; add documents or use "
                "--synthetic-chunks 20000"
            )
        queries = _queries(args.queries + 3, lib)
        load_start = os.getloadavg()[0]
        for q in queries[:3]:  # warm-up: model pages, Chroma's index load
            lib.search(q, k=args.k, mode=args.mode)
        total: list[float] = []
        parts: dict[str, list[float]] = {"embed_s": [], "vector_s": [], "keyword_s": []}
        for q in queries[3:]:
            t0 = time.perf_counter()
            lib.search(q, k=args.k, mode=args.mode)
            total.append(1000 * (time.perf_counter() - t0))
            for key in parts:
                if key in lib.last_timings:
                    parts[key].append(1000 * lib.last_timings[key])
        median = statistics.median(total)
        p95 = _percentile(total, 0.95)
        result: dict[str, Any] = {
            "chunks": counts["embedded"],
            "documents": counts["documents"],
            "queries": len(total),
            "k": args.k,
            "mode": args.mode,
            "vector_store": args.vector_store or "in-process",
            "median_ms": round(median, 2),
            "p95_ms": round(p95, 2),
            "max_ms": round(max(total), 2),
            "embed_median_ms": round(statistics.median(parts["embed_s"]), 2)
            if parts["embed_s"]
            else None,
            "vector_median_ms": round(statistics.median(parts["vector_s"]), 2)
            if parts["vector_s"]
            else None,
            "keyword_median_ms": round(statistics.median(parts["keyword_s"]), 2)
            if parts["keyword_s"]
            else None,
            "target_ms": TARGET_MS,
            "meets_target": p95 <= TARGET_MS,
            "cpu_count": os.cpu_count(),
            "load_avg": [round(load_start, 2), round(os.getloadavg()[0], 2)],
            "synthetic": synthetic,
        }
    finally:
        lib.close()
        if folder is not None and not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0
