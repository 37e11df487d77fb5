"""`hearth bench embed`: embedding throughput of the default (or given) embedding model.

Prints one JSON object. Stable keys: model, threads, chunks, tokens_per_chunk, chunks_per_s,
tokens_per_s, load_s. chunks_per_s is the median of --runs runs after one warm-up call; each
run embeds --chunks distinct chunks of --tokens tokens (special tokens included) with one
`Embedder.embed` call, as document ingestion does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", "-m", default="", help="embedding GGUF path (default model)")
    p.add_argument("--chunks", type=int, default=128, help="chunks per run")
    p.add_argument("--tokens", type=int, default=180, help="tokens per chunk")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: physical)")
    p.add_argument("--batch-tokens", type=int, default=0, help="llama.cpp batch capacity")
    p.add_argument(
        "--pack-tokens", type=int, default=0, help="tokens packed per call (default: as tuned)"
    )
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--dump-texts", type=Path, help="write the chunks as JSON (for comparisons)")


def _model_path(arg: str) -> Path:
    if arg:
        return Path(arg).expanduser()
    from app.paths import get_paths
    from app.settings import Settings
    from app.user_library import embedding_model_path

    return embedding_model_path(Settings(), get_paths().ensure().models)  # the default one


def run(args: argparse.Namespace) -> int:
    from engine import runtime
    from rag.embedder import DEFAULT_BATCH_TOKENS, Embedder, read_tuning
    from rag.embedding_model import sample_texts

    path = _model_path(args.model)
    t0 = time.perf_counter()
    emb = Embedder(
        path,
        n_threads=args.threads,
        batch_tokens=args.batch_tokens or DEFAULT_BATCH_TOKENS,
        pack_tokens=args.pack_tokens or None,  # None: the model's tuning record
    )
    load_s = time.perf_counter() - t0
    try:
        tokens = min(args.tokens, emb.max_tokens)
        chunks = sample_texts(emb.count_tokens, args.chunks, tokens)
        if args.dump_texts:
            args.dump_texts.write_text(json.dumps(chunks))
        n_tokens = sum(emb.count_tokens(c) for c in chunks)
        emb.embed(chunks[: max(1, len(chunks) // 8)])  # warm-up
        rates: list[float] = []
        for _ in range(max(1, args.runs)):
            t = time.perf_counter()
            emb.embed(chunks)
            rates.append(len(chunks) / (time.perf_counter() - t))
        cps = statistics.median(rates)
        result = {
            "model": emb.name,
            "file": path.name,
            "threads": emb.n_threads,
            "chunks": len(chunks),
            "tokens_per_chunk": round(n_tokens / len(chunks), 1),
            "chunks_per_s": round(cps, 2),
            "tokens_per_s": round(cps * n_tokens / len(chunks), 1),
            "load_s": round(load_s, 3),
            "pack_tokens": emb.pack_tokens,
            "weights": (read_tuning(path) or {}).get("outtype", ""),
            "llama_cpp_python": runtime.system_info()["llama_cpp_python"],  # +hearth.N: patched
            "runs_chunks_per_s": [round(r, 2) for r in rates],
        }
    finally:
        emb.close()
    sys.stdout.write(json.dumps(result) + "\n")
    return 0
