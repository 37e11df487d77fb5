"""Work-arounds for bugs in the installed Qt bindings, applied once at import.

PySide6 6.12.0 on CPython < 3.12: ``SignalInstance.emit()`` returns ``True`` without taking
a reference to it, so every signal emitted from Python code drops one reference from
``True``. A few hundred emits (one answer's tokens) later CPython aborts the whole process
with "Fatal Python error: bool_dealloc". The probe below detects the leak; when present,
``True`` and ``False`` get a very large extra reference count, which makes them immortal in
effect (as they are by design from CPython 3.12 on). Nothing else changes, and a fixed
PySide6 makes the probe find nothing, so this is then a no-op.
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


def emit_leaks_bool_references(samples: int = 16) -> bool:
    """True if emitting a signal from Python drops references to True or False."""
    probe = _Probe()
    before = sys.getrefcount(True) + sys.getrefcount(False)
    for _ in range(samples):
        probe.ping.emit()
    after = sys.getrefcount(True) + sys.getrefcount(False)
    return after <= before - samples // 2


def apply() -> bool:
    """Apply the work-around if this PySide6 needs it. Returns True if it was applied."""
    global _applied
    if _applied:
        return True
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False  # bools are immortal there
    if not emit_leaks_bool_references():
        return False
    for value in (True, False):
        # ob_refcnt is the first field of every CPython object.
        ctypes.c_ssize_t.from_address(id(value)).value += _EXTRA_REFS
    _applied = True
    log.info("PySide6 signal emit leaks references to bool: work-around applied")
    return True


apply()
