"""Load the OpenDSS library safely for threaded processes. Import this before ``opendssdirect``.

The engine (DSS C-API, built with Free Pascal) copies the C ``environ`` pointer when the library
loads and reads it again whenever a thread calls into the engine for the first time. glibc frees
and moves that array when a *new* variable is added after an earlier addition (pytest, servers and
ML libraries add variables at run time), so the engine's copy dangles and the first call from any
new thread segfaults in ``FPGETENV``. No setting or API fixes it, so before loading the library we
point ``environ`` at a private copy that is never freed: glibc then builds its own arrays for later
changes and the engine's pointer stays valid for the life of the process.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Any

__all__ = ["ENVIRON_PINNED", "OpenDSSDirect", "opendssdirect"]

_pinned: list[Any] = []  # keeps the private environ (array and strings) alive forever


def _pin_environ() -> bool:
    if not sys.platform.startswith("linux") or "dss" in sys.modules or "dss_python_backend" in sys.modules:
        return False  # only glibc needs it, and only before the library loads
    try:
        libc = ctypes.CDLL(None)
        environ = ctypes.c_void_p.in_dll(libc, "environ")
        current = ctypes.cast(environ.value, ctypes.POINTER(ctypes.c_char_p)) if environ.value else None
    except (OSError, ValueError):
        return False
    entries: list[bytes] = []
    if current is not None:
        i = 0
        while current[i] is not None:
            entries.append(bytes(current[i] or b""))
            i += 1
    else:
        entries = [k + b"=" + v for k, v in os.environb.items()]
    array = (ctypes.c_char_p * (len(entries) + 1))(*entries, None)
    _pinned.append(array)
    environ.value = ctypes.addressof(array)
    return True


ENVIRON_PINNED = _pin_environ()

import opendssdirect  # noqa: E402  (must load after the environ is pinned)
from opendssdirect.OpenDSSDirect import OpenDSSDirect  # noqa: E402
