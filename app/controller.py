"""The chat controller: the one place that ties the window, the chat store, the settings and
the engine thread together. GUI thread only.

The view never touches the store or the engine: it calls the controller's methods and
listens to its signals. A chat is a tree of messages (`app.conversation`): the controller
shows one path of it, answers along that path, and adds a sibling when an answer is
generated again or a question edited. The answer in flight is `app.turns.TurnRunner`'s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QObject, Signal

from app.branching import ChatTrees
from app.conversation import Tree
from app.conversation import build_history as build_history  # re-exported
from app.docs_worker import DocsHost
from app.engine_worker import EngineFactory, EngineHost, LoadedModel
from app.errors import StoreError
from app.model_slot import ModelSlot
from app.model_slot import ModelState as ModelState  # re-exported
from app.paths import Paths
from app.presets import merge_sampling as merge_sampling  # re-exported
from app.presets import with_preset
from app.settings import Settings
from app.sources import chat_sources
from app.store import ChatRow, ChatStore, MessageRow, SearchHit
from app.turns import Stream, TurnRunner
from engine.errors import HearthError, InvalidRequestError
from engine.types import GenerationRequest, ModelInfo

if TYPE_CHECKING:
    from engine.catalog import Catalog

log = logging.getLogger(__name__)
T = TypeVar("T")

NEW_CHAT_TITLE = "New chat"
CHAT_SETTING_KEYS = ("model", "system_prompt", "sampling")
# Settings that change how the model is loaded (a preset may set its context and GPU layers).
ENGINE_SETTINGS = (
    "default_model",
    "n_ctx",
    "n_threads",
    "n_gpu_layers",
    "n_batch",
    "model_presets",
    "backend",
    "remote_base_url",
    "remote_api_key",
    "remote_model",
)


# -- pure helpers ------------------------------------------------------------------------


def title_from(text: str, limit: int = 48) -> str:
    """A chat title from the first message: its first non-empty line, shortened."""
    for line in text.splitlines():
        line = " ".join(line.split())
        if line:
            return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
    return NEW_CHAT_TITLE


def answer_request(
    path: list[MessageRow], overrides: dict, settings: Settings
) -> GenerationRequest:
    """The request that answers the last message of `path`, with the chat's own system
    prompt and sampling where it has them (`overrides`: its settings; `settings`: with the
    preset of the chat's model applied, `ChatController.model_settings`)."""
    system_prompt = overrides.get("system_prompt")
    if not isinstance(system_prompt, str):
        system_prompt = settings.system_prompt
    history = build_history(path, system_prompt)
    if not history or history[-1].role != "user":
        raise InvalidRequestError("There is no question to answer in this chat.")
    return GenerationRequest(history, merge_sampling(settings.sampling, overrides.get("sampling")))


# -- the controller ------------------------------------------------------------------------


class ChatController(QObject):
    chatsChanged = Signal()  # the chat list changed (new, renamed, deleted, reordered)
    chatOpened = Signal(object, list)  # ChatRow | None, list[MessageRow]
    messageAdded = Signal(object)  # MessageRow
    messagesRemoved = Signal(int)  # this message and the ones after it left the shown path
    branchesChanged = Signal(object)  # dict: message id -> conversation.Branch, shown path
    streamDelta = Signal(int, str)  # message id, text appended since the last flush
    messageFinished = Signal(object)  # MessageRow with its final content, stats, status
    generationFinished = Signal(int, str)  # message id, stop reason or "error"
    busyChanged = Signal(bool)
    modelStateChanged = Signal(str, str)  # ModelState value, text for the status bar
    statsChanged = Signal(object)  # dict of the last answer's stats (GenerationStats.as_dict)
    errorRaised = Signal(object)  # an exception for the error presenter
    notice = Signal(str)  # a short informational message for the status bar
    settingsApplied = Signal(object)  # Settings, after apply_settings (the API server follows)

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
        self.models = ModelSlot(self.engine, paths, self)
        self.models.stateChanged.connect(self.modelStateChanged)
        self.docs = docs  # app.docs_worker.DocsHost (the documents thread), or None
        self.trees = ChatTrees(store)
        self.turns = TurnRunner(store, self.engine, docs, lambda: self.chat_id, self)
        for name in ("streamDelta", "messageFinished", "generationFinished", "busyChanged"):
            getattr(self.turns, name).connect(getattr(self, name))
        self.turns.statsChanged.connect(self.statsChanged)
        self.turns.errorRaised.connect(self._report)
        self.chat_id: int | None = None
        self._closed = False

    # -- start-up and models -------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.turns.stream is not None

    @property
    def _stream(self) -> Stream | None:
        return self.turns.stream

    @property
    def streaming_message_id(self) -> int | None:
        """The assistant message being written now, if any."""
        return self._stream.message_id if self._stream is not None else None

    # The model the engine holds (`ModelSlot`), as the window and the tests read it.

    @property
    def model_state(self) -> ModelState:
        return self.models.state

    @property
    def model_text(self) -> str:
        return self.models.text

    @property
    def loaded_model(self) -> LoadedModel | None:
        return self.models.loaded

    @property
    def model_info(self) -> ModelInfo | None:
        """The model requested last (being loaded, or loaded), from its file's header."""
        return self.models.info

    @property
    def catalog(self) -> Catalog:
        return self.models.catalog

    def start(self) -> None:
        """After the window is shown: recover, open the last chat, load its model."""
        if self.docs is not None:
            self.docs.start()  # opens the library and resumes unfinished indexing
        interrupted = self._attempt(self.store.mark_incomplete_on_start, 0)
        if interrupted:
            self.notice.emit(
                f"{interrupted} answer(s) were cut off when Hearth last stopped; "
                "their partial text is kept."
            )
        chats = self.chats()
        last = self.settings.ui_state.get("last_chat", "")
        chosen = next((c for c in chats if str(c.id) == last), chats[0] if chats else None)
        self.chatsChanged.emit()
        self.open_chat(chosen.id if chosen else None)

    def installed_models(self) -> list[ModelInfo]:
        return self.catalog.chat_models()

    def chat_model_name(self, chat: ChatRow | None) -> str:
        model = chat.settings.get("model") if chat is not None else None
        return model if isinstance(model, str) else self.settings.default_model

    def model_settings(self, chat: ChatRow | None) -> Settings:
        """The settings with the preset of the chat's model applied (`app.presets`)."""
        return with_preset(self.settings, self.chat_model_name(chat))

    def ensure_model(self) -> None:
        """Queue a load of the current chat's model, with its preset, unless it is loaded or
        loading. The name is resolved and the file read on the engine thread, never here."""
        chat = self.current_chat()
        self.models.ensure(self.chat_model_name(chat), self.model_settings(chat))

    def reload_model(self) -> None:
        self.models.forget()
        self.ensure_model()

    # -- chats ---------------------------------------------------------------------------

    def chats(self) -> list[ChatRow]:
        if self._closed:
            return []  # the window is closing; the store may already be closed
        return self._attempt(self.store.list_chats, [])

    def current_chat(self) -> ChatRow | None:
        if self.chat_id is None or self._closed:
            return None
        try:
            return self.store.get_chat(self.chat_id)
        except KeyError:
            return None

    def open_chat(self, chat_id: int | None) -> None:
        """Show a chat (None: none): the path to its active leaf, with its alternatives."""
        chat: ChatRow | None = None
        tree: Tree[MessageRow] = Tree([])
        if chat_id is not None:
            try:
                chat = self.store.get_chat(chat_id)
                tree = Tree(self.store.messages(chat_id))
            except KeyError:
                chat = None
            except StoreError as exc:
                self.errorRaised.emit(exc)
        self.chat_id = chat.id if chat else None
        self.settings.ui_state["last_chat"] = str(self.chat_id or "")
        rows = tree.path(chat.active_leaf) if chat is not None else []
        stream = self._stream
        if stream is not None and chat is not None and stream.chat_id == chat.id:
            # Back to the chat being answered: show all the text so far, not the last save.
            self.turns.flush_now()
            for row in rows:
                if row.id == stream.message_id:
                    row.content = stream.text
        self.chatOpened.emit(chat, rows)
        self.branchesChanged.emit(tree.branches(rows))
        last_stats = next(
            (r.stats for r in reversed(rows) if r.role == "assistant" and r.stats), {}
        )
        self.statsChanged.emit(last_stats)
        self.ensure_model()

    def new_chat(self) -> int | None:
        """Start a new chat (or stay in the current one if it is still empty)."""
        current = self.chat_id
        if current is not None:
            messages = self._attempt(lambda: self.store.messages(current), None)
            if messages is None or not messages:
                return None if messages is None else current
        chat_id = self._attempt(lambda: self.store.create_chat(NEW_CHAT_TITLE), None)
        if chat_id is None:
            return None
        self.chatsChanged.emit()
        self.open_chat(chat_id)
        return chat_id

    def rename_chat(self, chat_id: int, title: str) -> None:
        title = " ".join(title.split())
        if title and self._ok(lambda: self.store.rename_chat(chat_id, title)):
            self.chatsChanged.emit()

    def delete_chat(self, chat_id: int) -> None:
        self.turns.cancel_in_chat(chat_id)
        if not self._ok(lambda: self.store.delete_chat(chat_id)):
            return
        self.chatsChanged.emit()
        if chat_id == self.chat_id:
            chats = self.chats()
            self.open_chat(chats[0].id if chats else None)

    def chat_settings(self, chat_id: int) -> dict:
        return dict(self._attempt(lambda: self.store.get_chat(chat_id).settings, {}))

    def set_chat_settings(self, chat_id: int, overrides: dict) -> None:
        clean = {k: v for k, v in overrides.items() if k in CHAT_SETTING_KEYS}

        def write() -> None:
            old = self.store.get_chat(chat_id).settings
            kept = {k: v for k, v in old.items() if k not in CHAT_SETTING_KEYS}
            self.store.set_chat_settings(chat_id, {**kept, **clean})

        if self._ok(write) and chat_id == self.chat_id:
            self.ensure_model()

    def search(self, query: str) -> list[SearchHit]:
        return self._attempt(lambda: self.store.search(query), [])

    # -- settings ------------------------------------------------------------------------

    def apply_settings(self, new: Settings) -> None:
        old = self.settings
        new.ui_state = old.ui_state
        self.settings = new
        self.save_settings()
        if any(getattr(old, k) != getattr(new, k) for k in ENGINE_SETTINGS):
            self.ensure_model()
        self.settingsApplied.emit(new)

    def save_settings(self) -> None:
        try:
            self.settings.save(self.paths.settings_file)
        except HearthError as exc:
            self.errorRaised.emit(exc)

    # -- turns ---------------------------------------------------------------------------

    def send(self, text: str) -> bool:
        """Send a user message in the current chat (a new chat if none): it follows the end
        of the shown path. False if refused."""
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
        """Answer the last question of the shown path again. The earlier answer is kept as an
        alternative of the new one (the view shows ‹ n / m › on it)."""
        if self.busy or self.chat_id is None:
            return False
        path: list[MessageRow] = self._attempt(self.path, [])
        if not path:
            return False
        last = path[-1]
        question = last.parent_id if last.role == "assistant" else last.id
        if question is None:
            return False
        if last.role == "assistant":
            self.messagesRemoved.emit(last.id)
        return self._start_answer(question)

    def edit_and_resend(self, message_id: int, text: str) -> bool:
        """Send an edited version of a question as an alternative of it (the original and the
        conversation after it stay, one ‹ › away), then answer it."""
        text = text.strip()
        chat_id = self.chat_id
        if self.busy or chat_id is None or not text:
            return False

        def write() -> int:
            old = self.store.message(message_id)
            if old.chat_id != chat_id or old.role != "user":
                raise KeyError(message_id)
            mid = self.store.add_message(chat_id, "user", text, parent=old.parent_id)
            self.messagesRemoved.emit(message_id)
            return mid

        return self._answer_new_message(write)

    def switch_branch(self, message_id: int, step: int) -> bool:
        """Show the alternative `step` places after `message_id` (negative: before; 0: its own,
        for a search hit not shown), as it went on last. Refused while this chat is answered."""
        return self._change_tree(lambda chat_id: self.trees.switch(chat_id, message_id, step))

    def delete_branch(self, message_id: int) -> bool:
        """Delete an alternative: `message_id` and everything that followed it. The chat then
        shows the nearest remaining alternative. The window asks first."""
        return self._change_tree(lambda chat_id: self.trees.delete(chat_id, message_id))

    def _change_tree(self, change: Callable[[int], bool]) -> bool:
        chat_id = self.chat_id
        if chat_id is None or self._answering(chat_id):
            return False
        if not self._attempt(lambda: change(chat_id), False):
            return False
        self.chatsChanged.emit()  # a deleted branch may reorder the list
        self.open_chat(chat_id)
        return True

    def path(self) -> list[MessageRow]:
        """The messages the current chat shows, first to last."""
        return self.trees.path(self.chat_id) if self.chat_id is not None else []

    def _answering(self, chat_id: int) -> bool:
        return self._stream is not None and self._stream.chat_id == chat_id

    def _answer_new_message(self, write: Callable[[], int]) -> bool:
        """Store a user message (`write` returns its id), show it, and start the answer."""
        mid = self._attempt(write, None)
        if mid is None:
            return False
        self._emit_row(mid)
        self.chatsChanged.emit()
        return self._start_answer(mid)

    def stop(self) -> None:
        """Stop the answer in flight (`TurnRunner.stop`)."""
        self.turns.stop()

    def _start_answer(self, question: int) -> bool:
        """Answer the user message `question` with the path that leads to it."""
        assert self.chat_id is not None
        self.ensure_model()
        chat = self.current_chat()
        if chat is None:
            return False
        try:
            path = self.trees.path(chat.id, question)
            request = answer_request(path, chat.settings, self.model_settings(chat))
            mid = self.store.add_message(
                chat.id,
                "assistant",
                "",
                parent=question,
                model=self._current_model_name(),
                status="incomplete",
            )
        except (StoreError, KeyError, HearthError) as exc:
            self._report(exc)
            return False
        scope = chat_sources(self.settings, chat.settings, self.docs)
        search = None
        question_text = request.messages[-1].content
        if self.docs is not None and scope.searches(question_text):
            search = (question_text, self.settings.rag_top_k, scope.search_paths())
        self.turns.start(chat.id, mid, request, search)
        self._emit_row(mid)
        self._emit_branches(chat.id)
        self.busyChanged.emit(True)
        return True

    def _current_model_name(self) -> str:
        return self.models.info.name if self.models.info else ""

    # -- shutdown ------------------------------------------------------------------------

    def shutdown(self, timeout_s: float = 1.5) -> bool:
        """Save the answer in flight, stop the engine thread. Safe to call twice."""
        if self._closed:
            return True
        self._closed = True
        self.turns.save_on_close()
        self.save_settings()
        if self.docs is None:
            return self.engine.shutdown(timeout_s)
        deadline = time.monotonic() + timeout_s + 0.3
        self.docs.begin_shutdown()  # both threads stop in parallel
        ok = self.engine.shutdown(timeout_s)
        return self.docs.finish_shutdown(max(0.1, deadline - time.monotonic())) and ok

    # -- helpers -------------------------------------------------------------------------

    def _emit_row(self, message_id: int) -> None:
        row = self._attempt(lambda: self.store.message(message_id), None)
        if row is not None and row.chat_id == self.chat_id:
            self.messageAdded.emit(row)

    def _emit_branches(self, chat_id: int) -> None:
        """Tell the view which messages of the shown path have alternatives."""
        branches = self._attempt(lambda: self.trees.branches(chat_id), None)
        if branches is not None:
            self.branchesChanged.emit(branches)

    def _attempt(self, call: Callable[[], T], failed: T) -> T:
        """`call()`; on a store failure, or a chat or message that is gone, report it and
        return `failed`."""
        try:
            return call()
        except (StoreError, KeyError) as exc:
            self._report(exc)
            return failed

    def _ok(self, call: Callable[[], object]) -> bool:
        """Whether `call()` succeeded (a failure is reported, as by `_attempt`)."""
        return self._attempt(lambda: (call(), True)[1], False)

    def _report(self, exc: BaseException) -> None:
        if isinstance(exc, KeyError):
            exc = InvalidRequestError("That chat or message no longer exists.", repr(exc))
        self.errorRaised.emit(exc)
