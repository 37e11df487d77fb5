"""`hearth bench chat|ui|ingest|retrieve|embed|download|serve`: benchmarks that print one JSON
object each.

Each benchmark lives in app/benchmarks/<name>.py with `add_arguments(parser)` and `run(args)`;
they are imported only when asked for, so `hearth --help` stays fast."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

BENCHMARKS = {
    "chat": ("app.benchmarks.chat", "decode and prompt tokens/s, time to first token, KV reuse"),
    "ui": ("app.benchmarks.ui", "window start-up, GUI stalls while streaming, flush cost"),
    "ingest": ("app.benchmarks.ingest", "document indexing throughput and memory"),
    "retrieve": ("app.benchmarks.retrieve", "query latency at the current library size"),
    "embed": ("app.benchmarks.embed", "embedding throughput (chunks/s, tokens/s)"),
    "download": ("app.benchmarks.download", "download speed against curl (same file)"),
    "serve": ("app.benchmarks.serve", "the API server against the engine: tokens/s, overhead"),
}
NEEDS_NO_MODEL = {"download"}


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="measure speed and memory (prints JSON)")
    bench_sub = bench.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    for name, (module_name, help_text) in BENCHMARKS.items():
        p = bench_sub.add_parser(name, help=help_text)
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            p.set_defaults(handler=_missing(name))
            continue
        module.add_arguments(p)
        p.set_defaults(handler=module.run if name in NEEDS_NO_MODEL else _with_models(module.run))


def _with_models(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A benchmark that measures a model: the default models are prepared first (on first
    use), so that their preparation is never part of a measurement."""

    def handler(args: argparse.Namespace) -> int:
        from app.user_library import first_use

        first_use()
        return run(args)

    return handler


def _missing(name: str):  # type: ignore[no-untyped-def]
    def handler(args: argparse.Namespace) -> int:
        raise SystemExit(f"hearth bench {name}: not available in this build")

    return handler
