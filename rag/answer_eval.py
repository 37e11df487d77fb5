"""Answer evaluation (`hearth docs eval --answers`): what a user gets back, not only which
pages were found. A benchmark, never a timed test.

For every question of the evaluation set (resources/eval/questions.json, README beside it):

- grounded: the answer holds the content words of the question's key phrase (taken from
  the page that answers it), at least `KEY_RECALL` of them;
- cited: a sentence of the answer cites a passage on the page that answers;
- answered / abstained: covered questions must get an answer, uncovered ones ("covered":
  false) the abstention;
- unsupported: sentences shown as fact that the support check (`rag.grounding`) cannot
  back with the passages given to the model;
- time to first token: from the question to the first text shown (retrieval included),
  and the model's own first token; prompt tokens.

Two ways of answering are measured with the same chat model:

- "plain": Hearth before grounded answers: the six fused passages in the prompt, the
  model's text shown as it is;
- "grounded": `rag.answer` (quotes first, then a checked sentence of the model).
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.types import ChatBackend, ChatMessage, GenerationRequest, OutputFormat, SamplingParams
from rag.answer import AnswerSentence, Plan, SentenceGate, answer_json, plan_answer
from rag.evaluate import SPLITS, Question
from rag.grounding import check, content_stems
from rag.library import Library
from rag.retrieve import Hit, to_passages
from rag.sentences import split_sentences

K = 6  # passages retrieved, as the app's default (Settings.rag_top_k)
KEY_RECALL = 0.8
PLAIN_MAX_TOKENS = 96
GROUNDED_MAX_TOKENS = 64
_ABSTAINED = re.compile(
    r"(do not|don't|does not|doesn't) (seem to )?(cover|contain|mention|answer)|not covered",
    re.I,
)
_CITES = re.compile(r"\[(\d+)\]")


def key_recall(key: str, answer: str) -> float:
    want = set(content_stems(key))
    if not want:
        return 0.0
    return len(want & set(content_stems(answer))) / len(want)


def _recall(q: Question, answer: str) -> float | None:
    """The key phrase's share in the answer; None for a question that has no key phrase (a
    user's own question set may give only the pages) or that the documents do not cover."""
    return key_recall(q.key, answer) if q.covered and q.key.strip() else None


def _covers(hit_file: str, page: int, path: Path, pages: Sequence[int]) -> bool:
    return hit_file == str(path) and page in pages


def _generate(
    engine: ChatBackend, request: GenerationRequest, t0: float
) -> tuple[str, Any, float | None]:
    """The model's text, its stats and when (seconds after t0) its first text came."""
    first: float | None = None
    parts: list[str] = []
    gen = engine.generate(request, threading.Event())
    for delta in gen:
        if first is None:
            first = time.perf_counter() - t0
        parts.append(delta)
    return "".join(parts), gen.stats, first


def plain_answer(
    lib: Library, engine: ChatBackend, q: Question, path: Path | None
) -> dict[str, Any]:
    t0 = time.perf_counter()
    config = lib.searcher.config
    lib.searcher.config = replace(config, sentences=False)  # the ranking before this work
    try:
        hits = lib.search(q.question, k=K)
    finally:
        lib.searcher.config = config
    request = GenerationRequest(
        [ChatMessage("user", q.question)],
        SamplingParams(temperature=0.0, max_tokens=PLAIN_MAX_TOKENS),
        to_passages(hits),
    )
    text, stats, first = _generate(engine, request, t0)
    used = hits[: stats.passages_used]
    sources = [s.text for h in used for s in split_sentences(h.text)]
    shown = [s.text for s in split_sentences(text) if content_stems(s.text)]
    unsupported = sum(1 for s in shown if not check(s, sources).supported)
    cited_pages = [used[int(n) - 1] for n in _CITES.findall(text) if 0 < int(n) <= len(used)]
    cited = path is not None and any(
        h.file == str(path) and any(h.covers_page(p) for p in q.pages) for h in cited_pages
    )
    return {
        "answer": text,
        "abstained": bool(_ABSTAINED.search(text)),
        "key_recall": _recall(q, text),
        "cited": cited,
        "unsupported": unsupported,
        "sentences": len(shown),
        "first_text_s": first,
        "model_ttft_s": stats.ttft_s,
        "prompt_tokens": stats.prompt_tokens,
    }


