"""The Documents panel's table: one row per document (name, pages, chunks, size, status),
a progress bar in the Status cell while a document is indexed, and the texts of the Status
column and of the overall progress line. Draws only; the documents thread
(`app.docs_worker.DocsHost`) does the work."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
)

from engine.units import format_duration, human_size
from rag.formats import again_label
from rag.normalize import without_bidi_controls
from ui.sources_bar import FAILED_COLOR

COLUMNS = ("Name", "Pages", "Chunks", "Size", "Status")
NAME, PAGES, CHUNKS, SIZE, STATUS = range(len(COLUMNS))
ProgressRole = Qt.ItemDataRole.UserRole + 1  # float 0..1 while indexing, else None
RowRole = Qt.ItemDataRole.UserRole + 2  # the DocRow
MISSING_COLOR = QColor(128, 128, 128)


def status_text(row: Any) -> str:
    """What the Status column says: queued, reading pages, indexing n%, ready, failed,
    changed – re-indexing, re-reading (Hearth reads its format better now),
    missing."""
    status = str(row.status)
    again = again_label(status, int(row.changed))
    if again:
        return again
    if status == "indexing":
        if row.message:
            return str(row.message)
        return f"indexing {100 * float(row.progress):.0f}%"
    return status


def overall_text(p: Any, state: str = "") -> str:
    """One line for the overall progress: files, chunks, rate, pages, time left."""
    if p is None:
        return ""
    parts: list[str] = []
    busy = p.queued + p.reading + p.indexing
    moving = busy and state not in ("paused", "error")  # a rate or time left means something
    if state == "paused" and busy:
        parts.append("Paused")
    if state == "error" and busy:
        parts.append("Stopped by an error")
    if getattr(p, "elsewhere", False) and busy:
        parts.append("indexed by another Hearth process (hearth docs add)")
    if p.reading or p.queued:
        parts.append(
            f"reading {p.reading + p.queued} file{'s' if p.reading + p.queued != 1 else ''}"
        )
    if p.chunks_total and p.indexing:  # the file's own chunks, and a batch's total as such
        parts.extend(f"indexing {part}" for part in p.chunk_parts()[:1])
        parts.extend(p.chunk_parts()[1:])
    if p.chunks_per_s and moving:
        parts.append(f"{p.chunks_per_s:.0f} chunks/s")
    if p.pages_read and busy:
        parts.append(f"{p.pages_read} pages read")
    if p.eta_s is not None and moving:
        parts.append(f"~{format_duration(p.eta_s)} left")
    parts.extend(_tally(None if busy else p.ready, p.failed, p.missing))
    text = " · ".join(parts)
    return text[:1].upper() + text[1:]


def resting_text(rows: Sequence[Any]) -> str:
    """The overall line before the library has reported any progress (at start-up): how many
    documents are ready, failed or missing; "" for an empty library."""
    if not rows:
        return ""
    statuses = [str(r.status) for r in rows]
    ready, failed, missing = (statuses.count(s) for s in ("ready", "failed", "missing"))
    text = " · ".join(_tally(ready, failed, missing))
    return text[:1].upper() + text[1:]


def _tally(ready: int | None, failed: int, missing: int) -> list[str]:
    parts = [] if ready is None else [f"{ready} document{'s' if ready != 1 else ''} ready"]
    if failed:
        parts.append(f"{failed} failed")
    if missing:
        parts.append(f"{missing} missing")
    return parts


# -- the table model -----------------------------------------------------------------------


class DocumentsModel(QAbstractTableModel):
    """Rows are rag.index.DocRow objects (duck-typed), kept in the library's order."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Any] = []

    # reading
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == NAME:
                return without_bidi_controls(str(row.name))  # shown as stored, not reordered
            if col == PAGES:
                return str(row.pages) if row.pages else ""
            if col == CHUNKS:
                if row.status == "indexing" and row.chunks:
                    return f"{row.embedded}/{row.chunks}"
                return str(row.chunks) if row.chunks else ""
            if col == SIZE:
                return human_size(int(row.size))
            if col == STATUS:
                return status_text(row)
        elif role == Qt.ItemDataRole.ToolTipRole:
            if col == STATUS and row.status == "failed":
                return row.message or "The file could not be indexed."
            if col == STATUS and row.status == "ready" and row.message:
                return str(row.message)  # ready, with a note (no section labels this time)
            if col == STATUS and row.status == "missing":
                return f"{row.path} is not there; its passages are not used until it is back."
            if col == STATUS and getattr(row, "rereading", False):
                return (
                    "This version of Hearth reads such files better, so it reads this one "
                    "again (the file itself did not change)."
                )
            return row.path
        elif role == Qt.ItemDataRole.ForegroundRole:
            if col == STATUS and row.status == "failed":
                return FAILED_COLOR
            if row.status == "missing":
                return MISSING_COLOR
        elif role == Qt.ItemDataRole.TextAlignmentRole:
            if col in (PAGES, CHUNKS, SIZE):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        elif role == ProgressRole:
            # Not for a file read again: its status stays readable (Chunks counts).
            plain = row.status == "indexing" and not row.message and not row.changed
            if col == STATUS and plain:
                return float(row.progress)
            return None
        elif role == RowRole:
            return row
        return None

    def row_at(self, index: int) -> Any:
        return self._rows[index]

    def rows(self) -> list[Any]:
        return list(self._rows)

    def find(self, doc_id: int) -> int:
        return next((i for i, r in enumerate(self._rows) if r.id == doc_id), -1)

    # writing
    def set_rows(self, rows: Sequence[Any]) -> None:
        """Reconcile with a full list: update in place, insert new, remove gone (selection
        and scroll position survive)."""
        wanted = {r.id for r in rows}
        for i in range(len(self._rows) - 1, -1, -1):
            if self._rows[i].id not in wanted:
                self.beginRemoveRows(QModelIndex(), i, i)
                del self._rows[i]
                self.endRemoveRows()
        self.update_rows(rows)

    def update_rows(self, rows: Sequence[Any]) -> None:
        for row in rows:
            i = self.find(row.id)
            if i >= 0:
                self._rows[i] = row
                self.dataChanged.emit(self.index(i, 0), self.index(i, len(COLUMNS) - 1))
            else:
                n = len(self._rows)
                self.beginInsertRows(QModelIndex(), n, n)
                self._rows.append(row)
                self.endInsertRows()


class ProgressDelegate(QStyledItemDelegate):
    """Draws a progress bar in the Status cell of a document being indexed."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        value = index.data(ProgressRole)
        if value is None:
            super().paint(painter, option, index)
            return
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 3, -2, -3)
        bar.minimum = 0
        bar.maximum = 100
        bar.progress = int(round(100 * float(value)))
        bar.text = f"{bar.progress}%"
        bar.textVisible = True
        bar.state = QStyle.StateFlag.State_Enabled
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)
