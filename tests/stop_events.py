"""Stop, pressed at a moment a test can name without sleeping."""

from __future__ import annotations

import threading


class StopAfterPolls(threading.Event):
    """Stop pressed while work runs: the event sets itself once polled `polls` times."""

    def __init__(self, polls: int) -> None:
        super().__init__()
        self.left = polls

    def is_set(self) -> bool:
        self.left -= 1
        if self.left <= 0:
            self.set()
        return super().is_set()
