"""The sources under an answer: "[n] file name, page N", one line per passage that was in the
prompt, numbered as the model saw them, with the sentences a grounded answer quotes from it.
Hovering shows the passage; the arrow expands it in place; clicking the name opens the file at
that page with the system viewer (PDFs get a ``#page=N`` fragment, which most viewers honour),
or expands the passage when the file is gone.

Retrieved text is data: it is shown as plain text, or escaped where a label is rich text (the
quotes' code spans in the code font), never interpreted as HTML or markdown.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from rag.retrieve import location

TOOLTIP_CHARS = 700
PASSAGE_MAX_HEIGHT = 160  # pixels; a longer passage scrolls


def source_title(n: int, source: dict[str, Any]) -> str:
    """ "[1] manual.pdf, page 4" (or "pages 4-5"; "§ Installing" for a Markdown file's
    section)."""
    name = str(source.get("name") or Path(str(source.get("file", ""))).name or "document")
    page, page_end = _int(source.get("page")), _int(source.get("page_end"))
    where = location(page, page_end, str(source.get("section") or ""))
    return f"[{n}] {name}" + (f", {where}" if where else "")


def source_url(source: dict[str, Any]) -> QUrl | None:
    """The file as a URL (with #page=N for PDFs), or None if it no longer exists."""
    path = str(source.get("file", ""))
    if not path or not Path(path).is_file():
        return None
    url = QUrl.fromLocalFile(path)
    page = _int(source.get("page"))
    if path.lower().endswith(".pdf") and page > 0:
        url.setFragment(f"page={page}")
    return url


def passage_tooltip(source: dict[str, Any], limit: int = TOOLTIP_CHARS) -> str:
    text = " ".join(str(source.get("text", "")).split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    # Rich text so that Qt wraps it; escaped, so the passage is never interpreted.
    return f"<p style='white-space:pre-wrap'>{html.escape(text)}</p>"


_CODE_SPAN = re.compile(r"`([^`]+)`")


def quotes_html(source: dict[str, Any]) -> str:
    """The sentences a grounded answer quotes from this source, one per line, quoted, as
    rich text: escaped (a passage is never interpreted), with its code spans (`glp_open_tee`)
    in the code font instead of between backticks."""
    quotes = source.get("quotes")
    if not isinstance(quotes, list):
        return ""
    lines = [" ".join(str(q).split()) for q in quotes if str(q).strip()]
    shown = [_CODE_SPAN.sub(r"<code>\1</code>", html.escape(line)) for line in lines]
    return "<br>".join(f"“{line}”" for line in shown)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


class SourceRow(QWidget):
    """One source: expand arrow, the title as a link, and the passage (hidden until expanded)."""

    def __init__(self, n: int, source: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sourceRow")
        self.n = n
        self.source = source
        self.toggle = QToolButton(self)
        self.toggle.setObjectName("sourceToggle")
        self.toggle.setAutoRaise(True)
        self.toggle.setCheckable(True)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setToolTip("Show the passage")
        self.toggle.toggled.connect(self.set_expanded)
        self.title = QLabel(self)
        self.title.setObjectName("sourceTitle")
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setText(f"<a href='#'>{html.escape(source_title(n, source))}</a>")
        self.title.setToolTip(passage_tooltip(source))
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.title.setWordWrap(True)  # a long file name must not widen the conversation
        self.title.linkActivated.connect(lambda _link: self.activated())
        # Plain text (never HTML), selectable, at most a few lines tall: it scrolls.
        self.passage = QPlainTextEdit(self)
        self.passage.setObjectName("sourcePassage")
        self.passage.setReadOnly(True)
        self.passage.setFrameShape(QFrame.Shape.StyledPanel)
        self.passage.setPlainText(str(source.get("text", "")).strip())
        self.passage.setMaximumHeight(PASSAGE_MAX_HEIGHT)
        self.passage.setVisible(False)
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.setSpacing(2)
        head.addWidget(self.toggle)
        head.addWidget(self.title, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(head)
        # The sentences the answer quotes from this page (a grounded answer)
        self.quotes = QLabel(self)
        self.quotes.setObjectName("sourceQuotes")
        self.quotes.setTextFormat(Qt.TextFormat.RichText)
        self.quotes.setWordWrap(True)
        self.quotes.setText(quotes_html(source))
        self.quotes.setVisible(bool(self.quotes.text()))
        indent = QVBoxLayout()
        indent.setContentsMargins(22, 0, 0, 4)
        indent.addWidget(self.quotes)
        indent.addWidget(self.passage)
        layout.addLayout(indent)
        self.opener: Callable[[QUrl], Any] = QDesktopServices.openUrl

    @property
    def expanded(self) -> bool:
        return self.toggle.isChecked()

    def set_expanded(self, on: bool) -> None:
        if self.toggle.isChecked() != on:
            self.toggle.setChecked(on)  # comes back here through toggled
            return
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.toggle.setToolTip("Hide the passage" if on else "Show the passage")
        self.passage.setVisible(on)

    def activated(self) -> None:
        """Open the file at its page; show the passage if the file cannot be opened."""
        url = source_url(self.source)
        if url is None or not self.opener(url):
            self.set_expanded(True)


class SourcesView(QFrame):
    """All sources of one answer."""

    opened = Signal(QUrl)

    def __init__(self, sources: list[dict[str, Any]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sourcesView")
        self.setFrameShape(QFrame.Shape.NoFrame)
        heading = QLabel("Sources", self)
        heading.setObjectName("sourcesHeading")
        font = heading.font()
        font.setBold(True)
        font.setPointSizeF(max(font.pointSizeF() * 0.9, 7.0))
        heading.setFont(font)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(heading)
        self.rows: list[SourceRow] = []
        for n, source in enumerate(sources, start=1):
            row = SourceRow(n, source, self)
            row.opener = self._open
            layout.addWidget(row)
            self.rows.append(row)
        self.opener: Callable[[QUrl], Any] = QDesktopServices.openUrl

    def titles(self) -> list[str]:
        return [source_title(r.n, r.source) for r in self.rows]

    def _open(self, url: QUrl) -> bool:
        ok = bool(self.opener(url))
        if ok:
            self.opened.emit(url)
        return ok


def valid_sources(raw: Any) -> list[dict[str, Any]]:
    """The stored sources that can be shown (a damaged entry is skipped, never fatal)."""
    if not isinstance(raw, list):
        return []
    return [s for s in raw if isinstance(s, dict) and (s.get("file") or s.get("name"))]
