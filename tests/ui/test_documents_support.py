"""Helpers for the documents window tests (no tests here): test PDFs, dropping files on the
window, waiting for documents to reach a status."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pdf_factory
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

FACT_PAGES = [
    [
        "Chapter one. The lighthouse keeper of Varnholm island counts exactly 412 steps",
        "from the harbour to the lamp room every evening before sunset.",
    ],
    [
        "Chapter two. The copper kettle in the keeper's kitchen was forged in 1887",
        "by a smith called Agnethe Brusk who lived in the village of Skarnes.",
    ],
    [
        "Chapter three. Ferries to the mainland leave on Tuesdays and Fridays only,",
        "weather permitting, and the crossing takes about ninety minutes.",
    ],
]
FACT_QUESTION = "Who forged the copper kettle in the keeper's kitchen, and in which year?"
FACT_PAGE = 2

INDEX_TIMEOUT_MS = 180_000


def facts_pdf(folder: Path, name: str = "varnholm.pdf") -> Path:
    """Three pages, each a fact followed by filler, so that each page has its own chunks
    and the fact of page 2 can only be cited as page 2."""
    folder.mkdir(parents=True, exist_ok=True)
    filler = pdf_factory.lorem_pages(3, lines_per_page=20)
    pages = [fill[:10] + facts + fill[10:] for facts, fill in zip(FACT_PAGES, filler, strict=True)]
    return pdf_factory.text_pdf(folder / name, pages)


def drop_files(window: Any, paths: Sequence[Path], target: Any = None) -> bool:
    """Drag files over the window (or one of its widgets) and drop them, as the desktop does.
    Returns whether the drop was accepted."""
    widget = target or window
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    centre = widget.rect().center()
    with warnings.catch_warnings():  # PySide6 marks this (only) constructor deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(
            centre,
            Qt.DropAction.CopyAction,
            mime,
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
        )
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(
        QPointF(centre),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, drop)
    return drop.isAccepted()


def rows_by_name(gui: Any) -> dict[str, Any]:
    return {r.name: r for r in gui.controller.docs.documents()}


def wait_statuses(
    qtbot: Any, gui: Any, wanted: dict[str, str], timeout_ms: int = INDEX_TIMEOUT_MS
) -> dict[str, Any]:
    """Wait until each named document has the wanted status (as the panel shows it)."""

    def done() -> bool:
        model = gui.window.documents_ui.panel.model
        shown = {r.name: r.status for r in model.rows()}
        return all(shown.get(n) == s for n, s in wanted.items())

    qtbot.waitUntil(done, timeout=timeout_ms)
    return rows_by_name(gui)


@pytest.fixture(name="docs_gui")
def docs_gui_fixture(
    make_gui: Callable[..., Any], minilm_gguf: Path
) -> Iterator[Callable[..., Any]]:
    """make_gui with any engine factory (None = the real LlamaEngine). The embedding model is
    the real converted all-MiniLM-L6-v2 in the shared models folder."""

    def make(engine_factory: Any = None, show: bool = True, start: bool = True) -> Any:
        return make_gui(
            real=engine_factory is None, engine_factory=engine_factory, show=show, start=start
        )

    yield make


def collect(signal: Any) -> list[Any]:
    got: list[Any] = []
    signal.connect(lambda *args: got.append(args[0] if len(args) == 1 else args))
    return got


def until(predicate: Callable[[], bool], qtbot: Any, timeout_ms: int) -> None:
    qtbot.waitUntil(predicate, timeout=timeout_ms)
