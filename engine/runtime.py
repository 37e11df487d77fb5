"""The llama.cpp runtime, loaded once per process: backend init, logging, system info.

Importing llama_cpp loads the native library (slow-ish, and pulls numpy): callers import this
module lazily, never at app start-up.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import os
import threading
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


def default_threads() -> int:
    """Physical cores: llama.cpp gets no faster with hyper-threads and slows with too many."""
    n = psutil.cpu_count(logical=False) or os.cpu_count() or 4
    try:
        n = min(n, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        pass
    return max(1, n)


def system_info() -> dict[str, Any]:
    """Which backend this llama.cpp build has (CPU features, Metal, CUDA, ...)."""
    lc = llama()
    return {
        "llama_cpp_python": lc.__version__,
        "gpu_offload": bool(lc.llama_supports_gpu_offload()),
        "system_info": lc.llama_print_system_info().decode("utf-8", errors="replace").strip(),
    }
