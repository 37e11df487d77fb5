"""app.engine_worker.TokenBatch: tokens from the engine thread reach the GUI thread in batches,
in order, each request's text apart, and the taker is told once per batch."""

from __future__ import annotations

import threading

from app.engine_worker import TokenBatch


def test_the_taker_is_told_once_per_batch_and_gets_all_in_order() -> None:
    batch = TokenBatch()
    assert batch.put(1, "Hel") is True  # the first: tell the GUI thread
    assert batch.put(1, "lo") is False  # already told, not taken yet
    assert batch.put(2, "Next") is False  # a new request before the last batch was taken
    assert batch.take() == [(1, "Hello"), (2, "Next")]
    assert batch.take() == []
    assert batch.put(2, " one") is True


def test_nothing_is_lost_between_threads() -> None:
    batch = TokenBatch()
    told: list[bool] = []
    taken: list[str] = []

    def produce() -> None:
        told.extend(batch.put(7, f"{i},") for i in range(5000))

    worker = threading.Thread(target=produce)
    worker.start()
    while worker.is_alive():
        taken.extend(text for _rid, text in batch.take())
    worker.join()
    taken.extend(text for _rid, text in batch.take())
    assert "".join(taken) == "".join(f"{i}," for i in range(5000))
    assert 1 <= sum(told) <= len(told)  # told at least once, at most once per token
