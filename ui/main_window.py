"""The main window: chat list on the left, the conversation and the message box on the right,
the model, context and speed in the status bar. It only draws and forwards: every action
goes to the controller, every change comes back as a controller signal."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, QEvent, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QInputDialog,
    QLabel,
    QMainWindow,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.services import Services
from engine.errors import HearthError
from ui.chat_transfer import install as install_chat_transfer
from ui.chat_view import ChatView
from ui.composer import Composer
from ui.dialogs import confirm as confirm_dialog
from ui.models_page import install as install_models_ui
from ui.settings_dialog import ChatSettingsDialog, SettingsContext, SettingsDialog
from ui.sidebar import Sidebar
from ui.style import style_sheet

STATE_PREFIX = {"loading": "⏳ ", "ready": "", "failed": "⚠ ", "none": ""}
# The conversation column never gets narrower than this (lines readable, a message's buttons
# in view): the Documents panel, a dock, yields to it, and so does the list of chats.
CHAT_MIN_WIDTH = 480
SIDEBAR_MIN_WIDTH = 180


def format_stats(stats: dict) -> tuple[str, str]:
    """(context text, speed text) for the status bar from a message's stats dict."""
    n_ctx = stats.get("n_ctx") or 0
    used = stats.get("context_used") or 0
    context = f"Context {used:,} / {n_ctx:,}" if n_ctx else ""
    tps = stats.get("decode_tokens_per_s") or 0
    ttft = stats.get("ttft_s") or 0
    speed = ""
    if tps:
        speed = f"{tps:.1f} tok/s"
        if ttft:
            speed += f" · first token {ttft * 1000:.0f} ms"
    return context, speed


