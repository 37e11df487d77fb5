"""The chat engine on the real bundled models (SmolLM2-135M Q4_1, Gemma 3 270M base)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine.catalog import Catalog
from engine.errors import InvalidRequestError, ModelFileError, ModelNotFoundError
from engine.llama_engine import LlamaEngine
from engine.types import ChatMessage, GenerationRequest, SamplingParams

GREEDY = SamplingParams(temperature=0.0, max_tokens=24)
# Greedy on the model's own logits (no repetition penalty), to compare with a reference.
RAW_GREEDY = SamplingParams(temperature=0.0, max_tokens=24, repeat_penalty=1.0)
# Logits this close count as tied: the same weights computed with other thread counts (or
# another CPU's kernels) differ by far less; a broken computation by far more.
TIE = 0.5


@pytest.fixture(scope="module")
def smol(smollm2_path: Path):
    with LlamaEngine(smollm2_path, n_ctx=4096) as engine:
        yield engine


def ask(engine: LlamaEngine, messages: list[ChatMessage], sampling=GREEDY, cancel=None):
    gen = engine.generate(GenerationRequest(messages, sampling), cancel or threading.Event())
    return gen.text(), gen.stats


def test_greedy_is_deterministic_and_uses_the_chat_template(smol: LlamaEngine) -> None:
    msgs = [
        ChatMessage("system", "You are concise."),
        ChatMessage("user", "Name a primary colour."),
    ]
    prompt = smol.format_chat(msgs)
    # SmolLM2's own template (ChatML markers) from the GGUF metadata, ending in the answer slot.
    assert smol.template_source == "gguf"
    assert "<|im_start|>system\nYou are concise.<|im_end|>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    smol.reset()
    first, stats = ask(smol, msgs)
    smol.reset()
    second, _ = ask(smol, msgs)
    assert first.strip(), "greedy generation produced no text"
    assert first == second
    assert stats.generated_tokens > 0
    assert stats.prompt_tokens == len(smol.tokenize_chat(msgs))


def test_gemma_base_uses_the_architecture_fallback_template(gemma_path: Path) -> None:
    with LlamaEngine(gemma_path, n_ctx=1024) as gemma:
        assert not gemma.model_info.has_chat_template
        assert gemma.template_source == "builtin:gemma"
        msgs = [ChatMessage("user", "What is the capital of France?")]
        prompt = gemma.format_chat(msgs)
        assert "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>" in prompt
        assert prompt.rstrip().endswith("<start_of_turn>model")
        assert "[INST]" not in prompt
        text, stats = ask(gemma, msgs, SamplingParams(temperature=0.0, max_tokens=24))
        assert text.strip()
        assert "<start_of_turn>" not in text
        assert stats.generated_tokens > 0


class StopWhileReading(threading.Event):
    """Stop, pressed while llama.cpp reads the prompt: the event sets itself when the engine
    has asked it `polls` times (once before each prompt batch, then from llama.cpp's abort
    callback between the steps of a batch), so the stop lands inside the first batch on any
    machine, however fast, with no sleep in the test."""

    def __init__(self, polls: int = 20) -> None:
        super().__init__()
        self.left = polls

    def is_set(self) -> bool:
        if not super().is_set():
            self.left -= 1
            if self.left <= 0:
                self.set()
        return super().is_set()


def test_cancel_while_a_long_prompt_is_processed(smol: LlamaEngine) -> None:
    long_text = " ".join(f"Item {i} is a line of an inventory list." for i in range(300))
    msgs = [ChatMessage("user", long_text + "\nHow many items are there?")]
    assert len(smol.tokenize_chat(msgs)) > 3000  # seconds of prompt processing on a laptop CPU
    smol.reset()
    cancel = StopWhileReading()
    text, stats = ask(smol, msgs, GREEDY, cancel)
    assert cancel.left <= 0  # the engine polled it while reading: the abort callback
    assert stats.stop_reason == "cancelled"
    assert text == "" and stats.generated_tokens == 0
    # Stopped inside the first of eight prompt batches, not after reading the prompt:
    # llama.cpp counts that batch's 512 tokens, but none of the prompt stays in the context.
    assert stats.prompt_tokens_evaluated <= smol.n_batch < stats.prompt_tokens
    assert stats.context_used == 0
    # The engine is immediately usable again.
    text, stats2 = ask(smol, [ChatMessage("user", "Say hello.")])
    assert text.strip() and stats2.stop_reason in ("stop", "length")


def assert_same_greedy_up_to_a_tie(
    model_path: Path, engine: LlamaEngine, msgs: list[ChatMessage], a: str, b: str
) -> None:
    """Two greedy answers from differently threaded computations are the same text, or part
    where the two likeliest next tokens are within TIE of each other (which one wins is
    then rounding: flash attention sums in another order with another thread count)."""
    if a == b:
        return
    import numpy as np
    from llama_cpp import Llama
    from reference.ties import first_divergence, near_tie

    prompt = engine.tokenize_chat(msgs)
    ids_a = engine.tokenize(a, add_special=False, parse_special=False)
    ids_b = engine.tokenize(b, add_special=False, parse_special=False)
    part = first_divergence(ids_a, ids_b)
    assert part < min(len(ids_a), len(ids_b)), (a, b)  # one is not a cut-off of the other
    n_ctx = len(prompt) + part + 16
    llm = Llama(str(model_path), n_ctx=n_ctx, n_threads=2, logits_all=True, verbose=False)
    try:
        llm.eval(prompt + ids_a[:part])
        logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
    finally:
        llm.close()
    for token in (ids_a[part], ids_b[part]):
        assert near_tie(logits, token, TIE), (part, a, b)


def test_the_windows_engine_reads_prompts_on_every_core_and_answers_the_same(
    smollm2_path: Path,
) -> None:
    """The window's engine (Settings' automatic threads) decodes on one core fewer than the
    machine has and reads prompts on all of them, with a thread pool for each; the answer is
    the one a single pool with as many decode threads gives, and Stop still ends a prompt at
    once. (Not the `smol` fixture's: with another number of decode threads, flash attention
    splits the cache between threads and sums in another order, and a greedy near-tie can
    go either way. Even with the same decode threads the prompt is read by another number
    of threads, so a near-tie may still part the answers: allowed, and checked to be one.)"""
    from app.engine_worker import default_engine_factory
    from engine import runtime

    engine = default_engine_factory(str(smollm2_path), n_ctx=4096, n_threads=0)
    try:
        assert isinstance(engine, LlamaEngine)
        assert engine.threads == runtime.interactive_threads()
        assert engine.threads_batch == runtime.default_threads()
        assert len(engine._threadpool) == (2 if engine.threads_batch != engine.threads else 1)
        text = " ".join(f"Shelf {i} holds {i % 5 + 1} jars of honey." for i in range(60))
        msgs = [ChatMessage("user", text + "\nWhich shelf holds the most jars?")]
        assert len(engine.tokenize_chat(msgs)) > 700  # two prompt batches of 512
        with LlamaEngine(smollm2_path, n_ctx=4096, n_threads=engine.threads) as single:
            assert single.threads_batch == engine.threads and len(single._threadpool) == 1
            answers = [ask(e, msgs, RAW_GREEDY)[0] for e in (engine, single)]
        assert answers[0].strip()
        assert_same_greedy_up_to_a_tie(smollm2_path, engine, msgs, *answers)

        long_msgs = [ChatMessage("user", text * 4)]  # about 2,900 tokens
        cancel = StopWhileReading()
        _, stats = ask(engine, long_msgs, GREEDY, cancel)
        assert stats.stop_reason == "cancelled" and stats.generated_tokens == 0
        assert stats.prompt_tokens_evaluated <= engine.n_batch < stats.prompt_tokens
    finally:
        engine.close()  # type: ignore[attr-defined]


def test_cancel_between_tokens(smol: LlamaEngine) -> None:
    cancel = threading.Event()
    gen = smol.generate(
        GenerationRequest(
            [ChatMessage("user", "Count from one to fifty in words.")],
            SamplingParams(temperature=0.0, max_tokens=200),
        ),
        cancel,
    )
    got = []
    for delta in gen:
        got.append(delta)
        if len(got) == 5:
            cancel.set()
    assert gen.stats.stop_reason == "cancelled"
    assert gen.stats.generated_tokens == 5


def test_conversation_longer_than_the_context_still_answers(smollm2_path: Path) -> None:
    with LlamaEngine(smollm2_path, n_ctx=512) as engine:
        history: list[ChatMessage] = [ChatMessage("system", "You are a helpful assistant.")]
        for i in range(30):
            history.append(ChatMessage("user", f"Tell me fact number {i} about the ocean, please."))
            history.append(
                ChatMessage("assistant", f"Fact {i}: the ocean covers most of Earth. " * 3)
            )
        history.append(ChatMessage("user", "What colour is the ocean?"))
        assert len(engine.tokenize_chat(history)) > 512
        sampling = SamplingParams(temperature=0.0, max_tokens=64)
        text, stats = ask(engine, history, sampling)
        assert text.strip()
        assert stats.turns_dropped > 0
        assert stats.prompt_tokens <= 512 - 64
        assert stats.context_used <= 512


def test_second_turn_only_processes_its_new_tokens(smol: LlamaEngine) -> None:
    smol.reset()
    turn1 = [
        ChatMessage("system", "You are a helpful assistant."),
        ChatMessage("user", "Give me three tips for sleeping well."),
    ]
    answer, s1 = ask(smol, turn1, SamplingParams(temperature=0.0, max_tokens=48))
    assert s1.prompt_tokens_evaluated == s1.prompt_tokens  # nothing cached before
    turn2 = [
        *turn1,
        ChatMessage("assistant", answer),
        ChatMessage("user", "And for waking up early?"),
    ]
    p1 = smol.tokenize_chat(turn1)
    p2 = smol.tokenize_chat(turn2)
    _, s2 = ask(smol, turn2)
    # llama.cpp's own counters: only the tail after the cached prefix was processed. The
    # cached prefix covers turn 1's prompt and (nearly all of) the generated answer.
    new_user_tokens = (
        len(p2) - len(smol.tokenize_chat([*turn1, ChatMessage("assistant", answer)])) + 4
    )
    assert 1 <= s2.prompt_tokens_evaluated <= len(p2) - len(p1)
    assert s2.prompt_tokens_evaluated <= new_user_tokens + 8
    assert s2.prompt_tokens == len(p2)


def test_empty_prompt_is_refused(smol: LlamaEngine) -> None:
    with pytest.raises(InvalidRequestError):
        ask(smol, [ChatMessage("user", "   ")])


def test_truncated_gguf_gives_a_typed_error(smollm2_path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "truncated.gguf"
    data = smollm2_path.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError) as err:
        LlamaEngine(bad)
    assert "truncated.gguf" in err.value.user_message
    assert "incomplete" in err.value.user_message


def test_text_file_renamed_gguf_gives_a_typed_error(tmp_path: Path) -> None:
    bad = tmp_path / "notes.gguf"
    bad.write_text("These are my notes, not a model.\n" * 10)
    with pytest.raises(ModelFileError) as err:
        LlamaEngine(bad)
    assert "notes.gguf" in err.value.user_message
    assert "not a GGUF" in err.value.user_message


def test_header_truncated_inside_metadata(smollm2_path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "cut.gguf"
    bad.write_bytes(smollm2_path.read_bytes()[:5000])  # ends inside the token list
    with pytest.raises(ModelFileError):
        LlamaEngine(bad)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError) as err:
        LlamaEngine(tmp_path / "nowhere.gguf")
    assert "not found" in err.value.user_message


def test_unknown_model_name_lists_installed(models_dir: Path) -> None:
    with pytest.raises(ModelNotFoundError) as err:
        Catalog(models_dir).resolve("no-such-model-xyz")
    assert "SmolLM2-135M-Instruct.Q4_1" in err.value.user_message


def test_a_model_is_found_by_its_file_name_too(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hearth chat -m SmolLM2-135M-Instruct.Q4_1.gguf`, typed from another folder, names the
    installed model; a path that does not exist is still "not found"."""
    monkeypatch.chdir(tmp_path)
    catalog = Catalog(models_dir)
    assert catalog.resolve("SmolLM2-135M-Instruct.Q4_1.gguf").name == "SmolLM2-135M-Instruct.Q4_1"
    with pytest.raises(ModelFileError, match="not found"):
        catalog.resolve(str(tmp_path / "elsewhere" / "SmolLM2-135M-Instruct.Q4_1.gguf"))
    with pytest.raises(ModelNotFoundError):
        catalog.resolve("no-such-model.gguf")


def test_the_prompt_reports_how_far_it_is_read(smol: LlamaEngine) -> None:
    """A long prompt is read in steps and each step is reported (the window and the CLI show
    it before the first token): from 0 to all of it, never backwards; then the answer."""
    smol.reset()
    words = " ".join(f"The lighthouse keeper wrote note number {i}." for i in range(120))
    seen: list[tuple[int, int]] = []
    request = GenerationRequest(
        [ChatMessage("user", words + " Summarise the notes.")],
        SamplingParams(temperature=0.0, max_tokens=8),
        on_prompt_progress=lambda done, total: seen.append((done, total)),
    )
    gen = smol.generate(request, threading.Event())
    text = gen.text()
    total = seen[0][1]
    assert total == gen.stats.prompt_tokens_evaluated > 900
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert len(seen) >= 5 and all(a[0] < b[0] for a, b in zip(seen, seen[1:], strict=False))
    assert text.strip()
