"""Find GGUF models on a Hugging Face-compatible hub with the real huggingface_hub client.

The endpoint (a mirror, or the test server) and the token come from the caller (Hearth's
settings), then HF_ENDPOINT, then huggingface_hub's default. They are passed explicitly to
every call, so a value read by huggingface_hub at import time never wins over the settings.

Without a network, every call fails quickly with a HubError that says so: a short connect
probe runs first, because huggingface_hub's paginated listing retries network errors with
back-off for many seconds. Nothing installed depends on this module.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from engine.errors import HubError

if TYPE_CHECKING:
    from huggingface_hub import HfApi

SortKey = Literal["downloads", "recent"]

CONNECT_TIMEOUT = 4.0  # seconds to open a connection before calling the hub unreachable
READ_TIMEOUT = 20.0
OFFLINE_MESSAGE = (
    "You appear to be offline: the model hub at {endpoint} cannot be reached. "
    "Installed models keep working; try again when you are connected."
)

# Quantization names as they appear in GGUF file names (llama.cpp's types, plus the usual
# community suffixes such as Q4_K_XL or Q6_K_L).
_QUANT_RE = re.compile(
    r"^(?:I?Q\d_(?:[A-Z0-9]+)(?:_[A-Z0-9]+)?|BF16|F16|F32|FP16|FP32|TQ\d_0|MXFP4(?:_MOE)?)$",
    re.IGNORECASE,
)
_SHARD_RE = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


# -- Plain data ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HubModel:
    repo_id: str
    downloads: int = 0
    likes: int = 0
    last_modified: datetime | None = None
    tags: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "downloads": self.downloads,
            "likes": self.likes,
            "last_modified": self.last_modified.isoformat() if self.last_modified else None,
        }


@dataclass(frozen=True)
class HubFile:
    path: str  # relative to the repository root
    size: int
    sha256: str | None = None  # from the LFS pointer; None for files not stored with LFS


@dataclass
class HubVariant:
    """One downloadable model file; a sharded model (-00001-of-0000N) is one variant."""

    name: str  # file name without the shard suffix and .gguf
    quant: str  # e.g. "Q4_K_M", or "unknown"
    files: list[HubFile] = field(default_factory=list)
    shards: int = 1  # declared number of shards

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def complete(self) -> bool:
        return len(self.files) == self.shards

    @property
    def first_file(self) -> HubFile:
        return self.files[0]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "quant": self.quant,
            "size": self.size,
            "shards": self.shards,
            "complete": self.complete,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files],
        }


@dataclass
class RepoFiles:
    repo_id: str
    revision: str  # the commit the listing came from; downloads pin it
    variants: list[HubVariant]
    other_gguf: list[HubFile] = field(default_factory=list)  # mmproj (vision projectors) etc.
    all_files: list[HubFile] = field(default_factory=list)

    def by_quant(self) -> dict[str, list[HubVariant]]:
        groups: dict[str, list[HubVariant]] = {}
        for v in self.variants:
            groups.setdefault(v.quant, []).append(v)
        return groups


# -- Pure helpers ----------------------------------------------------------------------------


def parse_quant(filename: str) -> str:
    """The quantization named in a GGUF file name, upper-case; "unknown" when none is.

    'Qwen2.5-7B-Instruct-Q4_K_M-00001-of-00002.gguf' -> 'Q4_K_M'; 'model.f16.gguf' -> 'F16'."""
    base = filename.rsplit("/", 1)[-1]
    base = _SHARD_RE.sub("", base)
    base = re.sub(r"\.gguf$", "", base, flags=re.IGNORECASE)
    for token in reversed(re.split(r"[.\-\s/]", base)):
        if _QUANT_RE.match(token):
            quant = token.upper()
            return {"FP16": "F16", "FP32": "F32"}.get(quant, quant)
    # A quant glued to the name with an underscore: "model_q4_k_m"
    m = re.search(r"(?:^|_)(I?Q\d_[A-Z0-9]+(?:_[A-Z0-9]+)?|BF16|F16|F32)$", base, re.IGNORECASE)
    return m.group(1).upper() if m else "unknown"


def shard_info(filename: str) -> tuple[str, int, int] | None:
    """('name', index, count) for 'name-00002-of-00003.gguf'; None for a single file."""
    m = _SHARD_RE.search(filename)
    if not m:
        return None
    return filename[: m.start()], int(m.group(1)), int(m.group(2))


def shard_siblings(first: Path) -> list[Path]:
    """The parts of a split model found beside its first part (just [first] for one file)."""
    info = shard_info(first.name)
    if info is None:
        return [first]
    base, _, count = info
    found = [first.parent / f"{base}-{i:05d}-of-{count:05d}.gguf" for i in range(1, count + 1)]
    return [p for p in found if p.exists()]


def is_auxiliary(filename: str) -> bool:
    """GGUF files that are not a language model: vision projectors, imatrix data."""
    base = filename.rsplit("/", 1)[-1].lower()
    return base.startswith("mmproj") or "imatrix" in base


def group_variants(files: Iterable[HubFile]) -> tuple[list[HubVariant], list[HubFile]]:
    """Group GGUF files into variants (shards merged), sorted by size; plus auxiliary files."""
    variants: dict[str, HubVariant] = {}
    aux: list[HubFile] = []
    for f in files:
        if not f.path.lower().endswith(".gguf"):
            continue
        if is_auxiliary(f.path):
            aux.append(f)
            continue
        shard = shard_info(f.path)
        if shard:
            key, _index, count = shard
        else:
            key, count = re.sub(r"\.gguf$", "", f.path, flags=re.IGNORECASE), 1
        v = variants.get(key)
        if v is None:
            v = HubVariant(name=key.rsplit("/", 1)[-1], quant=parse_quant(f.path), shards=count)
            variants[key] = v
        v.files.append(f)
    for v in variants.values():
        v.files.sort(key=lambda x: x.path)
    return sorted(variants.values(), key=lambda v: (v.size, v.name)), aux


def pick_variant(repo: RepoFiles, quant: str = "", filename: str = "") -> HubVariant:
    """The variant asked for by quant or file name; without either, a sensible default."""
    if filename:
        for v in repo.variants:
            if any(f.path == filename or f.path.rsplit("/", 1)[-1] == filename for f in v.files):
                return v
        names = ", ".join(f.path for v in repo.variants for f in v.files) or "none"
        raise HubError(f"{repo.repo_id} has no GGUF file named '{filename}'. Files: {names}.")
    if quant:
        matches = [v for v in repo.variants if v.quant.upper() == quant.upper()]
        if len(matches) == 1:
            return matches[0]
        if matches:
            names = ", ".join(v.first_file.path for v in matches)
            raise HubError(
                f"{repo.repo_id} has several {quant.upper()} files ({names}); "
                "choose one with --file."
            )
        have = ", ".join(sorted({v.quant for v in repo.variants})) or "none"
        raise HubError(f"{repo.repo_id} has no {quant.upper()} file. Available: {have}.")
    if not repo.variants:
        raise HubError(f"{repo.repo_id} has no GGUF model files.")
    for preferred in ("Q4_K_M", "Q4_K_S", "Q5_K_M", "Q4_0", "Q6_K", "Q8_0"):
        matches = [v for v in repo.variants if v.quant == preferred]
        if len(matches) == 1:
            return matches[0]
    if len(repo.variants) == 1:
        return repo.variants[0]
    names = ", ".join(v.quant for v in repo.variants)
    raise HubError(f"{repo.repo_id} has several GGUF files ({names}); choose one, e.g. REPO:Q8_0.")


def parse_repo_spec(spec: str) -> tuple[str, str]:
    """'owner/name:Q4_K_M' -> ('owner/name', 'Q4_K_M'); the quant part is optional."""
    repo, _, quant = spec.partition(":")
    repo = repo.strip().strip("/")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise HubError(f"'{spec}' is not a model repository; write it as owner/name[:QUANT].")
    return repo, quant.strip()


# -- The client ------------------------------------------------------------------------------


def resolve_endpoint(endpoint: str = "") -> str:
    if endpoint:
        return endpoint.rstrip("/")
    env = os.environ.get("HF_ENDPOINT", "")
    if env:
        return env.rstrip("/")
    from huggingface_hub import constants

    return str(constants.ENDPOINT).rstrip("/")


def _offline_error(endpoint: str, exc: BaseException | None = None) -> HubError:
    return HubError(OFFLINE_MESSAGE.format(endpoint=endpoint), f"{endpoint}: {exc!r}")


class Hub:
    """A hub client bound to one endpoint and token."""

    def __init__(self, endpoint: str = "", token: str = "") -> None:
        self.endpoint = resolve_endpoint(endpoint)
        # None: huggingface_hub's own default (HF_TOKEN, or the token saved by `hf auth login`)
        self.token: str | None = token or None
        self._api: HfApi | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> Hub:
        return cls(getattr(settings, "hub_endpoint", ""), getattr(settings, "hub_token", ""))

    @property
    def api(self) -> HfApi:
        if self._api is None:
            from huggingface_hub import HfApi

            self._api = HfApi(endpoint=self.endpoint, token=self.token)
        return self._api

    def check_reachable(self) -> None:
        """Fail fast (a few seconds at most) when the endpoint cannot be reached at all."""
        import httpx2
        from huggingface_hub import errors as hf_errors
        from huggingface_hub import get_session

        timeout = httpx2.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
        try:
            get_session().head(self.endpoint + "/", timeout=timeout)
        except hf_errors.OfflineModeIsEnabled as exc:
            raise self._translate(exc, "The model hub") from exc
        except (httpx2.ConnectError, httpx2.TimeoutException, httpx2.NetworkError) as exc:
            raise _offline_error(self.endpoint, exc) from exc
        except httpx2.HTTPError as exc:
            raise HubError(
                f"The model hub at {self.endpoint} answered with an error: {exc}", repr(exc)
            ) from exc

    def _translate(self, exc: Exception, what: str) -> HubError:
        import httpx2
        from huggingface_hub import errors as hf_errors

        if isinstance(exc, hf_errors.RepositoryNotFoundError):
            return HubError(
                f"{what}: no such repository on {self.endpoint} (or it is private).", repr(exc)
            )
        if isinstance(exc, hf_errors.GatedRepoError):
            return HubError(
                f"{what}: this repository is gated; accept its terms and set a hub token.",
                repr(exc),
            )
        if isinstance(exc, hf_errors.RevisionNotFoundError):
            return HubError(f"{what}: no such revision.", repr(exc))
        if isinstance(exc, hf_errors.OfflineModeIsEnabled):
            return HubError("The model hub is disabled (HF_HUB_OFFLINE is set).", repr(exc))
        if isinstance(exc, httpx2.ConnectError | httpx2.TimeoutException | httpx2.NetworkError):
            return _offline_error(self.endpoint, exc)
        if isinstance(exc, hf_errors.HfHubHTTPError):
            return HubError(f"{what}: the hub answered with an error ({exc}).", repr(exc))
        return HubError(f"{what}: unexpected answer from the hub ({exc}).", repr(exc))

    def search(self, query: str, sort: SortKey = "downloads", limit: int = 20) -> list[HubModel]:
        """GGUF models whose name matches `query`, most downloaded (or most recent) first."""
        import httpx2
        from huggingface_hub import errors as hf_errors

        self.check_reachable()
        hf_sort: Literal["downloads", "last_modified"] = (
            "downloads" if sort == "downloads" else "last_modified"
        )
        try:
            found = self.api.list_models(
                search=query or None, filter="gguf", sort=hf_sort, limit=max(1, limit)
            )
            out = [
                HubModel(
                    repo_id=m.id,
                    downloads=int(m.downloads or 0),
                    likes=int(m.likes or 0),
                    last_modified=m.last_modified,
                    tags=tuple(m.tags or ()),
                )
                for m in found
            ]
        except (hf_errors.HfHubHTTPError, hf_errors.OfflineModeIsEnabled, httpx2.HTTPError) as exc:
            raise self._translate(exc, f"Search for '{query}'") from exc
        except ValueError as exc:  # a body that is not the JSON the client expects
            raise HubError(
                f"The hub at {self.endpoint} sent an unreadable answer.", repr(exc)
            ) from exc
        return out

    def repo_files(self, repo_id: str, revision: str | None = None) -> RepoFiles:
        """A repository's files with sizes and LFS sha256, its GGUF files grouped by variant."""
        import httpx2
        from huggingface_hub import errors as hf_errors

        self.check_reachable()
        try:
            info = self.api.model_info(
                repo_id, revision=revision, files_metadata=True, timeout=READ_TIMEOUT
            )
        except (hf_errors.HfHubHTTPError, hf_errors.OfflineModeIsEnabled, httpx2.HTTPError) as exc:
            raise self._translate(exc, repo_id) from exc
        except (ValueError, KeyError) as exc:
            raise HubError(
                f"The hub at {self.endpoint} sent an unreadable answer.", repr(exc)
            ) from exc
        files = [
            HubFile(
                path=s.rfilename,
                size=int((s.lfs.size if s.lfs else s.size) or 0),
                sha256=s.lfs.sha256 if s.lfs else None,
            )
            for s in (info.siblings or [])
        ]
        variants, aux = group_variants(files)
        return RepoFiles(
            repo_id=repo_id,
            revision=info.sha or revision or "main",
            variants=variants,
            other_gguf=aux,
            all_files=files,
        )