class MainWindow(QMainWindow):
    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        self.controller = services.controller
        self.presenter = services.presenter
        self.setWindowTitle("Hearth")
        self.setObjectName("mainWindow")
        self.resize(1100, 760)

        self.sidebar = Sidebar(self)
        self.chat_view = ChatView(self)
        self.composer = Composer(self)
        right = QWidget(self)
        right.setMinimumWidth(CHAT_MIN_WIDTH)
        self.sidebar.setMinimumWidth(SIDEBAR_MIN_WIDTH)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(0)
        right_layout.addWidget(self.chat_view, 1)
        right_layout.addWidget(self.composer)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([260, 840])
        self.splitter.setChildrenCollapsible(False)
        self.setCentralWidget(self.splitter)

        self.model_label = QLabel("No model")
        self.model_label.setObjectName("modelLabel")
        self.context_label = QLabel("")
        self.speed_label = QLabel("")
        bar = self.statusBar()
        bar.addWidget(self.model_label, 1)
        bar.addPermanentWidget(self.context_label)
        bar.addPermanentWidget(self.speed_label)

        self._build_menus()
        self._wire()
        self.models_ui = install_models_ui(self, services)  # menu, Settings pages, jobs
        self.chat_transfer = install_chat_transfer(self, services, self.file_menu)
        # Settings ▸ Engine and ▸ Server, the API server's status and log (ui/server_ui.py)
        from ui.server_ui import install as install_server_ui

        self.server_ui = install_server_ui(self, services)
        self._restore_state()
        self._palette_key = self.palette().color(self.palette().ColorRole.Window).name()
        self.setStyleSheet(style_sheet())
        self.composer.edit.setFocus()
        # Documents panel, sources selector, drag and drop, citations (ui/documents_panel.py)
        from ui.documents_panel import install_documents_ui

        self.documents_ui = install_documents_ui(self, services)

    # -- construction ------------------------------------------------------------------

    def _build_menus(self) -> None:
        def action(menu: Any, text: str, slot: Any, shortcut: str | None = None) -> QAction:
            act = menu.addAction(text)
            act.triggered.connect(slot)
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
            return act

        file_menu = self.file_menu = self.menuBar().addMenu("&File")
        action(file_menu, "&New chat", self.controller.new_chat, "Ctrl+N")
        action(file_menu, "&Settings…", self.open_settings, "Ctrl+,")
        file_menu.addSeparator()
        action(file_menu, "&Quit", self.close, "Ctrl+Q")
        chat_menu = self.menuBar().addMenu("&Chat")
        self.stop_action = action(chat_menu, "&Stop answer", self.controller.stop)
        self.regen_action = action(
            chat_menu, "&Regenerate answer", self.controller.regenerate, "Ctrl+R"
        )
        chat_menu.addSeparator()
        action(chat_menu, "&Find in all chats", self.sidebar.focus_search, "Ctrl+F")
        action(chat_menu, "Re&name chat…", lambda: self._with_current(self.rename_chat))
        action(chat_menu, "Chat se&ttings…", lambda: self._with_current(self.open_chat_settings))
        action(chat_menu, "&Delete chat…", lambda: self._with_current(self.delete_chat))
        # Esc stops the answer wherever the focus is.
        self.stop_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        self.stop_shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        self.stop_shortcut.activated.connect(self.controller.stop)

    def _wire(self) -> None:
        c = self.controller
        c.chatsChanged.connect(self.refresh_chats)
        c.chatOpened.connect(self._on_chat_opened)
        c.messageAdded.connect(self.chat_view.add_message)
        c.messagesRemoved.connect(self.chat_view.remove_from)
        c.branchesChanged.connect(self.chat_view.set_branches)
        c.streamDelta.connect(self.chat_view.append_delta)
        c.turns.promptProgress.connect(self.chat_view.set_progress)
        c.messageFinished.connect(self.chat_view.finish_message)
        c.busyChanged.connect(self._on_busy)
        c.modelStateChanged.connect(self._on_model_state)
        c.statsChanged.connect(self._on_stats)
        c.notice.connect(lambda text: self.statusBar().showMessage(text, 10000))
        self.composer.sendRequested.connect(self._send)
        self.composer.stopRequested.connect(c.stop)
        self.chat_view.editSubmitted.connect(self._edit_submitted)
        self.chat_view.regenerateRequested.connect(c.regenerate)
        self.chat_view.branchRequested.connect(c.switch_branch)
        self.chat_view.deleteBranchRequested.connect(self.delete_branch)
        self.sidebar.newChatRequested.connect(c.new_chat)
        self.sidebar.chatSelected.connect(c.open_chat)
        self.sidebar.searchHitSelected.connect(self._open_hit)
        self.sidebar.searchChanged.connect(self._search)
        self.sidebar.renameRequested.connect(self.rename_chat)
        self.sidebar.deleteRequested.connect(self.delete_chat)
        self.sidebar.chatSettingsRequested.connect(self.open_chat_settings)

    # -- controller → view ---------------------------------------------------------------

    def refresh_chats(self) -> None:
        chats = self.controller.chats()
        self.sidebar.set_chats(chats, self.controller.chat_id)
        # The title follows the chat's: a new chat is named after its first message.
        current = next((c for c in chats if c.id == self.controller.chat_id), None)
        self.setWindowTitle(f"{current.title} — Hearth" if current else "Hearth")

    def _on_chat_opened(self, chat: Any, rows: list[Any]) -> None:
        self.chat_view.set_messages(rows, getattr(self.controller, "streaming_message_id", None))
        self.refresh_chats()

    def _on_busy(self, busy: bool) -> None:
        self.composer.set_busy(busy)
        self.chat_view.set_busy(busy)
        self.regen_action.setEnabled(not busy)
        self.stop_action.setEnabled(busy)

    def _on_model_state(self, state: str, text: str) -> None:
        label = text if state != "failed" else f"Model failed: {text}"
        self.model_label.setText(STATE_PREFIX.get(state, "") + label)
        self.model_label.setToolTip(text)
        self.model_label.setProperty("state", state)
        self.model_label.style().unpolish(self.model_label)
        self.model_label.style().polish(self.model_label)
        loaded = getattr(self.controller, "loaded_model", None)
        if state == "ready" and loaded is not None and not self.context_label.text():
            self.context_label.setText(f"Context 0 / {loaded.n_ctx:,}")

    def _on_stats(self, stats: dict) -> None:
        context, speed = format_stats(stats)
        if not context:
            loaded = getattr(self.controller, "loaded_model", None)
            context = f"Context 0 / {loaded.n_ctx:,}" if loaded is not None else ""
        self.context_label.setText(context)
        self.speed_label.setText(speed)

    # -- view → controller ---------------------------------------------------------------

    def _send(self, text: str) -> None:
        if self.controller.send(text):
            self.composer.clear()

    def _edit_submitted(self, message_id: int, text: str) -> None:
        self.controller.edit_and_resend(message_id, text)

    def _search(self, query: str) -> None:
        if not query.strip():
            self.sidebar.end_search()
            self.refresh_chats()
            return
        self.sidebar.set_hits(self.controller.search(query))

    def _open_hit(self, chat_id: int, message_id: int) -> None:
        if chat_id != self.controller.chat_id:
            self.controller.open_chat(chat_id)
        self.controller.switch_branch(message_id, 0)  # a hit in a version not shown
        self.chat_view.reveal(message_id)

    def _with_current(self, fn: Any) -> None:
        if self.controller.chat_id is not None:
            fn(self.controller.chat_id)

    def rename_chat(self, chat_id: int, title: str | None = None) -> None:
        if title is None:
            current = next((c.title for c in self.controller.chats() if c.id == chat_id), "")
            title, ok = QInputDialog.getText(self, "Rename chat", "Title:", text=current)
            if not ok:
                return
        self.controller.rename_chat(chat_id, title)

    def delete_chat(self, chat_id: int, confirm: bool = True) -> None:
        if confirm:
            title = next((c.title for c in self.controller.chats() if c.id == chat_id), "")
            text = f"Delete “{title}” and all its messages? This cannot be undone."
            if not confirm_dialog(self, "Delete chat", text, "Delete"):
                return
        self.controller.delete_chat(chat_id)

    def delete_branch(self, message_id: int, confirm: bool = True) -> None:
        """Delete one version of a message and the conversation that followed it."""
        if confirm and not confirm_dialog(
            self,
            "Delete version",
            "Delete this version and every message that followed it? The other versions "
            "stay. This cannot be undone.",
            "Delete",
        ):
            return
        self.controller.delete_branch(message_id)

    def settings_dialog(self) -> SettingsDialog:
        context = SettingsContext(
            models=self._models(), controller=self.controller, services=self.services
        )
        return SettingsDialog(self.controller.settings, context, self)

    def open_settings(self) -> None:
        dialog = self.settings_dialog()
        if dialog.exec() == SettingsDialog.DialogCode.Accepted:
            self.controller.apply_settings(dialog.result_settings())

    def open_chat_settings(self, chat_id: int) -> None:
        chat = next((c for c in self.controller.chats() if c.id == chat_id), None)
        if chat is None:
            return
        settings = self.controller.model_settings(chat)  # with the model's preset applied
        dialog = ChatSettingsDialog(chat.title, chat.settings, settings, self._models(), self)
        if dialog.exec() == ChatSettingsDialog.DialogCode.Accepted:
            self.controller.set_chat_settings(chat_id, dialog.overrides())

    def _models(self) -> list[Any]:
        try:
            return list(self.controller.installed_models())
        except (HearthError, OSError) as exc:  # a damaged models folder must not stop it
            self.presenter.present(exc)
            return []

    # -- window state ----------------------------------------------------------------------

    def _restore_state(self) -> None:
        state = self.controller.settings.ui_state
        geometry = state.get("geometry")
        if geometry:
            self.restoreGeometry(QByteArray.fromBase64(geometry.encode()))
        splitter = state.get("splitter")
        if splitter:
            self.splitter.restoreState(QByteArray.fromBase64(splitter.encode()))

    def save_state(self) -> None:
        state = self.controller.settings.ui_state
        state["geometry"] = bytes(self.saveGeometry().toBase64().data()).decode()
        state["splitter"] = bytes(self.splitter.saveState().toBase64().data()).decode()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt name)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            # Style sheet colours come from the palette: re-apply so dark/light follow.
            key = self.palette().color(self.palette().ColorRole.Window).name()
            if key != self._palette_key:
                self._palette_key = key
                self.setStyleSheet(style_sheet())
        super().changeEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.save_state()
        self.controller.shutdown()
        event.accept()
