"""The window's style sheet. Every colour is a palette role, so light and dark follow the
system palette (and a palette change re-applies the sheet)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

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


# A dark palette for screenshots and checks on systems whose theme Qt cannot follow (a bare X
# server): Fusion with these colours is what a dark desktop theme gives.
DARK = {
    QPalette.ColorRole.Window: "#2b2b2b",
    QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#1f1f1f",
    QPalette.ColorRole.AlternateBase: "#333333",
    QPalette.ColorRole.Text: "#e6e6e6",
    QPalette.ColorRole.Button: "#353535",
    QPalette.ColorRole.ButtonText: "#e6e6e6",
    QPalette.ColorRole.Highlight: "#3d6fb3",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#8ab4f8",
    QPalette.ColorRole.PlaceholderText: "#9a9a9a",
    QPalette.ColorRole.ToolTipBase: "#353535",
    QPalette.ColorRole.ToolTipText: "#e6e6e6",
    QPalette.ColorRole.Mid: "#4a4a4a",
    QPalette.ColorRole.Midlight: "#444444",
    QPalette.ColorRole.Light: "#505050",
    QPalette.ColorRole.Dark: "#202020",
}


DARK_DISABLED = {
    QPalette.ColorRole.WindowText: "#7a7a7a",
    QPalette.ColorRole.Text: "#7a7a7a",
    QPalette.ColorRole.ButtonText: "#6a6a6a",
    QPalette.ColorRole.Button: "#2e2e2e",
}


def use_dark_palette(app: QApplication) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    for role, colour in DARK.items():
        palette.setColor(role, QColor(colour))
    for role, colour in DARK_DISABLED.items():
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(colour))
    app.setPalette(palette)
