"""`hearth ask QUESTION`: a grounded answer from the document library (`rag.answer`).

The quotes that answer the question are printed as soon as retrieval has found them, each
with its citation; then the chat model's one-sentence summary, printed only once the
passages are found to back it (a sentence they do not back is left out, and `--json` lists
it under "dropped"). When the documents do not cover the question, it says so and lists the
closest passages instead of answering. `--plain` answers as Hearth did before: the model's
text over six whole passages, unchecked.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.settings import Settings
    from engine.types import ChatBackend, GenerationStats
    from rag.answer import Plan, SentenceGate


def add_arguments(ask: argparse.ArgumentParser) -> None:
    ask.add_argument(
        "--quotes-only", action="store_true", help="only the quoted sentences; no chat model"
    )
    ask.add_argument(
        "--plain",
        action="store_true",
        help="the model's own answer over whole passages (unchecked)",
    )


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    """`hearth docs eval`'s options for the answer evaluation (rag.answer_eval)."""
    p.add_argument("--only", nargs="+", metavar="TEXT", help="questions whose file id holds TEXT")
    p.add_argument(
        "--answers",
        nargs="*",
        choices=["plain", "grounded"],
        help="also evaluate answers (a benchmark: slow), plain and/or grounded (default both)",
    )
    p.add_argument("-m", "--model", help="chat model for --answers (default: from settings)")
    p.add_argument(
        "--quotes-only", action="store_true", help="--answers grounded without a chat model"
    )


def print_sources(plan: Plan, out: Any = sys.stdout) -> None:
    if not plan.sources:
        return
    print("\nClosest passages:" if plan.abstained else "\nSources:", file=out)
    for n, src in enumerate(plan.sources, start=1):
        print(f"[{n}] {src.label()}", file=out)
        if plan.abstained:
            text = " ".join(src.hit.text.split())
            print("    " + text[:300] + ("…" if len(text) > 300 else ""), file=out)


def write_model_sentence(
    engine: ChatBackend, plan: Plan, settings: Settings, args: argparse.Namespace, show: bool
) -> tuple[SentenceGate, GenerationStats]:
    """The model's summary, constrained to the quotes' words; each sentence is printed once
    it is complete and backed by its passage."""
    from app.commands.chat import sampling_from
    from app.prompt_progress import stderr_progress
    from engine.types import ChatMessage, GenerationRequest, OutputFormat
    from rag.answer import SentenceGate, model_line

    sampling = sampling_from(args, settings)
    sampling.max_tokens = min(sampling.max_tokens, 64)
    messages = [ChatMessage("system", settings.system_prompt)] if settings.system_prompt else []
    messages.append(ChatMessage("user", plan.prompt()))
    request = GenerationRequest(
        messages, sampling, output=OutputFormat("grammar", grammar=plan.grammar())
    )
    request.on_prompt_progress = stderr_progress(len(plan.quotes))
    gate = SentenceGate(plan)
    gen = engine.generate(request, threading.Event())
    lead = "\nIn short: "
    for delta in gen:
        for sentence in gate.feed(delta):
            if show:
                print(lead + model_line([sentence]), end="", flush=True)
                lead = " "
    for sentence in gate.finish():
        if show:
            print(lead + model_line([sentence]), end="", flush=True)
            lead = " "
    if show and lead == " ":
        print()
    return gate, gen.stats


def run_grounded(args: argparse.Namespace, settings: Settings, hits: list, t0: float) -> int:
    """Answer from `hits` (scored by rag.evidence); `t0`: when the question was asked."""
    from app.commands.chat import open_engine, print_stats
    from rag.answer import answer_json, plan_answer

    plan = plan_answer(args.question.strip(), hits)
    shown_s = time.perf_counter() - t0
    if not args.json:
        print(plan.preamble(markdown=False), flush=True)
    gate, stats = None, None
    if not plan.abstained and not args.quotes_only:
        engine = open_engine(args, settings)
        try:
            gate, stats = write_model_sentence(engine, plan, settings, args, not args.json)
        finally:
            engine.close()
    if args.json:
        result = answer_json(plan, gate)
        result["retrieved"] = len(hits)
        result["timings"] = {"quotes_shown_s": round(shown_s, 3)}
        result["stats"] = stats.as_dict() if stats else None
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    print_sources(plan)
    if gate is not None and gate.dropped:
        print(
            f"({len(gate.dropped)} sentence(s) of the model were left out: the passages do "
            "not back them.)",
            file=sys.stderr,
        )
    if stats is not None and getattr(args, "stats", False):
        print_stats(stats)
    return 0
