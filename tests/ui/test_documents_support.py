"""Helpers for the documents window tests (no tests here): test PDFs, dropping files on the
window, waiting for documents to reach a status, and a GUI-thread stall meter."""

from __future__ import annotations

import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pdf_factory
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
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


class GapMeter:
    """A GUI-thread QTimer ticking every 10 ms; records the worst gap between ticks, and (from
    a watchdog thread) where every thread was during each long gap."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.worst = 0.0
        self.ticks = 0
        self.samples: list[dict[str, traceback.StackSummary]] = []
        self._running = False

    def start(self) -> None:
        self.last = time.perf_counter()
        self.worst = 0.0
        self.ticks = 0
        self.samples = []
        self._running = True
        self.timer.start()
        threading.Thread(target=self._watch, daemon=True).start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self.last)
        self.last = now
        self.ticks += 1

    def _watch(self) -> None:
        # Cheap sampling (no source lines read while the gap lasts): the watchdog must not
        # itself hold the GIL for long.
        names = {t.ident: t.name for t in threading.enumerate()}
        sampled_at = 0.0
        while self._running:
            time.sleep(0.03)
            last = self.last
            if time.perf_counter() - last > 0.08 and last != sampled_at and len(self.samples) < 5:
                sampled_at = last
                me = threading.get_ident()
                self.samples.append(
                    {
                        names.get(ident, str(ident)): traceback.StackSummary.extract(
                            traceback.walk_stack(frame), limit=3, lookup_lines=False
                        )
                        for ident, frame in sys._current_frames().items()
                        if ident != me
                    }
                )

    def stop(self) -> float:
        """Stop; the worst gap in milliseconds."""
        self._running = False
        self.timer.stop()
        self._tick()
        return self.worst * 1000

    def report(self) -> str:
        out = []
        for sample in self.samples[:3]:
            for name, stack in sample.items():
                where = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in stack)
                out.append(f"[{name}] {where}")
            out.append("=====")
        return "\nThreads during long gaps:\n" + "\n".join(out)


@pytest.fixture(name="docs_gui")
def docs_gui_fixture(qapp: Any, qtbot: Any, minilm_gguf: Path) -> Iterator[Callable[..., Any]]:
    """Like make_gui, with any engine factory (None = the real LlamaEngine). The embedding
    model is the real converted all-MiniLM-L6-v2 in the shared models folder."""
    from app.main import build_gui

    built: list[Any] = []

    def make(engine_factory: Any = None, show: bool = True, start: bool = True) -> Any:
        gui = build_gui(engine_factory=engine_factory, interactive_errors=False)
        built.append(gui)
        if show:
            gui.window.show()
            qtbot.waitExposed(gui.window)
        if start:
            gui.controller.start()
        return gui

    yield make
    for gui in built:
        gui.close()


def close_gui(gui: Any) -> float:
    """Close the window as the user does; seconds until every thread has stopped."""
    t0 = time.perf_counter()
    gui.close()
    return time.perf_counter() - t0


def collect(signal: Any) -> list[Any]:
    got: list[Any] = []
    signal.connect(lambda *args: got.append(args[0] if len(args) == 1 else args))
    return got


def until(predicate: Callable[[], bool], qtbot: Any, timeout_ms: int) -> None:
    qtbot.waitUntil(predicate, timeout=timeout_ms)
