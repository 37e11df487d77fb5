"""Settings (Ctrl+,): pages in a list on the left, one page shown at a time.

Extensible: a feature adds its own page with `register_page(factory)`; the factory gets a
`SettingsContext` and returns a `SettingsPage` (a QWidget with `title`, `load(settings)`
and `apply(settings)`). The dialog edits a copy of the settings; OK applies every page to
the copy and hands it back.

Also here: the per-chat overrides dialog (model, system prompt, sampling).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:  # pragma: no cover
    from app.controller import ChatController
    from app.services import Services

from app.presets import preset_key, set_preset, with_preset
from app.settings import Settings
from engine.types import ModelInfo, SamplingParams
from engine.units import human_size


def model_label(info: ModelInfo) -> str:
    return f"{info.name}  ({info.file_type}, {human_size(info.file_size)})"


@dataclass
class SettingsContext:
    """What pages may need: the installed chat models, the controller for pages that act
    (download, index documents), and the window's services (job manager, presenter). Pages
    must not keep a reference past the dialog."""

    models: list[ModelInfo] = field(default_factory=list)
    controller: ChatController | None = None
    services: Services | None = None


class SettingsPage(QWidget):
    title = "Page"

    def make_form(self, rows: list[tuple[str, QWidget]], note: str = "") -> QFormLayout:
        """The page's layout: labelled fields, then an explanatory note (wrapped)."""
        form = QFormLayout(self)
        for label, widget in rows:
            form.addRow(label, widget)
        if note:
            text = QLabel(note)
            text.setWordWrap(True)
            form.addRow(text)
        return form

    def load(self, settings: Settings) -> None:
        raise NotImplementedError

    def apply(self, settings: Settings) -> None:
        raise NotImplementedError


PageFactory = Callable[[SettingsContext], SettingsPage]
_EXTRA_PAGES: list[PageFactory] = []


def register_page(factory: PageFactory) -> None:
    """Add a page to every Settings dialog opened from now on (after the built-in ones)."""
    if factory not in _EXTRA_PAGES:
        _EXTRA_PAGES.append(factory)


def model_combo(models: list[ModelInfo], default_text: str) -> QComboBox:
    combo = QComboBox()
    combo.addItem(default_text, "")
    for info in models:
        combo.addItem(model_label(info), info.name)
        combo.setItemData(combo.count() - 1, info.path, Qt.ItemDataRole.ToolTipRole)
    return combo


def select_data(combo: QComboBox, value: str) -> None:
    index = combo.findData(value)
    if index < 0 and value:
        combo.addItem(f"{value}  (not installed)", value)
        index = combo.count() - 1
    combo.setCurrentIndex(max(index, 0))


