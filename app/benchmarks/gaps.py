"""GapMeter: how long the GUI thread goes without running its event loop.

A QTimer on the GUI thread ticks every 10 ms; the gaps between ticks are the stalls a user
feels (a gap of 100 ms is a visibly frozen window). A watchdog thread samples, cheaply, where
every thread was during the first few long gaps, so a report can say what held the GUI
thread (often another thread holding the GIL). Used by `hearth bench ui` and the window
tests."""

from __future__ import annotations

import sys
import threading
import time
import traceback
from pathlib import Path

LONG_GAP_S = 0.08  # gaps longer than this are sampled
MAX_SAMPLES = 5


class GapMeter:
    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.worst = 0.0  # seconds
        self.ticks: list[float] = []  # seconds between consecutive ticks
        self.samples: list[dict[str, traceback.StackSummary]] = []
        self._gui_name = threading.current_thread().name
        self._running = False

    def start(self) -> None:
        self.last = time.perf_counter()
        self.worst, self.ticks, self.samples = 0.0, [], []
        self._running = True
        self.timer.start()
        threading.Thread(target=self._watch, name="gap-watch", daemon=True).start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self.last)
        self.ticks.append(now - self.last)
        self.last = now

    def _watch(self) -> None:
        # No source lines are read while a gap lasts: the watchdog must not itself hold the
        # GIL for long.
        sampled_at = 0.0
        me = threading.get_ident()
        while self._running:
            time.sleep(0.03)
            last = self.last
            long_gap = time.perf_counter() - last > LONG_GAP_S
            if long_gap and last != sampled_at and len(self.samples) < MAX_SAMPLES:
                sampled_at = last
                names = {t.ident: t.name for t in threading.enumerate()}
                self.samples.append(
                    {
                        names.get(ident, str(ident)): traceback.StackSummary.extract(
                            traceback.walk_stack(frame), limit=3, lookup_lines=False
                        )
                        for ident, frame in sys._current_frames().items()
                        if ident != me
                    }
                )

    def stop(self) -> float:
        """Stop; the worst gap in milliseconds."""
        self._running = False
        self.timer.stop()
        self._tick()
        return round(self.worst * 1000, 1)

    def over(self, seconds: float) -> int:
        return sum(1 for t in self.ticks if t > seconds)

    def percentile_ms(self, q: float) -> float | None:
        if not self.ticks:
            return None
        ordered = sorted(self.ticks)
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000, 1)

    @property
    def sites(self) -> list[str]:
        """Where the GUI thread was during the sampled long gaps (innermost first)."""
        out: list[str] = []
        for sample in self.samples:
            stack = sample.get(self._gui_name)
            if stack:
                out.append(_where(stack))
        return out

    def report(self) -> str:
        lines = []
        for sample in self.samples[:3]:
            lines += [f"[{name}] {_where(stack)}" for name, stack in sample.items()]
            lines.append("=====")
        return "\nThreads during long gaps:\n" + "\n".join(lines)


def _where(stack: traceback.StackSummary) -> str:
    return " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in stack)
