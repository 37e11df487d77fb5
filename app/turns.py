"""The answer in flight: one assistant message being written, from the document search (if the
chat answers from documents) through the engine's tokens to the saved result. GUI thread only;
`app.controller.ChatController` starts turns and relays these signals to the window.

Tokens are buffered here and handed to the view at most every `FLUSH_INTERVAL_MS`; the
partial answer is saved about once a second, so a crash loses at most that second's tokens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from app.conversation import NOT_SEARCHED_NOTE
from app.docs_worker import DocsHost, passage_label, source_dicts
from app.engine_worker import EngineHost
from app.errors import StoreError
from app.grounded_turn import GroundedTurn, sent_history
from app.prompt_progress import prompt_progress_text
from app.store import ChatStore, MessageRow
from engine.errors import HearthError
from engine.types import GenerationRequest, GenerationStats, Passage

log = logging.getLogger(__name__)

FLUSH_INTERVAL_MS = 30
SAVE_INTERVAL_S = 1.0
STOP_GRACE_MS = 300  # after Stop, end the turn locally if the engine has not answered by then


@dataclass
class Stream:
    request_id: int
    chat_id: int
    message_id: int
    text: str = ""
    last_save: float = field(default_factory=time.monotonic)
    stop_requested: bool = False
    retrieval_id: int = 0  # a document search in flight; the engine request waits for it
    request: GenerationRequest | None = None
    hits: list = field(default_factory=list)  # retrieved passages (rag.retrieve.Hit), in order
    sources: list = field(default_factory=list)  # stored with the answer
    grounded: GroundedTurn | None = None  # a document answer: quotes, then a checked sentence
    named: bool = False  # the search was limited to documents the chat chose


class TurnRunner(QObject):
    streamDelta = Signal(int, str)  # message id, text appended since the last flush
    promptProgress = Signal(int, str)  # message id, "Reading … · 45 %" ("" when read)
    messageFinished = Signal(object)  # MessageRow with its final content, stats, status
    generationFinished = Signal(int, str)  # message id, stop reason or "error"
    busyChanged = Signal(bool)
    statsChanged = Signal(object)  # dict of the finished answer's stats
    errorRaised = Signal(object)

    def __init__(
        self,
        store: ChatStore,
        engine: EngineHost,
        docs: DocsHost | None,
        shown_chat: Callable[[], int | None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.engine = engine
        self.docs = docs
        self._shown_chat = shown_chat  # the chat the window shows: only its text is streamed
        self.stream: Stream | None = None
        # Document answers are grounded (app.grounded_turn); False: the model's own answer
        # over whole passages, as before (kept for comparison).
        self.grounded = True
        self._pending: list[str] = []
        engine.tokens.connect(self._on_tokens)
        engine.promptProgress.connect(self._on_prompt_progress)
        engine.finished.connect(self._on_finished)
        engine.failed.connect(self._on_failed)
        if docs is not None:
            docs.retrieved.connect(self._on_retrieved)
            docs.retrieveFailed.connect(self._on_retrieve_failed)
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_INTERVAL_MS)
        self._flush_timer.timeout.connect(self._flush)
        self._stop_timer = QTimer(self)
        self._stop_timer.setSingleShot(True)
        self._stop_timer.setInterval(STOP_GRACE_MS)
        self._stop_timer.timeout.connect(self._stop_overdue)

    def start(
        self,
        chat_id: int,
        message_id: int,
        request: GenerationRequest,
        search: tuple[str, int, Sequence[str] | None] | None = None,
    ) -> None:
        """Answer into the stored (empty) assistant message `message_id`. `search`: the
        query, how many passages and which documents to search first (None: no documents)."""
        if search is not None and self.docs is not None:
            # Search the chat's documents first; the engine request follows the results.
            self.stream = Stream(0, chat_id, message_id, request=request)
            self.stream.named = search[2] is not None
            self.stream.retrieval_id = self.docs.retrieve(*search)
        else:
            rid = self.engine.generate(request)
            self.stream = Stream(request_id=rid, chat_id=chat_id, message_id=message_id)
        self._pending.clear()

    def stop(self) -> None:
        """Stop the answer in flight. The engine answers within ~0.1 s; if it does not
        (e.g. the request waits behind a model load), the turn ends locally."""
        if self.stream is None or self.stream.stop_requested:
            return
        self.stream.stop_requested = True
        self.engine.cancel(self.stream.request_id)
        self._stop_timer.start()

    def cancel_in_chat(self, chat_id: int) -> None:
        """End the answer now if it belongs to `chat_id` (the chat is being deleted)."""
        if self.stream is not None and self.stream.chat_id == chat_id:
            self.stop()
            self.finish_locally("cancelled")

    def flush_now(self) -> None:
        self._flush_timer.stop()
        if self._pending:
            self._flush()

    # -- documents ---------------------------------------------------------------------

    @Slot(int, list)
    def _on_retrieved(self, retrieval_id: int, hits: list) -> None:
        stream = self.stream
        if stream is None or stream.retrieval_id != retrieval_id or stream.request is None:
            return  # stopped or superseded meanwhile
        if stream.stop_requested:
            self.finish_locally("cancelled")
            return
        stream.hits = list(hits)
        if hits and self.grounded:
            self._start_grounded(stream, stream.request)
            return
        if not hits and (stream.named or (self.docs is not None and self.docs.rows)):
            # documents were meant to answer (an empty library has none to mean)
            self._pending.append(NOT_SEARCHED_NOTE)
            self._flush()
        stream.request.passages = [Passage(label=passage_label(h), text=h.text) for h in hits]
        stream.request_id = self.engine.generate(stream.request)

    def _start_grounded(self, stream: Stream, request: GenerationRequest) -> None:
        """Show the quotes (or the abstention) now; ask the model for its sentence after."""
        turn = stream.grounded = GroundedTurn.start(request.messages[-1].content, stream.hits)
        stream.sources = turn.sources()
        self._pending.append(turn.preamble())
        self._flush()
        if not turn.needs_model:
            self._end("complete", turn.stats(), "stop")
            return
        first = request.messages[0] if request.messages else None
        system = first.content if first is not None and first.role == "system" else ""
        try:
            question = self.store.message(stream.message_id).parent_id
            history = sent_history(self.store, stream.chat_id, question or 0, system)
        except (StoreError, KeyError):
            history = request.messages[:-1]
        stream.request_id = self.engine.generate(turn.request(request, history))

    @Slot(int, object)
    def _on_retrieve_failed(self, retrieval_id: int, error: HearthError) -> None:
        stream = self.stream
        if stream is None or stream.retrieval_id != retrieval_id:
            return
        self.errorRaised.emit(error)  # then answer without documents
        self._on_retrieved(retrieval_id, [])

    # -- streaming -----------------------------------------------------------------------

    @Slot(int, int, int)
    def _on_prompt_progress(self, rid: int, done: int, total: int) -> None:
        stream = self.stream
        if stream is None or rid != stream.request_id or stream.chat_id != self._shown_chat():
            return
        request = stream.request
        passages = len(stream.sources) or (len(request.passages) if request else 0)
        self.promptProgress.emit(stream.message_id, prompt_progress_text(done, total, passages))

    @Slot(int, str)
    def _on_tokens(self, rid: int, delta: str) -> None:
        if self.stream is None or rid != self.stream.request_id or self.stream.stop_requested:
            return  # late tokens of a stopped or older request
        if self.stream.grounded is not None:
            delta = self.stream.grounded.feed(delta)  # checked sentences only
            if not delta:
                return
        self._pending.append(delta)
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    @Slot()
    def _flush(self) -> None:
        stream = self.stream
        if stream is None or not self._pending:
            self._pending.clear()
            return
        delta = "".join(self._pending)
        self._pending.clear()
        stream.text += delta
        if stream.chat_id == self._shown_chat():
            self.streamDelta.emit(stream.message_id, delta)
        now = time.monotonic()
        if now - stream.last_save >= SAVE_INTERVAL_S:
            stream.last_save = now
            try:
                self.store.update_message(stream.message_id, content=stream.text)
            except (StoreError, KeyError) as exc:
                log.warning("could not save the partial answer: %s", exc)

    @Slot(int, object)
    def _on_finished(self, rid: int, stats: GenerationStats) -> None:
        if self.stream is None or rid != self.stream.request_id:
            return
        if self.stream.stop_requested:
            stats.stop_reason = "cancelled"
        status = "incomplete" if stats.stop_reason == "cancelled" else "complete"
        turn = self.stream.grounded
        if turn is not None:
            self._pending.append(turn.finish())
            self.flush_now()
            self.stream.text = turn.final_text()
            self._end(status, {**stats.as_dict(), **turn.stats()}, stats.stop_reason)
            return
        self.flush_now()
        self.stream.sources = source_dicts(self.stream.hits[: stats.passages_used])
        self._end(status, stats.as_dict(), stats.stop_reason)

    @Slot(int, object)
    def _on_failed(self, rid: int, error: HearthError) -> None:
        if self.stream is None or rid != self.stream.request_id:
            return
        self.flush_now()
        self._end("error", {"error": error.user_message}, "error")
        self.errorRaised.emit(error)

    @Slot()
    def _stop_overdue(self) -> None:
        if self.stream is not None and self.stream.stop_requested:
            self.finish_locally("cancelled")

    def finish_locally(self, reason: str) -> None:
        if self.stream is None:
            return
        self._pending.clear()
        self._end("incomplete", {"stop_reason": reason}, reason)

    def _end(self, status: str, stats: dict, reason: str) -> None:
        stream, self.stream = self.stream, None
        self._stop_timer.stop()
        assert stream is not None
        row: MessageRow | None = None
        try:
            self.store.update_message(
                stream.message_id,
                content=stream.text,
                stats=stats,
                status=status,
                sources=stream.sources or None,
            )
            row = self.store.message(stream.message_id)
        except (StoreError, KeyError) as exc:
            self.errorRaised.emit(exc)
        if row is not None and stream.chat_id == self._shown_chat():
            self.messageFinished.emit(row)
        if stats.get("n_ctx"):
            self.statsChanged.emit(stats)
        self.busyChanged.emit(False)
        self.generationFinished.emit(stream.message_id, reason)

    def save_on_close(self) -> None:
        """The window is closing: stop the engine and keep what was written, marked
        incomplete."""
        if self.stream is None:
            return
        self.engine.cancel(self.stream.request_id)
        self.flush_now()
        stream, self.stream = self.stream, None
        try:
            self.store.update_message(
                stream.message_id,
                content=stream.text,
                stats={"stop_reason": "cancelled", "closed": True},
                status="incomplete",
            )
        except (StoreError, KeyError) as exc:
            log.warning("could not save the partial answer on close: %s", exc)
