"""Model management for the window: what is installed (grouped by model, one variant per
quantization), background jobs that download, convert and quantize with progress and cancel,
and a small record of where models came from, unfinished downloads and measured speeds.

Jobs run on a QThreadPool of their own; each is a QObject living on the GUI thread whose
signals are emitted from the pool thread (so they arrive queued). Cancel is a
`threading.Event` set directly from the GUI thread, never a queued call: the download loop,
the converter and the quantizer's child-process watcher check it. Quantization itself runs in
a child process (engine.quantize), so llama.cpp never runs in the app's process for it.

The heavy back-end modules (huggingface_hub, the converter with numpy, llama_cpp) are imported
inside the jobs, on their threads.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from PySide6.QtCore import QEvent, QObject, QRunnable, QThreadPool, Signal

from engine.errors import HearthError, InvalidRequestError, ModelFileError
from engine.hub import shard_siblings
from engine.types import ModelInfo
from engine.units import format_duration, human_size

if TYPE_CHECKING:
    from engine.download import DownloadProgress
    from engine.hub import HubVariant, RepoFiles
    from engine.memory import MemoryEstimate

log = logging.getLogger(__name__)

RECORDS_FILE = "models.json"  # next to settings.json
PROGRESS_MIN_INTERVAL_S = 0.1
JOB_SHUTDOWN_TIMEOUT_S = 8.0
MIN_TOKENS_FOR_SPEED = 4  # a shorter answer says little about decode speed
# The levels offered for new variants (llama.cpp's recommended set), best quality first.
QUANT_LEVELS = ["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K"]


# -- formatting ------------------------------------------------------------------------------


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


FIT_TEXT = {"fits": "fits", "tight": "tight", "does not fit": "does not fit"}


# -- installed models, grouped -------------------------------------------------------------


@dataclass
class Variant:
    """One installed model file (a split model: its first part, with every part in `files`)."""

    info: ModelInfo
    files: list[Path]
    in_models_dir: bool
    error: str = ""  # a damaged file: the reason

    @property
    def path(self) -> Path:
        return Path(self.info.path)

    @property
    def quant(self) -> str:
        return self.info.file_type or "?"


@dataclass
class ModelGroup:
    key: str  # the model's name without its quantization
    variants: list[Variant] = field(default_factory=list)

    @property
    def best(self) -> Variant | None:
        """The variant whose shapes describe the model (any readable one)."""
        return next((v for v in self.variants if not v.error), None)


def group_key(file_name: str) -> str:
    """'SmolLM2-135M-Instruct.Q4_1.gguf' and 'SmolLM2-135M-Instruct-Q8_0.gguf' -> the same key."""
    from engine.hub import shard_info
    from engine.quantize import base_name

    name = Path(file_name).name
    shard = shard_info(name)
    if shard:
        name = shard[0]
    return base_name(name.removesuffix(".gguf")).lower()


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except (ValueError, OSError):
        return False
    return True


def installed_groups(models_dir: Path, include_embedding: bool = False) -> list[ModelGroup]:
    """Installed chat models, grouped by model; variants sorted largest (best) first."""
    from engine.catalog import Catalog, header_cached, model_info
    from engine.hub import shard_info

    groups: dict[str, ModelGroup] = {}
    for path, bundled in Catalog(models_dir).paths():
        files = shard_siblings(path)
        shard = shard_info(path.name)
        try:
            info = model_info(path, bundled)
            if shard:
                info.file_size = sum(p.stat().st_size for p in files)
                info.parameters = sum(header_cached(p).n_params for p in files)
            error = ""
            if shard and len(files) != shard[2]:
                error = f"only {len(files)} of {shard[2]} parts are present"
        except (ModelFileError, OSError) as exc:
            size = path.stat().st_size if path.exists() else 0
            info = ModelInfo(
                path=str(path),
                name=path.name.removesuffix(".gguf"),
                architecture="?",
                parameters=0,
                file_type="?",
                file_size=size,
                context_length=0,
                has_chat_template=False,
                bundled=bundled,
            )
            error = getattr(exc, "user_message", str(exc))
        if info.embedding and not include_embedding:
            continue
        key = group_key(path.name)
        group = groups.setdefault(key, ModelGroup(key))
        group.variants.append(Variant(info, files, _inside(path, models_dir), error))
    for g in groups.values():
        g.variants.sort(key=lambda v: (-v.info.file_size, v.info.name))
    return sorted(groups.values(), key=lambda g: g.key)


def checkpoint_name(src_dir: Path) -> str:
    """A file name for a converted checkpoint: the model card's title ('# all-MiniLM-L6-v2'),
    else the folder's name, skipping generic folder names and hub cache snapshot ids."""
    import re

    readme = src_dir / "README.md"
    try:
        text = readme.read_text("utf-8", "replace")[:20000] if readme.is_file() else ""
    except OSError:
        text = ""
    m = re.search(r"^# ([\w.\-]+)\s*$", text, re.MULTILINE)
    if m:
        return m.group(1)
    folder = src_dir.resolve()
    if re.fullmatch(r"[0-9a-f]{40}", folder.name) and folder.parent.name == "snapshots":
        return folder.parent.parent.name.split("--")[-1]
    if folder.name.lower() in {"model", "checkpoint", "weights", "hf", "original"}:
        return folder.parent.name or folder.name
    return folder.name


