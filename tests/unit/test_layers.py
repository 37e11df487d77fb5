"""Layer rules (see ARCHITECTURE.md): ui/ never imports llama_cpp, chromadb or pypdf, and of
app/ only the modules meant for it; app/ imports ui/ only from the composition root
(app/main.py); engine/ and rag/ never import Qt, nor the layers above them (app/, ui/):
they are plain libraries a script can drive; engine/ does not need rag/ either. Checked in
the source (every import statement at any depth, also inside functions); the Qt rule also by
what importing the modules really pulls in."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("llama_cpp", "chromadb", "pypdf")
QT = ("PySide6", "PyQt5", "PyQt6", "PySide2", "shiboken6", "qtpy", "pytestqt")


def python_files(package: str) -> list[Path]:
    return sorted(p for p in (REPO / package).rglob("*.py") if "__pycache__" not in p.parts)


def imported_names(path: Path) -> set[str]:
    """Every module named by an import statement anywhere in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return names


def banned(names: set[str], roots: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n.split(".")[0] in roots)


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def test_ast_walker_finds_nested_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        "def f():\n    import llama_cpp.llama_cpp as lc\n"
        "class A:\n    def g(self):\n        from chromadb.config import Settings\n"
        "importlib.import_module('pypdf')\n"
        "from . import sibling\n",
        encoding="utf-8",
    )
    assert banned(imported_names(sample), HEAVY) == [
        "chromadb.config",
        "llama_cpp.llama_cpp",
        "pypdf",
    ]


@pytest.mark.parametrize("path", python_files("ui"), ids=lambda p: p.name)
def test_ui_source_never_imports_heavy_libraries(path: Path) -> None:
    assert banned(imported_names(path), HEAVY) == []


@pytest.mark.parametrize(
    "path", python_files("engine") + python_files("rag"), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_engine_and_rag_source_never_import_qt(path: Path) -> None:
    assert banned(imported_names(path), QT) == []


@pytest.mark.parametrize(
    "path", python_files("engine") + python_files("rag"), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_engine_and_rag_never_import_the_layers_above(path: Path) -> None:
    above = ("app", "ui") if path.parent.name == "rag" else ("app", "ui", "rag")
    assert banned(imported_names(path), above) == []


# The composition root: the one module of app/ that builds the window, so the one that may
# import ui/ (otherwise app/ and ui/ would depend on each other).
COMPOSITION_ROOT = "app/main.py"
# What ui/ may use of app/: the window's services and the Qt bridges it draws, settings and
# stored rows it shows. Not the workers' internals, the CLI, the benchmarks or the store's SQL.
APP_MODULES_FOR_UI = {
    "app.about",
    # The export format, shared with `hearth chats`: the window writes and reads the same
    # files (no Qt in it; the window only asks where).
    "app.chat_export",
    "app.controller",
    # Pure functions on stored messages: the view splits an answer's <think> block off to
    # fold it, as the prompt leaves it out (one rule for both, no Qt in it).
    "app.conversation",
    "app.docs_worker",
    "app.errors",
    "app.model_jobs",
    "app.paths",
    "app.presets",
    "app.server_host",
    "app.services",
    "app.settings",
    # Which documents a chat answers from, and what a chat that has not chosen answers from
    # (pure, on the settings the window holds).
    "app.sources",
    "app.store",
    # What the window asks about before adding text files of hours of indexing (standard
    # library only, shared with `hearth docs add --force`).
    "app.text_size",
}


@pytest.mark.parametrize("path", python_files("app"), ids=lambda p: module_name(p))
def test_only_the_composition_root_imports_ui(path: Path) -> None:
    if path.relative_to(REPO).as_posix() == COMPOSITION_ROOT:
        return
    assert banned(imported_names(path), ("ui",)) == []


@pytest.mark.parametrize("path", python_files("ui"), ids=lambda p: p.name)
def test_ui_imports_only_the_app_modules_meant_for_it(path: Path) -> None:
    used = {n for n in imported_names(path) if n.split(".")[0] == "app"}
    assert sorted(used - APP_MODULES_FOR_UI) == []


def _import_in_subprocess(modules: list[str]) -> dict:
    code = (
        "import importlib, json, sys\n"
        "failed = {}\n"
        f"for name in {modules!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        failed[name] = repr(exc)\n"
        "print(json.dumps({'modules': sorted(sys.modules), 'failed': failed}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_window_modules_do_not_pull_in_heavy_libraries_at_import() -> None:
    """Importing every ui module and the window's app modules loads no llama_cpp, chromadb
    or pypdf: they are imported lazily, on their own threads, after the window is shown."""
    modules = [module_name(p) for p in python_files("ui")]
    modules += [
        "app.main",
        "app.controller",
        "app.engine_worker",
        "app.error_presenter",
        "app.store",
        "app.settings",
        "app.paths",
    ]
    result = _import_in_subprocess(modules)
    assert result["failed"] == {}
    loaded = {m.split(".")[0] for m in result["modules"]}
    assert sorted(loaded & set(HEAVY)) == []


def test_engine_and_rag_modules_do_not_pull_in_qt() -> None:
    modules = [module_name(p) for p in python_files("engine") + python_files("rag")]
    result = _import_in_subprocess(modules)
    assert result["failed"] == {}
    loaded = {m.split(".")[0] for m in result["modules"]}
    assert sorted(loaded & set(QT)) == []
