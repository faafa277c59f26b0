"""study.trial.allocator: after keep_freed_memory(), glibc serves a large block from its heap, not from a fresh mmap."""

import platform
import subprocess
import sys

import pytest

# mallinfo2's hblkhd: bytes in blocks glibc mapped with mmap, measured around a 64 MB allocation
PROBE = """
import ctypes, sys
from study.trial.allocator import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
applied = keep_freed_memory() if sys.argv[1] == "keep" else False
before = libc.mallinfo2().hblkhd
block = libc.malloc(64 << 20)
during = libc.mallinfo2().hblkhd
libc.free(block)
print(applied, during - before)
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_a_large_block_comes_from_the_heap_once_freed_memory_is_kept():
    def mapped(mode: str) -> tuple[str, int]:
        out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
        applied, grown = out.stdout.split()
        return applied, int(grown)

    assert mapped("default") == ("False", pytest.approx(64 << 20, abs=1 << 16))  # glibc's default: an mmap
    assert mapped("keep") == ("True", 0)
