"""The llama.cpp runtime, loaded once per process: backend init, logging, system info.

Importing llama_cpp loads the native library (slow-ish, and pulls numpy): callers import this
module lazily, never at app start-up.
"""

from __future__ import annotations

import collections
import ctypes
import importlib.metadata
import importlib.util
import json
import logging
import os
import platform
import re
import sys
import threading
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger("hearth.llama")
_lock = threading.Lock()
_ready = False
_log_callback: Any = None  # keep a reference: llama.cpp holds the raw pointer
_recent_errors: collections.deque[str] = collections.deque(maxlen=20)
# ggml_log_level in this llama.cpp: NONE=0, DEBUG=1, INFO=2, WARN=3, ERROR=4, CONT=5
_LEVELS = {1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}


def llama() -> Any:
    """The llama_cpp module, with the backend initialised and logs routed to `logging`."""
    global _ready, _log_callback
    import llama_cpp

    if _ready:
        return llama_cpp
    with _lock:
        if not _ready:
            last_level = [logging.DEBUG]

            @llama_cpp.llama_log_callback
            def _on_log(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
                lvl = _LEVELS.get(level, last_level[0])  # 5 = continuation of the previous line
                last_level[0] = lvl
                msg = text.decode("utf-8", errors="replace").rstrip()
                if lvl >= logging.ERROR and msg:
                    _recent_errors.append(msg)
                if msg and log.isEnabledFor(lvl):
                    log.log(lvl, "%s", msg)

            _log_callback = _on_log
            llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))
            llama_cpp.llama_backend_init()
            _ready = True
    return llama_cpp


def take_recent_errors() -> str:
    """llama.cpp's latest error lines (for an error's details), cleared once read."""
    text = "\n".join(_recent_errors)
    _recent_errors.clear()
    return text


# Written beside the virtual environment by packaging/llama_cpp_build.py (the bootstrap): which
# build it installed and, when the patched one failed, why and where the compiler's log is.
BUILD_RECORD = ".hearth-llama-build"


