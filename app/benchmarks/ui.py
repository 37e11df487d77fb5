"""`hearth bench ui`: window start-up, GUI-thread stalls while streaming, cost of one flush.

Prints one JSON object:

* ``window_shown_s``: process start to the window's first paint (median of a few runs of
  ``python -m app.main --report-startup`` in a subprocess, offscreen), and which heavy
  modules were loaded by then (should be none).
* ``worst_stall_ms`` / ``worst_stall_loading_ms``: the longest gap seen by a GUI-thread
  QTimer ticking every 10 ms while the window streams the answer (``--tokens`` tokens from
  the default model) / while the model loads.
* ``flush_ms_at_1k`` / ``flush_ms_at_20k``: median time of one flush (append the buffered
  tokens to the streaming message, then let Qt lay out and paint) when the conversation
  already holds 1,000 / 20,000 characters. Flat means the view does not re-render history.
  ``store_update_ms_at_1k`` / ``_20k``: median time of one save of the streaming answer to
  the chat history (done about once a second; well under 250 ms is the need).
* ``prompt_ttft_s``, ``prompt_tokens_per_s``, ``worst_stall_prompt_ms``: a ~1,500-token
  prompt in a new chat, stopped at its first token: how long the window takes to read it
  and the longest GUI-thread gap meanwhile.
* ``ui_decode_tokens_per_s`` vs ``engine_decode_tokens_per_s``: the same greedy request
  through the window and directly on LlamaEngine, taking turns ``--rounds`` times (direct,
  window, direct, ..., direct; each window run is compared with the direct runs on either
  side of it); ``ui_overhead_pct`` is the median difference, ``ui_overhead_runs_pct`` each.
  The window streams once its documents thread is ready (``documents_ready_s`` after start):
  in the benchmark's fresh HEARTH_HOME that thread first prepares the embedding model, and
  that conversion, competing for the cores, was most of the 25 % once reported here.
* With ``--documents PATH...``: the window indexes those files in the background (as if
  dropped on it) while the same 10 ms GUI timer runs: ``documents.worst_stall_ms``,
  ``documents.stalls_over_100ms``, ``documents.p99_tick_ms``, pages, chunks, seconds. Once
  chunks are stored, a search is asked whenever none is waiting (at most one a second):
  ``documents.search_latency_worst_s`` / ``_median_s`` over ``documents.searches``; the
  documents thread answers between two ingestion steps (about 3 s or less was the target).

Everything runs in a temporary HEARTH_HOME: the user's chats and settings are not touched.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from app.benchmarks.gaps import GapMeter

STREAM_PROMPT = (
    "Write a very long and detailed story about a lighthouse keeper, at least 2000 words."
)
# About 1,500 tokens, as long as a question with six document passages and some history.
LONG_PROMPT = (
    " ".join(
        f"Entry {i}: the keeper logged the wind from the north-west, a falling tide and "
        f"{i % 7 + 2} litres of lamp oil burned before dawn."
        for i in range(1, 61)
    )
    + "\n\nSummarise the keeper's log in one sentence."
)
SAMPLE_BLOCK = (
    "## Notes\n\nHere is a short paragraph with **bold** text and `inline code`, followed by "
    "a list:\n\n- first item\n- second item\n\n```python\ndef add(a, b):\n    return a + b\n"
    "```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="", help="chat model name or path (default: bundled)")
    parser.add_argument("--tokens", type=int, default=500, help="tokens to stream (default 500)")
    parser.add_argument("--startup-runs", type=int, default=3)
    parser.add_argument("--flushes", type=int, default=200)
    parser.add_argument("--threads", type=int, default=0, help="engine threads (0 = default)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="window and bare engine take turns (default 3)"
    )
    parser.add_argument(
        "--skip-model", action="store_true", help="only start-up and flush cost (no model needed)"
    )
    parser.add_argument(
        "--documents",
        nargs="+",
        metavar="PATH",
        help="also index these files in the window and measure GUI stalls meanwhile",
    )


def run(args: argparse.Namespace) -> int:
    home = tempfile.mkdtemp(prefix="hearth-bench-ui-")
    os.environ["HEARTH_HOME"] = home
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    result: dict[str, Any] = {"platform": os.environ["QT_QPA_PLATFORM"]}
    result.update(measure_startup(args.startup_runs))

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["hearth-bench"])
    result.update(measure_flush(app, args.flushes))
    if not args.skip_model:
        from engine import runtime

        # The direct run decodes with the window's thread count (by default one core left
        # for the GUI; prompts get every core: app.engine_worker.default_engine_factory).
        threads = args.threads if args.threads > 0 else runtime.interactive_threads()
        result["threads"] = threads
        result["prompt_threads"] = args.threads if args.threads > 0 else runtime.default_threads()
        result.update(
            measure_streaming(app, args.model, args.tokens, args.threads, threads, args.rounds)
        )
    if args.documents:
        result["documents"] = measure_documents(app, [Path(p) for p in args.documents])
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


# -- start-up --------------------------------------------------------------------------


def measure_startup(runs: int) -> dict[str, Any]:
    times: list[float] = []
    heavy: list[str] = []
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    for _ in range(max(runs, 1)):
        t0 = time.time()
        out = subprocess.run(
            [sys.executable, "-m", "app.main", "--report-startup"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        if out.returncode != 0 or not lines:
            raise RuntimeError(f"start-up run failed: {out.stderr[-2000:]}")
        report = json.loads(lines[-1])
        times.append(report["first_paint_unix"] - t0)
        heavy = sorted(set(heavy) | set(report["heavy_modules"]))
    return {
        "window_shown_s": round(statistics.median(times), 3),
        "window_shown_runs_s": [round(t, 3) for t in times],
        "heavy_modules_at_first_paint": heavy,
    }


# -- flush cost ------------------------------------------------------------------------


def _history_rows(store: Any, chat_id: int, chars: int) -> None:
    text = ""
    turn = 0
    while len(text) < chars:
        block = SAMPLE_BLOCK
        store.add_message(chat_id, "user", f"Question {turn}: tell me more.")
        store.add_message(chat_id, "assistant", block * 3)
        text += block * 3
        turn += 1


def _store_update_ms(store: Any, chat_id: int, updates: int = 50) -> float:
    """Median milliseconds of one save of an answer that grows as it streams (the window
    saves it about once a second), in a chat that already holds the history."""
    mid = store.add_message(chat_id, "assistant", "", status="incomplete")
    text = ""
    costs: list[float] = []
    for i in range(updates):
        text += f" token{i}" * 20
        t0 = time.perf_counter()
        store.update_message(mid, content=text)
        costs.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(costs), 3)


def measure_flush(app: Any, flushes: int) -> dict[str, Any]:
    from app.main import build_gui

    out: dict[str, Any] = {}
    for label, chars in (("1k", 1_000), ("20k", 20_000)):
        gui = build_gui(engine_factory=_no_engine, interactive_errors=False)
        try:
            gui.window.resize(1100, 760)
            gui.window.show()
            chat_id = gui.store.create_chat(f"bench {label}")
            _history_rows(gui.store, chat_id, chars)
            gui.controller.open_chat(chat_id)
            mid = gui.store.add_message(chat_id, "assistant", "", status="incomplete")
            row = next(r for r in gui.store.messages(chat_id) if r.id == mid)
            view = gui.window.chat_view
            view.load_all()  # the whole history is in the view before measuring
            view.add_message(row)
            _settle(app)
            deltas = [" word" if i % 9 else " `x`,\n\nMore" for i in range(flushes)]
            costs: list[float] = []
            for delta in deltas:
                t0 = time.perf_counter()
                view.append_delta(mid, delta + " and so")
                app.processEvents()  # layout and paint of what changed
                costs.append((time.perf_counter() - t0) * 1000)
                time.sleep(0.002)
            out[f"flush_ms_at_{label}"] = round(statistics.median(costs), 3)
            out[f"flush_p95_ms_at_{label}"] = round(sorted(costs)[int(0.95 * len(costs))], 3)
            out[f"history_chars_{label}"] = sum(len(r.content) for r in gui.store.messages(chat_id))
            out[f"store_update_ms_at_{label}"] = _store_update_ms(gui.store, chat_id)
        finally:
            gui.close()
            _settle(app)
    return out


def _no_engine(model_path: str, **options: Any) -> Any:
    from engine.errors import ModelLoadError

    raise ModelLoadError("The flush benchmark does not load a model.")


def _settle(app: Any, seconds: float = 0.2) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)


# -- streaming -------------------------------------------------------------------------


SEARCH_WHILE_INDEXING = "How is this configured?"


def measure_documents(app: Any, files: list[Path]) -> dict[str, Any]:
    """Index `files` through the window's documents thread in a fresh HEARTH_HOME, with the
    GUI-thread gap meter running from the drop to the last document's final status, and
    searches asked meanwhile."""
    from PySide6.QtCore import QTimer

    from app.main import build_gui

    home = tempfile.mkdtemp(prefix="hearth-bench-ui-docs-")
    os.environ["HEARTH_HOME"] = home
    meter = GapMeter()
    gui = build_gui(interactive_errors=False)
    asked: dict[int, float] = {}
    latencies: list[float] = []
    try:
        gui.window.show()
        _settle(app)
        docs = gui.controller.docs

        def finished() -> bool:
            rows = list(docs.rows.values())
            return bool(rows) and all(r.status in ("ready", "failed") for r in rows)

        def answered(rid: int, _hits: list) -> None:
            if rid in asked:
                latencies.append(time.perf_counter() - asked.pop(rid))

        def ask() -> None:
            if not asked and not finished() and any(r.embedded for r in docs.rows.values()):
                asked[docs.retrieve(SEARCH_WHILE_INDEXING, 6)] = time.perf_counter()

        docs.retrieved.connect(answered)
        searches = QTimer()
        searches.setInterval(1000)
        searches.timeout.connect(ask)
        meter.start()
        t0 = time.perf_counter()
        docs.add([p.resolve() for p in files])
        searches.start()
        _wait(app, finished, 7200)
        searches.stop()
        seconds = time.perf_counter() - t0
        worst = meter.stop()
        rows = list(docs.rows.values())
    finally:
        gui.close()
        shutil.rmtree(home, ignore_errors=True)
    return {
        "searches": len(latencies),
        "search_latency_worst_s": round(max(latencies, default=0.0), 3),
        "search_latency_median_s": round(statistics.median(latencies), 3) if latencies else 0.0,
        "files": [str(p) for p in files],
        "pages": sum(r.pages for r in rows),
        "chunks": sum(r.chunks for r in rows),
        "statuses": sorted({r.status for r in rows}),
        "seconds": round(seconds, 1),
        "worst_stall_ms": worst,
        "stalls_over_100ms": meter.over(0.1),
        "p99_tick_ms": meter.percentile_ms(0.99),
        "ticks": len(meter.ticks),
        "stall_sites": meter.sites[:5],
    }


def _wait(app: Any, done: Any, timeout_s: float) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: loop.quit() if done() else None)
    timer.start()
    deadline = time.perf_counter() + timeout_s
    while not done() and time.perf_counter() < deadline:
        loop.exec()
    timer.stop()
    if not done():
        raise TimeoutError("the benchmark timed out")


def _direct_rate(model_path: str, tokens: int, threads: int) -> dict[str, Any]:
    from engine.llama_engine import LlamaEngine
    from engine.types import ChatMessage, GenerationRequest, SamplingParams

    engine = LlamaEngine(model_path, n_ctx=4096, n_threads=threads)
    try:
        request = GenerationRequest(
            [ChatMessage("user", STREAM_PROMPT)],
            SamplingParams(temperature=0.0, max_tokens=tokens, seed=1),
        )
        generation = engine.generate(request, threading.Event())
        for _ in generation:
            pass
        return generation.stats.as_dict()
    finally:
        engine.close()


def _start_window(app: Any, gui: Any, meter: GapMeter) -> tuple[float, list, float]:
    """Show the window, load the model (the worst GUI gap meanwhile and where it was) and wait
    for the documents thread to open its library: in a fresh HEARTH_HOME it first prepares
    the embedding model (about 15 s of conversion and timing on every core), which must not
    run while the streaming is measured. Returns (worst gap ms, its sites, seconds until the
    documents thread was ready)."""
    gui.window.show()
    _settle(app)
    docs = gui.controller.docs
    opened: list[bool] = []
    if docs is not None:
        docs.documentsChanged.connect(lambda: opened.append(True))
        docs.stateChanged.connect(lambda state: opened.append(state == "error"))
    meter.start()  # from here on the GUI thread only waits while the model loads
    t0 = time.perf_counter()
    gui.controller.start()
    _wait(app, lambda: gui.controller.model_state.value in ("ready", "failed"), 300)
    stall, sites = meter.stop(), meter.sites[:5]
    if gui.controller.model_state.value != "ready":
        raise RuntimeError(gui.controller.model_text)
    _wait(app, lambda: docs is None or bool(opened), 600)
    return stall, sites, round(time.perf_counter() - t0, 2)


def _stream_once(
    app: Any, gui: Any, meter: GapMeter, prompt: str, stop_at_first: bool = False
) -> tuple[dict[str, Any], float, list]:
    """Send `prompt` in a new chat (nothing cached) and wait for the answer (or, with
    `stop_at_first`, press Stop at its first token). Returns the answer's stats, the worst
    GUI-thread gap meanwhile (ms) and where the thread was during the longest gaps."""
    controller = gui.controller
    controller.new_chat()
    finished: list[int] = []
    done = controller.generationFinished.connect(lambda mid, _reason: finished.append(mid))
    stop = controller.streamDelta.connect(lambda *_: controller.stop()) if stop_at_first else None
    meter.start()
    controller.send(prompt)
    _wait(app, lambda: bool(finished), 600)
    stall, sites = meter.stop(), meter.sites[:5]
    controller.generationFinished.disconnect(done)
    if stop is not None:
        controller.streamDelta.disconnect(stop)
    return gui.store.message(finished[0]).stats, stall, sites


def _overheads(directs: list[float], streams: list[dict[str, Any]]) -> dict[str, Any]:
    """Each window run against the mean of the direct runs just before and after it (they
    alternate, so a change in the machine's load hits both alike); medians over the rounds."""
    ui = [float(s.get("decode_tokens_per_s", 0.0)) for s in streams]
    engine = [(directs[i] + directs[i + 1]) / 2 for i in range(len(ui))]
    pct = [100 * (e - u) / e for e, u in zip(engine, ui, strict=True) if e]
    return {
        "rounds": len(ui),
        "ui_decode_tokens_per_s": round(statistics.median(ui), 2),
        "engine_decode_tokens_per_s": round(statistics.median(engine), 2),
        "ui_decode_runs_tokens_per_s": ui,
        "engine_decode_runs_tokens_per_s": directs,
        "ui_overhead_pct": round(statistics.median(pct), 2) if pct else None,
        "ui_overhead_runs_pct": [round(p, 2) for p in pct],
    }


def measure_streaming(
    app: Any, model: str, tokens: int, setting: int, threads: int, rounds: int = 3
) -> dict[str, Any]:
    """setting: Settings.n_threads for the window (0 = automatic); threads: for the direct
    runs, the window's decoding threads. The window's stream and the bare engine take turns,
    `rounds` times (direct, window, direct, window, ..., direct)."""
    from app.main import build_gui
    from app.paths import get_paths
    from app.settings import Settings
    from engine.catalog import Catalog
    from engine.types import SamplingParams

    os.environ["HEARTH_HOME"] = tempfile.mkdtemp(prefix="hearth-bench-ui-stream-")
    paths = get_paths().ensure()  # a fresh home: start-up opens no long chat
    info = Catalog(paths.models).resolve(model)
    settings = Settings(
        default_model=info.path,
        n_ctx=4096,
        n_threads=setting,
        system_prompt="",
        sampling=SamplingParams(temperature=0.0, max_tokens=tokens, seed=1),
    )
    settings.save(paths.settings_file)

    def direct() -> float:  # the window's event loop waits meanwhile: nothing else runs
        return float(_direct_rate(info.path, tokens, threads)["decode_tokens_per_s"])

    directs = [direct()]
    streams: list[tuple[dict[str, Any], float, list]] = []
    meter = GapMeter()
    gui = build_gui(interactive_errors=False)
    try:
        loading_stall, loading_sites, documents_ready_s = _start_window(app, gui, meter)
        for turn in range(max(rounds, 1)):
            if turn:
                directs.append(direct())
            streams.append(_stream_once(app, gui, meter, STREAM_PROMPT))
        # A long prompt in a new chat, stopped at its first token: how long the window reads
        # it, and how the GUI thread fares meanwhile.
        prompt_stats, prompt_stall, prompt_sites = _stream_once(
            app, gui, meter, LONG_PROMPT, stop_at_first=True
        )
    finally:
        gui.close()
    directs.append(direct())
    worst = max(streams, key=lambda s: s[1])
    return {
        "model": info.name,
        "tokens_streamed": streams[0][0].get("generated_tokens"),
        "worst_stall_ms": worst[1],
        "worst_stall_loading_ms": loading_stall,
        "stall_sites_streaming": worst[2],
        "stall_sites_loading": loading_sites,
        **_overheads(directs, [s[0] for s in streams]),
        "ui_ttft_s": streams[0][0].get("ttft_s"),
        "documents_ready_s": documents_ready_s,
        "prompt_tokens": prompt_stats.get("prompt_tokens_evaluated"),
        "prompt_ttft_s": prompt_stats.get("ttft_s"),
        "prompt_tokens_per_s": prompt_stats.get("prompt_tokens_per_s"),
        "worst_stall_prompt_ms": prompt_stall,
        "stall_sites_prompt": prompt_sites,
    }
