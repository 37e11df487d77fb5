"""Branch operations on the chats of one store: the tree of `app.conversation`, read from and
written to `app.store.ChatStore`. No Qt: the controller calls these and tells the window.

Each raises what the store raises (StoreError; KeyError for a message of no such chat)."""

from __future__ import annotations

from app.conversation import Branch, Tree
from app.store import ChatStore, MessageRow


class ChatTrees:
    def __init__(self, store: ChatStore) -> None:
        self.store = store

    def tree(self, chat_id: int) -> Tree[MessageRow]:
        return Tree(self.store.messages(chat_id))

    def path(self, chat_id: int, leaf: int | None = None) -> list[MessageRow]:
        """The messages from the first to `leaf` (default: the chat's active leaf)."""
        if leaf is None:
            leaf = self.store.active_leaf(chat_id)
        return self.tree(chat_id).path(leaf)

    def branches(self, chat_id: int) -> dict[int, Branch]:
        """The messages of the shown path that have alternatives."""
        tree = self.tree(chat_id)
        return tree.branches(tree.path(self.store.active_leaf(chat_id)))

    def switch(self, chat_id: int, message_id: int, step: int) -> bool:
        """Make the alternative `step` places from `message_id` the shown one, with the
        conversation that followed it last; False if there is none there, or (step 0) when
        `message_id` is shown already."""
        tree = self.tree(chat_id)
        if step == 0 and message_id in tree:
            shown = tree.path(self.store.active_leaf(chat_id))
            if any(m.id == message_id for m in shown):
                return False
        siblings = tree.siblings(message_id) if message_id in tree else []
        index = siblings.index(message_id) + step if siblings else -1
        if not 0 <= index < len(siblings):
            return False
        self.store.set_active_leaf(chat_id, tree.latest_leaf(siblings[index]))
        return True

    def delete(self, chat_id: int, message_id: int) -> bool:
        """Delete `message_id` and everything after it; the chat then shows the nearest
        remaining alternative (or the message before). False if it is not in the chat."""
        tree = self.tree(chat_id)
        if message_id not in tree:
            return False
        leaf = tree.leaf_after_delete(message_id)
        self.store.delete_branch(chat_id, message_id)
        if leaf is not None:
            self.store.set_active_leaf(chat_id, leaf)
        return True
