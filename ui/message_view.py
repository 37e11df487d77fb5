"""One message in the conversation: a header with actions, and its body rendered as markdown.

Each message is its own widget, so appending tokens to the streaming answer re-renders only
that message (and only its last segment: while streaming, the paragraph being written),
never the whole conversation. Re-rendering is throttled: at most every MIN_RENDER_GAP_S, and
the wait grows with the cost of the last render, so a very long answer cannot eat the GUI
thread (nor the GIL the engine thread needs between tokens).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QDesktopServices,
    QFontDatabase,
    QGuiApplication,
    QImage,
    QTextCursor,
    QTextDocument,
    QTextOption,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.conversation import split_thoughts
from ui.markdown import Segment, split_markdown, split_streaming
from ui.message_parts import BranchSwitcher, ElidedLabel, ThoughtsBlock

ROLE_TITLES = {"user": "You", "assistant": "Assistant", "system": "System"}


class MarkdownView(QTextBrowser):
    """Read-only markdown (GitHub dialect) whose height follows its content."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("markdownView")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setOpenLinks(False)
        self.anchorClicked.connect(self._open_link)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.viewport().setAutoFillBackground(False)
        self.setAutoFillBackground(False)
        self.document().setDocumentMargin(2)
        # A word longer than the line (a URL, a path) breaks instead of running off the side.
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.document().documentLayout().documentSizeChanged.connect(self._fit_height)
        self._source = ""
        self._plain = False

    def set_markdown(self, text: str) -> None:
        if text == self._source and not self._plain:
            return
        self._source, self._plain = text, False
        self.document().setMarkdown(text, QTextDocument.MarkdownFeature.MarkdownDialectGitHub)

    def set_plain(self, text: str) -> None:
        if text == self._source and self._plain:
            return
        self._source, self._plain = text, True
        self.setPlainText(text)

    def source_text(self) -> str:
        return self._source

    def _fit_height(self, size: object = None) -> None:
        height = int(self.document().size().height() + 0.99) + 2 * self.frameWidth()
        if height != self.height() or self.minimumHeight() != height:
            self.setFixedHeight(max(height, 8))

    def resizeEvent(self, event: object) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)  # type: ignore[arg-type]
        self._fit_height()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(200, self.height())

    def wheelEvent(self, event: object) -> None:  # noqa: N802
        event.ignore()  # type: ignore[attr-defined]  # let the conversation scroll

    def loadResource(self, kind: int, name: QUrl | str) -> object:  # noqa: N802 (Qt name)
        """Answers may quote retrieved text: images and style sheets they name are never
        fetched or read (no http, no local files). An image gets a blank pixel: a null answer
        would make Qt read a local file itself."""
        if kind == int(QTextDocument.ResourceType.ImageResource.value):
            return _blank_image()
        return None

    @staticmethod
    def _open_link(url: QUrl) -> None:
        if url.scheme() in ("http", "https", "mailto"):
            QDesktopServices.openUrl(url)


def _blank_image() -> QImage:
    image = QImage(1, 1, QImage.Format.Format_ARGB32)
    image.fill(0)
    return image


