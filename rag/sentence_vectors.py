"""Sentence vectors kept between questions, on the library's thread.

Embedding the candidate passages' sentences is nearly all of a search's time (a profile over
the Valgrind manual: about 214 ms of 300 on two cores; `hearth bench retrieve`). A follow-up
question, and any question over a small library, re-scores many of the sentences the
questions before it did, so their vectors are kept (least recently used first out) and only
the others are embedded. A vector depends on the sentence's text and the embedding model
alone; the cache empties when the model changes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Vectors = npt.NDArray[np.float32]
else:
    Vectors = Any

# Vectors kept: 4,096 MiniLM vectors are 6 MB of float32, the sentences of about 400 passages.
KEEP = 4096


class SentenceVectors:
    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._vectors: OrderedDict[str, Vectors] = OrderedDict()
        self._model: object | None = None
        self.embedded = 0  # texts embedded for real (the others came from the cache)

    def embed_with(
        self, model: object, embed: Callable[[list[str]], Vectors]
    ) -> Callable[[list[str]], Vectors]:
        """`embed` for `model`, through the cache: the same rows, in the same order."""
        if model is not self._model:
            self._vectors.clear()
            self._model = model

        def cached(texts: list[str]) -> Vectors:
            return self._embed(texts, embed)

        return cached

    def _embed(self, texts: list[str], embed: Callable[[list[str]], Vectors]) -> Vectors:
        import numpy as np

        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            self.embedded += len(missing)
            for text, vector in zip(missing, embed(missing), strict=True):
                self._vectors[text] = vector
        rows = []
        for text in texts:
            self._vectors.move_to_end(text)
            rows.append(self._vectors[text])
        while len(self._vectors) > self.keep:
            self._vectors.popitem(last=False)
        if not rows:
            return embed([])
        return np.stack(rows)
