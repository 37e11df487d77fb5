"""Local inference with llama.cpp through llama-cpp-python's C bindings.

Why the C API rather than `llama_cpp.Llama`: `Llama` keeps an `n_batch x n_vocab` float array
even without logits_all (100 MB for SmolLM2, over 500 MB for Gemma's 262k vocabulary) and does
per-token Python work in its generate loop. Here one batch call per prompt chunk, sampling in
llama.cpp's own sampler chain, and a few ctypes calls per token keep decode speed at
llama.cpp's own.

One thread uses an engine at a time (the app's engine thread). `cancel` is a threading.Event
that the token loop checks between tokens and that llama.cpp's abort callback checks while a
prompt is processed, so Stop works at once even during a long prompt.

Consecutive turns reuse the KV cache: the tokens in the context are remembered and only the
part of a new prompt after the common prefix is processed.
"""

from __future__ import annotations

import codecs
import ctypes
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from engine import runtime
from engine.catalog import header_cached, model_info
from engine.closing import ClosedWhenCollected
from engine.errors import GenerationError, InvalidRequestError, ModelFileError, ModelLoadError
from engine.load_probe import ensure_loadable
from engine.prompt import builtin_template_name, fit_prompt, render_template
from engine.sampling import ChainSampler, GrammarSampler
from engine.stop_strings import cut_at_stops
from engine.structured import grammar_for
from engine.template_sandbox import RenderCancelled
from engine.types import (
    ChatMessage,
    GenerationRequest,
    GenerationStats,
    ModelInfo,
    SamplingParams,
    StreamedGeneration,
)

log = logging.getLogger(__name__)

MIN_CTX = 256
PENALTY_LAST_N = 64
DEFAULT_SEED = 0xFFFFFFFF  # LLAMA_DEFAULT_SEED: random


def _chat_model_info(path: Path) -> ModelInfo:
    """The file's header, checked against what llama.cpp asserts on (engine.gguf_check), and
    its first load proven in a child process (engine.load_probe)."""
    info = model_info(path)
    if info.embedding:
        raise ModelFileError(
            f"{path.name} is an embedding model, not a chat model. Choose a chat model.",
            f"{path}: architecture {info.architecture}",
        )
    ensure_loadable(header_cached(path))
    return info


def _load_model_and_context(
    lc: Any,
    path: Path,
    n_gpu_layers: int,
    n_ctx: int,
    n_batch: int,
    threads: int,
    threads_batch: int,
) -> tuple[Any, Any]:
    """llama.cpp's model and its one context (one sequence), or ModelLoadError saying why."""
    mparams = lc.llama_model_default_params()
    mparams.n_gpu_layers = 999 if n_gpu_layers < 0 else n_gpu_layers
    runtime.take_recent_errors()
    model = lc.llama_model_load_from_file(str(path).encode("utf-8"), mparams)
    if not model:
        raise ModelLoadError(
            f"llama.cpp could not load {path.name}. The file may be damaged, or made for a "
            "newer llama.cpp than this version of Hearth.",
            runtime.take_recent_errors() or str(path),
        )
    cparams = lc.llama_context_default_params()
    cparams.n_ctx = n_ctx
    cparams.n_batch = n_batch
    cparams.n_ubatch = n_batch
    cparams.n_seq_max = 1
    cparams.n_threads = threads
    cparams.n_threads_batch = threads_batch
    cparams.no_perf = False
    ctx = lc.llama_init_from_model(model, cparams)
    if not ctx:
        lc.llama_model_free(model)
        raise ModelLoadError(
            f"Not enough memory for {path.name} with a context of {n_ctx} tokens. "
            "Try a smaller context length or a smaller model.",
            runtime.take_recent_errors(),
        )
    return model, ctx


