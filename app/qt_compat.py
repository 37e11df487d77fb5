"""Work-arounds for bugs in the installed Qt bindings, applied once at import.

PySide6 6.12.0 on CPython < 3.12 returns the singletons ``None``, ``True`` and ``False``
without taking a reference to them: every call of a void Qt method (``setVisible``,
``processEvents``, ...) drops one reference from ``None``, and every ``Signal.emit()`` one
from ``True``. After a few thousand calls CPython aborts the whole process with "Fatal
Python error: none_dealloc" (or "bool_dealloc"). PySide6 6.11.3 does not have the bug, and
on CPython 3.12+ these objects are immortal, so nothing happens there.

The probes below detect the leak; when present, the three singletons get a very large extra
reference count, which makes them immortal in effect (as CPython 3.12 does by design).
Nothing else changes, and with fixed bindings the probes find nothing and this is a no-op.
The real fix is to avoid PySide6 6.12.0 on CPython 3.11 (pin ``PySide6-Essentials<6.12``).
"""

from __future__ import annotations

import ctypes
import logging
import sys

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)

_EXTRA_REFS = 1 << 48  # a million leaked references a second would take nine years
_applied = False


class _Probe(QObject):
    ping = Signal()


def leaked_singletons(samples: int = 32) -> list[str]:
    """Which of None/True/False lose references when Python calls into PySide6."""
    probe = _Probe()
    leaks: list[str] = []
    before = sys.getrefcount(None)
    for _ in range(samples):
        probe.setObjectName("hearth-probe")  # a void method: returns None
    if sys.getrefcount(None) <= before - samples // 2:
        leaks.append("None")
    before = sys.getrefcount(True) + sys.getrefcount(False)
    for _ in range(samples):
        probe.ping.emit()  # returns a bool
    if sys.getrefcount(True) + sys.getrefcount(False) <= before - samples // 2:
        leaks.append("bool")
    return leaks


def apply() -> list[str]:
    """Apply the work-around if these bindings need it. Returns what was leaking."""
    global _applied
    if _applied or sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return []
    leaks = leaked_singletons()
    if not leaks:
        return []
    for value in (None, True, False):
        # ob_refcnt is the first field of every CPython object.
        ctypes.c_ssize_t.from_address(id(value)).value += _EXTRA_REFS
    _applied = True
    log.info(
        "PySide6 %s leaks references to %s on CPython %d.%d: work-around applied; "
        "use PySide6 < 6.12 on this Python",
        _pyside_version(),
        " and ".join(leaks),
        *sys.version_info[:2],
    )
    return leaks


def _pyside_version() -> str:
    import PySide6

    return str(getattr(PySide6, "__version__", "?"))


apply()
