"""`hearth chat [PROMPT]`: stream an answer in the terminal, or an interactive chat."""

from __future__ import annotations

import argparse
import queue
import sys
import threading
from typing import TYPE_CHECKING

from app.paths import get_paths
from app.settings import Settings

if TYPE_CHECKING:
    from engine.llama_engine import LlamaEngine
    from engine.types import ChatMessage, GenerationStats, SamplingParams


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="chat in the terminal (one prompt, or interactive)")
    p.add_argument("prompt", nargs="?", help="answer this and exit; without it, chat interactively")
    add_model_arguments(p)
    p.add_argument("--system", help="system prompt (default: from settings)")
    p.add_argument("--stats", action="store_true", help="print generation stats to stderr")
    p.set_defaults(handler=run)


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--model", help="model name or GGUF path (default: from settings)")
    p.add_argument("--ctx", type=int, help="context length in tokens")
    p.add_argument("--threads", type=int, help="CPU threads (default: physical cores)")
    p.add_argument("--gpu-layers", type=int, help="layers to offload to the GPU (-1 = all)")
    p.add_argument("--temperature", type=float, help="0 = greedy")
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--seed", type=int)


def sampling_from(args: argparse.Namespace, settings: Settings) -> SamplingParams:
    s = settings.copy().sampling
    if args.temperature is not None:
        s.temperature = args.temperature
    if args.max_tokens is not None:
        s.max_tokens = args.max_tokens
    if args.seed is not None:
        s.seed = args.seed
    return s


def open_engine(args: argparse.Namespace, settings: Settings) -> LlamaEngine:
    from app.user_library import first_use
    from engine.catalog import Catalog
    from engine.llama_engine import LlamaEngine

    paths = get_paths()
    first_use(paths.models)
    info = Catalog(paths.models).resolve(args.model or settings.default_model)
    return LlamaEngine(
        info.path,
        n_ctx=args.ctx or settings.n_ctx,
        n_threads=args.threads if args.threads is not None else settings.n_threads,
        n_gpu_layers=args.gpu_layers if args.gpu_layers is not None else settings.n_gpu_layers,
        n_batch=settings.n_batch,
    )


def stream_answer(
    engine: LlamaEngine,
    messages: list[ChatMessage],
    sampling: SamplingParams,
    out: object = sys.stdout,
    passages: list | None = None,
) -> tuple[str, GenerationStats]:
    """Generate on a worker thread so Ctrl+C cancels at once, even mid-prompt."""
    from engine.types import GenerationRequest

    cancel = threading.Event()
    request = GenerationRequest(messages, sampling, passages or [])
    events: queue.Queue[tuple[str, object]] = queue.Queue()

    def work() -> None:
        try:
            gen = engine.generate(request, cancel)
            for delta in gen:
                events.put(("delta", delta))
            events.put(("done", gen.stats))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread to raise
            events.put(("error", exc))

    worker = threading.Thread(target=work, name="hearth-generate", daemon=True)
    worker.start()
    parts: list[str] = []
    write = out.write  # type: ignore[attr-defined]
    flush = out.flush  # type: ignore[attr-defined]
    while True:
        try:
            kind, value = events.get()
        except KeyboardInterrupt:
            cancel.set()
            continue
        if kind == "delta":
            parts.append(str(value))
            write(str(value))
            flush()
        elif kind == "error":
            worker.join()
            raise value  # type: ignore[misc]
        else:
            worker.join()
            return "".join(parts), value  # type: ignore[return-value]


def print_stats(stats: GenerationStats) -> None:
    print(
        f"[{stats.generated_tokens} tokens, {stats.decode_tokens_per_s:.1f} tok/s, "
        f"first token {stats.ttft_s:.2f} s, prompt {stats.prompt_tokens} tokens "
        f"({stats.prompt_tokens_evaluated} processed), context {stats.context_used}/{stats.n_ctx}"
        + (f", {stats.turns_dropped} old turns left out" if stats.turns_dropped else "")
        + (", stopped" if stats.stop_reason == "cancelled" else "")
        + "]",
        file=sys.stderr,
    )


def run(args: argparse.Namespace) -> int:
    from engine.errors import InvalidRequestError
    from engine.types import ChatMessage

    paths = get_paths()
    settings = Settings.load(paths.settings_file)
    system = args.system if args.system is not None else settings.system_prompt
    sampling = sampling_from(args, settings)
    if args.prompt is not None and not args.prompt.strip():
        raise InvalidRequestError("The prompt is empty.")
    engine = open_engine(args, settings)
    try:
        history: list[ChatMessage] = [ChatMessage("system", system)] if system else []
        if args.prompt is not None:
            _, stats = stream_answer(engine, [*history, ChatMessage("user", args.prompt)], sampling)
            print()
            if args.stats:
                print_stats(stats)
            return 0
        info = engine.model_info
        print(
            f"Chatting with {info.name} ({info.file_type}). Ctrl+C stops an answer; "
            "Ctrl+D or /exit leaves; /reset starts over.",
            file=sys.stderr,
        )
        while True:
            try:
                line = input("\n> ")
            except EOFError:
                print(file=sys.stderr)
                return 0
            except KeyboardInterrupt:
                print(file=sys.stderr)
                continue
            text = line.strip()
            if not text:
                continue
            if text in ("/exit", "/quit"):
                return 0
            if text == "/reset":
                history = history[:1] if history and history[0].role == "system" else []
                engine.reset()
                continue
            history.append(ChatMessage("user", text))
            answer, stats = stream_answer(engine, history, sampling)
            print()
            history.append(ChatMessage("assistant", answer))
            if args.stats or stats.stop_reason == "cancelled" or stats.turns_dropped:
                print_stats(stats)
    finally:
        engine.close()
