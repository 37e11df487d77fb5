"""`hearth bench chat`: prompt and decode speed, time to first token, KV-cache reuse.

Prints one JSON object. Stable keys (scripts read them): model, llama_cpp_build, gpu_offload,
gpu_layers (--gpu-layers: -1 puts every layer on the GPU of a CUDA/Metal build), threads, load_s,
prompt_tokens, prompt_tokens_per_s (a 512-token prompt), decode_tokens, decode_tokens_per_s
(128 tokens from a near-empty context, as llama-bench's tg128), ttft_s, turn2_ttft_s,
turn2_prompt_tokens_evaluated. decode_tokens_per_s_after_prompt is the rate right after the
512-token prompt; decode_tokens_per_s_after_long_prompt the rate right after a prompt three
times as long (long_prompt_tokens), where attention over the cache weighs more (a document
question's prompt is about that long). Each number is the median of --runs runs after one
warm-up.

With --llama-bench PATH, llama.cpp's own llama-bench runs side by side on the same model and
threads, one llama-bench run after each Hearth run (so both see the same machine: on a shared
VM the speed drifts by 20 % within minutes): pp512, tg128 from an empty context, and tg128 at
the depth Hearth's decode run starts from (`-d`): a chat turn always has a prompt (SmolLM2's
template adds a 31-token system turn to "Hi"), and decoding after it costs about 4 % more in
llama.cpp itself. `decode_ratio` compares like with like (same depth);
`decode_ratio_vs_tg128_empty` compares with tg128 from an empty context.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

FILLER = (
    "The lighthouse keeper wrote down the weather every morning: the direction of the wind, "
    "the height of the waves, the colour of the sky before sunrise, and the ships that passed. "
    "Over forty years the notebooks filled a whole shelf, and scientists later used them to "
    "study how storms along the coast had changed. "
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", "-m", default="", help="model name or GGUF path (default model)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: physical cores)")
    p.add_argument(
        "--gpu-layers", type=int, default=0, help="layers on the GPU (-1: all; needs a GPU build)"
    )
    p.add_argument("--ctx", type=int, default=2048)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--prompt-tokens", type=int, default=512)
    p.add_argument("--decode-tokens", type=int, default=128)
    p.add_argument("--llama-bench", type=Path, help="path of llama.cpp's llama-bench to compare")


def _prompt_messages(engine: Any, n_tokens: int) -> list[Any]:
    """A single user turn whose templated prompt is exactly n_tokens long (or just under)."""
    from engine.types import ChatMessage

    words = (FILLER * (n_tokens // 20 + 2)).split()
    lo, hi = 1, len(words)
    while lo < hi:  # most words whose prompt fits n_tokens
        mid = (lo + hi + 1) // 2
        if len(engine.tokenize_chat([ChatMessage("user", " ".join(words[:mid]))])) <= n_tokens:
            lo = mid
        else:
            hi = mid - 1
    return [ChatMessage("user", " ".join(words[:lo]))]


def _one_run(engine: Any, messages: list[Any], decode_tokens: int) -> dict[str, float]:
    from engine.types import ChatMessage, GenerationRequest, SamplingParams

    engine.reset()
    greedy = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=decode_tokens)
    gen = engine.generate(GenerationRequest(messages, greedy, ignore_eos=True), threading.Event())
    answer = gen.text()
    s1 = gen.stats
    follow = [
        *messages,
        ChatMessage("assistant", answer),
        ChatMessage("user", "Summarise that in one sentence."),
    ]
    short = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=8)
    gen2 = engine.generate(GenerationRequest(follow, short), threading.Event())
    gen2.text()
    s2 = gen2.stats
    # Decode speed as llama-bench's tg128 measures it: from an (almost) empty context, so
    # the two are comparable. Decoding after the 512-token prompt is reported separately.
    engine.reset()
    gen3 = engine.generate(
        GenerationRequest([ChatMessage("user", "Hi")], greedy, ignore_eos=True), threading.Event()
    )
    gen3.text()
    s3 = gen3.stats
    return {
        "prompt_tokens": s1.prompt_tokens_evaluated,
        "prompt_tokens_per_s": s1.prompt_tokens_per_s,
        "decode_tokens": s3.generated_tokens,
        "decode_tokens_per_s": s3.decode_tokens_per_s,
        "decode_depth": s3.prompt_tokens,  # tokens in the context when decoding starts
        "decode_tokens_per_s_after_prompt": s1.decode_tokens_per_s,
        "ttft_s": s1.ttft_s,
        "turn2_prompt_tokens": s2.prompt_tokens,
        "turn2_ttft_s": s2.ttft_s,
        "turn2_prompt_tokens_evaluated": s2.prompt_tokens_evaluated,
    }


def _llama_bench(binary: Path, model: str, threads: int, depth: int) -> dict[str, float]:
    """One llama-bench run (it warms up first): pp512 and tg128 from an empty context, and
    tg128 at `depth` tokens already in the context."""
    out = subprocess.run(
        [
            str(binary),
            "-m",
            model,
            "-t",
            str(threads),
            "-p",
            "512",
            "-n",
            "128",
            "-d",
            f"0,{depth}" if depth else "0",
            "-r",
            "1",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = json.loads(out)
    result: dict[str, float] = {}
    for row in rows:
        d = int(row.get("n_depth", 0))
        if row.get("n_prompt") == 512 and row.get("n_gen") == 0 and d == 0:
            result["llama_bench_pp512"] = float(row["avg_ts"])
        if row.get("n_gen") == 128 and row.get("n_prompt") == 0:
            if d == 0:
                result["llama_bench_tg128"] = float(row["avg_ts"])
            if d == depth:
                result["llama_bench_tg128_at_depth"] = float(row["avg_ts"])
    return result


def run(args: argparse.Namespace) -> int:
    import time

    from app.paths import get_paths
    from engine.catalog import Catalog
    from engine.llama_engine import LlamaEngine

    info = Catalog(get_paths().models).resolve(args.model)
    t0 = time.perf_counter()
    engine = LlamaEngine(
        info.path, n_ctx=args.ctx, n_threads=args.threads, n_gpu_layers=args.gpu_layers
    )
    load_s = time.perf_counter() - t0
    try:
        messages = _prompt_messages(engine, args.prompt_tokens)
        warm = _one_run(engine, messages, 16)  # warm-up: page in weights, settle the threads
        runs: list[dict[str, float]] = []
        refs: list[dict[str, float]] = []
        for _ in range(max(1, args.runs)):
            runs.append(_one_run(engine, messages, args.decode_tokens))
            if args.llama_bench:
                refs.append(
                    _llama_bench(
                        args.llama_bench, info.path, engine.threads, int(warm["decode_depth"])
                    )
                )
        # Turn-2 latency with a longer conversation: should track the new turn, not the history.
        long_messages = _prompt_messages(engine, min(args.ctx - 256, 3 * args.prompt_tokens))
        long_runs = [_one_run(engine, long_messages, 64) for _ in range(max(1, args.runs))]
    finally:
        engine.close()
    result = _report(args, info.path, engine.threads, load_s, runs, long_runs, refs)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


def _report(
    args: argparse.Namespace,
    model: str,
    threads: int,
    load_s: float,
    runs: list[dict[str, float]],
    long_runs: list[dict[str, float]],
    refs: list[dict[str, float]],
) -> dict[str, Any]:
    """The JSON report: medians of the runs, and llama-bench's side by side when it ran."""
    from engine import runtime

    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    long_run = {k: statistics.median(r[k] for r in long_runs) for k in long_runs[0]}
    result: dict[str, Any] = {
        "model": model,
        "llama_cpp_build": runtime.llama_cpp_build(),
        "gpu_offload": bool(runtime.system_info()["gpu_offload"]),
        "gpu_layers": args.gpu_layers,
        "threads": threads,
        "load_s": round(load_s, 3),
        "prompt_tokens": int(med["prompt_tokens"]),
        "prompt_tokens_per_s": round(med["prompt_tokens_per_s"], 2),
        "decode_tokens": int(med["decode_tokens"]),
        "decode_tokens_per_s": round(med["decode_tokens_per_s"], 2),
        "decode_tokens_per_s_after_prompt": round(med["decode_tokens_per_s_after_prompt"], 2),
        "ttft_s": round(med["ttft_s"], 4),
        "turn2_ttft_s": round(med["turn2_ttft_s"], 4),
        "turn2_prompt_tokens": int(med["turn2_prompt_tokens"]),
        "turn2_prompt_tokens_evaluated": int(med["turn2_prompt_tokens_evaluated"]),
        "turn2_long_history_prompt_tokens": int(long_run["turn2_prompt_tokens"]),
        "turn2_long_history_ttft_s": round(long_run["turn2_ttft_s"], 4),
        "turn2_long_history_prompt_tokens_evaluated": int(
            long_run["turn2_prompt_tokens_evaluated"]
        ),
        "long_prompt_tokens": int(long_run["prompt_tokens"]),
        "decode_tokens_per_s_after_long_prompt": round(
            long_run["decode_tokens_per_s_after_prompt"], 2
        ),
        "runs": len(runs),
    }
    result["decode_depth"] = int(med["decode_depth"])
    if refs:
        ref = {k: statistics.median(r[k] for r in refs if k in r) for k in refs[0]}
        result.update({k: round(v, 2) for k, v in ref.items()})
        result["decode_runs_tokens_per_s"] = [round(r["decode_tokens_per_s"], 2) for r in runs]
        result["llama_bench_tg128_at_depth_runs"] = [
            round(r.get("llama_bench_tg128_at_depth", 0.0), 2) for r in refs
        ]
        if "llama_bench_pp512" in ref:
            result["prompt_ratio"] = round(med["prompt_tokens_per_s"] / ref["llama_bench_pp512"], 3)
        if "llama_bench_tg128_at_depth" in ref:
            result["decode_ratio"] = round(
                med["decode_tokens_per_s"] / ref["llama_bench_tg128_at_depth"], 3
            )
        if "llama_bench_tg128" in ref:
            result["decode_ratio_vs_tg128_empty"] = round(
                med["decode_tokens_per_s"] / ref["llama_bench_tg128"], 3
            )
    return result