def progress_step(to_read: int, n_batch: int) -> int:
    """Tokens per llama_decode call while progress is reported: a long prompt in about eight
    steps (so a 1,300-token document question moves in ~160-token steps), never fewer than
    128 tokens (smaller batches read a prompt measurably slower) nor more than n_batch."""
    return max(1, min(n_batch, max(128, -(-to_read // 8))))


class LlamaEngine(ClosedWhenCollected):
    """A chat model loaded in llama.cpp. Implements engine.types.ChatBackend."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 4096,
        n_threads: int = 0,
        n_gpu_layers: int = 0,
        n_batch: int = 512,
        n_threads_batch: int = 0,
    ) -> None:
        """n_threads: threads for generating tokens one at a time (0 = physical cores);
        n_threads_batch: for reading a prompt, in batches (0 = as n_threads). The window gives
        the prompt every core and the token loop one core fewer (app.engine_worker)."""
        path = Path(model_path)
        info = _chat_model_info(path)
        train_ctx = info.context_length or n_ctx or 4096
        n_ctx = train_ctx if n_ctx <= 0 else min(n_ctx, train_ctx)
        if n_ctx < MIN_CTX:
            raise InvalidRequestError(f"The context length must be at least {MIN_CTX} tokens.")
        n_batch = max(32, min(n_batch, n_ctx))
        self.threads = n_threads if n_threads > 0 else runtime.default_threads()
        self.threads_batch = n_threads_batch if n_threads_batch > 0 else self.threads
        self._info = info
        self._n_ctx = n_ctx
        self.n_batch = n_batch
        self.n_gpu_layers = n_gpu_layers

        lc = runtime.llama()
        self._lc = lc
        t0 = time.perf_counter()
        model, ctx = _load_model_and_context(
            lc, path, n_gpu_layers, n_ctx, n_batch, self.threads, self.threads_batch
        )
        self._model = model
        self._ctx = ctx
        self._threadpool = runtime.attach_threadpool(ctx, self.threads, self.threads_batch)
        self._vocab = lc.llama_model_get_vocab(model)
        self._mem = lc.llama_get_memory(ctx)
        self._n_vocab = lc.llama_vocab_n_tokens(self._vocab)
        self._cached: list[int] = []  # tokens whose keys/values are in the context, in order
        self._active_cancel: threading.Event | None = None
        self._render_cancel: threading.Event | None = None  # Stop while the template renders
        # Keep references to both callbacks: llama.cpp only holds raw pointers.
        self._abort_cb = lc.ggml_abort_callback(self._should_abort)
        self._no_abort_cb = lc.ggml_abort_callback()  # NULL
        self._piece_buf = ctypes.create_string_buffer(256)
        self._bos_text = self._special_text(lc.llama_vocab_bos(self._vocab))
        self._eos_text = self._special_text(lc.llama_vocab_eos(self._vocab))
        self._add_bos = bool(lc.llama_vocab_get_add_bos(self._vocab))
        self._builtin_template = (
            "" if info.chat_template else builtin_template_name(info.architecture)
        )
        self.load_s = time.perf_counter() - t0

    # -- ChatBackend -------------------------------------------------------------------

    @property
    def model_info(self) -> ModelInfo:
        return self._info

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    @property
    def template_source(self) -> str:
        """ "gguf" when the model's own template is used, else llama.cpp's built-in name."""
        return "gguf" if not self._builtin_template else f"builtin:{self._builtin_template}"

    def generate(self, request: GenerationRequest, cancel: threading.Event) -> StreamedGeneration:
        if self._ctx is None:
            raise GenerationError("The model has been unloaded.")
        # A schema or grammar that cannot be used is refused here, before any work.
        grammar = grammar_for(request.output) if request.output is not None else ""
        stats = GenerationStats(n_ctx=self._n_ctx)
        deltas = self._run(request, cancel, stats, grammar)
        return StreamedGeneration(stats, cut_at_stops(deltas, request.stop, stats))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text, add_special=False, parse_special=False))

    def reset(self) -> None:
        """Forget the KV cache (the next prompt is processed from the start)."""
        if self._ctx is not None:
            self._lc.llama_memory_clear(self._mem, True)
        self._cached = []

    def close(self) -> None:
        if self._ctx is not None:
            self._lc.llama_free(self._ctx)
            self._ctx = None
            runtime.free_threadpool(self._threadpool)  # after the context that used it
            self._threadpool = []
        if self._model is not None:
            self._lc.llama_model_free(self._model)
            self._model = None

    # -- Tokens and templates ------------------------------------------------------------

    def tokenize(
        self, text: str, add_special: bool = True, parse_special: bool = True
    ) -> list[int]:
        lc = self._lc
        raw = text.encode("utf-8")
        cap = len(raw) + 8
        buf = (lc.llama_token * cap)()
        n = lc.llama_tokenize(self._vocab, raw, len(raw), buf, cap, add_special, parse_special)
        if n < 0:
            cap = -n
            buf = (lc.llama_token * cap)()
            n = lc.llama_tokenize(self._vocab, raw, len(raw), buf, cap, add_special, parse_special)
        return list(buf[:n])

    def _piece(self, token: int, special: bool = False) -> bytes:
        lc = self._lc
        n = lc.llama_token_to_piece(self._vocab, token, self._piece_buf, 256, 0, special)
        if n < 0:
            big = ctypes.create_string_buffer(-n)
            n = lc.llama_token_to_piece(self._vocab, token, big, -n, 0, special)
            return big.raw[:n]
        return self._piece_buf.raw[:n]

    def _special_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._piece(token, special=True).decode("utf-8", errors="replace")

    def format_chat(self, messages: list[ChatMessage]) -> str:
        """The prompt text for a conversation, ending with the assistant's turn opening."""
        if not self._builtin_template:
            return render_template(
                self._info.chat_template,
                messages,
                self._bos_text,
                self._eos_text,
                True,
                cancel=self._render_cancel,
            )
        return self._apply_builtin_template(messages)

    def _apply_builtin_template(self, messages: list[ChatMessage]) -> str:
        lc = self._lc
        encoded = [(m.role.encode(), m.content.encode("utf-8")) for m in messages]
        chat = (lc.llama_chat_message * len(encoded))()
        for i, (role, content) in enumerate(encoded):
            chat[i].role = role
            chat[i].content = content
        tmpl = self._builtin_template.encode()
        size = sum(len(c) for _, c in encoded) * 2 + 256
        buf = ctypes.create_string_buffer(size)
        n = lc.llama_chat_apply_template(tmpl, chat, len(encoded), True, buf, size)
        if n > size:
            buf = ctypes.create_string_buffer(n + 1)
            n = lc.llama_chat_apply_template(tmpl, chat, len(encoded), True, buf, n + 1)
        if n < 0:
            raise GenerationError(
                "llama.cpp has no chat format for this model.", f"template {self._builtin_template}"
            )
        return buf.raw[:n].decode("utf-8", errors="replace")

    def tokenize_chat(self, messages: list[ChatMessage]) -> list[int]:
        text = self.format_chat(messages)
        # Templates usually write the BOS text themselves; add it only when they do not.
        add_bos = self._add_bos and not (self._bos_text and text.startswith(self._bos_text))
        return self.tokenize(text, add_special=add_bos, parse_special=True)

    # -- Generation ----------------------------------------------------------------------

    def _should_abort(self, _data: Any) -> bool:
        ev = self._active_cancel
        return ev is not None and ev.is_set()

    def _make_sampler(
        self, s: SamplingParams, grammar: str, prompt: list[int]
    ) -> ChainSampler | GrammarSampler:
        """llama.cpp's sampler chain (penalties, top-k, ..., the pick), with the grammar
        beside it when there is one (`engine.sampling`: only the picked token is checked,
        the whole vocabulary only when the grammar refuses it)."""
        lc = self._lc
        constrained = None
        if grammar:
            runtime.take_recent_errors()
            constrained = lc.llama_sampler_init_grammar(self._vocab, grammar.encode(), b"root")
            if not constrained:  # llama.cpp logs the parse error and returns NULL
                raise InvalidRequestError(
                    "The grammar for this output format is not valid GBNF.",
                    runtime.take_recent_errors() or grammar[:2000],
                )
        chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        if s.repeat_penalty > 0 and abs(s.repeat_penalty - 1.0) > 1e-6:
            penalties = lc.llama_sampler_init_penalties(
                self._n_vocab, PENALTY_LAST_N, s.repeat_penalty, 0.0, 0.0
            )
            # The penalty remembers the end of the prompt (the grammar only ever sees
            # generated tokens: llama.cpp aborts the process when a grammar is given a token
            # it does not allow).
            for tok in prompt[-PENALTY_LAST_N:]:
                lc.llama_sampler_accept(penalties, tok)
            lc.llama_sampler_chain_add(chain, penalties)
        self._add_pick(chain, s)
        if constrained:
            return GrammarSampler(lc, chain, constrained, self._n_vocab)
        return ChainSampler(lc, chain)

    def _add_pick(self, chain: Any, s: SamplingParams) -> None:
        lc = self._lc
        if s.temperature <= 0:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
            return
        if s.top_k > 0:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_k(s.top_k))
        if 0 < s.top_p < 1:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_p(s.top_p, 1))
        if 0 < s.min_p < 1:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_min_p(s.min_p, 1))
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_temp(s.temperature))
        seed = DEFAULT_SEED if s.seed < 0 else s.seed & 0xFFFFFFFF
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_dist(seed))

    def _decode(self, tokens: list[int]) -> int:
        lc = self._lc
        arr = (lc.llama_token * len(tokens))(*tokens)
        return int(lc.llama_decode(self._ctx, lc.llama_batch_get_one(arr, len(tokens))))

    def _evaluate_prompt(
        self,
        tokens: list[int],
        cancel: threading.Event,
        progress: Callable[[int, int], None] | None = None,
    ) -> bool:
        """Process the prompt, reusing the cached prefix. False if cancelled. `progress` gets
        (tokens read, tokens to read) before the first batch and after each one."""
        lc = self._lc
        n = 0
        limit = min(len(tokens), len(self._cached))
        while n < limit and tokens[n] == self._cached[n]:
            n += 1
        if n == len(tokens):
            n -= 1  # the last prompt token must be processed again to get its logits
        if n < len(self._cached) and not lc.llama_memory_seq_rm(self._mem, 0, n, -1):
            # Some caches (sliding-window attention) cannot drop a partial sequence.
            lc.llama_memory_clear(self._mem, True)
            n = 0
        self._cached = self._cached[:n]
        self._active_cancel = cancel
        lc.llama_set_abort_callback(self._ctx, self._abort_cb, None)
        step = progress_step(len(tokens) - n, self.n_batch) if progress else self.n_batch
        try:
            for start in range(n, len(tokens), step):
                if progress is not None:
                    progress(start - n, len(tokens) - n)
                if cancel.is_set():
                    return False
                chunk = tokens[start : start + step]
                ret = self._decode(chunk)
                if ret == 2 or cancel.is_set():  # aborted: drop whatever part was stored
                    lc.llama_memory_seq_rm(self._mem, 0, len(self._cached), -1)
                    return False
                if ret != 0:
                    self.reset()
                    raise GenerationError(
                        "llama.cpp failed while reading the prompt.",
                        f"llama_decode returned {ret}; {runtime.take_recent_errors()}",
                    )
                self._cached.extend(chunk)
            if progress is not None:
                progress(len(tokens) - n, len(tokens) - n)
        finally:
            # No Python callback per graph node while decoding single tokens: the token loop
            # checks the event between tokens, which is as prompt and far cheaper.
            lc.llama_set_abort_callback(self._ctx, self._no_abort_cb, None)
            self._active_cancel = None
        return True

    def _evaluated_since_reset(self) -> int:
        """Tokens llama.cpp itself counted as processed since llama_perf_context_reset."""
        lc = self._lc
        lc.llama_synchronize(self._ctx)  # the counters are only updated on synchronisation
        perf = lc.llama_perf_context(self._ctx)
        # llama.cpp reports at least 1 for each counter; a zero time means it really is 0.
        n_prompt = int(perf.n_p_eval) if perf.t_p_eval_ms > 0 else 0
        n_single = int(perf.n_eval) if perf.t_eval_ms > 0 else 0
        return n_prompt + n_single

    def _prompt_tokens(
        self, request: GenerationRequest, max_tokens: int, stats: GenerationStats
    ) -> list[int]:
        """The prompt: the conversation fitted to the context with the chat template, or a
        raw completion prompt as it is (refused when it does not fit: nothing is cut)."""
        budget = self._n_ctx - max_tokens
        if request.prompt:
            tokens = self.tokenize(request.prompt, add_special=True, parse_special=True)
            if len(tokens) > budget:
                raise InvalidRequestError(
                    f"The prompt is too long for the model's context: it needs {len(tokens)} "
                    f"tokens and {budget} are left beside the {max_tokens} to generate."
                )
        else:
            fitted = fit_prompt(request.messages, request.passages, self.tokenize_chat, budget)
            tokens = fitted.tokens
            stats.turns_dropped = fitted.turns_dropped
            stats.passages_used = fitted.passages_used
            if fitted.turns_dropped:
                log.info("dropped %d old turns to fit the context", fitted.turns_dropped)
        stats.prompt_tokens = len(tokens)
        return tokens

    def _run(
        self,
        request: GenerationRequest,
        cancel: threading.Event,
        stats: GenerationStats,
        grammar: str,
    ) -> Iterator[str]:
        lc = self._lc
        t_start = time.perf_counter()
        max_tokens = max(1, min(request.sampling.max_tokens, self._n_ctx // 2))
        self._render_cancel = cancel  # a slow chat template ends on Stop too
        try:
            prompt = self._prompt_tokens(request, max_tokens, stats)
        except RenderCancelled:
            stats.stop_reason = "cancelled"
            return
        finally:
            self._render_cancel = None
        sampler = self._make_sampler(request.sampling, grammar, prompt)  # before the prompt
        try:
            lc.llama_perf_context_reset(self._ctx)
            stats.stop_reason = "cancelled"
            ok = self._evaluate_prompt(prompt, cancel, request.on_prompt_progress)
            stats.prompt_tokens_evaluated = self._evaluated_since_reset()
            stats.prompt_s = time.perf_counter() - t_start
            if ok:
                yield from self._tokens(sampler, request, cancel, stats, max_tokens, t_start)
        finally:
            sampler.free()
            stats.total_s = time.perf_counter() - t_start
            stats.context_used = len(self._cached)

    def _tokens(
        self,
        sampler: ChainSampler | GrammarSampler,
        request: GenerationRequest,
        cancel: threading.Event,
        stats: GenerationStats,
        max_tokens: int,
        t_start: float,
    ) -> Iterator[str]:
        """The token loop, after the prompt: sample, show, decode, until a stop."""
        lc = self._lc
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stats.stop_reason = "length"
        t_first = time.perf_counter()
        try:
            for i in range(max_tokens):
                if cancel.is_set():
                    stats.stop_reason = "cancelled"
                    break
                token = sampler.sample(self._ctx)
                if i == 0:
                    t_first = time.perf_counter()
                    stats.ttft_s = t_first - t_start
                if lc.llama_vocab_is_eog(self._vocab, token) and not request.ignore_eos:
                    stats.stop_reason = "stop"
                    break
                stats.generated_tokens += 1
                text = decoder.decode(self._piece(token))
                if text:
                    yield text
                if len(self._cached) >= self._n_ctx or i == max_tokens - 1:
                    break  # "length": the context or max_tokens is full
                if cancel.is_set():
                    stats.stop_reason = "cancelled"
                    break
                ret = self._decode([token])
                if ret != 0:
                    if ret == 1:  # no room left in the context
                        break
                    self.reset()
                    raise GenerationError(
                        "llama.cpp failed while generating.",
                        f"llama_decode returned {ret}; {runtime.take_recent_errors()}",
                    )
                self._cached.append(token)
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail
        finally:
            stats.decode_s = time.perf_counter() - t_first if stats.generated_tokens else 0.0
