"""What Settings ▸ About shows: Hearth's version, the llama.cpp build it runs (Hearth's patched
build, or the release and why), Python, Qt, the CPU and the user folders. Cheap: nothing here
loads llama.cpp."""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version

from app.paths import get_paths


def about_rows() -> list[tuple[str, str]]:
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import qVersion

    from engine.runtime import cpu_name, llama_cpp_build

    try:
        hearth = version("hearth")
    except PackageNotFoundError:
        hearth = "unknown"
    paths = get_paths()
    return [
        ("Hearth", hearth),
        ("llama.cpp build", llama_cpp_build()),
        ("Python", sys.version.split()[0]),
        ("Qt", f"{qVersion()} (PySide6 {pyside_version})"),
        ("CPU", f"{cpu_name()} ({platform.machine()})"),
        ("Data folder", str(paths.data)),
        ("Models folder", str(paths.models)),
    ]
