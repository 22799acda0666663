"""Keep a thread's alternate signal stack as it was around OpenVINO work.

OpenVINO's CPU plugin leaves an alternate signal stack (`sigaltstack`) on the thread that loads it. CPython installs
its signal handlers with SA_ONSTACK, so every Python-handled signal (SIGCHLD once Paddle's data loader has set its
handler, SIGINT) is then delivered on that stack; on a CPU whose processes use AMX (oneDNN / OpenVINO on Sapphire
Rapids) the kernel could not place the signal frame there and killed the process with SIGSEGV, e.g. when the next
child process exited. `restored_signal_stack()` puts the thread's previous stack back (usually: none).
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
from collections.abc import Iterator


class _Stack(ctypes.Structure):
    _fields_ = (("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t))


@contextlib.contextmanager
def restored_signal_stack() -> Iterator[None]:
    """Run the block, then give the calling thread back the alternate signal stack it had before (Linux only)."""
    if not sys.platform.startswith("linux"):
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    before = _Stack()
    libc.sigaltstack(None, ctypes.byref(before))
    try:
        yield
    finally:
        libc.sigaltstack(ctypes.byref(before), None)
