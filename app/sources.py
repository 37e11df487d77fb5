"""Which documents a chat answers from: its own choice ("sources" in the chat's settings), or,
for a chat that has not chosen, what the user chose last (kept in Settings.ui_state), so that a
new chat in a window whose library holds documents answers from them, and a user who picked
"No documents" keeps chatting without them. Adding documents makes "all" the default, as it
makes the open chat answer from them (ui/sources_bar.py); before any choice, a library that
holds documents is the default. No Qt."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from rag.retrieve import STOP_WORDS

if TYPE_CHECKING:  # pragma: no cover
    from app.settings import Settings

# Settings.ui_state key: what a chat that has not chosen answers from
NEW_CHAT_SOURCES = "new_chat_sources"

# Greetings, thanks and farewells: a message made of these (and stop words) only asks nothing
# that documents answer. Searching for "Hello!" found no passage and the answer was "Your
# documents don't seem to cover this", in every chat that answers from documents.
_SMALL_TALK_TEXT = (
    "hello hi hey hiya howdy greetings yo thanks thank thx ty cheers bye goodbye ok okay "
    "great cool nice awesome perfect sorry yes yeah yep sure good morning afternoon evening "
    "night welcome lot much everyone friend buddy haha lol again"
)
SMALL_TALK = frozenset(_SMALL_TALK_TEXT.split())
SMALL_TALK_MAX_WORDS = 8
_WORDS = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def is_small_talk(message: str) -> bool:
    """A short greeting, thanks or goodbye ("Hi!", "Thanks a lot.", "Good morning"), which
    the model answers without searching the documents."""
    words = [w.lower() for w in _WORDS.findall(message)]
    if not words or len(words) > SMALL_TALK_MAX_WORDS or any(c.isdigit() for c in message):
        return False
    talk = [w for w in words if w in SMALL_TALK]
    return bool(talk) and all(w in SMALL_TALK or w in STOP_WORDS for w in words)


@dataclass
class SourceScope:
    """Which documents a chat answers from (stored in the chat's settings as "sources")."""

    mode: str = "none"  # none | all | selected
    paths: list[str] = field(default_factory=list)

    @classmethod
    def from_chat_settings(
        cls, settings: dict | None, default: SourceScope | None = None
    ) -> SourceScope:
        """The chat's sources; `default` (else none) for a chat that has not chosen."""
        if "sources" not in (settings or {}):
            return default or cls()
        return cls.from_setting((settings or {}).get("sources"))

    @classmethod
    def from_setting(cls, raw: Any) -> SourceScope:
        """A scope from its stored form (`as_setting`); anything damaged reads as none."""
        if not isinstance(raw, dict):
            return cls()
        mode = raw.get("mode")
        paths = raw.get("paths")
        clean = [p for p in paths if isinstance(p, str)] if isinstance(paths, list) else []
        if mode not in ("none", "all", "selected"):
            return cls()
        return cls(str(mode), clean)

    def as_setting(self) -> dict[str, Any]:
        return {"mode": self.mode, "paths": list(self.paths)}

    @property
    def enabled(self) -> bool:
        return self.mode == "all" or (self.mode == "selected" and bool(self.paths))

    def searches(self, message: str) -> bool:
        """Whether `message`, sent in a chat with this scope, searches the documents: not
        when it holds none, nor for small talk (`is_small_talk`)."""
        return self.enabled and not is_small_talk(message)

    def search_paths(self) -> tuple[str, ...] | None:
        return None if self.mode == "all" else tuple(self.paths)


class Library(Protocol):
    def may_hold_documents(self) -> bool: ...


def chat_sources(
    settings: Settings, chat_settings: dict | None, library: Library | None
) -> SourceScope:
    """What a chat (given its settings) answers from: its own choice, else the default for
    `library` (app.docs_worker.DocsHost; None: no documents thread)."""
    has_documents = library is not None and library.may_hold_documents()
    return SourceScope.from_chat_settings(chat_settings, default_sources(settings, has_documents))


def default_sources(settings: Settings, has_documents: bool) -> SourceScope:
    """What the user chose last; before any choice, all documents when the library holds
    some (added from the command line, or before this was remembered), else none."""
    stored = settings.ui_state.get(NEW_CHAT_SOURCES)
    if stored is None:
        return SourceScope("all" if has_documents else "none")
    try:
        raw = json.loads(stored)
    except ValueError:
        raw = None
    return SourceScope.from_setting(raw)


def remember_sources(settings: Settings, scope: SourceScope) -> None:
    """Chats that have not chosen (new ones included) answer from `scope` from now on; the
    caller saves the settings."""
    settings.ui_state[NEW_CHAT_SOURCES] = json.dumps(scope.as_setting())
