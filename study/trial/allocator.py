"""glibc's malloc tuned for training: freed blocks are kept for the next step instead of unmapped.

glibc serves a block larger than its mmap threshold (which it raises as large blocks are freed, up to
32 MB at most) with a fresh mmap and unmaps it when freed. A training step of efficientnet_lite0 at
128 px and batch 32 allocates activations of up to 50 MB, so every step maps them anew and the
kernel zero-fills them page by page. With mmap off and the heap never trimmed, the heap keeps those
pages and the next step reuses them: a demo fine-tune epoch ran 1.2-1.7x faster (docs/performance.md,
"Fine-tuning on CPU"), as fast as tcmalloc, with nothing to install. The price: a process keeps its
peak heap until it exits, which a trial's process does anyway (it holds the same tensors each step).
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
