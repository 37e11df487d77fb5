"""The window's document turn, grounded (`rag.answer`): the quotes that answer are shown as
soon as the documents thread has found them, then the chat model's one sentence, shown only
once its passage backs it; when the documents do not cover the question, the abstention
and the closest passages, and the model is not asked at all. GUI thread; used by
`app.turns.TurnRunner`, which stays the owner of the answer in flight.

Follow-up questions: the engine keeps the KV cache of the conversation it was sent, so the
history of a grounded chat is rebuilt as it was sent (`sent_history`): each earlier
question as the prompt with its quotes, each earlier answer as the model's own text. The
next prompt then starts with what the model has already read, and only the new question
with its quotes is processed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from app.conversation import Tree, build_history
from app.store import ChatStore, MessageRow
from engine.types import ChatMessage, GenerationRequest, OutputFormat
from rag.answer import Plan, SentenceGate, compose, model_line, plan_answer
from rag.evidence import Quote

MODEL_MAX_TOKENS = 64  # one sentence


class GroundedTurn:
    """One grounded answer: its plan, the gate its model text passes, what was shown."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.gate = SentenceGate(plan)
        self.model_text = ""  # as the model wrote it (the next turn's history)
        self._lead = "\n\nIn short: "

    @classmethod
    def start(cls, question: str, hits: Sequence[Any]) -> GroundedTurn:
        return cls(plan_answer(question, list(hits)))

    @property
    def needs_model(self) -> bool:
        return not self.plan.abstained

    def preamble(self) -> str:
        """Shown at once: the quotes with their citations, or the abstention."""
        return self.plan.preamble()

    def feed(self, delta: str) -> str:
        """Model text in; the text to show (checked sentences only) out."""
        self.model_text += delta
        return self._show(self.gate.feed(delta))

    def finish(self) -> str:
        return self._show(self.gate.finish())

    def _show(self, sentences: list[Any]) -> str:
        if not sentences:
            return ""
        text = self._lead + model_line(sentences)
        self._lead = " "
        return text

    def final_text(self) -> str:
        return compose(self.plan, self.gate.shown)

    def sources(self) -> list[dict[str, Any]]:
        return self.plan.sources_dicts()

    def stats(self) -> dict[str, Any]:
        """Kept with the answer: how it was made, and the model's own text for the next
        turn's history (`sent_history`)."""
        return {
            "grounded": True,
            "abstained": self.plan.abstained,
            "model_sentences_dropped": len(self.gate.dropped),
            "model_text": self.model_text,
        }

    def request(self, base: GenerationRequest, history: list[ChatMessage]) -> GenerationRequest:
        """The engine request: the history as it was sent, the question with its quotes,
        one sentence under the quotes' grammar."""
        sampling = dataclasses.replace(base.sampling)
        sampling.max_tokens = min(sampling.max_tokens, MODEL_MAX_TOKENS)
        messages = [*history, ChatMessage("user", self.plan.prompt())]
        grammar = OutputFormat("grammar", grammar=self.plan.grammar())
        return GenerationRequest(messages, sampling, output=grammar)


def _prompt_of(question: str, sources: list[dict[str, Any]]) -> str | None:
    """The prompt a grounded turn sent, rebuilt from its stored sources (quotes in the order
    they were numbered), or None when it quoted nothing."""
    numbered = [
        (Quote(str(q), 0, 0, 0.0), n)
        for n, src in enumerate(sources, start=1)
        for q in (src.get("quotes") or [])
    ]
    if not numbered:
        return None
    return Plan(question, False, [], numbered, 0.0).prompt()


def sent_rows(rows: Sequence[MessageRow]) -> list[MessageRow]:
    """The path as the engine was sent it: a grounded answer's question becomes the prompt
    with its quotes, the answer the model's own text (so llama.cpp's cached prefix matches)."""
    out = list(rows)
    for i, row in enumerate(out):
        stats = row.stats if isinstance(row.stats, dict) else {}
        if row.role != "assistant" or not stats.get("grounded") or i == 0:
            continue
        question = out[i - 1]
        prompt = _prompt_of(question.content, row.sources or [])
        if question.role != "user" or prompt is None:
            continue
        out[i - 1] = dataclasses.replace(question, content=prompt)
        out[i] = dataclasses.replace(row, content=str(stats.get("model_text") or row.content))
    return out


def sent_history(
    store: ChatStore, chat_id: int, question_id: int, system_prompt: str
) -> list[ChatMessage]:
    """The history before question `question_id`, as it was sent (see `sent_rows`)."""
    path = Tree(store.messages(chat_id)).path(question_id)
    return build_history(sent_rows(path[:-1]), system_prompt)
