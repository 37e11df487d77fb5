"""The installed models as the model manager sees them, without Qt: files grouped by model
(one variant per quantization level), what may be deleted, which levels the current model
could switch to (installed, downloadable from its repository, or made by quantizing), and a
small JSON record of where downloaded files came from, unfinished downloads and measured
decode speeds.

Plain functions and data over the models folder, so the window's job runner
(app/model_jobs.py), its pages (ui/models_*.py) and `hearth models` share one inventory and
a script or a test can drive it without a window.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from engine.catalog import Catalog, header_cached, model_info
from engine.errors import InvalidRequestError, ModelFileError
from engine.hub import HubFile, HubVariant, RepoFiles, parse_quant, shard_info, shard_siblings
from engine.memory import Fit, MemoryEstimate, available_memory, estimate_for, fit
from engine.quantize import (
    QUANT_BITS,
    RECOMMENDED,
    UNQUANTIZED,
    base_name,
    default_output,
    estimated_size,
)
from engine.types import ModelInfo

log = logging.getLogger(__name__)

RECORDS_FILE = "models.json"  # next to settings.json


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
    name = Path(file_name).name
    shard = shard_info(name)
    if shard:
        name = shard[0]
    return base_name(name.removesuffix(".gguf")).lower()


def inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except (ValueError, OSError):
        return False
    return True


def same_path(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return str(a) == str(b)


def _damaged_info(path: Path, bundled: bool) -> ModelInfo:
    """What can be said of a file whose header cannot be read: its name and size."""
    size = path.stat().st_size if path.exists() else 0
    return ModelInfo(
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


def _read_variant(path: Path, bundled: bool, models_dir: Path) -> Variant:
    """One catalog entry as a variant; a split model counts the size and parameters of every
    part, and a missing part or an unreadable header makes it a damaged variant."""
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
        info = _damaged_info(path, bundled)
        error = exc.user_message if isinstance(exc, ModelFileError) else str(exc)
    return Variant(info, files, inside(path, models_dir), error)


def installed_groups(models_dir: Path, include_embedding: bool = False) -> list[ModelGroup]:
    """Installed chat models, grouped by model; variants sorted largest (best) first."""
    groups: dict[str, ModelGroup] = {}
    for path, bundled in Catalog(models_dir).paths():
        variant = _read_variant(path, bundled, models_dir)
        if variant.info.embedding and not include_embedding:
            continue
        key = group_key(path.name)
        groups.setdefault(key, ModelGroup(key)).variants.append(variant)
    for g in groups.values():
        g.variants.sort(key=lambda v: (-v.info.file_size, v.info.name))
    return sorted(groups.values(), key=lambda g: g.key)


def find_group(groups: list[ModelGroup], model_path: str) -> ModelGroup | None:
    for g in groups:
        for v in g.variants:
            if same_path(v.info.path, model_path):
                return g
    return None


def checkpoint_name(src_dir: Path) -> str:
    """A file name for a converted checkpoint: the model card's title ('# all-MiniLM-L6-v2'),
    else the folder's name, skipping generic folder names and hub cache snapshot ids."""
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


def memory_fit(
    info: ModelInfo,
    n_ctx: int,
    n_gpu_layers: int = 0,
    n_batch: int = 512,
    available: int | None = None,
    file_size: int | None = None,
) -> tuple[MemoryEstimate, Fit]:
    """Memory for `info` at the context the app would use (capped by the model's own) and
    whether it fits the memory available now. `file_size` estimates another quantization of
    the same model (same shapes, other weights size)."""
    ctx = min(n_ctx, info.context_length) if info.context_length else n_ctx
    if file_size is not None:
        info = dataclasses.replace(info, file_size=file_size)
    est = estimate_for(info, ctx, n_gpu_layers, n_batch)
    return est, fit(est, available_memory() if available is None else available)


# -- delete ----------------------------------------------------------------------------------


