"""Sampling under a grammar without checking the whole vocabulary at every token.

llama.cpp's grammar sampler decides, for each candidate token, whether the grammar can
accept its text; put first in the sampler chain it does so for every token of the
vocabulary at every step (49k for SmolLM2, 262k for Gemma 3). With a grammar of a few
hundred alternative words, as a grounded answer's (`rag.answer.Plan.grammar`), that cost
0.3-0.5 s per token on a 2-core CPU, more than the model itself.

`GrammarSampler` samples as llama.cpp's `common_sampler` does: the chain (penalties,
top-k, ..., the final pick) runs on the free logits, and only the token it picks is
checked against the grammar. Most of the time that token is allowed and the check costs
one token; when it is not, the grammar is applied to the whole vocabulary and the chain
runs again on what it allows. Greedy decoding picks the same tokens either way (the best
token overall, when allowed, is the best allowed token). With temperature, the first pick
comes from the unconstrained distribution and is kept when allowed, which is what
llama.cpp's own tools do.

The llama.cpp calls are the public sampler API; the candidate array is a numpy buffer laid
out as `llama_token_data`, so filling it costs no Python loop over the vocabulary.
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

import numpy as np

from engine.errors import GenerationError

_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])


class _Candidates:
    """A `llama_token_data_array` over a numpy buffer of `size` entries."""

    def __init__(self, lc: Any, size: int) -> None:
        if _TOKEN_DATA.itemsize != ctypes.sizeof(lc.llama_token_data):
            raise RuntimeError("llama_token_data does not have the expected layout")
        self.buf = np.zeros(size, _TOKEN_DATA)
        self.ids = np.arange(size, dtype=np.int32)
        data = ctypes.cast(self.buf.ctypes.data, ctypes.POINTER(lc.llama_token_data))
        self.array = lc.llama_token_data_array(data, size, -1, False)
        self.ref = ctypes.byref(self.array)

    def fill(self, logits: Any) -> None:
        size = len(self.buf)
        self.buf["id"] = self.ids
        self.buf["logit"] = np.ctypeslib.as_array(logits, shape=(size,))
        self.buf["p"] = 0.0
        self.array.size = size
        self.array.selected = -1
        self.array.sorted = False

    def one(self, token: int, logit: float) -> None:
        self.buf[0] = (token, logit, 0.0)
        self.array.size = 1
        self.array.selected = -1
        self.array.sorted = False

    def picked(self) -> int:
        if self.array.selected < 0:
            raise RuntimeError("the sampler chain picked no token")
        return int(self.buf["id"][self.array.selected])


class GrammarSampler:
    """A sampler chain (without grammar) and a grammar sampler, used as one: `sample` returns
    a token the grammar allows and has both remember it. Owns and frees both."""

    def __init__(self, lc: Any, chain: Any, grammar: Any, n_vocab: int) -> None:
        self._lc = lc
        self.chain = chain
        self.grammar = grammar
        self._all = _Candidates(lc, n_vocab)
        self._single = _Candidates(lc, 1)

    def sample(self, ctx: Any) -> int:
        lc = self._lc
        logits = lc.llama_get_logits_ith(ctx, -1)
        if not logits:  # llama.cpp logs why; never read through a NULL pointer
            raise GenerationError(
                "llama.cpp failed while generating.", "no logits for the last token to sample"
            )
        self._all.fill(logits)
        lc.llama_sampler_apply(self.chain, self._all.ref)
        token = self._all.picked()
        self._single.one(token, float(logits[token]))
        lc.llama_sampler_apply(self.grammar, self._single.ref)
        if math.isinf(float(self._single.buf["logit"][0])):
            # Not allowed: the grammar masks the whole vocabulary, then the chain picks again.
            self._all.fill(logits)
            lc.llama_sampler_apply(self.grammar, self._all.ref)
            lc.llama_sampler_apply(self.chain, self._all.ref)
            token = self._all.picked()
        lc.llama_sampler_accept(self.grammar, token)
        lc.llama_sampler_accept(self.chain, token)
        return token

    def free(self) -> None:
        for sampler in (self.chain, self.grammar):
            if sampler:
                self._lc.llama_sampler_free(sampler)
        self.chain = self.grammar = None


class ChainSampler:
    """A sampler chain alone (no grammar): llama.cpp samples and remembers in one call."""

    def __init__(self, lc: Any, chain: Any) -> None:
        self._lc = lc
        self.chain = chain

    def sample(self, ctx: Any) -> int:
        return int(self._lc.llama_sampler_sample(self.chain, ctx, -1))

    def free(self) -> None:
        if self.chain:
            self._lc.llama_sampler_free(self.chain)
        self.chain = None