class CodeBlock(QFrame):
    """A fenced code block: language, Copy button, monospace text that scrolls sideways."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("codeBlock")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.lang = QLabel()
        self.lang.setObjectName("codeLang")
        self.copy_button = QToolButton()
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip("Copy this code")
        self.copy_button.setAutoRaise(True)
        self.copy_button.clicked.connect(self.copy)
        self.edit = _CodeEdit(self._fit_height)
        self.edit.setObjectName("codeText")
        self.edit.setReadOnly(True)
        self.edit.setFrameShape(QFrame.Shape.NoFrame)
        self.edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.edit.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.edit.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.edit.wheelEvent = lambda event: event.ignore()  # type: ignore[method-assign]
        head = QHBoxLayout()
        head.setContentsMargins(8, 2, 2, 0)
        head.addWidget(self.lang)
        head.addStretch(1)
        head.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 1)
        layout.setSpacing(0)
        layout.addLayout(head)
        layout.addWidget(self.edit)
        self._text = ""
        self._lines = 0
        self._widest = 0

    def set_code(self, text: str, lang: str) -> None:
        self.lang.setText(lang or "code")
        if text == self._text:
            return
        if self._text and text.startswith(self._text):
            cursor = self.edit.textCursor()
            cursor.movePosition(QTextCursor.MoveOperation.End)
            cursor.insertText(text[len(self._text) :])
        else:
            self.edit.setPlainText(text)
        self._text = text
        metrics = self.edit.fontMetrics()
        widest = max(metrics.horizontalAdvance(line) for line in text.split("\n"))
        lines = text.count("\n") + 1
        if lines != self._lines or widest != self._widest:
            self._lines, self._widest = lines, widest
            self._fit_height()

    def code(self) -> str:
        return self._text

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self._text)
        self.copy_button.setText("Copied")
        QTimer.singleShot(1500, lambda: self.copy_button.setText("Copy"))

    def _fit_height(self) -> None:
        if not hasattr(self, "edit"):
            return  # called while the editor is being built
        metrics = self.edit.fontMetrics()
        margin = 2 * int(self.edit.document().documentMargin())
        height = self._lines * metrics.lineSpacing() + margin + 4
        if self._widest + margin > self.edit.viewport().width():
            height += self.edit.horizontalScrollBar().sizeHint().height()
        self.edit.setFixedHeight(height)


class _CodeEdit(QPlainTextEdit):
    """The code text; tells its block when its width changes (a scroll bar may be needed)."""

    def __init__(self, on_resize: Callable[[], None]) -> None:
        super().__init__()
        self._on_resize = on_resize

    def resizeEvent(self, event: object) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)  # type: ignore[arg-type]
        self._on_resize()


class MessageBody(QWidget):
    """Segments of a message: MarkdownView for prose, CodeBlock for fenced code.

    Updating re-renders only the segments whose text changed (while streaming, the last)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self._parts: list[tuple[str, QWidget]] = []

    def set_text(self, text: str, plain: bool = False, streaming: bool = False) -> None:
        segments = [Segment("markdown", text)] if plain else split_markdown(text)
        if streaming and not plain:
            segments = split_streaming(segments)
        for index, segment in enumerate(segments):
            if index < len(self._parts) and self._parts[index][0] == segment.kind:
                widget = self._parts[index][1]
            else:
                widget = self._make(segment.kind)
                self._replace(index, segment.kind, widget)
            if isinstance(widget, CodeBlock):
                widget.set_code(segment.text, segment.lang)
            elif isinstance(widget, MarkdownView):
                if plain:
                    widget.set_plain(segment.text)
                else:
                    widget.set_markdown(segment.text)
        for _kind, widget in self._parts[len(segments) :]:
            self._layout.removeWidget(widget)
            widget.deleteLater()
        del self._parts[len(segments) :]

    def shown_text(self) -> str:
        """The text of every segment, as rendered (markdown source, code)."""
        texts = [w.code() if isinstance(w, CodeBlock) else w.source_text() for _k, w in self._parts]  # type: ignore[attr-defined]
        return "\n\n".join(texts)

    def code_blocks(self) -> list[CodeBlock]:
        return [w for _k, w in self._parts if isinstance(w, CodeBlock)]

    def _make(self, kind: str) -> QWidget:
        return CodeBlock(self) if kind == "code" else MarkdownView(self)

    def _replace(self, index: int, kind: str, widget: QWidget) -> None:
        if index < len(self._parts):
            old = self._parts[index][1]
            self._layout.replaceWidget(old, widget)
            old.deleteLater()
            self._parts[index] = (kind, widget)
        else:
            self._layout.addWidget(widget)
            self._parts.append((kind, widget))


def context_note(stats: dict) -> str:
    """What the chat says under an answer whose prompt left old turns out."""
    dropped = stats.get("turns_dropped")
    if not isinstance(dropped, int) or dropped <= 0:
        return ""
    turns = "turn" if dropped == 1 else f"{dropped} turns"
    n_ctx = stats.get("n_ctx")
    size = f" ({n_ctx:,} tokens)" if isinstance(n_ctx, int) and n_ctx > 0 else ""
    return (
        f"The oldest {turns} of this chat no longer fit the model's context{size}, so this "
        "answer was written without them. Start a new chat, or raise the context length in "
        "Settings, to keep the whole conversation in view."
    )


