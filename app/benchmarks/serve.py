"""`hearth bench serve`: what the API server costs on top of the engine.

Prints one JSON object. In each round, alternately on the same machine:

- direct: one answer straight from an engine in this process, as `hearth bench chat`
  measures decode_tokens_per_s ("Hi", greedy, no repetition penalty, --decode-tokens tokens
  with the end-of-text token ignored);
- api: the same request streamed through `hearth serve`'s ApiServer and engine thread on a
  loopback port, read by a plain http.client client. Its decode rate is the client's: tokens
  after the first over the time from the first to the last chunk.
  http_first_token_overhead_ms is the first token as the client sees it minus the engine's
  own time to first token for that request: parsing, the queue hand-off to the engine
  thread, writing and reading the event;
- concurrent: --streams clients streaming at once (one engine thread answers them in turn,
  first come first served): aggregate tokens per second from the first request sent to the
  last token received.

Each figure is the median of --runs rounds after one warm-up round.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import threading
import time
from typing import Any

from app.gateway import EngineThread, ObservedGateway
from engine.types import ChatMessage, GenerationRequest, GenerationStats, SamplingParams


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", "-m", default="", help="model name or GGUF path (default model)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: physical cores)")
    p.add_argument("--ctx", type=int, default=2048)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--decode-tokens", type=int, default=128)
    p.add_argument("--streams", type=int, default=4, help="concurrent clients")


def _stream(port: int, model: str, tokens: int) -> dict[str, float]:
    """One streamed chat completion; client-side times and the server's token count."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Hi"}],
        "temperature": 0,
        "repeat_penalty": 1.0,
        "max_tokens": tokens,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t_send = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", json.dumps(body).encode())
    resp = conn.getresponse()
    t_first = t_last = 0.0
    generated = 0
    while line := resp.readline():
        if not line.startswith(b"data: {"):
            continue
        event = json.loads(line[6:])
        if event.get("usage"):
            generated = int(event["usage"]["completion_tokens"])
        for choice in event.get("choices") or []:
            if (choice.get("delta") or {}).get("content"):
                t_last = time.perf_counter()
                t_first = t_first or t_last
    conn.close()
    rate = (generated - 1) / (t_last - t_first) if t_last > t_first else 0.0
    return {"send": t_send, "first": t_first, "last": t_last, "tokens": generated, "rate": rate}


def _direct(engine: Any, tokens: int) -> GenerationStats:
    greedy = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=tokens)
    request = GenerationRequest([ChatMessage("user", "Hi")], greedy, ignore_eos=True)
    gen = engine.generate(request, threading.Event())
    gen.text()
    return gen.stats


def _concurrent(port: int, model: str, tokens: int, streams: int) -> float:
    results: list[dict[str, float]] = []
    workers = [
        threading.Thread(target=lambda: results.append(_stream(port, model, tokens)))
        for _ in range(streams)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    start = min(r["send"] for r in results)
    end = max(r["last"] for r in results)
    return sum(r["tokens"] for r in results) / (end - start)


def _round(direct: Any, api: Any, ended: list[GenerationStats], args: argparse.Namespace) -> dict:
    model = api.gateway.models().chat
    own = _direct(direct, args.decode_tokens)
    client = _stream(api.port, model, args.decode_tokens)
    engine_side = ended[-1]
    client_ttft = client["first"] - client["send"]
    return {
        "direct_decode_tokens_per_s": own.decode_tokens_per_s,
        "api_decode_tokens_per_s": client["rate"],
        "api_vs_direct": client["rate"] / own.decode_tokens_per_s,
        "engine_ttft_ms": engine_side.ttft_s * 1000,
        "api_ttft_ms": client_ttft * 1000,
        "http_first_token_overhead_ms": (client_ttft - engine_side.ttft_s) * 1000,
        "aggregate_tokens_per_s": _concurrent(api.port, model, args.decode_tokens, args.streams),
    }


def run(args: argparse.Namespace) -> int:
    from app.api_server import ApiServer, ServerConfig
    from app.paths import get_paths
    from engine.catalog import Catalog
    from engine.llama_engine import LlamaEngine

    info = Catalog(get_paths().models).resolve(args.model)
    sys.setswitchinterval(0.001)  # as `hearth serve` runs

    def load() -> LlamaEngine:
        return LlamaEngine(info.path, n_ctx=args.ctx, n_threads=args.threads)

    direct = load()
    engine = EngineThread(load)
    ended: list[GenerationStats] = []  # engine-side stats of each API answer, in order
    api = ApiServer(ServerConfig(port=0), ObservedGateway(engine, ended.append))
    api.start()
    try:
        _round(direct, api, ended, args)  # warm-up: page in weights, settle the threads
        rounds = [_round(direct, api, ended, args) for _ in range(max(1, args.runs))]
    finally:
        api.stop()
        engine.close()
        threads = direct.threads
        direct.close()
    result: dict[str, Any] = {
        "model": info.path,
        "threads": threads,
        "decode_tokens": args.decode_tokens,
        "streams": args.streams,
        "runs": len(rounds),
    }
    for key in rounds[0]:
        result[key] = round(statistics.median(r[key] for r in rounds), 3)
    result["api_vs_direct_runs"] = [round(r["api_vs_direct"], 3) for r in rounds]
    result["http_first_token_overhead_ms_runs"] = [
        round(r["http_first_token_overhead_ms"], 2) for r in rounds
    ]
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0
