"""The window's style sheet. Every colour is a palette role, so light and dark follow the
system palette (and a palette change re-applies the sheet)."""

from __future__ import annotations

STYLE = """
QFrame#userMessage {
    background: palette(alternate-base);
    border: 1px solid palette(midlight);
    border-radius: 8px;
}
QFrame#assistantMessage {
    background: transparent;
}
QLabel#roleLabel { font-weight: bold; }
QLabel#metaLabel { color: palette(placeholder-text); }
QLabel#editWarning { color: palette(link); }
QFrame#codeBlock {
    background: palette(base);
    border: 1px solid palette(mid);
    border-radius: 6px;
}
QLabel#codeLang { color: palette(placeholder-text); }
QPlainTextEdit#codeText { background: palette(base); }
QTextBrowser#markdownView { background: transparent; }
QWidget#chatContent { background: palette(base); }
QScrollArea#chatView { background: palette(base); }
QLabel#emptyLabel { color: palette(placeholder-text); }
QLabel#modelLabel[state="failed"] { color: palette(link); font-weight: bold; }
QListWidget#chatList::item { padding: 6px 4px; }
"""


def style_sheet() -> str:
    return STYLE
