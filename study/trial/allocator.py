"""glibc's malloc tuned for training: freed blocks are kept for the next step instead of unmapped.

glibc serves a block larger than its mmap threshold (which it raises as large blocks are freed, up to
32 MB at most) with a fresh mmap and unmaps it when freed; in a thread other than the main one (Ray
Tune runs a trial's function in one) its arenas' heaps hold 64 MB at most, so large blocks come and go
even more often. A training step of efficientnet_lite0 at 128 px and batch 32 allocates activations
of up to 50 MB, so every step maps them anew and the kernel zero-fills them page by page: 367 MiB of
page faults a step in a worker thread. With mmap off and the heap never trimmed, freed pages are
reused: 136 MiB a step, and 0.97 instead of 1.14 CPU-seconds (docs/performance.md, "Fine-tuning on
CPU"), with nothing to install. The price: a process keeps its peak heap until it exits, and a
trial's process holds those tensors at every step anyway.
"""

from __future__ import annotations

import ctypes
import platform

M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers, from glibc's malloc.h
M_MMAP_MAX = -4
NEVER_TRIM = 2**31 - 1  # mallopt takes an int


def keep_freed_memory() -> bool:
    """Set this process's glibc malloc to keep freed memory; False where the C library is not glibc."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)  # the C library this process already uses
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, NEVER_TRIM))
