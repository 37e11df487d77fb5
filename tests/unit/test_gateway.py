"""`hearth serve`'s engine thread (app/gateway.py) with a backend that only waits and
counts: requests run one at a time in arrival order, a full queue is refused, a client that
left before its turn costs nothing, closing cancels what is running."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from app.gateway import MAX_BACKLOG, EngineThread, GatewayBusy, Ticket
from engine.types import ChatMessage, GenerationRequest, GenerationStats, ModelInfo


class Gate:
    """A backend whose every generation waits for `release`, then yields its request's text."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started: list[str] = []
        self.closed_on: str = ""
        self.tokens = 3

    model_info = ModelInfo("fake", "Fake", "fake", 1, "Q4_0", 1, 512, True)
    n_ctx = 512

    def generate(self, request: GenerationRequest, cancel: threading.Event):
        stats = GenerationStats()
        name = request.messages[-1].content
        self.started.append(name)

        def run() -> Iterator[str]:
            self.release.wait(30)
            for _ in range(self.tokens):
                if cancel.is_set():
                    stats.stop_reason = "cancelled"
                    return
                stats.generated_tokens += 1
                yield name

        class Gen:
            def __iter__(self) -> Iterator[str]:
                return run()

        gen = Gen()
        gen.stats = stats  # type: ignore[attr-defined]
        return gen

    def count_tokens(self, text: str) -> int:
        return 1

    def reset(self) -> None:
        pass

    def close(self) -> None:
        self.closed_on = threading.current_thread().name


def request(name: str) -> GenerationRequest:
    return GenerationRequest([ChatMessage("user", name)])


def drain(ticket: Ticket) -> tuple[str, GenerationStats]:
    text = ""
    while True:
        event = ticket.next(30)
        assert event is not None, "the engine thread never answered"
        if event[0] == "token":
            text += event[1]
        else:
            assert event[0] == "done", event
            return text, event[1]


def test_requests_run_one_at_a_time_in_arrival_order_and_a_full_queue_is_refused() -> None:
    backend = Gate()
    engine = EngineThread(lambda: backend, max_waiting=2)
    try:
        tickets = [Ticket() for _ in range(3)]
        engine.submit(request("a"), tickets[0])
        while backend.started != ["a"]:  # taken off the queue: running, held by the gate
            threading.Event().wait(0.01)
        engine.submit(request("b"), tickets[1])
        engine.submit(request("c"), tickets[2])
        # "a" runs (held by the gate), "b" and "c" wait: the queue is full
        with pytest.raises(GatewayBusy, match="busy"):
            engine.submit(request("d"), Ticket())
        backend.release.set()
        assert [drain(t)[0] for t in tickets] == ["aaa", "bbb", "ccc"]
        assert backend.started == ["a", "b", "c"]
        assert engine.models().chat == "Fake"
    finally:
        engine.close()
    assert backend.closed_on == "hearth-engine"  # opened and closed on its own thread


def test_a_client_gone_before_its_turn_costs_no_generation() -> None:
    backend = Gate()
    engine = EngineThread(lambda: backend)
    try:
        first, gone = Ticket(), Ticket()
        engine.submit(request("a"), first)
        engine.submit(request("b"), gone)
        gone.cancel.set()
        backend.release.set()
        assert drain(first)[0] == "aaa"
        text, stats = drain(gone)
        assert text == "" and stats.stop_reason == "cancelled"
        assert backend.started == ["a"]
    finally:
        engine.close()


def test_closing_cancels_the_running_request_and_refuses_new_ones() -> None:
    backend = Gate()
    engine = EngineThread(lambda: backend)
    running, waiting = Ticket(), Ticket()
    engine.submit(request("a"), running)
    engine.submit(request("b"), waiting)
    closer = threading.Thread(target=engine.close)
    closer.start()
    backend.release.set()
    closer.join(30)
    assert drain(running)[1].stop_reason == "cancelled"
    assert drain(waiting)[1].stop_reason == "cancelled"
    with pytest.raises(GatewayBusy, match="shutting down"):
        engine.submit(request("c"), Ticket())


def test_a_ticket_nobody_reads_stops_its_generation() -> None:
    ticket = Ticket()
    for _ in range(MAX_BACKLOG + 1):
        ticket.token("x")
    assert ticket.cancel.is_set()