def llama_cpp_build() -> str:
    """The llama.cpp build this environment runs, in one line, without loading it:
    '0.3.36+hearth.6' (Hearth's patched build), '0.3.36 (release; patched build failed: see
    LOG)' or '0.3.36 (release)'. `hearth --version`, the self-test and Settings show it."""
    try:
        version = importlib.metadata.version("llama_cpp_python")
    except importlib.metadata.PackageNotFoundError:
        version = _module_version()  # a build placed on sys.path by hand, without metadata
        if not version:
            return "not installed"
    if "+hearth." in version:
        return version
    try:
        record = json.loads((Path(sys.prefix) / BUILD_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    if isinstance(record, dict) and record.get("build") == "release" and record.get("log"):
        return f"{version} (release; patched build failed: see {record['log']})"
    return f"{version} (release)"


def _module_version() -> str:
    """llama_cpp's __version__ read from its source, without loading the native library."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        return ""
    try:
        text = Path(spec.origin).read_text(encoding="utf-8")
    except OSError:
        return ""
    found = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    return found.group(1) if found else ""


def patched_build() -> bool:
    """True when the environment runs Hearth's patched llama.cpp (its kernels are exact)."""
    return "+hearth." in llama_cpp_build()


def default_threads() -> int:
    """Physical cores: llama.cpp gets no faster with hyper-threads and slows with too many."""
    n = psutil.cpu_count(logical=False) or os.cpu_count() or 4
    try:
        n = min(n, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        pass
    return max(1, n)


def interactive_threads() -> int:
    """Threads for the engine behind the window: one physical core is left for the GUI
    thread. llama.cpp's worker threads spin while they wait, so with every core busy the GUI
    thread stalls (measured on 2 cores: worst GUI stall 185 ms and 20% fewer tokens shown
    with 2 threads, 90 ms and no loss with 1)."""
    return max(1, default_threads() - 1)


def cpu_name() -> str:
    """The CPU's model name, as the operating system reports it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def system_info() -> dict[str, Any]:
    """Which backend this llama.cpp build has (CPU features, Metal, CUDA, ...)."""
    lc = llama()
    return {
        "llama_cpp_python": llama_cpp_build(),
        "gpu_offload": bool(lc.llama_supports_gpu_offload()),
        "system_info": lc.llama_print_system_info().decode("utf-8", errors="replace").strip(),
    }


# -- A persistent thread pool ----------------------------------------------------------------
# Without one, ggml's CPU backend creates and joins a disposable pool of threads for every
# graph it computes: for single-token decoding that costs about 1 ms a token (measured 146
# vs llama-bench's 165 tok/s on SmolLM2). llama-bench attaches a pool; llama-cpp-python does
# not bind the call, so it is bound here (llama.h / ggml.h / ggml-cpu.h of the pinned build).

GGML_MAX_N_THREADS = 512


class _ThreadpoolParams(ctypes.Structure):
    _fields_ = [
        ("cpumask", ctypes.c_bool * GGML_MAX_N_THREADS),
        ("n_threads", ctypes.c_int),
        ("prio", ctypes.c_int),
        ("poll", ctypes.c_uint32),
        ("strict_cpu", ctypes.c_bool),
        ("paused", ctypes.c_bool),
    ]


_pool_api: dict[str, Any] | None = None


def _threadpool_api() -> dict[str, Any]:
    """The C functions, or {} when this build does not export them (then ggml's default)."""
    global _pool_api
    if _pool_api is not None:
        return _pool_api
    lc = llama()
    api: dict[str, Any] = {}
    try:
        lib_dir = os.path.join(os.path.dirname(lc.__file__), "lib")
        names = os.listdir(lib_dir)

        def load(stem: str) -> ctypes.CDLL:
            for n in sorted(names, key=len):
                if n.startswith(stem + ".") or n == stem + ".dll":
                    return ctypes.CDLL(os.path.join(lib_dir, n))
            raise OSError(f"{stem} not found in {lib_dir}")

        base, cpu = load("libggml-base"), load("libggml-cpu")
        libllama = lc.llama_cpp._lib
        api["init"] = base.ggml_threadpool_params_init
        api["init"].argtypes = [ctypes.POINTER(_ThreadpoolParams), ctypes.c_int]
        api["init"].restype = None
        api["new"] = cpu.ggml_threadpool_new
        api["new"].argtypes = [ctypes.POINTER(_ThreadpoolParams)]
        api["new"].restype = ctypes.c_void_p
        api["free"] = cpu.ggml_threadpool_free
        api["free"].argtypes = [ctypes.c_void_p]
        api["free"].restype = None
        api["attach"] = libllama.llama_attach_threadpool
        api["attach"].argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        api["attach"].restype = None
    except (OSError, AttributeError) as exc:
        log.info("no persistent llama.cpp thread pool (%s); using ggml's default", exc)
        api = {}
    _pool_api = api
    return api


def attach_threadpool(ctx: Any, n_threads: int, n_threads_batch: int = 0) -> list[int]:
    """Give a context its own persistent thread pools: one of n_threads for generating tokens
    one at a time, and one of n_threads_batch for prompts (the same pool when equal or 0).
    llama.cpp pauses the pool it is not using, so the two never spin together. Returns the
    pools (free them with free_threadpool after the context); [] when unavailable."""
    api = _threadpool_api()
    if not api:
        return []
    pools: list[int] = []
    for n in dict.fromkeys((n_threads, n_threads_batch or n_threads)):
        params = _ThreadpoolParams()
        api["init"](ctypes.byref(params), n)
        pool = api["new"](ctypes.byref(params))
        if not pool:
            free_threadpool(pools)
            return []
        pools.append(int(pool))
    api["attach"](ctx, pools[0], pools[-1])
    return pools


def free_threadpool(pools: list[int]) -> None:
    for pool in pools:
        _threadpool_api()["free"](pool)