class MessageWidget(QFrame):
    """Header (role, model, status, alternatives, actions) and body of one message; an
    answer's thinking is folded above its body."""

    editRequested = Signal(int)  # message id
    editSubmitted = Signal(int, str)  # message id, new text
    regenerateRequested = Signal()
    branchRequested = Signal(int, int)  # message id, -1 (previous version) or +1 (next)
    deleteRequested = Signal(int)  # message id: delete this version and what followed it

    # At most 20 renders a second while streaming: each is a layout and a repaint of the
    # answer on the GUI thread, and a token every 13 ms needs no more to read as smooth.
    MIN_RENDER_GAP_S = 0.05

    def __init__(self, message_id: int, role: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message_id = message_id
        self.role = role
        self.setObjectName("userMessage" if role == "user" else "assistantMessage")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self._text = ""
        self._status = "complete"
        self._streaming = False
        self._progress = ""  # while the prompt is read: "Reading … · 45 %"
        self._meta_model = ""
        self._last_render_s = 0.0
        self._render_cost_s = 0.0

        self.role_label = QLabel(ROLE_TITLES.get(role, role.title()))
        self.role_label.setObjectName("roleLabel")
        self.meta_label = ElidedLabel()
        self.meta_label.setObjectName("metaLabel")
        self.branches = BranchSwitcher(self)
        self.branches.stepRequested.connect(lambda s: self.branchRequested.emit(self.message_id, s))
        self.copy_button = self._tool("Copy", "Copy this message as text", self.copy)
        self.edit_button = self._tool(
            "Edit",
            "Edit this message and send it again",
            lambda: self.editRequested.emit(self.message_id),
        )
        self.regen_button = self._tool(
            "Regenerate", "Answer the last question again", self.regenerateRequested.emit
        )
        self.delete_button = self._tool(
            "Delete",
            "Delete this version and the conversation that followed it",
            lambda: self.deleteRequested.emit(self.message_id),
        )
        self.edit_button.setVisible(role == "user")
        self.regen_button.setVisible(False)
        self.delete_button.setVisible(False)
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.role_label)
        head.addWidget(self.meta_label, 1)  # elided first when the column is narrow
        head.addWidget(self.branches)
        for button in (self.delete_button, self.edit_button, self.regen_button, self.copy_button):
            head.addWidget(button)

        # Old turns left out of this answer's prompt because the context was full.
        self.context_note = QLabel(self)
        self.context_note.setObjectName("contextNote")
        self.context_note.setWordWrap(True)
        self.context_note.setVisible(False)
        self.thoughts = ThoughtsBlock(self)
        self.body = MessageBody(self)
        self.editor: QWidget | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(4)
        layout.addLayout(head)
        layout.addWidget(self.context_note)
        layout.addWidget(self.thoughts)
        layout.addWidget(self.body)

        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.timeout.connect(self._render)

    def _tool(self, text: str, tip: str, slot: object) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.clicked.connect(slot)
        return button

    # -- content -----------------------------------------------------------------------

    def text(self) -> str:
        return self._text

    def set_content(
        self, text: str, status: str = "complete", stats: dict | None = None, model: str = ""
    ) -> None:
        self._text = text
        self._status = status
        self._render_timer.stop()
        self._render()
        self._update_meta(stats or {}, model)

    def start_streaming(self, model: str = "") -> None:
        self._streaming = True
        self._meta_model = model
        self._update_meta({}, model)

    def set_progress(self, text: str) -> None:
        """While the model reads its prompt: what it reads and how far (shown in place of
        "writing…", and of the empty answer's "…"); "" once it writes."""
        self._progress = text
        if self._streaming:
            self._update_meta({}, self._meta_model)
            self._render()

    def append(self, delta: str) -> None:
        """Add streamed text; renders now or soon (throttled by the cost of rendering)."""
        self._text += delta
        if self._render_timer.isActive():
            return
        wait = self._last_render_s + max(self.MIN_RENDER_GAP_S, 3 * self._render_cost_s)
        remaining = wait - time.perf_counter()
        if remaining <= 0:
            self._render()
        else:
            self._render_timer.start(int(remaining * 1000) + 1)

    def finish(self, text: str, status: str, stats: dict, model: str = "") -> None:
        self._streaming = False
        self._progress = ""
        self.set_content(text, status, stats, model)

    def _render(self) -> None:
        t0 = time.perf_counter()
        if self.role == "user":
            self.body.set_text(self._text, plain=True)
        else:
            parts = split_thoughts(self._text)
            self.thoughts.set_thoughts(parts.thinking, parts.open and self._streaming)
            if not parts.answer and self._streaming:
                self.body.set_text(self._progress or "…", plain=True)
            else:
                self.body.set_text(parts.answer, streaming=self._streaming)
        t1 = time.perf_counter()
        self._last_render_s, self._render_cost_s = t1, t1 - t0

    def _update_meta(self, stats: dict, model: str) -> None:
        parts = []
        if model and self.role == "assistant":
            parts.append(model)
        if self._streaming:
            parts.append(self._progress or "writing…")
        elif self._status == "incomplete":
            if stats.get("interrupted"):
                parts.append("incomplete: Hearth stopped while writing")
            else:
                parts.append("stopped")
        elif self._status == "error":
            parts.append("failed" + (f": {stats['error']}" if stats.get("error") else ""))
        tps = stats.get("decode_tokens_per_s")
        if isinstance(tps, int | float) and tps > 0:
            parts.append(f"{tps:.1f} tok/s")
        self.meta_label.setText("  ·  ".join(parts))
        tip = "\n".join(f"{k}: {v}" for k, v in stats.items() if k != "error")
        self.meta_label.setToolTip(tip or self.meta_label.text())
        self.context_note.setText(context_note(stats))
        self.context_note.setVisible(bool(self.context_note.text()))

    def set_last_answer(self, last: bool, busy: bool) -> None:
        self.regen_button.setVisible(self.role == "assistant" and last and not busy)

    def set_busy(self, busy: bool) -> None:
        self.edit_button.setEnabled(not busy)
        self.delete_button.setEnabled(not busy)
        self.branches.set_busy(busy)

    def set_branch(self, index: int, count: int) -> None:
        """This message is alternative `index` (0-based) of `count`."""
        self.branches.set_branch(index, count)
        self.delete_button.setVisible(count > 1)

    def set_footer(self, widget: QWidget | None) -> None:
        """A widget under the body (the answer's sources); replaces the previous one."""
        old = getattr(self, "footer", None)
        if old is not None:
            old.deleteLater()
        self.footer = widget
        outer = self.layout()
        if widget is not None and outer is not None:
            outer.addWidget(widget)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self._text)

    # -- editing (user messages) ---------------------------------------------------------

    def begin_edit(self, later_messages: int) -> None:
        if self.editor is not None:
            return
        editor = QWidget(self)
        editor.setObjectName("messageEditor")
        box = QPlainTextEdit(editor)
        box.setPlainText(self._text)
        box.setObjectName("editText")
        warning = QLabel(editor)
        warning.setObjectName("editWarning")
        warning.setWordWrap(True)
        if later_messages:
            warning.setText(
                "Sending this edit starts a new version of the conversation from here; the "
                f"{later_messages} later message{'s' if later_messages != 1 else ''} stay in "
                "the current one (‹ › switches between them)."
            )
        else:
            warning.setText("Sending this edit asks for a new answer; this version is kept.")
        send = QPushButton("Send edit", editor)
        send.setDefault(True)
        cancel = QPushButton("Cancel", editor)
        buttons = QHBoxLayout()
        buttons.addWidget(warning, 1)
        buttons.addWidget(cancel)
        buttons.addWidget(send)
        layout = QVBoxLayout(editor)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(box)
        layout.addLayout(buttons)
        send.clicked.connect(lambda: self.editSubmitted.emit(self.message_id, box.toPlainText()))
        cancel.clicked.connect(self.end_edit)
        self.body.setVisible(False)
        outer = self.layout()
        assert outer is not None
        outer.addWidget(editor)
        self.editor = editor
        box.setFocus()

    def end_edit(self) -> None:
        if self.editor is not None:
            self.editor.deleteLater()
            self.editor = None
        self.body.setVisible(True)
