"""Stop strings over a stream of deltas (engine/stop_strings.py), for every backend."""

from __future__ import annotations

from collections.abc import Iterator

from engine.stop_strings import cut_at_stops
from engine.types import GenerationStats


class Deltas:
    """A generator of deltas that records whether it was closed (the engine stopping)."""

    def __init__(self, parts: list[str]) -> None:
        self.parts = parts
        self.closed = False
        self.given = 0

    def __iter__(self) -> Iterator[str]:
        try:
            for part in self.parts:
                self.given += 1
                yield part
        finally:
            self.closed = True


def run(parts: list[str], stops: list[str]) -> tuple[list[str], GenerationStats, Deltas]:
    stats = GenerationStats(stop_reason="length")
    source = Deltas(parts)
    out = list(cut_at_stops(iter(source), stops, stats))
    return out, stats, source


def test_the_answer_ends_before_a_stop_string_split_across_deltas() -> None:
    out, stats, source = run(
        ["Thought: a", "dd 2\nObs", "ervation: 4", "\nmore", " text"], ["Observation:"]
    )
    assert "".join(out) == "Thought: add 2\n"
    assert stats.stop_reason == "stop"
    assert source.closed and source.given == 3  # the engine was stopped, not run to the end


def test_text_that_only_looked_like_a_stop_is_given_in_full() -> None:
    out, stats, _ = run(["a O", "bs", "cure end"], ["Observation:"])
    assert "".join(out) == "a Obscure end"
    assert stats.stop_reason == "length"


def test_the_earliest_of_several_stops_wins_and_no_stops_pass_everything() -> None:
    out, _, _ = run(["1, 2, 3, 4"], ["4", "2"])
    assert "".join(out) == "1, "
    out, stats, _ = run(["x", "y"], [])
    assert out == ["x", "y"] and stats.stop_reason == "length"
