"""Keeping the heap that values freed, for the next values (glibc's malloc).

Values move through Redis as large buffers: redis-py's replies, pickled frames, arrays made
from them. glibc returns freed heap above its trim threshold to the system and maps blocks
over its mmap threshold afresh; its dynamic thresholds keep twice the largest block freed,
so a job of large values lands most of its buffers on fresh pages that the kernel zeroes
(and, in a VM, the host backs again). Keeping up to `keep_bytes` freed and taking blocks up
to `MMAP_THRESHOLD_MAX` from the heap, a process reuses pages it already has. It keeps no
more than it used at its peak. Other C libraries ignore all of this.
"""

from __future__ import annotations

import ctypes
import functools
import platform

MMAP_THRESHOLD_MAX = 32 * 2**20
"""glibc's largest mmap threshold on 64-bit: blocks this large are always mapped afresh."""
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""`mallopt` parameters, from glibc's malloc.h."""


def heap_environment(keep_bytes: int) -> dict[str, str]:
    """glibc's environment tunables for processes started with it (read at their start);
    none for 0."""
    if keep_bytes <= 0:
        return {}
    return {"MALLOC_TRIM_THRESHOLD_": str(keep_bytes),
            "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD_MAX)}


@functools.cache
def keep_freed_heap(keep_bytes: int) -> bool:
    """This process keeps up to `keep_bytes` of freed heap from now on; whether it could
    (glibc only). 0 leaves the allocator as it is."""
    if keep_bytes <= 0 or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)
                and libc.mallopt(M_TRIM_THRESHOLD, keep_bytes))
