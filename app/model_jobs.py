"""Background jobs of the model manager: download, convert and quantize with progress and
cancel, and the short calls the window makes off the GUI thread (hub search, repository
listing, llama.cpp's system info). What is installed, what may be deleted and the record of
origins, unfinished downloads and speeds is engine.model_inventory's (no Qt); this module
runs the work and keeps the inventory's records up to date as jobs end.

Jobs run on a QThreadPool of their own; each is a QObject living on the GUI thread whose
signals are emitted from the pool thread (so they arrive queued). Cancel is a
`threading.Event` set directly from the GUI thread, never a queued call: the download loop,
the converter and the quantizer's child-process watcher check it. Quantization itself runs in
a child process (engine.quantize), so llama.cpp never runs in the app's process for it.

The heavy back-end modules (huggingface_hub, the converter with numpy, llama_cpp) are imported
inside the jobs, on their threads.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from engine.errors import HearthError, InvalidRequestError
from engine.model_inventory import (
    RECORDS_FILE,
    ModelRecords,
    PendingDownload,
    QuantChoice,
    Variant,
    checkpoint_name,
    delete_variant,
    partial_bytes,
)
from engine.units import format_duration, human_size

if TYPE_CHECKING:
    from app.controller import ChatController
    from app.settings import Settings
    from engine.download import DownloadProgress
    from engine.hub import Hub, HubVariant, RepoFiles, SortKey
    from engine.types import GenerationStats

log = logging.getLogger(__name__)

PROGRESS_MIN_INTERVAL_S = 0.1
JOB_SHUTDOWN_TIMEOUT_S = 8.0
MIN_TOKENS_FOR_SPEED = 4  # a shorter answer says little about decode speed


# -- progress text (a job reports it from its own thread) ------------------------------------


def format_eta(seconds: float | None) -> str:
    return "time left unknown" if seconds is None else f"{format_duration(seconds)} left"


def download_text(p: DownloadProgress) -> str:
    """'12.3 MB of 105.5 MB · 8.1 MB/s · 11 s left' (+ part number for sharded models)."""
    part = f"part {p.file_index} of {p.file_count}: " if p.file_count > 1 else ""
    if p.stage == "verifying":
        return f"{part}checking {p.filename}…"
    text = f"{part}{human_size(p.done)} of {human_size(p.total)}"
    if p.speed > 0:
        text += f" · {human_size(p.speed)}/s · {format_eta(p.eta_s)}"
    return text


# -- jobs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobProgress:
    fraction: float  # 0..1, or -1 when unknown
    text: str


JobState = Literal["queued", "running", "done", "cancelled", "failed"]
_J = TypeVar("_J", bound="Job")


class Job(QObject):
    """A background task. Subclasses implement `work()`, which reports progress with
    `report`, watches `cancel_event` and returns the result, or None when it stopped because
    of a cancel."""

    progress = Signal(object)  # JobProgress
    succeeded = Signal(object)  # the result
    failed = Signal(object)  # HearthError
    cancelled = Signal()
    ended = Signal()  # after any of the three above

    kind = "job"

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title = title
        self.cancel_event = threading.Event()
        self.state: JobState = "queued"
        self.last_progress = JobProgress(-1.0, "waiting…")
        self.result: Any = None
        self.error: HearthError | None = None
        self._last_emit = 0.0
        self._last_fraction = -1.0
        self.ended_at = 0.0
        self.progress.connect(self._remember)

    def _remember(self, p: JobProgress) -> None:
        self.last_progress = p

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    def cancel(self) -> None:
        self.cancel_event.set()

    def report(self, fraction: float, text: str, force: bool = False) -> None:
        """Thread-safe; about 10 per second, plus one per 5 % of progress (a fast job would
        otherwise finish between two reports, leaving no point to cancel it), or forced."""
        now = time.monotonic()
        if (
            not force
            and now - self._last_emit < PROGRESS_MIN_INTERVAL_S
            and fraction - self._last_fraction < 0.05
        ):
            return
        self._last_emit = now
        self._last_fraction = fraction
        self.progress.emit(JobProgress(fraction, text))

    def work(self) -> Any:
        raise NotImplementedError

    def run(self) -> None:
        """Runs on a pool thread."""
        self.state = "running"
        try:
            if self.cancel_event.is_set():
                result = None
            else:
                result = self.work()
        except HearthError as exc:
            self.state, self.error = "failed", exc
            self.ended_at = time.monotonic()
            self.failed.emit(exc)
            self.ended.emit()
            return
        except Exception as exc:
            log.exception("%s failed", self.title)
            err = HearthError(
                f"{self.title} failed unexpectedly: {exc}", "".join(traceback.format_exception(exc))
            )
            self.state, self.error = "failed", err
            self.ended_at = time.monotonic()
            self.failed.emit(err)
            self.ended.emit()
            return
        if result is None:
            self.state = "cancelled"
            self.cancelled.emit()
        else:  # a job that finished despite a late cancel still made its file
            self.state, self.result = "done", result
            self.succeeded.emit(result)
        self.ended_at = time.monotonic()
        self.ended.emit()


class CallJob(Job):
    """A short call (a hub search, a repository listing, llama.cpp's system info)."""

    kind = "call"

    def __init__(self, title: str, fn: Callable[[], Any]) -> None:
        super().__init__(title)
        self.fn = fn

    def work(self) -> Any:
        return self.fn()


class DownloadJob(Job):
    kind = "download"

    def __init__(
        self, repo: RepoFiles, variant: HubVariant, models_dir: Path, endpoint: str, token: str
    ) -> None:
        parts = f" ({variant.shards} parts)" if variant.shards > 1 else ""
        super().__init__(f"Download {variant.name}{parts}")
        self.repo, self.variant = repo, variant
        self.models_dir, self.endpoint, self.token = models_dir, endpoint, token
        self.pending = PendingDownload.from_hub(repo, variant)

    def work(self) -> Path | None:
        from engine.download import Downloader

        self.report(-1.0, "connecting…", force=True)
        downloader = Downloader(self.models_dir, self.endpoint, self.token)
        total = self.variant.size
        done_before = [0]  # bytes of the finished earlier parts

        def progress(p: DownloadProgress) -> None:
            if p.file_index > 1:
                done_before[0] = sum(f.size for f in self.variant.files[: p.file_index - 1])
            frac = (done_before[0] + p.done) / total if total else -1.0
            self.report(frac, download_text(p), force=p.stage == "verifying")

        return downloader.download_variant(
            self.repo, self.variant, progress=progress, cancel=self.cancel_event
        )


class ConvertJob(Job):
    kind = "convert"

    def __init__(self, src_dir: Path, outtype: str, out: Path) -> None:
        super().__init__(f"Convert {src_dir.name} to {outtype.upper()}")
        self.src_dir, self.outtype, self.out = src_dir, outtype, out

    def work(self) -> Path | None:
        from engine.convert import ConversionCancelled, convert_checkpoint

        started = time.monotonic()
        self.report(-1.0, "reading the checkpoint…", force=True)

        def progress(done: int, total: int) -> None:
            elapsed = time.monotonic() - started
            self.report(
                done / total if total else -1.0,
                f"{human_size(done)} of {human_size(total)} written · {elapsed:.0f} s",
            )

        try:
            return convert_checkpoint(
                self.src_dir, self.out, self.outtype, progress=progress, cancel=self.cancel_event
            )
        except ConversionCancelled:
            return None


class QuantizeJob(Job):
    kind = "quantize"

    def __init__(
        self, src: Path, quant: str, models_dir: Path, allow_requantize: bool = False
    ) -> None:
        super().__init__(f"Quantize {src.name.removesuffix('.gguf')} to {quant}")
        self.src, self.quant, self.models_dir = src, quant, models_dir
        self.allow_requantize = allow_requantize

    def work(self) -> Path | None:
        from engine.quantize import QuantizeProgress, quantize

        def progress(p: QuantizeProgress) -> None:
            if p.stage == "quantizing" and p.total:
                text = f"tensor {p.done} of {p.total} · {p.elapsed_s:.0f} s"
                self.report(p.fraction, text, force=p.done == p.total)
            else:
                self.report(-1.0, {"starting": "starting llama.cpp…"}.get(p.stage, p.stage + "…"))

        return quantize(
            self.src,
            self.quant,
            progress=progress,
            cancel=self.cancel_event,
            allow_requantize=self.allow_requantize,
            models_dir=self.models_dir,
        )


class _Runner(QRunnable):
    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job
        self.setAutoDelete(False)

    def run(self) -> None:
        self.job.run()


class JobManager(QObject):
    """Runs jobs on its own thread pool and keeps them listed until dismissed.

    One per controller, made by the composition root (`JobManager(controller)`, handed to
    the window as `Services.model_jobs`): jobs outlive the dialog that started them. It is
    the controller's child (it goes with it) and records the decode speed of every answer
    the controller's engine finishes. Whoever owns the window calls `shutdown` when it
    closes."""

    jobAdded = Signal(object)  # Job
    jobEnded = Signal(object)  # Job
    modelsChanged = Signal()  # a model file was added or removed

    def __init__(self, controller: ChatController, parent: QObject | None = None) -> None:
        super().__init__(parent if parent is not None else controller)
        self.controller = controller
        self.paths = controller.paths
        self.records = ModelRecords(self.paths.config / RECORDS_FILE)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(4)
        self.jobs: list[Job] = []
        self._runners: dict[int, _Runner] = {}
        self._closed = False
        controller.engine.finished.connect(self.record_speed)

    @property
    def models_dir(self) -> Path:
        return Path(self.paths.models)

    def active_jobs(self) -> list[Job]:
        return [j for j in self.jobs if j.active]

    def start(self, job: Job, listed: bool = True) -> Job:
        if self._closed:
            raise InvalidRequestError("Hearth is closing; the job was not started.")
        # A runner is kept until well after its job ended: the pool thread still touches it
        # right after run() returns.
        now = time.monotonic()
        for key, r in list(self._runners.items()):
            if r.job.ended_at and now - r.job.ended_at > 10.0:
                del self._runners[key]
        if listed:
            self.jobs.append(job)
        job.ended.connect(lambda j=job: self._on_ended(j))
        runner = _Runner(job)
        self._runners[id(job)] = runner
        if listed:
            self.jobAdded.emit(job)
        self.pool.start(runner)
        return job

    def _on_ended(self, job: Job) -> None:
        if job.state == "done" and job.kind in ("download", "convert", "quantize"):
            self.modelsChanged.emit()
        self.jobEnded.emit(job)

    def dismiss(self, job: Job) -> None:
        if not job.active and job in self.jobs:
            self.jobs.remove(job)

    def call(self, title: str, fn: Callable[[], Any]) -> CallJob:
        job = CallJob(title, fn)
        self.start(job, listed=False)
        return job

    # -- the model jobs ------------------------------------------------------------------

    def settings(self) -> Settings:
        return self.controller.settings

    def hub(self) -> Hub:
        from engine.hub import Hub

        return Hub.from_settings(self.settings())

    def search(self, query: str, sort: SortKey = "downloads", limit: int = 30) -> CallJob:
        hub = self.hub()
        return self.call(f"Search {query!r}", lambda: hub.search(query, sort=sort, limit=limit))

    def repo_files(self, repo_id: str) -> CallJob:
        hub = self.hub()
        return self.call(f"List {repo_id}", lambda: hub.repo_files(repo_id))

    def system_info(self) -> CallJob:
        def info() -> dict[str, Any]:
            from engine.runtime import system_info

            return system_info()

        return self.call("llama.cpp system info", info)

    def busy_with(self, key: str) -> Job | None:
        for j in self.active_jobs():
            if isinstance(j, DownloadJob) and j.pending.key == key:
                return j
        return None

    def download(self, repo: RepoFiles, variant: HubVariant) -> DownloadJob:
        pending = PendingDownload.from_hub(repo, variant)
        running = self.busy_with(pending.key)
        if isinstance(running, DownloadJob):
            return running
        s = self.settings()
        job = DownloadJob(repo, variant, self.models_dir, s.hub_endpoint, s.hub_token)
        self.records.add_download(job.pending)
        job.succeeded.connect(lambda path, j=job: self._download_done(j, path))
        job.failed.connect(lambda err, j=job: self._download_failed(j, err))
        self.start(job)
        return job

    def resume(self, pending: PendingDownload) -> DownloadJob:
        repo, variant = pending.to_hub()
        return self.download(repo, variant)

    def discard(self, pending: PendingDownload) -> None:
        from engine.download import Downloader

        if self.busy_with(pending.key):
            raise InvalidRequestError("That download is running; cancel it first.")
        d = Downloader(self.models_dir)
        for f in pending.files:
            d.discard_partial(str(f["path"]))
        self.records.remove_download(pending.key)

    def _download_done(self, job: DownloadJob, path: Path) -> None:
        self.records.remove_download(job.pending.key)
        for f in job.variant.files:
            self.records.set_origin(
                Path(f.path).name, job.repo.repo_id, job.repo.revision, job.variant.quant
            )

    def _download_failed(self, job: DownloadJob, err: HearthError) -> None:
        # A damaged download was discarded by the downloader: nothing left to resume.
        if all(partial_bytes(self.models_dir, f.path) == 0 for f in job.variant.files):
            self.records.remove_download(job.pending.key)

    def convert(self, src_dir: Path, outtype: str = "f16", out: Path | None = None) -> ConvertJob:
        src_dir = Path(src_dir)
        if not (src_dir / "config.json").is_file():
            raise InvalidRequestError(
                f"{src_dir} is not a Hugging Face checkpoint folder (it has no config.json)."
            )
        if out is None:
            out = self.models_dir / f"{checkpoint_name(src_dir)}.{outtype.upper()}.gguf"
        if out.exists():
            raise InvalidRequestError(f"{out.name} already exists in the models folder.")
        return self._start_model_job(ConvertJob(src_dir, outtype, out))

    def quantize(self, src: Path, quant: str, allow_requantize: bool = False) -> QuantizeJob:
        from engine.gguf_file import read_header
        from engine.quantize import UNQUANTIZED, default_output, normalize_quant

        quant = normalize_quant(quant)
        current = read_header(Path(src)).file_type_name.upper()
        if current == quant:
            raise InvalidRequestError(f"{Path(src).name} is already {quant}.")
        if current not in UNQUANTIZED and not allow_requantize:
            raise InvalidRequestError(
                f"{Path(src).name} is already quantized ({current}); re-quantizing loses more "
                f"quality than quantizing an F16 original to {quant}."
            )
        target = default_output(Path(src), quant, self.models_dir)
        if target.exists():
            raise InvalidRequestError(f"{target.name} already exists.")
        for j in self.active_jobs():
            if isinstance(j, QuantizeJob) and (j.src, j.quant) == (Path(src), quant):
                return j
        return self._start_model_job(QuantizeJob(Path(src), quant, self.models_dir, True))

    def _start_model_job(self, job: _J) -> _J:
        self.start(job)
        return job

    def job_sources(self) -> list[str]:
        """Files that running jobs read (they must not be deleted)."""
        return [str(j.src) for j in self.active_jobs() if isinstance(j, QuantizeJob)]

    # -- in use, delete ------------------------------------------------------------------

    def in_use(self) -> list[str]:
        """The loaded model, the one being loaded, and files that running jobs read."""
        c = self.controller
        out = [loaded_path(c)]
        loading = c.model_info  # the model being loaded (or loaded)
        if loading is not None:
            out.append(str(loading.path))
        return [p for p in out if p] + self.job_sources()

    def delete(self, variant: Variant) -> list[Path]:
        removed = delete_variant(variant, self.models_dir, self.in_use())
        for f in removed:
            self.records.forget_file(f.name)
        self.modelsChanged.emit()
        return removed

    # -- switching the current model's variant -------------------------------------------

    def switch_to(self, choice: QuantChoice, allow_requantize: bool = False) -> Job | None:
        """Make `choice` the default model: at once if installed, else after fetching or
        making it. The controller reloads the engine in the background. A level made from an
        already-quantized file (choice.requantize) needs allow_requantize, which the window
        passes only after the user confirmed the warning; without it the quantizer refuses."""
        if choice.status == "installed":
            self._apply_default(choice.name)
            return None
        job: Job
        if choice.status == "download" and choice.hub is not None:
            job = self.download(*choice.hub)
        elif choice.status == "make":
            job = self.quantize(
                Path(choice.source), choice.quant, allow_requantize=allow_requantize
            )
        else:
            raise InvalidRequestError(f"{choice.quant} cannot be installed from here.")
        job.succeeded.connect(
            lambda path: self._apply_default(Path(path).name.removesuffix(".gguf"))
        )
        return job

    def _apply_default(self, name: str) -> None:
        new = self.controller.settings.copy()
        new.default_model = name
        self.controller.apply_settings(new)

    # -- measured speeds -----------------------------------------------------------------

    def record_speed(self, rid: int, stats: GenerationStats) -> None:
        path = loaded_path(self.controller)
        if not path or stats.stop_reason == "cancelled":
            return
        if stats.generated_tokens < MIN_TOKENS_FOR_SPEED:
            return
        tps = float(stats.decode_tokens_per_s or 0.0)
        if tps > 0:
            self.records.set_speed(path, tps)

    # -- shutdown ------------------------------------------------------------------------

    def shutdown(self, timeout_s: float = JOB_SHUTDOWN_TIMEOUT_S) -> bool:
        """Cancel every job and wait for the pool (downloads keep their partial bytes)."""
        if self._closed:
            return True
        self._closed = True
        for j in self.jobs:
            j.cancel()
        for r in self._runners.values():
            r.job.cancel()
        return bool(self.pool.waitForDone(int(timeout_s * 1000)))


def loaded_path(controller: ChatController) -> str:
    """The file of the model the engine holds now ("" if none)."""
    loaded = controller.loaded_model
    if loaded is None or loaded.info is None:
        return ""
    return str(loaded.info.path or "")
