"""Stop strings: an answer ends right before the first of them, as OpenAI's `stop` asks.

Applied to the stream of text deltas, for every backend alike. Text that could still turn
into a stop string ("Obs" when "Observation:" is a stop) is held back until the next delta
tells; nothing after a stop string is ever shown.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence

from engine.types import GenerationStats


def _held_back(text: str, stops: Sequence[str]) -> int:
    """Length of the longest end of `text` that is the start of a stop string."""
    best = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:n]):
                best = n
                break
    return best


def cut_at_stops(
    deltas: Iterator[str] | Generator[str, None, None],
    stops: Sequence[str],
    stats: GenerationStats,
) -> Iterator[str]:
    """`deltas` up to (not including) the first stop string. On a stop the inner generation
    is closed at once (so the engine stops generating) and `stats.stop_reason` is "stop"."""
    stops = [s for s in stops if s]
    if not stops:
        yield from deltas
        return
    held = ""
    try:
        for delta in deltas:
            held += delta
            cut = min((i for i in (held.find(s) for s in stops) if i >= 0), default=-1)
            if cut >= 0:
                if cut:
                    yield held[:cut]
                close = getattr(deltas, "close", None)
                if close is not None:
                    close()  # ends the engine's token loop (its finally fills in the stats)
                stats.stop_reason = "stop"
                return
            keep = _held_back(held, stops)
            if len(held) > keep:
                yield held[: len(held) - keep]
                held = held[len(held) - keep :]
        if held:
            yield held
    finally:
        close = getattr(deltas, "close", None)
        if close is not None:
            close()
