"""llama-cpp-python as Hearth installs it: the pinned release, built with Hearth's patches to
llama.cpp's CPU kernels (packaging/llama.cpp/*.patch).

Standard library only: bootstrap.py calls `ensure` before anything else is installed.

The patches make embedding on a CPU faster (GELU and a softmax sum vectorised, the
flash-attention mask converted in one call, an encoder's K and V kept in F32 when there is no
GPU) and generating over a long context faster (flash attention over blocks of cache rows); they
change no API. They are applied to the source release from PyPI, and the wheel is built once
per combination of release, patches, CMake options, Python and platform and kept in Hearth's
cache folder (pip does not cache wheels built from a local folder), so a new virtual
environment installs it in seconds. When a patch does not apply or git is missing, the
unpatched release is installed instead, with a message: Hearth works the same, only slower.

CMake options (a GPU build: CMAKE_ARGS="-DGGML_CUDA=on") come from CMAKE_ARGS when it is set,
otherwise from the last build in this environment, so a GPU build stays one until CMAKE_ARGS
says otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

VERSION = "0.3.36"  # the same pin as in pyproject.toml (a test checks)
LOCAL = "hearth.6"  # raise when the patches change
PATCHED_VERSION = f"{VERSION}+{LOCAL}"
PATCH_DIR = Path(__file__).resolve().parent / "llama.cpp"
DIST = "llama-cpp-python"

Runner = Callable[[list[str]], None]


def patches() -> list[Path]:
    return sorted(PATCH_DIR.glob("*.patch"))


def cache_root() -> Path:
    """Hearth's cache folder, as platformdirs names it for the app (stdlib only here)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "Hearth" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "Hearth"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "Hearth"


def read_record(record: Path) -> dict[str, str]:
    """What the environment's last build was: {"key": ..., "cmake_args": ...} or {}."""
    try:
        data = json.loads(record.read_text())
    except (OSError, ValueError):
        return {}
    return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def cmake_args(record: Path) -> str:
    env = os.environ.get("CMAKE_ARGS")
    return env if env is not None else read_record(record).get("cmake_args", "")


def cpu_name() -> str:
    """llama.cpp is compiled for the CPU it is built on (-march=native): a wheel cached in a
    home folder shared with another machine must not be taken for that machine's."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("model name", "flags")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def build_key(args: str) -> str:
    """What the wheel depends on: release, patches, CMake options, Python, platform and CPU."""
    h = hashlib.sha256()
    h.update(f"{PATCHED_VERSION}|{sys.version}|{sys.platform}|{platform.machine()}\n".encode())
    h.update(f"{cpu_name()}\n".encode())
    h.update(f"CMAKE_ARGS={args}\n".encode())
    for p in patches():
        h.update(p.name.encode() + b"\n" + p.read_bytes())
    return h.hexdigest()[:16]


def wheel_dir(args: str) -> Path:
    return cache_root() / "wheels" / f"llama-cpp-python-{build_key(args)}"


def cached_wheel(args: str) -> Path | None:
    folder = wheel_dir(args)
    found = sorted(folder.glob("llama_cpp_python-*.whl")) if folder.is_dir() else []
    return found[0] if found else None


def installed_version(python: Path) -> str | None:
    out = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('llama_cpp_python'))"],
        capture_output=True,
        text=True,
    )
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def apply_patches(source: Path, run: Runner) -> None:
    """Apply every patch to the release's vendored llama.cpp; raises CalledProcessError."""
    llama_dir = source / "vendor" / "llama.cpp"
    for p in patches():
        run(["git", "-C", str(llama_dir), "apply", "--whitespace=nowarn", str(p)])


def set_version(source: Path) -> None:
    """Give the patched build its own version (0.3.36+hearth.N): it still satisfies the pin
    (==0.3.36), and `pip list`, Settings → Models and `hearth bench embed` show which build
    is installed."""
    init = source / "llama_cpp" / "__init__.py"
    text = init.read_text(encoding="utf-8")
    old = f'__version__ = "{VERSION}"'
    if old not in text:
        raise ValueError(f"{init} does not declare version {VERSION}")
    init.write_text(text.replace(old, f'__version__ = "{PATCHED_VERSION}"'), encoding="utf-8")


def fetch_source(python: Path, run: Runner, work: Path) -> Path:
    """Download the pinned source release with pip and unpack it into `work`; its folder."""
    run(
        [str(python), "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
         f"{DIST}=={VERSION}", "-d", str(work)]
    )  # fmt: skip
    sdists = sorted(work.glob("llama_cpp_python-*.tar.gz"))
    if not sdists:
        raise FileNotFoundError(f"pip downloaded no source release of {DIST} {VERSION}")
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python >= 3.11.4
    with tarfile.open(sdists[0]) as tar:
        tar.extractall(work, **safe)  # type: ignore[arg-type]
    return work / sdists[0].name.removesuffix(".tar.gz")


