"""rag.sentence_vectors: sentence vectors kept between questions give the rows the model
would, in order, and embed only the sentences not seen lately."""

from __future__ import annotations

import numpy as np

from rag.sentence_vectors import SentenceVectors


class CountingModel:
    """A stand-in for the embedding model (the cache is what is tested): one row per text,
    made from its characters, and a record of every text it was asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.asked += texts
        rows = [[float(len(t)), float(sum(map(ord, t)) % 97), 1.0] for t in texts]
        return np.array(rows, dtype=np.float32).reshape(len(texts), 3)


def test_cached_rows_equal_the_models_and_only_new_texts_are_embedded() -> None:
    model, cache = CountingModel(), SentenceVectors()
    embed = cache.embed_with(model, model.embed)
    first = ["The lamp room is at the top.", "Ferries leave on Tuesdays."]
    assert np.array_equal(embed(first), CountingModel().embed(first))
    second = ["Ferries leave on Tuesdays.", "The keeper climbs 412 steps.", first[0]]
    assert np.array_equal(embed(second), CountingModel().embed(second))
    assert model.asked == [*first, "The keeper climbs 412 steps."]
    assert cache.embedded == 3
    assert embed([]).shape[0] == 0


def test_the_least_recently_used_go_first_and_a_new_model_starts_afresh() -> None:
    model, cache = CountingModel(), SentenceVectors(keep=2)
    embed = cache.embed_with(model, model.embed)
    embed(["a one", "a two"])
    embed(["a one", "a three"])  # "a two" is the least recently used: out
    model.asked.clear()
    embed(["a one", "a two", "a three"])
    assert model.asked == ["a two"]
    other = CountingModel()
    cache.embed_with(other, other.embed)(["a one"])
    assert other.asked == ["a one"]  # another model's vectors are not this one's
