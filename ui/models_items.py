"""Table cells shared by the model pages (Installed, Hub, Settings ▸ Quantization): read-only
items carrying their row's data, a bold group heading, and the coloured memory-fit cell."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont, QStandardItem

from engine.units import human_size

# Shows an error to the user (the window's ErrorPresenter.present).
Present = Callable[[BaseException], None]

ROLE = Qt.ItemDataRole.UserRole + 1
FIT_COLOURS = {"fits": "#2e7d32", "tight": "#b26a00", "does not fit": "#c62828"}
FIT_SYMBOL = {"fits": "✔", "tight": "⚠", "does not fit": "✖"}


def fit_item(fit: str, memory: int, tooltip: str = "") -> QStandardItem:
    item = QStandardItem(f"{FIT_SYMBOL.get(fit, '')} {fit}".strip())
    item.setForeground(QBrush(QColor(FIT_COLOURS.get(fit, "#000000"))))
    font = QFont()
    font.setBold(True)
    item.setFont(font)
    item.setToolTip(tooltip or f"needs about {human_size(memory)}")
    item.setData(fit, ROLE + 1)
    return item


def item(text: str, data: Any = None, tooltip: str = "") -> QStandardItem:
    cell = QStandardItem(text)
    cell.setEditable(False)
    if data is not None:
        cell.setData(data, ROLE)
    if tooltip:
        cell.setToolTip(tooltip)
    return cell


def bold_item(text: str, data: Any = None) -> QStandardItem:
    """A group's heading row (a model, a quantization level)."""
    cell = item(text, data)
    font = cell.font()
    font.setBold(True)
    cell.setFont(font)
    return cell


def read_only(items: list[QStandardItem]) -> list[QStandardItem]:
    for cell in items:
        cell.setEditable(False)
    return items