class SamplingForm(QWidget):
    """Spin boxes for SamplingParams."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.temperature = self._double(0.0, 2.0, 0.05, "0 = always the most likely token")
        self.top_p = self._double(0.0, 1.0, 0.01, "Nucleus sampling; 1 = off")
        self.top_k = QSpinBox()
        self.top_k.setRange(0, 1000)
        self.top_k.setSpecialValueText("off")
        self.min_p = self._double(0.0, 1.0, 0.01, "0 = off")
        self.repeat_penalty = self._double(0.5, 2.0, 0.05, "1 = off")
        self.seed = QSpinBox()
        self.seed.setRange(-1, 2**31 - 1)
        self.seed.setSpecialValueText("random")
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 32768)
        self.max_tokens.setToolTip("The longest answer, in tokens")
        form.addRow("Temperature", self.temperature)
        form.addRow("Top-p", self.top_p)
        form.addRow("Top-k", self.top_k)
        form.addRow("Min-p", self.min_p)
        form.addRow("Repeat penalty", self.repeat_penalty)
        form.addRow("Seed", self.seed)
        form.addRow("Max tokens", self.max_tokens)

    @staticmethod
    def _double(lo: float, hi: float, step: float, tip: str) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(lo, hi)
        box.setSingleStep(step)
        box.setDecimals(2)
        box.setToolTip(tip)
        return box

    def set_params(self, p: SamplingParams) -> None:
        self.temperature.setValue(p.temperature)
        self.top_p.setValue(p.top_p)
        self.top_k.setValue(p.top_k)
        self.min_p.setValue(p.min_p)
        self.repeat_penalty.setValue(p.repeat_penalty)
        self.seed.setValue(p.seed)
        self.max_tokens.setValue(p.max_tokens)

    def params(self) -> SamplingParams:
        return SamplingParams(
            temperature=round(self.temperature.value(), 4),
            top_p=round(self.top_p.value(), 4),
            top_k=self.top_k.value(),
            min_p=round(self.min_p.value(), 4),
            repeat_penalty=round(self.repeat_penalty.value(), 4),
            seed=self.seed.value(),
            max_tokens=self.max_tokens.value(),
        )


class ModelPage(SettingsPage):
    """The default model, and the preset of the model chosen in the list (`app.presets`):
    choosing another model shows its preset (its context length, GPU layers, system prompt
    and sampling); OK stores the preset of every model shown, keeping only what differs from
    the defaults (Settings ▸ Generation)."""

    title = "Model"

    def __init__(self, context: SettingsContext) -> None:
        super().__init__()
        default_name = next(
            (m.name for m in context.models if m.bundled and "SmolLM2" in m.name), "bundled"
        )
        self.model = model_combo(context.models, f"Default ({default_name})")
        self.n_threads = QSpinBox()
        self.n_threads.setRange(0, 256)
        self.n_threads.setSpecialValueText("automatic")
        self.n_ctx = QSpinBox()
        self.n_ctx.setRange(256, 262144)
        self.n_ctx.setSingleStep(1024)
        self.n_ctx.setSuffix(" tokens")
        self.n_gpu_layers = QSpinBox()
        self.n_gpu_layers.setRange(-1, 1000)
        self.n_gpu_layers.setSpecialValueText("all")
        self.n_gpu_layers.setToolTip("Layers to offload to the GPU: 0 = none, -1 = all")
        self.system_prompt = QPlainTextEdit()
        self.system_prompt.setMaximumHeight(80)
        self.sampling = SamplingForm()
        self.reset_button = QPushButton("Use the defaults")
        self.reset_button.setToolTip("Forget this model's preset (Settings ▸ Generation applies)")
        self.reset_button.clicked.connect(self.reset_preset)
        self.preset_box = QGroupBox("Preset for this model")
        preset = QFormLayout(self.preset_box)
        preset.addRow("Context length", self.n_ctx)
        preset.addRow("GPU layers", self.n_gpu_layers)
        preset.addRow("System prompt", self.system_prompt)
        preset.addRow(self.sampling)
        preset.addRow(self.reset_button)
        self._build([("Default model", self.model), ("Threads", self.n_threads)])
        self._defaults = Settings()
        self._edited: dict[str, Settings] = {}  # preset name -> the values shown for it
        self._shown: str | None = None
        self.model.currentIndexChanged.connect(lambda _i: self._show_preset())

    def _build(self, rows: list[tuple[str, QWidget]]) -> None:
        """The form and the preset box, in a scroll area (the sampling fields are many)."""
        body = QWidget()
        form = QFormLayout(body)
        for label, widget in rows:
            form.addRow(label, widget)
        note = QLabel(
            "Choosing a model shows its preset; a chat's own settings still win over it. "
            "Changing the model or its context or GPU layers reloads it in the background."
        )
        note.setWordWrap(True)
        form.addRow(note)
        form.addRow(self.preset_box)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        QVBoxLayout(self).addWidget(scroll)

    def load(self, settings: Settings) -> None:
        self._defaults, self._edited, self._shown = settings.copy(), {}, None
        self.n_threads.setValue(settings.n_threads)
        select_data(self.model, settings.default_model)
        self._show_preset()

    def _show_preset(self) -> None:
        self._keep_shown()
        name = preset_key(str(self.model.currentData() or ""))
        values = self._edited.get(name) or with_preset(self._defaults, name)
        self._show(values)
        self._shown = name
        self.preset_box.setTitle(f"Preset for {name}")

    def _show(self, values: Settings) -> None:
        self.n_ctx.setValue(values.n_ctx)
        self.n_gpu_layers.setValue(values.n_gpu_layers)
        self.system_prompt.setPlainText(values.system_prompt)
        self.sampling.set_params(values.sampling)

    def _keep_shown(self) -> None:
        if self._shown is None:
            return
        values = self._defaults.copy()
        values.n_ctx, values.n_gpu_layers = self.n_ctx.value(), self.n_gpu_layers.value()
        values.system_prompt = self.system_prompt.toPlainText()
        values.sampling = self.sampling.params()
        self._edited[self._shown] = values

    def reset_preset(self) -> None:
        """Show the defaults for the model chosen: OK then stores no preset for it."""
        self._show(self._defaults)

    def apply(self, settings: Settings) -> None:
        self._keep_shown()
        settings.default_model = str(self.model.currentData() or "")
        settings.n_threads = self.n_threads.value()
        for name, values in self._edited.items():
            set_preset(settings, name, values, defaults=self._defaults)


class GenerationPage(SettingsPage):
    title = "Generation"

    def __init__(self, context: SettingsContext) -> None:
        super().__init__()
        self.system_prompt = QPlainTextEdit()
        self.system_prompt.setPlaceholderText("Instructions the model sees before every chat")
        self.system_prompt.setMaximumHeight(110)
        self.sampling = SamplingForm()
        note = QLabel(
            "The defaults for every model: a model's own preset (Settings ▸ Model) and a "
            "chat's own settings win over them."
        )
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(QLabel("System prompt"))
        layout.addWidget(self.system_prompt)
        layout.addWidget(self.sampling)
        layout.addStretch(1)

    def load(self, settings: Settings) -> None:
        self.system_prompt.setPlainText(settings.system_prompt)
        self.sampling.set_params(settings.sampling)

    def apply(self, settings: Settings) -> None:
        settings.system_prompt = self.system_prompt.toPlainText()
        settings.sampling = self.sampling.params()


class AboutPage(SettingsPage):
    """Versions and folders, selectable for a bug report; the llama.cpp build says whether it
    is Hearth's patched one or the release (and where the failed build's log is)."""

    title = "About"

    def __init__(self, context: SettingsContext) -> None:
        super().__init__()
        from app.about import about_rows

        self.rows: dict[str, QLabel] = {}
        form = self.make_form([])
        for name, value in about_rows():
            label = QLabel(value)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.rows[name] = label
            form.addRow(name, label)

    def load(self, settings: Settings) -> None:
        pass  # nothing to edit

    def apply(self, settings: Settings) -> None:
        pass


BUILTIN_PAGES: list[PageFactory] = [ModelPage, GenerationPage]
LAST_PAGES: list[PageFactory] = [AboutPage]


class SettingsDialog(QDialog):
    def __init__(
        self, settings: Settings, context: SettingsContext, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self._settings = settings.copy()
        self.pages: list[SettingsPage] = [
            f(context) for f in [*BUILTIN_PAGES, *_EXTRA_PAGES, *LAST_PAGES]
        ]
        self.nav = QListWidget()
        self.nav.setMaximumWidth(160)
        self.stack = QStackedWidget()
        for page in self.pages:
            page.load(self._settings)
            self.nav.addItem(page.title)
            self.stack.addWidget(page)
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.nav.setCurrentRow(0)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        body = QHBoxLayout()
        body.addWidget(self.nav)
        body.addWidget(self.stack, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(body)
        layout.addWidget(buttons)
        self.resize(620, 460)

    def page(self, title: str) -> SettingsPage | None:
        return next((p for p in self.pages if p.title == title), None)

    def result_settings(self) -> Settings:
        """The edited copy, with every page applied."""
        for page in self.pages:
            page.apply(self._settings)
        return self._settings


class ChatSettingsDialog(QDialog):
    """Per-chat overrides: each part is used only when its box is ticked."""

    def __init__(
        self,
        title: str,
        overrides: dict,
        settings: Settings,
        models: list[ModelInfo],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Chat settings — {title}")
        self.setObjectName("chatSettingsDialog")
        self.model = model_combo(models, "Same as the default model")
        select_data(self.model, str(overrides.get("model", "") or ""))
        self.prompt_box = QGroupBox("Own system prompt")
        self.prompt_box.setCheckable(True)
        self.prompt_box.setChecked(isinstance(overrides.get("system_prompt"), str))
        self.system_prompt = QPlainTextEdit()
        self.system_prompt.setPlainText(str(overrides.get("system_prompt", settings.system_prompt)))
        self.system_prompt.setMaximumHeight(110)
        QVBoxLayout(self.prompt_box).addWidget(self.system_prompt)
        self.sampling_box = QGroupBox("Own sampling")
        self.sampling_box.setCheckable(True)
        raw = overrides.get("sampling")
        self.sampling_box.setChecked(isinstance(raw, dict) and bool(raw))
        self.sampling = SamplingForm()
        base = dataclasses.replace(settings.sampling)
        if isinstance(raw, dict):
            from app.controller import merge_sampling

            base = merge_sampling(base, raw)
        self.sampling.set_params(base)
        QVBoxLayout(self.sampling_box).addWidget(self.sampling)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Model", self.model)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.prompt_box)
        layout.addWidget(self.sampling_box)
        layout.addWidget(buttons)

    def overrides(self) -> dict:
        out: dict = {}
        if self.model.currentData():
            out["model"] = str(self.model.currentData())
        if self.prompt_box.isChecked():
            out["system_prompt"] = self.system_prompt.toPlainText()
        if self.sampling_box.isChecked():
            out["sampling"] = dataclasses.asdict(self.sampling.params())
        return out
