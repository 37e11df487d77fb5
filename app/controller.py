"""The chat controller: the one place that ties the window, the chat store, the settings and
the engine thread together. GUI thread only.

The view never touches the store or the engine: it calls the controller's methods and
listens to its signals. Tokens from the engine thread are buffered here and flushed to the
view at most every `FLUSH_INTERVAL_MS`; the partial answer is saved about once a second so a
crash loses at most the tokens of that second.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from app.docs_worker import DocsHost, SourceScope, passage_label, source_dicts
from app.engine_worker import EngineFactory, EngineHost, LoadedModel, LoadSpec
from app.errors import StoreError
from app.paths import Paths
from app.settings import Settings
from app.store import ChatRow, ChatStore, MessageRow, SearchHit
from engine.errors import HearthError, InvalidRequestError
from engine.types import (
    ChatMessage,
    GenerationRequest,
    GenerationStats,
    ModelInfo,
    Passage,
    SamplingParams,
)

if TYPE_CHECKING:
    from engine.catalog import Catalog

log = logging.getLogger(__name__)

FLUSH_INTERVAL_MS = 30
SAVE_INTERVAL_S = 1.0
STOP_GRACE_MS = 300  # after Stop, end the turn locally if the engine has not answered by then
NEW_CHAT_TITLE = "New chat"
CHAT_SETTING_KEYS = ("model", "system_prompt", "sampling")


class ModelState(StrEnum):
    NONE = "none"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


# -- pure helpers ------------------------------------------------------------------------


def title_from(text: str, limit: int = 48) -> str:
    """A chat title from the first message: its first non-empty line, shortened."""
    for line in text.splitlines():
        line = " ".join(line.split())
        if line:
            return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
    return NEW_CHAT_TITLE


def build_history(rows: list[MessageRow], system_prompt: str) -> list[ChatMessage]:
    """The messages to send: the system prompt, then the stored turns.

    Empty turns (an answer that failed before its first token) are left out, and
    consecutive turns of the same role are joined, because many chat templates insist that
    user and assistant alternate."""
    out: list[ChatMessage] = []
    if system_prompt.strip():
        out.append(ChatMessage("system", system_prompt.strip()))
    for row in rows:
        if row.role not in ("user", "assistant") or not row.content.strip():
            continue
        if out and out[-1].role == row.role:
            out[-1] = ChatMessage(out[-1].role, out[-1].content + "\n\n" + row.content)
        else:
            out.append(ChatMessage(row.role, row.content))  # type: ignore[arg-type]
    return out


def merge_sampling(base: SamplingParams, overrides: Any) -> SamplingParams:
    """`base` with the valid keys of a per-chat override dict applied."""
    result = dataclasses.replace(base)
    if not isinstance(overrides, dict):
        return result
    for f in dataclasses.fields(SamplingParams):
        if f.name not in overrides:
            continue
        value, default = overrides[f.name], getattr(base, f.name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        setattr(result, f.name, float(value) if isinstance(default, float) else int(value))
    return result


def load_spec_for(model: str, models_dir: str, settings: Settings) -> LoadSpec:
    return LoadSpec(
        model=model,
        models_dir=models_dir,
        n_ctx=settings.n_ctx,
        n_threads=settings.n_threads,
        n_gpu_layers=settings.n_gpu_layers,
        n_batch=settings.n_batch,
    )


def describe_model(info: ModelInfo | None, fallback: str = "") -> str:
    if info is None:
        return fallback
    return f"{info.name} · {info.file_type}" if info.file_type else info.name


# -- the controller ------------------------------------------------------------------------


@dataclass
class _Stream:
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


class ChatController(QObject):
    chatsChanged = Signal()  # the chat list changed (new, renamed, deleted, reordered)
    chatOpened = Signal(object, list)  # ChatRow | None, list[MessageRow]
    messageAdded = Signal(object)  # MessageRow
    messagesRemoved = Signal(int)  # this message id and every later one left the chat
    streamDelta = Signal(int, str)  # message id, text appended since the last flush
    messageFinished = Signal(object)  # MessageRow with its final content, stats, status
    generationFinished = Signal(int, str)  # message id, stop reason or "error"
    busyChanged = Signal(bool)
    modelStateChanged = Signal(str, str)  # ModelState value, text for the status bar
    statsChanged = Signal(object)  # dict of the last answer's stats (GenerationStats.as_dict)
    errorRaised = Signal(object)  # an exception for the error presenter
    notice = Signal(str)  # a short informational message for the status bar

    def __init__(
        self,
        store: ChatStore,
        settings: Settings,
        paths: Paths,
        engine_factory: EngineFactory | None = None,
        parent: QObject | None = None,
        docs: DocsHost | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.settings = settings
        self.paths = paths
        self.engine = EngineHost(engine_factory, self)
        self.engine.loading.connect(self._on_loading)
        self.engine.loaded.connect(self._on_loaded)
        self.engine.loadFailed.connect(self._on_load_failed)
        self.engine.tokens.connect(self._on_tokens)
        self.engine.finished.connect(self._on_finished)
        self.engine.failed.connect(self._on_failed)
        self.docs = docs  # app.docs_worker.DocsHost (the documents thread), or None
        if docs is not None:
            docs.retrieved.connect(self._on_retrieved)
            docs.retrieveFailed.connect(self._on_retrieve_failed)

        self.chat_id: int | None = None
        self.model_state = ModelState.NONE
        self.model_text = ""
        self.loaded_model: LoadedModel | None = None
        self._requested: LoadSpec | None = None
        self._model_info: ModelInfo | None = None  # of the requested model (from its header)
        self._catalog: Catalog | None = None
        self._stream: _Stream | None = None
        self._pending: list[str] = []
        self._closed = False

        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_INTERVAL_MS)
        self._flush_timer.timeout.connect(self._flush)
        self._stop_timer = QTimer(self)
        self._stop_timer.setSingleShot(True)
        self._stop_timer.setInterval(STOP_GRACE_MS)
        self._stop_timer.timeout.connect(self._stop_overdue)

    # -- start-up and models -------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._stream is not None

    @property
    def streaming_message_id(self) -> int | None:
        """The assistant message being written now, if any."""
        return self._stream.message_id if self._stream is not None else None

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            from engine.catalog import Catalog

            self._catalog = Catalog(self.paths.models)
        return self._catalog

    def start(self) -> None:
        """After the window is shown: recover, open the last chat, load its model."""
        if self.docs is not None:
            self.docs.start()  # opens the library and resumes unfinished indexing
        try:
            interrupted = self.store.mark_incomplete_on_start()
        except StoreError as exc:
            self.errorRaised.emit(exc)
            interrupted = 0
        if interrupted:
            self.notice.emit(
                f"{interrupted} answer(s) were cut off when Hearth last stopped; "
                "their partial text is kept."
            )
        chats = self._list_chats()
        last = self.settings.ui_state.get("last_chat", "")
        chosen = next((c for c in chats if str(c.id) == last), chats[0] if chats else None)
        self.chatsChanged.emit()
        self.open_chat(chosen.id if chosen else None)

    def installed_models(self) -> list[ModelInfo]:
        return self.catalog.chat_models()

    def chat_model_name(self, chat: ChatRow | None) -> str:
        if chat is not None and isinstance(chat.settings.get("model"), str):
            return str(chat.settings["model"])
        return self.settings.default_model

    def ensure_model(self) -> None:
        """Queue a load of the current chat's model unless it is loaded or loading.

        The name is resolved and the file read on the engine thread, never here."""
        name = self.chat_model_name(self._current_chat())
        spec = load_spec_for(name, str(self.paths.models), self.settings)
        if spec.same_request(self._requested) and self.model_state != ModelState.FAILED:
            return
        self._requested = self.engine.load(spec)
        self._set_model_state(ModelState.LOADING, f"Loading {name or 'the default model'}…")

    def reload_model(self) -> None:
        self._requested = None
        self.ensure_model()

    def _is_requested(self, spec: LoadSpec) -> bool:
        return self._requested is not None and spec.load_id == self._requested.load_id

    @Slot(object, object)
    def _on_loading(self, spec: LoadSpec, info: ModelInfo) -> None:
        if self._is_requested(spec):
            self._model_info = info
            self._set_model_state(ModelState.LOADING, f"Loading {describe_model(info)}…")

    @Slot(object)
    def _on_loaded(self, loaded: LoadedModel) -> None:
        self.loaded_model = loaded
        if not self._is_requested(loaded.spec):
            return
        self._model_info = loaded.info or self._model_info
        self._set_model_state(ModelState.READY, describe_model(self._model_info, loaded.spec.model))

    @Slot(object, object)
    def _on_load_failed(self, spec: LoadSpec, error: HearthError) -> None:
        self.loaded_model = None
        if self._is_requested(spec):
            self._model_info = None
            self._set_model_state(ModelState.FAILED, error.user_message)

    def _set_model_state(self, state: ModelState, text: str) -> None:
        self.model_state, self.model_text = state, text
        self.modelStateChanged.emit(state.value, text)

    # -- chats ---------------------------------------------------------------------------

    def chats(self) -> list[ChatRow]:
        return self._list_chats()

    def _list_chats(self) -> list[ChatRow]:
        if self._closed:
            return []  # the window is closing; the store may already be closed
        try:
            return self.store.list_chats()
        except StoreError as exc:
            self.errorRaised.emit(exc)
            return []

    def _current_chat(self) -> ChatRow | None:
        if self.chat_id is None or self._closed:
            return None
        try:
            return self.store.get_chat(self.chat_id)
        except KeyError:
            return None

    def current_chat(self) -> ChatRow | None:
        return self._current_chat()

    def open_chat(self, chat_id: int | None) -> None:
        chat: ChatRow | None = None
        rows: list[MessageRow] = []
        if chat_id is not None:
            try:
                chat = self.store.get_chat(chat_id)
                rows = self.store.messages(chat_id)
            except KeyError:
                chat = None
            except StoreError as exc:
                self.errorRaised.emit(exc)
        self.chat_id = chat.id if chat else None
        self.settings.ui_state["last_chat"] = str(self.chat_id or "")
        stream = self._stream
        if stream is not None and chat is not None and stream.chat_id == chat.id:
            # Back to the chat being answered: show all the text so far, not the last save.
            self._flush_now()
            for row in rows:
                if row.id == stream.message_id:
                    row.content = stream.text
        self.chatOpened.emit(chat, rows)
        last_stats = next(
            (r.stats for r in reversed(rows) if r.role == "assistant" and r.stats), {}
        )
        self.statsChanged.emit(last_stats)
        self.ensure_model()

    def new_chat(self) -> int | None:
        """Start a new chat (or stay in the current one if it is still empty)."""
        if self.chat_id is not None:
            try:
                if not self.store.messages(self.chat_id):
                    return self.chat_id
            except StoreError as exc:
                self.errorRaised.emit(exc)
                return None
        try:
            chat_id = self.store.create_chat(NEW_CHAT_TITLE)
        except StoreError as exc:
            self.errorRaised.emit(exc)
            return None
        self.chatsChanged.emit()
        self.open_chat(chat_id)
        return chat_id

    def rename_chat(self, chat_id: int, title: str) -> None:
        title = " ".join(title.split())
        if not title:
            return
        try:
            self.store.rename_chat(chat_id, title)
        except (StoreError, KeyError) as exc:
            self._report(exc)
            return
        self.chatsChanged.emit()

    def delete_chat(self, chat_id: int) -> None:
        if self._stream is not None and self._stream.chat_id == chat_id:
            self.stop()
            self._finish_locally("cancelled")
        try:
            self.store.delete_chat(chat_id)
        except (StoreError, KeyError) as exc:
            self._report(exc)
            return
        self.chatsChanged.emit()
        if chat_id == self.chat_id:
            chats = self._list_chats()
            self.open_chat(chats[0].id if chats else None)

    def chat_settings(self, chat_id: int) -> dict:
        try:
            return dict(self.store.get_chat(chat_id).settings)
        except (StoreError, KeyError) as exc:
            self._report(exc)
            return {}

    def set_chat_settings(self, chat_id: int, overrides: dict) -> None:
        clean = {k: v for k, v in overrides.items() if k in CHAT_SETTING_KEYS}
        try:
            old = self.store.get_chat(chat_id).settings
            self.store.set_chat_settings(
                chat_id, {**{k: v for k, v in old.items() if k not in CHAT_SETTING_KEYS}, **clean}
            )
        except (StoreError, KeyError) as exc:
            self._report(exc)
            return
        if chat_id == self.chat_id:
            self.ensure_model()

    def search(self, query: str) -> list[SearchHit]:
        try:
            return self.store.search(query)
        except StoreError as exc:
            self.errorRaised.emit(exc)
            return []

    # -- settings ------------------------------------------------------------------------

    def apply_settings(self, new: Settings) -> None:
        old = self.settings
        new.ui_state = old.ui_state
        self.settings = new
        self.save_settings()
        engine_keys = ("default_model", "n_ctx", "n_threads", "n_gpu_layers", "n_batch")
        if any(getattr(old, k) != getattr(new, k) for k in engine_keys):
            self.ensure_model()

    def save_settings(self) -> None:
        try:
            self.settings.save(self.paths.settings_file)
        except HearthError as exc:
            self.errorRaised.emit(exc)

    # -- turns ---------------------------------------------------------------------------

    def send(self, text: str) -> bool:
        """Send a user message in the current chat (a new chat if none). False if refused."""
        text = text.strip()
        if not text or self.busy:
            return False
        if self.chat_id is None and self.new_chat() is None:
            return False
        chat_id = self.chat_id
        assert chat_id is not None

        def write() -> int:
            chat = self.store.get_chat(chat_id)
            if chat.title == NEW_CHAT_TITLE and not self.store.messages(chat.id):
                self.store.rename_chat(chat.id, title_from(text))
            return self.store.add_message(chat_id, "user", text)

        return self._answer_new_message(write)

    def regenerate(self) -> bool:
        """Answer the last user message again, replacing the last answer."""
        if self.busy or self.chat_id is None:
            return False
        try:
            rows = self.store.messages(self.chat_id)
            if not rows:
                return False
            if rows[-1].role == "assistant":
                self.store.delete_messages_from(self.chat_id, rows[-1].id)
                self.messagesRemoved.emit(rows[-1].id)
        except (StoreError, KeyError) as exc:
            self._report(exc)
            return False
        return self._start_answer()

    def edit_and_resend(self, message_id: int, text: str) -> bool:
        """Replace a user message and everything after it, then answer it."""
        text = text.strip()
        chat_id = self.chat_id
        if self.busy or chat_id is None or not text:
            return False

        def write() -> int:
            self.store.delete_messages_from(chat_id, message_id)
            self.messagesRemoved.emit(message_id)
            return self.store.add_message(chat_id, "user", text)

        return self._answer_new_message(write)

    def _answer_new_message(self, write: Callable[[], int]) -> bool:
        """Store a user message (`write` returns its id), show it, and start the answer."""
        try:
            mid = write()
        except (StoreError, KeyError) as exc:
            self._report(exc)
            return False
        self._emit_row(mid)
        self.chatsChanged.emit()
        return self._start_answer()

    def stop(self) -> None:
        """Stop the answer in flight. The engine answers within ~0.1 s; if it does not
        (e.g. the request waits behind a model load), the turn ends locally."""
        if self._stream is None or self._stream.stop_requested:
            return
        self._stream.stop_requested = True
        self.engine.cancel(self._stream.request_id)
        self._stop_timer.start()

    def _start_answer(self) -> bool:
        assert self.chat_id is not None
        self.ensure_model()
        chat = self._current_chat()
        if chat is None:
            return False
        overrides = chat.settings
        system_prompt = overrides.get("system_prompt")
        if not isinstance(system_prompt, str):
            system_prompt = self.settings.system_prompt
        sampling = merge_sampling(self.settings.sampling, overrides.get("sampling"))
        try:
            history = build_history(self.store.messages(chat.id), system_prompt)
            if not history or history[-1].role != "user":
                raise InvalidRequestError("There is no question to answer in this chat.")
            model_name = self._current_model_name()
            mid = self.store.add_message(
                chat.id, "assistant", "", model=model_name, status="incomplete"
            )
        except (StoreError, KeyError, HearthError) as exc:
            self._report(exc)
            return False
        request = GenerationRequest(messages=history, sampling=sampling)
        scope = SourceScope.from_chat_settings(chat.settings)
        if self.docs is not None and scope.enabled:
            # Search the chat's documents first; the engine request follows the results.
            self._stream = _Stream(0, chat.id, mid, request=request)
            self._stream.retrieval_id = self.docs.retrieve(
                history[-1].content, self.settings.rag_top_k, scope.search_paths()
            )
        else:
            rid = self.engine.generate(request)
            self._stream = _Stream(request_id=rid, chat_id=chat.id, message_id=mid)
        self._pending.clear()
        self._emit_row(mid)
        self.busyChanged.emit(True)
        return True

    def _current_model_name(self) -> str:
        return self._model_info.name if self._model_info else ""

    @Slot(int, list)
    def _on_retrieved(self, retrieval_id: int, hits: list) -> None:
        stream = self._stream
        if stream is None or stream.retrieval_id != retrieval_id or stream.request is None:
            return  # stopped or superseded meanwhile
        if stream.stop_requested:
            self._finish_locally("cancelled")
            return
        stream.hits = list(hits)
        stream.request.passages = [Passage(label=passage_label(h), text=h.text) for h in hits]
        stream.request_id = self.engine.generate(stream.request)

    @Slot(int, object)
    def _on_retrieve_failed(self, retrieval_id: int, error: HearthError) -> None:
        stream = self._stream
        if stream is None or stream.retrieval_id != retrieval_id:
            return
        self.errorRaised.emit(error)  # then answer without documents
        self._on_retrieved(retrieval_id, [])

    # -- streaming -----------------------------------------------------------------------

    @Slot(int, str)
    def _on_tokens(self, rid: int, delta: str) -> None:
        if self._stream is None or rid != self._stream.request_id or self._stream.stop_requested:
            return  # late tokens of a stopped or older request
        self._pending.append(delta)
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    @Slot()
    def _flush(self) -> None:
        stream = self._stream
        if stream is None or not self._pending:
            self._pending.clear()
            return
        delta = "".join(self._pending)
        self._pending.clear()
        stream.text += delta
        if stream.chat_id == self.chat_id:
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
        if self._stream is None or rid != self._stream.request_id:
            return
        if self._stream.stop_requested:
            stats.stop_reason = "cancelled"
        self._flush_now()
        status = "incomplete" if stats.stop_reason == "cancelled" else "complete"
        self._stream.sources = source_dicts(self._stream.hits[: stats.passages_used])
        self._end_stream(status, stats.as_dict(), stats.stop_reason)

    @Slot(int, object)
    def _on_failed(self, rid: int, error: HearthError) -> None:
        if self._stream is None or rid != self._stream.request_id:
            return
        self._flush_now()
        self._end_stream("error", {"error": error.user_message}, "error")
        self.errorRaised.emit(error)

    @Slot()
    def _stop_overdue(self) -> None:
        if self._stream is not None and self._stream.stop_requested:
            self._finish_locally("cancelled")

    def _finish_locally(self, reason: str) -> None:
        if self._stream is None:
            return
        self._pending.clear()
        self._end_stream("incomplete", {"stop_reason": reason}, reason)

    def _flush_now(self) -> None:
        self._flush_timer.stop()
        if self._pending:
            self._flush()

    def _end_stream(self, status: str, stats: dict, reason: str) -> None:
        stream, self._stream = self._stream, None
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
            row = next(
                (r for r in self.store.messages(stream.chat_id) if r.id == stream.message_id),
                None,
            )
        except (StoreError, KeyError) as exc:
            self._report(exc)
        if row is not None and stream.chat_id == self.chat_id:
            self.messageFinished.emit(row)
        if stats.get("n_ctx"):
            self.statsChanged.emit(stats)
        self.busyChanged.emit(False)
        self.generationFinished.emit(stream.message_id, reason)

    @property
    def model_info(self) -> ModelInfo | None:
        """The model requested last (being loaded, or loaded), from its file's header."""
        return self._model_info

    # -- shutdown ------------------------------------------------------------------------

    def shutdown(self, timeout_s: float = 1.5) -> bool:
        """Save the answer in flight, stop the engine thread. Safe to call twice."""
        if self._closed:
            return True
        self._closed = True
        if self._stream is not None:
            self.engine.cancel(self._stream.request_id)
            self._flush_now()
            stream, self._stream = self._stream, None
            try:
                self.store.update_message(
                    stream.message_id,
                    content=stream.text,
                    stats={"stop_reason": "cancelled", "closed": True},
                    status="incomplete",
                )
            except (StoreError, KeyError) as exc:
                log.warning("could not save the partial answer on close: %s", exc)
        self.save_settings()
        if self.docs is None:
            return self.engine.shutdown(timeout_s)
        deadline = time.monotonic() + timeout_s + 0.3
        self.docs.begin_shutdown()  # both threads stop in parallel
        ok = self.engine.shutdown(timeout_s)
        return self.docs.finish_shutdown(max(0.1, deadline - time.monotonic())) and ok

    # -- helpers -------------------------------------------------------------------------

    def _emit_row(self, message_id: int) -> None:
        if self.chat_id is None:
            return
        try:
            row = next(r for r in self.store.messages(self.chat_id) if r.id == message_id)
        except (StoreError, StopIteration) as exc:
            log.warning("message %d not found after saving it: %s", message_id, exc)
            return
        self.messageAdded.emit(row)

    def _report(self, exc: BaseException) -> None:
        if isinstance(exc, KeyError):
            exc = InvalidRequestError("That chat or message no longer exists.", repr(exc))
        self.errorRaised.emit(exc)