def grounded_answer(
    lib: Library, engine: ChatBackend | None, q: Question, path: Path | None
) -> dict[str, Any]:
    t0 = time.perf_counter()
    hits: list[Hit] = lib.search(q.question, k=K)
    plan: Plan = plan_answer(q.question, hits)
    first_text = time.perf_counter() - t0  # the quotes (or the abstention) are shown now
    gate: SentenceGate | None = None
    stats = None
    if engine is not None and not plan.abstained:
        gate = SentenceGate(plan)
        request = GenerationRequest(
            [ChatMessage("user", plan.prompt())],
            SamplingParams(temperature=0.0, max_tokens=GROUNDED_MAX_TOKENS),
            output=OutputFormat("grammar", grammar=plan.grammar()),
        )
        text, stats, _ = _generate(engine, request, t0)
        gate.feed(text)
        gate.finish()
    result = answer_json(plan, gate)
    shown: list[AnswerSentence] = plan.quote_sentences() + (gate.shown if gate else [])
    cited = path is not None and any(
        s.source is not None
        and _covers(
            plan.sources[s.source - 1].hit.file, plan.sources[s.source - 1].page, path, q.pages
        )  # fmt: skip
        for s in shown
    )
    return {
        "answer": result["answer"],
        "abstained": plan.abstained,
        "key_recall": _recall(q, result["answer"]),
        "cited": cited,
        "unsupported": sum(1 for r in result["sentences"] if r["source"] is None),
        "sentences": len(shown),
        "model_sentences_kept": len(gate.shown) if gate else 0,
        "model_sentences_dropped": len(gate.dropped) if gate else 0,
        "first_text_s": first_text,
        "model_ttft_s": stats.ttft_s + first_text if stats else None,
        "prompt_tokens": stats.prompt_tokens if stats else 0,
        "best_score": result["best_score"],
    }


def summarise(rows: Sequence[dict[str, Any]], questions: Sequence[Question]) -> dict[str, Any]:
    covered = [(r, q) for r, q in zip(rows, questions, strict=True) if q.covered]
    uncovered = [r for r, q in zip(rows, questions, strict=True) if not q.covered]
    answered = [r for r, _ in covered if not r["abstained"]]
    # grounded and cited count the questions that give a key phrase, and pages, to check
    keyed = [r for r, _ in covered if r["key_recall"] is not None]
    paged = [r for r, q in covered if q.pages]

    def mean(values: list[float]) -> float | None:
        return round(sum(values) / len(values), 3) if values else None  # None: nothing to measure

    def median(values: list[float | None]) -> float | None:
        got = [v for v in values if v is not None]
        return round(statistics.median(got), 2) if got else None

    return {
        "covered": len(covered),
        "uncovered": len(uncovered),
        "with_key": len(keyed),
        "grounded": mean([float(r["key_recall"] >= KEY_RECALL) for r in keyed]),
        "key_recall": mean([r["key_recall"] for r in keyed]),
        "cited": mean([float(r["cited"]) for r in paged]),
        "answered_covered": mean([float(not r["abstained"]) for r, _ in covered]),
        "abstained_uncovered": mean([float(r["abstained"]) for r in uncovered]),
        "unsupported_per_answer": mean([float(r["unsupported"]) for r in answered]),
        "median_first_text_s": median([r["first_text_s"] for r in rows]),
        "median_model_ttft_s": median([r["model_ttft_s"] for r in rows]),
        "median_prompt_tokens": median([r["prompt_tokens"] or None for r in rows]),
    }


def evaluate_answers(
    lib: Library,
    questions: Sequence[Question],
    files: dict[str, Path],
    engine: ChatBackend | None,
    ways: Sequence[str] = ("plain", "grounded"),
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every question answered each way; the summary overall and per split."""
    say = log or (lambda _msg: None)
    report: dict[str, Any] = {"ways": {}}
    for way in ways:
        rows: list[dict[str, Any]] = []
        for q in questions:
            path = files.get(q.file) if q.covered else None
            if way == "plain":
                if engine is None:
                    continue
                engine.reset()  # each question on its own, as a new chat
                row = plain_answer(lib, engine, q, path)
            else:
                if engine is not None:
                    engine.reset()
                row = grounded_answer(lib, engine, q, path)
            row["id"], row["split"] = q.id, q.split
            rows.append(row)
            say(f"  {way} {q.id}: recall {row['key_recall']}, abstained {row['abstained']}")
        if not rows:
            continue
        asked = [q for q in questions if way != "plain" or engine is not None]
        summary = {"all": summarise(rows, asked)}
        for split in SPLITS:
            pairs = [(r, q) for r, q in zip(rows, asked, strict=True) if q.split == split]
            if pairs:
                summary[split] = summarise([r for r, _ in pairs], [q for _, q in pairs])
        report["ways"][way] = {"summary": summary, "per_question": rows}
    if engine is not None and engine.model_info is not None:
        report["model"] = engine.model_info.name
    return report


def format_answers(report: dict[str, Any]) -> str:
    lines = [f"answers ({report.get('model', 'no chat model')}):"]
    cols = ("grounded", "cited", "answered_covered", "abstained_uncovered",
            "unsupported_per_answer", "median_first_text_s", "median_model_ttft_s",
            "median_prompt_tokens")  # fmt: skip
    lines.append(f"{'way':<18}" + "".join(f"{c[:14]:>16}" for c in cols))
    for way, data in report["ways"].items():
        for part, s in data["summary"].items():
            cells = "".join(f"{str(s.get(c)):>16}" for c in cols)
            lines.append(f"{way + ' ' + part:<18}{cells}")
    return "\n".join(lines)