def find_group(groups: list[ModelGroup], model_path: str) -> ModelGroup | None:
    for g in groups:
        for v in g.variants:
            if _same_path(v.info.path, model_path):
                return g
    return None


def _same_path(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return str(a) == str(b)


def memory_fit(
    info: ModelInfo,
    n_ctx: int,
    n_gpu_layers: int = 0,
    n_batch: int = 512,
    available: int | None = None,
    file_size: int | None = None,
) -> tuple[MemoryEstimate, str]:
    """Memory for `info` at the context the app would use (capped by the model's own) and
    whether it fits the memory available now. `file_size` estimates another quantization of
    the same model (same shapes, other weights size)."""
    from engine.memory import available_memory, estimate_for, fit

    ctx = min(n_ctx, info.context_length) if info.context_length else n_ctx
    if file_size is not None:
        info = dataclasses.replace(info, file_size=file_size)
    est = estimate_for(info, ctx, n_gpu_layers, n_batch)
    return est, fit(est, available_memory() if available is None else available)


def delete_refusal(variant: Variant, models_dir: Path, in_use: list[str]) -> str:
    """Why this variant may not be deleted, or "" if it may."""
    if any(_same_path(variant.info.path, p) for p in in_use if p):
        return f"{variant.info.name} is in use; switch to another model first."
    if not variant.in_models_dir or not _inside(variant.path, models_dir):
        return (
            f"{variant.info.name} is part of the Hearth installation (a bundled model), "
            "not a file in your models folder; it cannot be deleted here."
        )
    return ""


def delete_variant(variant: Variant, models_dir: Path, in_use: list[str]) -> list[Path]:
    """Delete the variant's files (every part of a split model). InvalidRequestError if refused."""
    reason = delete_refusal(variant, models_dir, in_use)
    if reason:
        raise InvalidRequestError(reason)
    removed: list[Path] = []
    for f in variant.files or [variant.path]:
        try:
            f.unlink()
            removed.append(f)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise InvalidRequestError(
                f"Could not delete {f.name}: {exc.strerror or exc}", repr(exc)
            ) from exc
    from engine.catalog import _header_cache

    for key in [k for k in _header_cache if any(k[0] == str(f) for f in removed)]:
        _header_cache.pop(key, None)
    return removed


# -- records: origins, unfinished downloads, speeds ------------------------------------------


@dataclass
class PendingDownload:
    """A download that was started and not finished: enough to resume it without the hub
    listing (the revision is pinned, sizes and sha256 are known)."""

    repo_id: str
    revision: str
    name: str
    quant: str
    shards: int
    files: list[dict[str, Any]]  # {"path", "size", "sha256"}

    @property
    def key(self) -> str:
        return f"{self.repo_id}/{self.name}"

    @property
    def size(self) -> int:
        return sum(int(f.get("size") or 0) for f in self.files)

    def to_hub(self) -> tuple[RepoFiles, HubVariant]:
        from engine.hub import HubFile, HubVariant, RepoFiles

        variant = HubVariant(
            name=self.name,
            quant=self.quant,
            files=[
                HubFile(str(f["path"]), int(f.get("size") or 0), f.get("sha256"))
                for f in self.files
            ],
            shards=self.shards,
        )
        return RepoFiles(self.repo_id, self.revision, [variant]), variant

    @classmethod
    def from_hub(cls, repo: RepoFiles, variant: HubVariant) -> PendingDownload:
        return cls(
            repo_id=repo.repo_id,
            revision=repo.revision,
            name=variant.name,
            quant=variant.quant,
            shards=variant.shards,
            files=[{"path": f.path, "size": f.size, "sha256": f.sha256} for f in variant.files],
        )


class ModelRecords:
    """A small JSON file next to the settings: which hub repository each downloaded file came
    from, downloads left unfinished (offered to resume), and the last measured decode speed
    of each model file. GUI thread only; every change is written at once (atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {"origins": {}, "downloads": {}, "speeds": {}}
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raw = {}
        if isinstance(raw, dict):
            for k in self.data:
                if isinstance(raw.get(k), dict):
                    self.data[k] = raw[k]

    def _save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.data, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("could not save %s: %s", self.path, exc)

    # origins
    def set_origin(self, file_name: str, repo_id: str, revision: str, quant: str) -> None:
        self.data["origins"][file_name] = {"repo_id": repo_id, "revision": revision, "quant": quant}
        self._save()

    def origin(self, file_name: str) -> dict[str, str] | None:
        o = self.data["origins"].get(Path(file_name).name)
        return o if isinstance(o, dict) else None

    def forget_file(self, file_name: str) -> None:
        name = Path(file_name).name
        self.data["origins"].pop(name, None)
        self._save()

    # unfinished downloads
    def add_download(self, d: PendingDownload) -> None:
        self.data["downloads"][d.key] = dataclasses.asdict(d)
        self._save()

    def remove_download(self, key: str) -> None:
        if self.data["downloads"].pop(key, None) is not None:
            self._save()

    def pending_downloads(self, models_dir: Path) -> list[PendingDownload]:
        """Unfinished downloads whose files are not all installed yet."""
        out: list[PendingDownload] = []
        for raw in list(self.data["downloads"].values()):
            try:
                d = PendingDownload(**raw)
            except TypeError:
                continue
            if all((models_dir / Path(f["path"]).name).exists() for f in d.files):
                self.remove_download(d.key)
                continue
            out.append(d)
        known = {Path(str(f["path"])).name for d in out for f in d.files}
        for d in partial_sidecars(models_dir):
            if Path(str(d.files[0]["path"])).name not in known:
                out.append(d)
        return out

    # speeds
    def set_speed(self, model_path: str, tokens_per_s: float) -> None:
        self.data["speeds"][str(model_path)] = round(float(tokens_per_s), 2)
        self._save()

    def speed(self, model_path: str) -> float | None:
        v = self.data["speeds"].get(str(model_path))
        return float(v) if isinstance(v, int | float) else None


def partial_sidecars(models_dir: Path) -> list[PendingDownload]:
    """Downloads left in <models>/.partial by something else (`hearth models pull`, an older
    window): each single file, as the downloader's sidecar describes it."""
    from engine.hub import parse_quant, shard_info

    out: list[PendingDownload] = []
    folder = models_dir / ".partial"
    if not folder.is_dir():
        return out
    for sidecar in sorted(folder.glob("*.json")):
        try:
            raw = json.loads(sidecar.read_text(encoding="utf-8"))
            repo_id, path = str(raw["repo_id"]), str(raw["path"])
            revision, size = str(raw.get("revision") or "main"), int(raw.get("size") or 0)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        name = Path(path).name
        if shard_info(name) or not (folder / (name + ".part")).exists():
            continue  # a part of a split model is resumed with its variant, not alone
        out.append(
            PendingDownload(
                repo_id=repo_id,
                revision=revision,
                name=name.removesuffix(".gguf"),
                quant=parse_quant(name),
                shards=1,
                files=[{"path": path, "size": size, "sha256": raw.get("sha256")}],
            )
        )
    return out


def partial_bytes(models_dir: Path, file_path: str) -> int:
    part = models_dir / ".partial" / (Path(file_path).name + ".part")
    try:
        return part.stat().st_size
    except OSError:
        return 0


# -- quantization choices (Settings) ---------------------------------------------------------

ChoiceStatus = Literal["installed", "download", "make"]


@dataclass
class QuantChoice:
    quant: str
    status: ChoiceStatus
    size: int
    name: str  # the installed (or future) model name
    fit: str
    memory: int
    path: str = ""  # installed file
    source: str = ""  # "make": the file to quantize from
    requantize: bool = False  # "make" from an already-quantized file
    source_quant: str = ""
    hub: tuple[RepoFiles, HubVariant] | None = None  # "download"
    tokens_per_s: float | None = None

    @property
    def status_text(self) -> str:
        if self.status == "installed":
            return "installed"
        if self.status == "download":
            return "download"
        return f"make from {self.source_quant}" + (" (re-quantize)" if self.requantize else "")


def quant_choices(
    group: ModelGroup,
    settings: Any,
    records: ModelRecords | None = None,
    repo: RepoFiles | None = None,
    available: int | None = None,
    models_dir: Path | None = None,
) -> list[QuantChoice]:
    """Every quantization level of a model: installed variants, those downloadable from the
    repository the model came from (`repo`, when known and reachable), and the recommended
    levels that can be made by quantizing an installed variant of higher precision."""
    from engine.memory import available_memory
    from engine.quantize import QUANT_BITS, RECOMMENDED, UNQUANTIZED, default_output, estimated_size

    avail = available_memory() if available is None else available
    best = group.best
    if best is None:
        return []
    opts = (settings.n_ctx, settings.n_gpu_layers, settings.n_batch)

    def estimate(size: int, info: ModelInfo) -> tuple[int, str]:
        est, f = memory_fit(info, opts[0], opts[1], opts[2], avail, file_size=size)
        return est.total_bytes, f

    out: list[QuantChoice] = []
    have: set[str] = set()
    for v in group.variants:
        if v.error:
            continue
        mem, f = estimate(v.info.file_size, v.info)
        have.add(v.quant.upper())
        out.append(
            QuantChoice(
                v.quant,
                "installed",
                v.info.file_size,
                v.info.name,
                f,
                mem,
                path=v.info.path,
                tokens_per_s=records.speed(v.info.path) if records else None,
            )
        )
    if repo is not None:
        for hv in repo.variants:
            q = hv.quant.upper()
            if q in have or q == "UNKNOWN" or not hv.complete:
                continue
            mem, f = estimate(hv.size, best.info)
            have.add(q)
            out.append(
                QuantChoice(
                    hv.quant,
                    "download",
                    hv.size,
                    Path(hv.first_file.path).name.removesuffix(".gguf"),
                    f,
                    mem,
                    hub=(repo, hv),
                )
            )
    sources = [v for v in group.variants if not v.error]
    for q in RECOMMENDED:
        if q in have:
            continue
        bits = QUANT_BITS[q]
        higher = [v for v in sources if QUANT_BITS.get(v.quant.upper(), 0.0) > bits]
        if not higher:
            continue
        # Prefer an unquantized source; else the highest-precision quantized one.
        src = sorted(
            higher,
            key=lambda v: (v.quant.upper() not in UNQUANTIZED, -QUANT_BITS[v.quant.upper()]),
        )[0]
        size = estimated_size(src.info.parameters, q)
        mem, f = estimate(size, src.info)
        target = default_output(src.path, q, models_dir)
        out.append(
            QuantChoice(
                q,
                "make",
                size,
                target.name.removesuffix(".gguf"),
                f,
                mem,
                source=src.info.path,
                requantize=src.quant.upper() not in UNQUANTIZED,
                source_quant=src.quant,
            )
        )
    return sorted(
        out, key=lambda c: (-QUANT_BITS.get(c.quant.upper(), 0.0), c.status != "installed")
    )


# -- jobs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobProgress:
    fraction: float  # 0..1, or -1 when unknown
    text: str


JobState = Literal["queued", "running", "done", "cancelled", "failed"]


class Job(QObject):
    """A background task. Subclasses implement `work(report, cancel)`; it returns the result,
    or None when it stopped because of a cancel."""

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
        last_fraction = getattr(self, "_last_fraction", -1.0)
        if (
            not force
            and now - self._last_emit < PROGRESS_MIN_INTERVAL_S
            and fraction - last_fraction < 0.05
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

    One per controller (see `job_manager`): jobs outlive the dialog that started them."""

    jobAdded = Signal(object)  # Job
    jobEnded = Signal(object)  # Job
    modelsChanged = Signal()  # a model file was added or removed

    def __init__(self, controller: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.paths = controller.paths
        self.records = ModelRecords(self.paths.config / RECORDS_FILE)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(4)
        self.jobs: list[Job] = []
        self._runners: dict[int, _Runner] = {}
        self._closed = False

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

    def settings(self) -> Any:
        return self.controller.settings

    def hub(self) -> Any:
        from engine.hub import Hub

        return Hub.from_settings(self.settings())

    def search(self, query: str, sort: str = "downloads", limit: int = 30) -> CallJob:
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

    def _start_model_job(self, job: Any) -> Any:
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
        loading = getattr(c, "_model_info", None)  # the model being loaded (or loaded)
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

    def switch_to(self, choice: QuantChoice) -> Job | None:
        """Make `choice` the default model: at once if installed, else after fetching or
        making it. The controller reloads the engine in the background."""
        if choice.status == "installed":
            self._apply_default(choice.name)
            return None
        job: Job
        if choice.status == "download" and choice.hub is not None:
            job = self.download(*choice.hub)
        elif choice.status == "make":
            job = self.quantize(Path(choice.source), choice.quant, allow_requantize=True)
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

    def record_speed(self, rid: int, stats: Any) -> None:
        path = loaded_path(self.controller)
        if not path or getattr(stats, "stop_reason", "") == "cancelled":
            return
        if getattr(stats, "generated_tokens", 0) < MIN_TOKENS_FOR_SPEED:
            return
        tps = float(getattr(stats, "decode_tokens_per_s", 0.0) or 0.0)
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

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Close:
            self.shutdown()
        return False


def loaded_path(controller: Any) -> str:
    """The file of the model the engine holds now ("" if none)."""
    loaded = getattr(controller, "loaded_model", None)
    if loaded is None:
        return ""
    info = getattr(loaded, "info", None)
    if info is not None and getattr(info, "path", ""):
        return str(info.path)
    return str(getattr(loaded.spec, "model_path", "") or "")


def job_manager(controller: Any, window: QObject | None = None) -> JobManager:
    """The controller's JobManager, created on first use. With a window, the manager stops its
    jobs when that window closes."""
    mgr = getattr(controller, "_hearth_model_jobs", None)
    if mgr is None:
        mgr = JobManager(controller, controller)
        controller._hearth_model_jobs = mgr
        engine = getattr(controller, "engine", None)
        if engine is not None:
            engine.finished.connect(mgr.record_speed)
    if window is not None and not getattr(window, "_hearth_jobs_filter", False):
        window.installEventFilter(mgr)
        window._hearth_jobs_filter = True  # type: ignore[attr-defined]
    return mgr


# -- backend description (Settings) ----------------------------------------------------------

_FEATURES = ("AVX512", "AVX2", "AVX", "NEON", "FMA", "F16C", "SVE", "AMX_INT8", "OPENMP")


def backend_summary(info: dict[str, Any]) -> str:
    """'llama.cpp CPU backend (AVX2, FMA, F16C, OPENMP) · build 0.3.36+hearth.5' from
    engine.runtime.system_info()."""
    text = str(info.get("system_info", ""))
    backends: list[str] = []
    features: list[str] = []
    for segment in text.split("|"):
        segment = segment.strip()
        if " : " in segment:
            name, _, rest = segment.partition(" : ")
            backends.append(name.strip())
            segment = rest.strip()
        key, _, value = segment.partition("=")
        if key.strip() in _FEATURES and value.strip() == "1":
            features.append(key.strip())
    names = " + ".join(dict.fromkeys(backends)) or "unknown"
    feats = f" ({', '.join(features)})" if features else ""
    version = info.get("llama_cpp_python", "")
    return f"llama.cpp {names} backend{feats}" + (f" · build {version}" if version else "")


def offload_text(gpu_offload: bool | None, n_gpu_layers: int, n_layer: int) -> str:
    """How many layers run on the GPU, in words."""
    if gpu_offload is None:
        return "checking…"
    if not gpu_offload:
        return "CPU only (this llama.cpp build has no GPU backend)"
    if n_gpu_layers == 0:
        return "CPU only (GPU layers is 0 in Settings → Model)"
    if n_gpu_layers < 0 or (n_layer and n_gpu_layers >= n_layer):
        return f"all {n_layer} layers on the GPU" if n_layer else "all layers on the GPU"
    if n_layer:
        return f"{n_gpu_layers} of {n_layer} layers on the GPU"
    return f"{n_gpu_layers} layers on the GPU"
