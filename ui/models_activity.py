"""The Models window's Activity panel: every running and finished job (download, convert,
quantize) with its progress, Cancel while it runs and Dismiss once it has ended."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.model_jobs import Job, JobManager, JobProgress


class JobRow(QWidget):
    def __init__(self, job: Job, manager: JobManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job, self.manager = job, manager
        self.title = QLabel(job.title)
        self.title.setObjectName("jobTitle")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(10)
        self.detail = QLabel("")
        self.detail.setObjectName("jobDetail")
        self.button = QPushButton("Cancel")
        self.button.clicked.connect(self._clicked)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.bar)
        layout.addWidget(self.detail)
        job.progress.connect(self.show_progress)
        job.ended.connect(self.show_end)
        self.show_progress(job.last_progress)
        if not job.active:
            self.show_end()

    def show_progress(self, p: JobProgress) -> None:
        if self.job.cancel_event.is_set() and self.job.active:
            return  # keep "Cancelling…" until it has ended
        if p.fraction < 0:
            self.bar.setRange(0, 0)  # busy indicator
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(p.fraction * 1000))
        self.detail.setText(p.text)

    def show_end(self) -> None:
        job = self.job
        self.bar.setRange(0, 1000)
        if job.state == "done":
            self.bar.setValue(1000)
            self.detail.setText(f"Done: {Path(str(job.result)).name}")
        elif job.state == "cancelled":
            keep = " (the downloaded part is kept: resume it from the Hub tab)"
            self.detail.setText("Cancelled" + (keep if job.kind == "download" else ""))
        elif job.state == "failed" and job.error is not None:
            self.detail.setText(job.error.user_message)
            self.detail.setWordWrap(True)
        self.button.setText("Dismiss")

    def _clicked(self) -> None:
        if self.job.active:
            self.button.setEnabled(False)
            self.detail.setText("Cancelling…")
            self.job.cancel()
        else:
            self.manager.dismiss(self.job)
            self.deleteLater()


class JobsPanel(QGroupBox):
    def __init__(self, manager: JobManager, parent: QWidget | None = None) -> None:
        super().__init__("Activity", parent)
        self.manager = manager
        self.rows: dict[int, JobRow] = {}
        self.empty = QLabel("No downloads, conversions or quantizations running.")
        self.empty.setObjectName("emptyLabel")
        inner = QWidget()
        self.list_layout = QVBoxLayout(inner)
        self.list_layout.setContentsMargins(0, 0, 0, 0)
        self.list_layout.addWidget(self.empty)
        self.list_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(scroll)
        self.setMaximumHeight(200)
        self.setMinimumHeight(120)
        for job in manager.jobs:
            self.add(job)
        manager.jobAdded.connect(self.add)

    def add(self, job: Job) -> None:
        row = JobRow(job, self.manager)
        self.rows[id(job)] = row
        self.list_layout.insertWidget(0, row)
        self.empty.hide()
