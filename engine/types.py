"""Plain data shared by every backend (local llama.cpp, remote OpenAI-compatible server)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant"]
StopReason = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass
class SamplingParams:
    temperature: float = 0.7  # 0 = greedy
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    seed: int = -1  # -1 = random
    max_tokens: int = 512


@dataclass(frozen=True)
class Passage:
    """A retrieved piece of a document, to be quoted in the prompt and cited as [n]."""

    label: str  # e.g. "manual.pdf, page 12"
    text: str


@dataclass(frozen=True)
class OutputFormat:
    """Output constrained while sampling (engine.structured turns it into a grammar):
    "json" any JSON object, "json_schema" a JSON value that validates against `schema`,
    "grammar" text in llama.cpp's GBNF (`grammar`)."""

    kind: Literal["json", "json_schema", "grammar"]
    schema: dict[str, Any] | None = None
    grammar: str = ""


@dataclass
class GenerationRequest:
    messages: list[ChatMessage]  # system (optional, first) + alternating turns, last is the user's
    sampling: SamplingParams = field(default_factory=SamplingParams)
    passages: list[Passage] = field(default_factory=list)
    request_id: int = 0
    ignore_eos: bool = False  # benchmarks (and the API's llama.cpp extension): max_tokens always
    # A raw completion (the API's /v1/completions): this text as it is, no chat template;
    # `messages` is then ignored.
    prompt: str = ""
    stop: list[str] = field(default_factory=list)  # the answer ends before any of these
    output: OutputFormat | None = None  # constrained output (JSON, a schema, a grammar)
    # Called on the engine's thread as the prompt is read: (tokens read, tokens to read), once
    # before the first batch and after each one. The window and the CLI show it as progress.
    on_prompt_progress: Callable[[int, int], None] | None = field(
        default=None, repr=False, compare=False
    )


@dataclass
class GenerationStats:
    prompt_tokens: int = 0  # tokens in the prompt as sent
    prompt_tokens_evaluated: int = 0  # tokens llama.cpp actually processed (rest reused from cache)
    generated_tokens: int = 0
    ttft_s: float = 0.0  # request start to first token
    prompt_s: float = 0.0
    decode_s: float = 0.0
    total_s: float = 0.0
    stop_reason: StopReason = "stop"
    turns_dropped: int = 0  # oldest turns left out to fit the context
    passages_used: int = 0  # retrieved passages that fitted beside the history
    n_ctx: int = 0
    context_used: int = 0  # tokens in the context after this turn

    @property
    def prompt_tokens_per_s(self) -> float:
        return self.prompt_tokens_evaluated / self.prompt_s if self.prompt_s > 0 else 0.0

    @property
    def decode_tokens_per_s(self) -> float:
        # The first token comes out of prompt processing; decode rate counts the rest.
        n = max(self.generated_tokens - 1, 0)
        return n / self.decode_s if self.decode_s > 0 and n else 0.0

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "prompt_tokens_evaluated": self.prompt_tokens_evaluated,
            "generated_tokens": self.generated_tokens,
            "ttft_s": round(self.ttft_s, 4),
            "prompt_tokens_per_s": round(self.prompt_tokens_per_s, 2),
            "decode_tokens_per_s": round(self.decode_tokens_per_s, 2),
            "total_s": round(self.total_s, 4),
            "stop_reason": self.stop_reason,
            "turns_dropped": self.turns_dropped,
            "passages_used": self.passages_used,
            "n_ctx": self.n_ctx,
            "context_used": self.context_used,
        }


@dataclass
class ModelInfo:
    """What a GGUF file says about itself (read from its header, without loading weights)."""

    path: str
    name: str
    architecture: str
    parameters: int
    file_type: str  # quantization, e.g. "Q4_1", "Q4_K_M", "F16"
    file_size: int
    context_length: int
    has_chat_template: bool
    chat_template: str = ""
    license: str = ""
    bundled: bool = False
    embedding: bool = False  # an encoder for embeddings (BERT family), not a chat model
    # Shapes that drive the memory estimate
    n_layer: int = 0
    n_embd: int = 0
    n_head: int = 0
    n_head_kv: int = 0


class StreamedGeneration:
    """A generation as both engines return it: iterate for text deltas; `stats` fills in as
    the iterator runs and is final once it ends."""

    def __init__(self, stats: GenerationStats, deltas: Iterator[str]) -> None:
        self.stats = stats
        self._it = deltas

    def __iter__(self) -> Iterator[str]:
        return self._it

    def text(self) -> str:
        """Run to the end and return the whole answer."""
        return "".join(self._it)


class Generation(Protocol):
    """Iterate to receive text deltas; `stats` is complete once iteration ends."""

    stats: GenerationStats

    def __iter__(self) -> Iterator[str]: ...


class ChatBackend(Protocol):
    """What the app needs from an inference engine. `LlamaEngine` implements it locally; a
    remote OpenAI-compatible server (llama.cpp's server, vLLM) can implement it too."""

    @property
    def model_info(self) -> ModelInfo | None: ...

    @property
    def n_ctx(self) -> int: ...

    def generate(self, request: GenerationRequest, cancel: threading.Event) -> Generation: ...

    def count_tokens(self, text: str) -> int: ...

    def reset(self) -> None:
        """Forget any cached prompt (a new conversation starts)."""
        ...

    def close(self) -> None: ...
