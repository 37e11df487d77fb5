"""Sentence embeddings with llama.cpp (BERT-family GGUF files such as all-MiniLM-L6-v2).

Speed comes from packing many texts into one llama.cpp call: each text is its own sequence
(seq_id) in a single batch, llama.cpp pools each sequence (mean pooling unless the model says
otherwise) and `llama_get_embeddings_seq` returns one vector per text. There is no padding, so
no work is spent on pad tokens.

Encoders cannot split a batch into micro-batches: llama.cpp *aborts the process* when a batch
(or one sequence) is longer than n_ubatch. So n_ubatch = n_batch, a batch never exceeds it, and
every text's length is checked before anything reaches llama.cpp (a text longer than
`max_tokens` raises InvalidRequestError; nothing is silently truncated).

Attention in a packed batch is computed over the whole batch (with a mask between sequences),
so its cost grows with the square of the batch length, while bigger batches make the matrix
products more efficient. Which wins depends on the CPU and the weight type, so the packing is
measured on first use (rag.embedding_model) and read back from the model's tuning record.

One Embedder belongs to one thread (the documents thread).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engine import runtime
from engine.closing import ClosedWhenCollected
from engine.errors import GenerationError, InvalidRequestError, ModelFileError, ModelLoadError
from engine.gguf_file import read_header
from engine.load_probe import ensure_loadable

log = logging.getLogger(__name__)

# Packed batches stop growing at this many tokens: longer batches spend more on the masked
# attention across sequences than they save in per-call overhead (measured on MiniLM).
DEFAULT_BATCH_TOKENS = 2048
DEFAULT_PACK_TOKENS = 512
MAX_SEQUENCES = 64  # sequences per llama.cpp call (n_seq_max)


TUNING_SUFFIX = ".tuning.json"


def tuning_path(model: Path) -> Path:
    """Where rag.embedding_model records which packing ran fastest for this model file."""
    return model.with_name(model.name + TUNING_SUFFIX)


def read_tuning(model: Path) -> dict[str, Any] | None:
    """The tuning record of this exact file measured on this CPU, else None."""
    try:
        data = json.loads(tuning_path(model).read_text(encoding="utf-8"))
        if (
            isinstance(data, dict)
            and data.get("file_size") == model.stat().st_size
            and data.get("cpu") == runtime.cpu_name()
        ):
            return data
    except (OSError, ValueError):
        pass
    return None


def pack_batches(lengths: Sequence[int], max_tokens: int, max_seqs: int) -> Iterator[list[int]]:
    """Indices of texts grouped so each group holds at most max_tokens tokens and max_seqs
    texts, in input order. A text longer than max_tokens forms a group of its own."""
    group: list[int] = []
    used = 0
    for i, n in enumerate(lengths):
        if group and (used + n > max_tokens or len(group) >= max_seqs):
            yield group
            group, used = [], 0
        group.append(i)
        used += n
    if group:
        yield group


class _Runner:
    """One llama.cpp context and batch. Created, used and freed by a single thread."""

    def __init__(self, ll: Any, model: Any, cparams: Any, batch_tokens: int, dim: int) -> None:
        self.ll = ll
        self.dim = dim
        self.batch_tokens = batch_tokens
        self.ctx: Any = ll.llama_init_from_model(model, cparams)
        if not self.ctx:
            raise ModelLoadError("llama.cpp could not create a context for the embedding model.")
        self.batch: Any = None
        if ll.llama_pooling_type(self.ctx) == ll.LLAMA_POOLING_TYPE_NONE:
            self.free()
            raise ModelLoadError("This model does not pool token embeddings into one vector.")
        self.batch = ll.llama_batch_init(batch_tokens, 0, 1)

    def run(self, seqs: list[list[int]]) -> npt.NDArray[np.float32]:
        """Pooled (not normalised) embeddings of the sequences, one llama_decode call."""
        ll, b = self.ll, self.batch
        n = sum(len(s) for s in seqs)
        if n > self.batch_tokens or len(seqs) > MAX_SEQUENCES:  # never hand llama.cpp more
            raise InvalidRequestError("Internal error: embedding batch too large.", f"{n}")
        tokens = np.ctypeslib.as_array(b.token, shape=(n,))
        pos = np.ctypeslib.as_array(b.pos, shape=(n,))
        n_seq_id = np.ctypeslib.as_array(b.n_seq_id, shape=(n,))
        logits = np.ctypeslib.as_array(b.logits, shape=(n,))
        k = 0
        for s, toks in enumerate(seqs):
            m = len(toks)
            tokens[k : k + m] = toks
            pos[k : k + m] = np.arange(m, dtype=np.int32)
            for j in range(k, k + m):
                b.seq_id[j][0] = s
            k += m
        n_seq_id[:] = 1
        logits[:] = 1
        b.n_tokens = n
        mem = ll.llama_get_memory(self.ctx)
        if mem:
            ll.llama_memory_clear(mem, True)
        rc = ll.llama_decode(self.ctx, b)
        if rc != 0:
            raise GenerationError(
                "llama.cpp failed to compute embeddings.", f"llama_decode returned {rc}"
            )
        result = np.empty((len(seqs), self.dim), dtype=np.float32)
        for s in range(len(seqs)):
            ptr = ll.llama_get_embeddings_seq(self.ctx, s)
            if not ptr:
                raise GenerationError(
                    "llama.cpp returned no embedding.", f"sequence {s} of {len(seqs)}"
                )
            result[s] = np.ctypeslib.as_array(ptr, shape=(self.dim,))
        return result

    def free(self) -> None:
        if self.batch is not None:
            self.ll.llama_batch_free(self.batch)
            self.batch = None
        if self.ctx is not None:
            self.ll.llama_free(self.ctx)
            self.ctx = None


_Job = tuple[list[list[int]], list[int], "queue.Queue[_Result]"]
_Result = tuple[list[int], "npt.NDArray[np.float32] | None", "BaseException | None"]


class _Worker:
    """A thread that owns one _Runner for its whole life and serves jobs from a shared queue."""

    def __init__(self, make: Callable[[], _Runner], jobs: queue.Queue[_Job | None]) -> None:
        self._make = make
        self._jobs = jobs
        self._ready: queue.Queue[BaseException | None] = queue.Queue()
        self.thread = threading.Thread(target=self._main, name="hearth-embedder", daemon=True)
        self.thread.start()
        error = self._ready.get()
        if error is not None:
            self.thread.join()
            raise error

    def _main(self) -> None:
        try:
            runner = self._make()
        except BaseException as exc:  # noqa: BLE001 - handed to the creating thread
            self._ready.put(exc)
            return
        self._ready.put(None)
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                seqs, indices, results = job
                try:
                    results.put((indices, runner.run(seqs), None))
                except BaseException as exc:  # noqa: BLE001 - re-raised by Embedder.embed
                    results.put((indices, None, exc))
        finally:
            runner.free()


class Embedder(ClosedWhenCollected):
    """Embeds texts with a GGUF embedding model through llama.cpp's C API.

    With n_threads > 1 the work is split by data, not by operation: each thread owns its own
    single-threaded llama.cpp context and takes whole packed batches from a queue. A model
    this small spends much of a multi-threaded call waiting at ggml's per-operation barriers
    (and far more when another process takes a core); independent contexts never wait for
    each other. The weights are shared (one llama_model)."""

    def __init__(
        self,
        model_path: Path,
        n_threads: int = 0,
        batch_tokens: int = DEFAULT_BATCH_TOKENS,
        pack_tokens: int | None = None,
    ) -> None:
        path = Path(model_path)
        header = read_header(path)  # ModelFileError for missing, truncated, not-GGUF files
        ensure_loadable(header, embedding=True)  # a first load in a child (engine.load_probe)
        self.path = path
        self.name = str(header.get("general.name") or path.name.removesuffix(".gguf"))
        llama_cpp = runtime.llama()  # backend initialised once; llama.cpp logs go to logging
        self._ll: Any = llama_cpp
        self._model: Any = None
        self._runner: _Runner | None = None
        self._workers: list[_Worker] = []
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self.n_threads = n_threads if n_threads > 0 else runtime.default_threads()

        mparams = llama_cpp.llama_model_default_params()
        mparams.n_gpu_layers = 0
        model = llama_cpp.llama_model_load_from_file(str(path).encode("utf-8"), mparams)
        if not model:
            raise ModelLoadError(
                f"llama.cpp could not load the embedding model {path.name}.", str(path)
            )
        self._model = model
        try:
            self._vocab: Any = llama_cpp.llama_model_get_vocab(model)
            n_ctx_train = int(llama_cpp.llama_model_n_ctx_train(model))
            self.dim = int(llama_cpp.llama_model_n_embd(model))
            batch_tokens = max(int(batch_tokens), 8)
            self.max_tokens = min(n_ctx_train, batch_tokens) if n_ctx_train > 0 else batch_tokens
            self.batch_tokens = batch_tokens
            if pack_tokens is None:
                tuned = read_tuning(path) or {}
                pack_tokens = int(tuned.get("pack_tokens") or DEFAULT_PACK_TOKENS)
            # Texts per call are packed up to this many tokens; a longer text goes alone.
            self.pack_tokens = max(1, min(int(pack_tokens), batch_tokens))

            cparams = llama_cpp.llama_context_default_params()
            cparams.n_ctx = batch_tokens
            cparams.n_batch = batch_tokens
            cparams.n_ubatch = batch_tokens  # encoders must see a whole batch at once
            cparams.n_seq_max = MAX_SEQUENCES
            cparams.n_threads = 1
            cparams.n_threads_batch = 1
            cparams.embeddings = True
            cparams.kv_unified = True  # one context length for all packed sequences
            cparams.pooling_type = (
                llama_cpp.LLAMA_POOLING_TYPE_UNSPECIFIED
                if header.arch_key("pooling_type") is not None
                else llama_cpp.LLAMA_POOLING_TYPE_MEAN
            )

            dim = self.dim

            def make() -> _Runner:  # captures no reference to self: workers must not keep
                return _Runner(llama_cpp, model, cparams, batch_tokens, dim)  # it alive

            if self.n_threads == 1:
                self._runner = make()
            else:
                for _ in range(self.n_threads):
                    self._workers.append(_Worker(make, self._jobs))
        except ModelLoadError as exc:
            self.close()
            raise ModelLoadError(f"{path.name}: {exc.user_message}", str(path)) from exc
        except BaseException:
            self.close()
            raise
        self._tok_buf_len = 1024
        self._tok_buf = (llama_cpp.llama_token * self._tok_buf_len)()

    # -- Tokens ----------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        """Token ids as the model sees them, special tokens ([CLS] ... [SEP]) included."""
        return list(self._tokenize_raw(text))

    def _tokenize_raw(self, text: str) -> Any:
        if self._model is None:
            raise InvalidRequestError("The embedding model is closed.")
        data = text.encode("utf-8", errors="replace")
        ll = self._ll
        n = ll.llama_tokenize(
            self._vocab, data, len(data), self._tok_buf, self._tok_buf_len, True, False
        )
        if n < 0:
            self._tok_buf_len = max(-n, self._tok_buf_len * 2)
            self._tok_buf = (ll.llama_token * self._tok_buf_len)()
            n = ll.llama_tokenize(
                self._vocab, data, len(data), self._tok_buf, self._tok_buf_len, True, False
            )
            if n < 0:
                raise InvalidRequestError("The text could not be tokenized.", f"result {n}")
        return self._tok_buf[:n]

    def count_tokens(self, text: str) -> int:
        return len(self._tokenize_raw(text))

    # -- Embeddings ------------------------------------------------------------------------

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """L2-normalised float32 vectors, one row per text, in order."""
        if self._model is None:
            raise InvalidRequestError("The embedding model is closed.")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        token_lists = [self.tokenize(t) for t in texts]
        for i, toks in enumerate(token_lists):
            if len(toks) > self.max_tokens:
                raise InvalidRequestError(
                    f"A text is too long to embed: {len(toks)} tokens, the embedding model "
                    f"takes at most {self.max_tokens}. Split it into smaller chunks.",
                    f"text #{i}: {len(toks)} tokens > {self.max_tokens}",
                )
            if not toks:
                raise InvalidRequestError(
                    "A text produced no tokens.", f"text #{i}: {texts[i][:80]!r}"
                )
        groups = list(pack_batches([len(t) for t in token_lists], self.pack_tokens, MAX_SEQUENCES))
        if self._runner is not None:
            for group in groups:
                out[group] = self._runner.run([token_lists[i] for i in group])
        else:
            results: queue.Queue[_Result] = queue.Queue()
            for group in groups:
                self._jobs.put(([token_lists[i] for i in group], group, results))
            error: BaseException | None = None
            for _ in groups:
                indices, vectors, exc = results.get()
                if exc is not None:
                    error = error or exc
                elif vectors is not None:
                    out[indices] = vectors
            if error is not None:
                raise error
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, np.maximum(norms, 1e-12), out=out)
        return out

    def close(self) -> None:
        """Stop the workers (each frees its own context), then free the model."""
        ll = getattr(self, "_ll", None)
        if ll is None:
            return
        workers, self._workers = self._workers, []
        for _ in workers:
            self._jobs.put(None)
        for w in workers:
            w.thread.join(timeout=30)
        if self._runner is not None:
            self._runner.free()
            self._runner = None
        if self._model is not None:
            ll.llama_model_free(self._model)
            self._model = None


__all__ = ["Embedder", "ModelFileError", "ModelLoadError", "pack_batches"]
