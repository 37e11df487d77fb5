"""The Models window's Installed tab: every installed model with its variants (one per
quantization level), what each needs in memory at the configured context against what this
machine has free now, and delete / quantize / convert (each a job of app.model_jobs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QBrush, QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.model_jobs import Job, JobManager
from app.settings import Settings
from engine.errors import HearthError, InvalidRequestError
from engine.model_inventory import (
    ModelGroup,
    Variant,
    delete_refusal,
    installed_groups,
    memory_fit,
    same_path,
)
from engine.quantize import RECOMMENDED, UNQUANTIZED, base_name
from engine.units import format_params, human_size
from ui.dialogs import confirm
from ui.model_wording import memory_breakdown, memory_summary
from ui.models_items import FIT_COLOURS, Present, bold_item, fit_item, item, read_only

INSTALLED_COLUMNS = [
    "Model / variant",
    "Quant",
    "Size",
    "Memory",
    "Fit",
    "Context",
    "Parameters",
    "Architecture",
    "Licence",
    "Chat template",
]


def _in_order(cells: dict[str, QStandardItem]) -> list[QStandardItem]:
    """A row in INSTALLED_COLUMNS order; missing cells are empty."""
    return read_only([cells.get(c) or item("") for c in INSTALLED_COLUMNS])


class InstalledTab(QWidget):
    refreshed = Signal()

    def __init__(
        self, manager: JobManager, present: Present, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.present = present
        self.groups: list[ModelGroup] = []
        self.model = QStandardItemModel(0, len(INSTALLED_COLUMNS), self)
        self.model.setHorizontalHeaderLabels(INSTALLED_COLUMNS)
        self.view = QTreeView()
        self.view.setObjectName("installedModels")
        self.view.setModel(self.model)
        self.view.setAlternatingRowColors(True)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setUniformRowHeights(True)
        self.view.header().setStretchLastSection(True)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.summary = QLabel("")
        self.summary.setObjectName("memorySummary")
        self.summary.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.summary)
        layout.addLayout(self._buttons())
        manager.modelsChanged.connect(self.refresh)
        self.refresh()

    def _buttons(self) -> QHBoxLayout:
        """Delete, Make variant (with its level), Convert (with its type) and Refresh."""
        self.delete_button = QPushButton("Delete…")
        self.delete_button.clicked.connect(lambda: self.delete_selected())
        self.quant_combo = QComboBox()
        self.quant_combo.addItems(RECOMMENDED)
        self.quant_combo.setToolTip("Quantization level for the new variant")
        self.quantize_button = QPushButton("Make variant")
        self.quantize_button.setToolTip(
            "Quantize the selected variant with llama.cpp; the result is a new variant"
        )
        self.quantize_button.clicked.connect(lambda: self.quantize_selected())
        self.convert_type = QComboBox()
        self.convert_type.addItems(["F16", "BF16", "F32"])
        self.convert_button = QPushButton("Convert a checkpoint folder…")
        self.convert_button.setToolTip(
            "Turn a Hugging Face checkpoint (a folder with config.json and *.safetensors) "
            "into a GGUF model"
        )
        self.convert_button.clicked.connect(lambda: self.convert_folder())
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        buttons = QHBoxLayout()
        buttons.addWidget(self.delete_button)
        buttons.addSpacing(12)
        buttons.addWidget(QLabel("Quantize to"))
        buttons.addWidget(self.quant_combo)
        buttons.addWidget(self.quantize_button)
        buttons.addSpacing(12)
        buttons.addWidget(self.convert_button)
        buttons.addWidget(QLabel("to"))
        buttons.addWidget(self.convert_type)
        buttons.addStretch(1)
        buttons.addWidget(refresh)
        return buttons

    # -- data ------------------------------------------------------------------------------

    def refresh(self) -> None:
        from engine.memory import available_memory, total_memory

        settings: Settings = self.manager.settings()
        available = available_memory()
        in_use = self.manager.in_use()
        self.groups = installed_groups(self.manager.models_dir, include_embedding=True)
        selected = self.selected_variant()
        keep = selected.info.path if selected else ""
        self.model.removeRows(0, self.model.rowCount())
        for g in self.groups:
            self._add_group(g, settings, available, in_use)
        self.view.expandAll()
        for c in range(len(INSTALLED_COLUMNS)):
            self.view.resizeColumnToContents(c)
            self.view.setColumnWidth(c, self.view.columnWidth(c) + 6)
        self.view.setColumnWidth(0, min(max(self.view.columnWidth(0) + 8, 260), 360))
        if keep:
            self.select_path(keep)
        self.summary.setText(
            memory_summary(available, total_memory(), settings.n_ctx, settings.n_gpu_layers)
        )
        self._selection_changed()
        self.refreshed.emit()

    def _add_group(
        self, g: ModelGroup, settings: Settings, available: int, in_use: list[str]
    ) -> None:
        best = g.best
        title = base_name(best.info.name) if best else g.key
        n = len(g.variants)
        head = bold_item(f"{title}  ({n} variant{'s' if n != 1 else ''})", g.key)
        cells = {"Model / variant": head}
        if best:
            cells["Architecture"] = item(best.info.architecture)
            cells["Parameters"] = item(format_params(best.info.parameters))
        self.model.appendRow(_in_order(cells))
        for v in g.variants:
            head.appendRow(self._variant_row(v, settings, available, in_use))

    def _variant_row(
        self, v: Variant, settings: Settings, available: int, in_use: list[str]
    ) -> list[QStandardItem]:
        info = v.info
        tags = []
        if any(same_path(info.path, p) for p in in_use if p):
            tags.append("in use")
        if info.bundled:
            tags.append("bundled")
        name = info.name + (f"  [{', '.join(tags)}]" if tags else "")
        first = item(name, info.path, tooltip=info.path)
        if v.error:
            first.setToolTip(f"{info.path}\n{v.error}")
            bad = item(f"damaged: {v.error}")
            bad.setForeground(QBrush(QColor(FIT_COLOURS["does not fit"])))
            return _in_order(
                {
                    "Model / variant": first,
                    "Quant": item("?"),
                    "Size": item(human_size(info.file_size)),
                    "Fit": bad,
                }
            )
        est, fit = memory_fit(
            info, settings.n_ctx, settings.n_gpu_layers, settings.n_batch, available
        )
        ctx_used = (
            min(settings.n_ctx, info.context_length) if info.context_length else settings.n_ctx
        )
        breakdown = memory_breakdown(est, ctx_used, available)
        parts = f" ({len(v.files)} parts)" if len(v.files) > 1 else ""
        chat = "yes" if info.has_chat_template else "no (built-in)"
        return _in_order(
            {
                "Model / variant": first,
                "Quant": item(info.file_type),
                "Size": item(human_size(info.file_size) + parts),
                "Memory": item(f"{human_size(est.total_bytes)} @ {ctx_used:,}", tooltip=breakdown),
                "Fit": fit_item(fit, est.total_bytes, breakdown),
                "Context": item(f"{info.context_length:,}" if info.context_length else "?"),
                "Parameters": item(format_params(info.parameters)),
                "Architecture": item(info.architecture),
                "Licence": item(info.license or "—"),
                "Chat template": item("embedding model" if info.embedding else chat),
            }
        )

    # -- selection -------------------------------------------------------------------------

    def variant_items(self) -> list[tuple[QStandardItem, Variant]]:
        out = []
        for gi in range(self.model.rowCount()):
            head = self.model.item(gi, 0)
            group = self.groups[gi]
            for vi in range(head.rowCount()):
                out.append((head.child(vi, 0), group.variants[vi]))
        return out

    def selected_variant(self) -> Variant | None:
        index = self.view.currentIndex()
        if not index.isValid() or not index.parent().isValid():
            return None
        gi, vi = index.parent().row(), index.row()
        if gi < len(self.groups) and vi < len(self.groups[gi].variants):
            return self.groups[gi].variants[vi]
        return None

    def select_path(self, path: str) -> bool:
        for cell, v in self.variant_items():
            if same_path(v.info.path, path):
                self.view.setCurrentIndex(cell.index())
                return True
        return False

    def row_texts(self) -> list[list[str]]:
        """Every variant row as text (tests and screenshots read the table through this)."""
        out = []
        for cell, _v in self.variant_items():
            parent = cell.parent()
            out.append([parent.child(cell.row(), c).text() for c in range(len(INSTALLED_COLUMNS))])
        return out

    def _selection_changed(self, *_: Any) -> None:
        v = self.selected_variant()
        self.delete_button.setEnabled(v is not None)
        self.quantize_button.setEnabled(v is not None and not v.error)
        if v is not None:
            reason = delete_refusal(v, self.manager.models_dir, self.manager.in_use())
            self.delete_button.setEnabled(not reason)
            self.delete_button.setToolTip(reason or f"Delete {v.info.name}")

    # -- actions ---------------------------------------------------------------------------

    def delete_selected(self, ask: bool = True) -> bool:
        v = self.selected_variant()
        if v is None:
            return False
        reason = delete_refusal(v, self.manager.models_dir, self.manager.in_use())
        if reason:
            self.present(InvalidRequestError(reason))
            return False
        size = sum(f.stat().st_size for f in v.files if f.exists())
        if ask and not confirm(
            self,
            "Delete model",
            f"Delete {v.info.name} ({human_size(size)}) from {self.manager.models_dir}? "
            "This cannot be undone.",
            "Delete",
        ):
            return False
        try:
            self.manager.delete(v)
        except HearthError as exc:
            self.present(exc)
            return False
        return True

    def quantize_selected(self, quant: str = "", ask: bool = True) -> Job | None:
        v = self.selected_variant()
        if v is None:
            return None
        if quant:
            self.quant_combo.setCurrentText(quant)
        quant = self.quant_combo.currentText()
        requant = v.quant.upper() not in UNQUANTIZED
        if (
            requant
            and ask
            and not confirm(
                self,
                "Re-quantize",
                f"{v.info.name} is already quantized ({v.quant}). Quantizing it again to "
                f"{quant} loses more quality than starting from an F16 original. Continue?",
                "Quantize",
            )
        ):
            return None
        try:
            return self.manager.quantize(v.path, quant, allow_requantize=True)
        except HearthError as exc:
            self.present(exc)
            return None

    def convert_folder(self, folder: str = "", outtype: str = "") -> Job | None:
        if not folder:
            folder = QFileDialog.getExistingDirectory(
                self, "Choose a Hugging Face checkpoint folder (with config.json)"
            )
            if not folder:
                return None
        outtype = (outtype or self.convert_type.currentText()).lower()
        try:
            return self.manager.convert(Path(folder), outtype)
        except HearthError as exc:
            self.present(exc)
            return None
