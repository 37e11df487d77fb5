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
    from engine.types import ChatBackend, ChatMessage, GenerationStats, OutputFormat, SamplingParams


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="chat in the terminal (one prompt, or interactive)")
    p.add_argument("prompt", nargs="?", help="answer this and exit; without it, chat interactively")
    add_model_arguments(p)
    p.add_argument("--system", help="system prompt (default: from settings)")
    p.add_argument(
        "--json-schema",
        metavar="FILE",
        help="answer with JSON that validates against this JSON schema (constrained sampling)",
    )
    p.add_argument("--stats", action="store_true", help="print generation stats to stderr")
    p.set_defaults(handler=run)


def add_model_arguments(p: argparse.ArgumentParser, remote: bool = True) -> None:
    """The options that choose and tune the model; `remote`: also --server and --api-key."""
    p.add_argument("-m", "--model", help="model name or GGUF path (default: from settings)")
    p.add_argument("--ctx", type=int, help="context length in tokens")
    p.add_argument("--threads", type=int, help="CPU threads (default: physical cores)")
    p.add_argument("--gpu-layers", type=int, help="layers to offload to the GPU (-1 = all)")
    p.add_argument("--temperature", type=float, help="0 = greedy")
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--seed", type=int)
    if remote:
        p.add_argument(
            "--server",
            metavar="URL",
            help="use a model on an OpenAI-compatible server (llama.cpp's server, vLLM, "
            "another Hearth's `hearth serve`); -m names the server's model",
        )
        p.add_argument("--api-key", help="the server's API key (default: from settings)")


def sampling_from(args: argparse.Namespace, settings: Settings) -> SamplingParams:
    s = settings.copy().sampling
    if args.temperature is not None:
        s.temperature = args.temperature
    if args.max_tokens is not None:
        s.max_tokens = args.max_tokens
    if args.seed is not None:
        s.seed = args.seed
    return s


def model_settings(args: argparse.Namespace) -> Settings:
    """The settings file with the preset of the model this command uses applied (as the
    window applies it, `app.presets`): its context, GPU layers, system prompt and sampling;
    the command's own options still win. A model on a server (--server) has no preset."""
    from app.presets import with_preset

    settings = Settings.load(get_paths().settings_file)
    if getattr(args, "server", None):
        return settings
    return with_preset(settings, model_name(args, settings))


def model_name(args: argparse.Namespace, settings: Settings) -> str:
    """The model a command uses: its --model, else the settings' default ("" = the bundled
    default chat model)."""
    return getattr(args, "model", None) or settings.default_model


def open_engine(args: argparse.Namespace, settings: Settings) -> ChatBackend:
    """The chat backend the options (or else the settings) choose, made by the registry
    (engine/backends.py): a model on this computer, or one on a server (--server URL, or
    Settings ▸ Engine)."""
    from engine import backends

    server = getattr(args, "server", None)
    kind = backends.kind(backends.OPENAI if server else settings.backend)
    api_key = getattr(args, "api_key", None)
    options = {
        "n_ctx": args.ctx or settings.n_ctx,
        "n_threads": args.threads if args.threads is not None else settings.n_threads,
        "n_gpu_layers": args.gpu_layers if args.gpu_layers is not None else settings.n_gpu_layers,
        "n_batch": settings.n_batch,
        "api_key": api_key if api_key is not None else settings.remote_api_key,
    }
    if kind.local:
        from app.user_library import first_use
        from engine.catalog import Catalog

        paths = get_paths()
        first_use(paths.models)
        target = Catalog(paths.models).resolve(model_name(args, settings)).path
    else:
        target = server or settings.remote_base_url
        options["model"] = args.model or ("" if server else settings.remote_model)
        options["n_ctx"] = args.ctx or 0  # the server's own context unless --ctx caps it
    return backends.create(kind.name, target, **options)


def output_from(args: argparse.Namespace) -> OutputFormat | None:
    """--json-schema FILE, read and checked before any model is loaded."""
    import json
    from pathlib import Path

    from engine.errors import InvalidRequestError
    from engine.structured import output_from_schema

    if not getattr(args, "json_schema", None):
        return None
    try:
        schema = json.loads(Path(args.json_schema).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidRequestError(f"Cannot read the JSON schema {args.json_schema}: {exc}") from exc
    except ValueError as exc:
        raise InvalidRequestError(f"{args.json_schema} is not valid JSON: {exc}") from exc
    return output_from_schema(schema)


def stream_answer(
    engine: ChatBackend,
    messages: list[ChatMessage],
    sampling: SamplingParams,
    out: object = sys.stdout,
    passages: list | None = None,
    output: OutputFormat | None = None,
) -> tuple[str, GenerationStats]:
    """Generate on a worker thread so Ctrl+C cancels at once, even mid-prompt."""
    from app.prompt_progress import stderr_progress
    from engine.types import GenerationRequest

    cancel = threading.Event()
    request = GenerationRequest(messages, sampling, passages or [], output=output)
    request.on_prompt_progress = stderr_progress(len(passages or []))
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
    from app.conversation import answer_text
    from engine.errors import InvalidRequestError
    from engine.types import ChatMessage

    settings = model_settings(args)
    system = args.system if args.system is not None else settings.system_prompt
    sampling = sampling_from(args, settings)
    if args.prompt is not None and not args.prompt.strip():
        raise InvalidRequestError("The prompt is empty.")
    output = output_from(args)  # an unusable schema is refused before the model loads
    engine = open_engine(args, settings)
    try:
        history: list[ChatMessage] = [ChatMessage("system", system)] if system else []
        if args.prompt is not None:
            question = [*history, ChatMessage("user", args.prompt)]
            _, stats = stream_answer(engine, question, sampling, output=output)
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
            answer, stats = stream_answer(engine, history, sampling, output=output)
            print()
            history.append(ChatMessage("assistant", answer_text(answer)))  # no <think>
            if args.stats or stats.stop_reason == "cancelled" or stats.turns_dropped:
                print_stats(stats)
    finally:
        engine.close()