def build_wheel(python: Path, run: Runner, work: Path, args: str) -> Path:
    """Download the source release, patch it, build the wheel into the cache; its path."""
    source = fetch_source(python, run, work)
    apply_patches(source, run)
    set_version(source)
    target = wheel_dir(args)
    partial = target.with_name(target.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    run([str(python), "-m", "pip", "wheel", "--no-deps", "-w", str(partial), str(source)])
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)  # a killed build leaves only the .part folder
    wheel = cached_wheel(args)
    if wheel is None:
        raise FileNotFoundError(f"pip wheel left no wheel in {target}")
    return wheel


def fallback_command(python: Path, installed: str | None, args: str) -> list[str]:
    """pip's command for the unpatched release when the patched build cannot be made."""
    cmd = [str(python), "-m", "pip", "install"]
    if installed is not None and installed != VERSION:
        # a patched build (0.3.36+hearth.N) satisfies the pin: without this pip keeps it,
        # and with it whatever CMake options it was built with
        cmd += ["--no-deps", "--force-reinstall"]
    if args:
        cmd.append("--no-cache-dir")  # pip's wheel cache does not know CMAKE_ARGS
    return [*cmd, f"{DIST}=={VERSION}"]


def build_log(args: str) -> Path:
    """Where the compiler's output of a patched build goes (it is long; the terminal gets one
    line)."""
    return cache_root() / "wheels" / f"llama-cpp-python-{build_key(args)}.log"


def logged(log: Path) -> Runner:
    """A runner that prints each command on one line and sends its output to `log`."""

    def run_logged(cmd: list[str]) -> None:
        print("+", " ".join(cmd[:5]), "...", flush=True)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as f:
            f.write("+ " + " ".join(cmd) + "\n")
            f.flush()
            subprocess.run(cmd, check=True, stdout=f, stderr=subprocess.STDOUT)

    return run_logged


def first_error(log: Path) -> str:
    """The first compiler or CMake error in a build log, shortened: the one line to show."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    for line in lines:
        if line.startswith("+ "):
            continue  # the command, as logged()
        if " error: " in line or line.startswith(("CMake Error", "error:")):
            text = line.strip()
            if "/vendor/llama.cpp/" in text:
                text = text.split("/vendor/llama.cpp/", 1)[1]
            return text[:200]
    return ""


def failure_reason(exc: BaseException, log: Path) -> str:
    error = first_error(log)
    if error:
        return error
    if isinstance(exc, subprocess.CalledProcessError):
        return f"`{' '.join(str(c) for c in exc.cmd[:4])} ...` exited with {exc.returncode}"
    return str(exc)


def ensure(python: Path, run: Runner, record: Path) -> str:
    """Install the patched build into the environment of `python` unless that very build
    (`record` holds its key) is there. Returns the version installed.

    When the patched build fails, the compiler's output stays in a log file, one line says
    why, and the unpatched release is installed; the record remembers that, so the same
    build is not tried again for the same patches, options and CPU (HEARTH_LLAMA_REBUILD=1
    tries again)."""
    args = cmake_args(record)
    key = build_key(args)
    rec = read_record(record)
    installed = installed_version(python)
    if installed == PATCHED_VERSION and rec.get("key") == key:
        return PATCHED_VERSION
    if (
        rec.get("key") == key
        and rec.get("build") == "release"
        and installed == VERSION
        and not os.environ.get("HEARTH_LLAMA_REBUILD")
    ):
        print(
            f"llama.cpp: the unpatched release {VERSION}; the patched build failed on this "
            f"machine ({rec.get('reason', '')}; log: {rec.get('log', '')}). "
            "HEARTH_LLAMA_REBUILD=1 tries it again.",
            flush=True,
        )
        return VERSION
    wheel = cached_wheel(args)
    if wheel is None:
        log = build_log(args)
        log.unlink(missing_ok=True)
        print(
            f"Building llama.cpp {VERSION} with Hearth's CPU patches"
            + (f" (CMAKE_ARGS={args})" if args else "")
            + f", about 10 minutes on two cores, once; the wheel is kept in {log.parent}, "
            + f"the compiler's output in {log.name}",
            flush=True,
        )
        os.environ["CMAKE_ARGS"] = args  # read by the release's build, patched or not
        with tempfile.TemporaryDirectory(prefix="hearth-llama-") as tmp:
            try:
                wheel = build_wheel(python, logged(log), Path(tmp), args)
            except (subprocess.CalledProcessError, OSError, ValueError) as exc:
                reason = failure_reason(exc, log)
                print(
                    f"The patched llama.cpp did not build ({reason}; full log: {log}). "
                    f"Installing the unpatched release {VERSION} instead: Hearth works the "
                    "same, only embedding and long replies are slower on a CPU.",
                    flush=True,
                )
                run(fallback_command(python, installed_version(python), args))
                record.write_text(
                    json.dumps(
                        {"key": key, "cmake_args": args, "build": "release",
                         "reason": reason, "log": str(log)}
                    ) + "\n"
                )  # fmt: skip
                return VERSION
    run([str(python), "-m", "pip", "install", "--no-deps", "--force-reinstall", str(wheel)])
    record.write_text(json.dumps({"key": key, "cmake_args": args, "build": "patched"}) + "\n")
    return PATCHED_VERSION