def delete_refusal(variant: Variant, models_dir: Path, in_use: list[str]) -> str:
    """Why this variant may not be deleted, or "" if it may."""
    if any(same_path(variant.info.path, p) for p in in_use if p):
        return f"{variant.info.name} is in use; switch to another model first."
    if not variant.in_models_dir or not inside(variant.path, models_dir):
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
    # A new file written under the same name must not be described by the old header.
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
    of each model file. One thread at a time (the window's GUI thread); every change is
    written at once (atomically)."""

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


class ContextOptions(Protocol):
    """The settings a memory estimate depends on (the app's Settings has them)."""

    @property
    def n_ctx(self) -> int: ...
    @property
    def n_gpu_layers(self) -> int: ...
    @property
    def n_batch(self) -> int: ...


# (memory needed, fit) for a file of `size` bytes with the shapes of `info`
Estimate = Callable[[int, ModelInfo], tuple[int, str]]


def quant_choices(
    group: ModelGroup,
    settings: ContextOptions,
    records: ModelRecords | None = None,
    repo: RepoFiles | None = None,
    available: int | None = None,
    models_dir: Path | None = None,
) -> list[QuantChoice]:
    """Every quantization level of a model: installed variants, those downloadable from the
    repository the model came from (`repo`, when known and reachable), and the recommended
    levels that can be made by quantizing an installed variant of higher precision."""
    avail = available_memory() if available is None else available
    best = group.best
    if best is None:
        return []

    def estimate(size: int, info: ModelInfo) -> tuple[int, str]:
        est, f = memory_fit(
            info, settings.n_ctx, settings.n_gpu_layers, settings.n_batch, avail, file_size=size
        )
        return est.total_bytes, f

    out = _installed_choices(group, estimate, records)
    have = {c.quant.upper() for c in out}
    if repo is not None:
        out += _download_choices(repo, best.info, estimate, have)
        have |= {c.quant.upper() for c in out}
    out += _made_choices(group, estimate, have, models_dir)
    return sorted(
        out, key=lambda c: (-QUANT_BITS.get(c.quant.upper(), 0.0), c.status != "installed")
    )


def _installed_choices(
    group: ModelGroup, estimate: Estimate, records: ModelRecords | None
) -> list[QuantChoice]:
    out: list[QuantChoice] = []
    for v in group.variants:
        if v.error:
            continue
        mem, f = estimate(v.info.file_size, v.info)
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
    return out


def _download_choices(
    repo: RepoFiles, shapes: ModelInfo, estimate: Estimate, have: set[str]
) -> list[QuantChoice]:
    """The repository's complete variants at levels not installed (the first of each)."""
    out: list[QuantChoice] = []
    seen = set(have)
    for hv in repo.variants:
        q = hv.quant.upper()
        if q in seen or q == "UNKNOWN" or not hv.complete:
            continue
        mem, f = estimate(hv.size, shapes)
        seen.add(q)
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
    return out


# A level made from an already-quantized file is offered only when it is clearly smaller than
# its source: each quantization loses quality, so a re-quantized file that is about as large
# (Q4_1 -> "Q4_K_M" gave 105.5 MB from 98.4 MB) is worse than both its source and a real one.
REQUANT_MAX_FRACTION = 0.8


def _made_choices(
    group: ModelGroup, estimate: Estimate, have: set[str], models_dir: Path | None
) -> list[QuantChoice]:
    """Recommended levels not installed nor downloadable that a variant of higher precision
    can be quantized to: from an unquantized file (F16/BF16/F32) when there is one; from a
    quantized one only when the result is clearly smaller, marked `requantize` (the user is
    asked first, with the warning)."""
    sources = [v for v in group.variants if not v.error]
    out: list[QuantChoice] = []
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
        requantize = src.quant.upper() not in UNQUANTIZED
        if requantize and size > REQUANT_MAX_FRACTION * src.info.file_size:
            continue
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
                requantize=requantize,
                source_quant=src.quant,
            )
        )
    return out
