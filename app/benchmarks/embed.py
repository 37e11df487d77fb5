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

TEXT = (
    "the lighthouse keeper wrote down weather every morning direction of wind height waves "
    "colour sky before sunrise and ships that passed over forty years notebooks filled whole "
    "shelf scientists later used them to study how storms along coast had changed, while "
    "engineers measured 12 tides; a report (2019) compared results with satellite data. "
    "Résumé: rainfall increased 3.5% per decade in autumn, but winter gales were fewer."
)
WORDS = TEXT.split(" ")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", "-m", default="", help="embedding GGUF path (default model)")
    p.add_argument("--chunks", type=int, default=128, help="chunks per run")
    p.add_argument("--tokens", type=int, default=180, help="tokens per chunk")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: physical)")
    p.add_argument("--batch-tokens", type=int, default=0, help="llama.cpp batch capacity")
    p.add_argument("--pack-tokens", type=int, default=0, help="tokens packed per call")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--dump-texts", type=Path, help="write the chunks as JSON (for comparisons)")


def make_chunks(count_tokens, n: int, tokens: int, seed: int = 0) -> list[str]:  # noqa: ANN001
    """n distinct texts of exactly `tokens` tokens (or one less, where a word is 2 tokens)."""
    import random

    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(tokens * 2)]
        lo, hi = 1, len(words)
        while lo < hi:  # the most words that fit
            mid = (lo + hi + 1) // 2
            if count_tokens(" ".join(words[:mid])) <= tokens:
                lo = mid
            else:
                hi = mid - 1
        out.append(" ".join(words[:lo]))
    return out


def _model_path(arg: str) -> Path:
    if arg:
        return Path(arg).expanduser()
    from app.paths import get_paths
    from engine.catalog import MINILM_GGUF, minilm_source_dir
    from engine.errors import ModelNotFoundError

    path = get_paths().ensure().models / MINILM_GGUF
    if not path.exists():
        src = minilm_source_dir()
        if src is None:
            raise ModelNotFoundError("No embedding model: run `hearth setup` first.")
        from engine.convert import convert_embedding_default

        convert_embedding_default(src, path)
    return path


def run(args: argparse.Namespace) -> int:
    from rag.embedder import DEFAULT_BATCH_TOKENS, DEFAULT_PACK_TOKENS, Embedder

    path = _model_path(args.model)
    t0 = time.perf_counter()
    emb = Embedder(
        path,
        n_threads=args.threads,
        batch_tokens=args.batch_tokens or DEFAULT_BATCH_TOKENS,
        pack_tokens=args.pack_tokens or DEFAULT_PACK_TOKENS,
    )
    load_s = time.perf_counter() - t0
    try:
        tokens = min(args.tokens, emb.max_tokens)
        chunks = make_chunks(emb.count_tokens, args.chunks, tokens)
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
            "runs_chunks_per_s": [round(r, 2) for r in rates],
        }
    finally:
        emb.close()
    sys.stdout.write(json.dumps(result) + "\n")
    return 0
