"""A scripted fake engine for tests that are about the UI wiring, not about generation.

It implements engine.types.ChatBackend and is driven by the real EngineWorker on the real
engine thread; only the text it produces is scripted."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ModelLoadError
from engine.types import GenerationRequest, GenerationStats, ModelInfo


@dataclass
class Script:
    replies: list[list[str]] = field(default_factory=lambda: [["Hello", ",", " world", "!"]])
    token_delay_s: float = 0.0
    prompt_delay_s: float = 0.0
    load_delay_s: float = 0.0
    # A load that waits until the test sets this: "still loading" for as long as the test
    # needs, on any machine (a test that sets it must also set it when it fails: the engine
    # thread is stopped at the end of every test).
    load_gate: threading.Event | None = None
    ignore_cancel_tokens: int = 0  # tokens still produced after cancel (a stubborn engine)
    # A stubborn engine that goes on producing tokens after cancel until the test sets this.
    stubborn_until: threading.Event | None = None
    fail_load: str = ""
    turns_dropped: int = 0  # reported by every generation, as when the context is full
    # With a gate, the prompt is reported half read (of prompt_tokens) until the test sets it.
    prompt_gate: threading.Event | None = None
    prompt_tokens: int = 600
    requests: list[GenerationRequest] = field(default_factory=list)
    loads: list[dict] = field(default_factory=list)
    closed: int = 0


class FakeGeneration:
    def __init__(self, script: Script, pieces: list[str], cancel: threading.Event, n_ctx: int):
        self.script, self.pieces, self.cancel = script, pieces, cancel
        self.stats = GenerationStats(
            n_ctx=n_ctx, prompt_tokens=10, turns_dropped=script.turns_dropped
        )

    def __iter__(self) -> Iterator[str]:
        t0 = time.perf_counter()
        deadline = t0 + self.script.prompt_delay_s
        while time.perf_counter() < deadline:
            if self.cancel.is_set():
                self.stats.stop_reason = "cancelled"
                return
            time.sleep(0.005)
        extra = self.script.ignore_cancel_tokens
        stubborn = self.script.stubborn_until
        for i, piece in enumerate(self.pieces):
            if self.cancel.is_set() and (stubborn is None or stubborn.is_set()):
                if extra <= 0:
                    self.stats.stop_reason = "cancelled"
                    break
                extra -= 1
            if self.script.token_delay_s:
                time.sleep(self.script.token_delay_s)
            if i == 0:
                self.stats.ttft_s = time.perf_counter() - t0
            self.stats.generated_tokens += 1
            yield piece
        self.stats.total_s = time.perf_counter() - t0
        self.stats.decode_s = max(self.stats.total_s - self.stats.ttft_s, 1e-6)
        self.stats.context_used = 10 + self.stats.generated_tokens


class FakeEngine:
    def __init__(self, script: Script, model_path: str, n_ctx: int = 4096, **options: int):
        script.loads.append({"model_path": model_path, "n_ctx": n_ctx, **options})
        if script.load_delay_s:
            time.sleep(script.load_delay_s)
        if script.load_gate is not None:
            script.load_gate.wait()
        if script.fail_load:
            raise ModelLoadError(script.fail_load, "details of the failure")
        self.script = script
        self._n_ctx = n_ctx
        self._info = ModelInfo(
            path=model_path,
            name="Fake-1B",
            architecture="fake",
            parameters=1,
            file_type="Q4_0",
            file_size=1,
            context_length=n_ctx,
            has_chat_template=True,
        )

    @property
    def model_info(self) -> ModelInfo:
        return self._info

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    def generate(self, request: GenerationRequest, cancel: threading.Event) -> FakeGeneration:
        self.script.requests.append(request)
        progress, gate, n = (
            request.on_prompt_progress,
            self.script.prompt_gate,
            self.script.prompt_tokens,
        )
        if progress is not None and gate is not None:
            progress(0, n)
            progress(n // 2, n)
            gate.wait(30)
            progress(n, n)
        index = min(len(self.script.requests) - 1, len(self.script.replies) - 1)
        return FakeGeneration(self.script, list(self.script.replies[index]), cancel, self._n_ctx)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def close(self) -> None:
        self.script.closed += 1


def fake_resolver(model: str, models_dir: str) -> ModelInfo:
    """Any name is a model (for tests that drive EngineHost without real files)."""
    return ModelInfo(
        path=model,
        name=model,
        architecture="fake",
        parameters=1,
        file_type="Q4_0",
        file_size=1,
        context_length=4096,
        has_chat_template=True,
    )


def fake_factory(script: Script) -> Callable[..., FakeEngine]:
    def factory(model_path: str, **options: int) -> FakeEngine:
        return FakeEngine(script, model_path, **options)

    return factory


def wait_ready(qtbot: Any, gui: Any, timeout_ms: int = 30000) -> None:
    qtbot.waitUntil(
        lambda: gui.controller.model_state.value in ("ready", "failed"), timeout=timeout_ms
    )
    assert gui.controller.model_state.value == "ready", gui.controller.model_text
