"""Keep freed activation memory in the process for the next training step (Linux, glibc).

A training step allocates the same large arrays every time (activations,
gradients) and frees them at the end. glibc's malloc hands blocks of 128 KiB
and more to the kernel on free (mmap / trimming the heap), so the next step
gets fresh pages and pays a page fault for every 4 KiB it touches: on the
transformer benchmark that was a third of the step (36 -> 24 ms).

glibc raises these limits by itself once it has seen a large block freed
(the mmap threshold up to 32 MiB, the trim threshold to twice that), which is
why the cost depends on what the process did before. `keep_freed_memory`
starts malloc at that end state, through mallopt(3):

    M_MMAP_THRESHOLD = 32 MiB   blocks below it come from the reusable heap
    M_TRIM_THRESHOLD = 64 MiB   free memory at the heap's top kept up to this

At most 64 MiB of freed memory stays with the process (not counted as used by
the step), and nothing changes when:
- MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ is set (your settings win),
  or MINIGRAD_KEEP_MALLOC=1 is set (malloc is left as it is);
- the C library is not glibc (macOS, Windows, musl).
"""
from __future__ import annotations

import os

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 64 * 1024 * 1024


def keep_freed_memory(environ=os.environ) -> bool:
    """Set glibc's mmap and trim thresholds (see the module docstring); True if they were set."""
    if any(name in environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")) or \
            environ.get("MINIGRAD_KEEP_MALLOC") == "1":
        return False
    if not _is_glibc():
        return False
    import ctypes
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    # mallopt returns 1 on success
    return mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1


def _is_glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # not a GNU system
        return False
