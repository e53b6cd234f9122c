"""minigrad.allocator: freed activation memory is reused instead of page-faulted in again."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from minigrad.allocator import _is_glibc, keep_freed_memory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# allocate and free a 4 MiB array, then count the page faults of allocating and filling it again
FAULTS_OF_A_SECOND_ALLOCATION = """
import resource
import minigrad
import numpy as np
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
a = np.ones(2 ** 20, np.float32)
del a
before = faults()
b = np.ones(2 ** 20, np.float32)
print(faults() - before)
"""


def _faults(**env) -> int:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MINIGRAD_KEEP_MALLOC")}
    environment.update(env, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", FAULTS_OF_A_SECOND_ALLOCATION], env=environment,
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def test_the_users_malloc_settings_win():
    assert not keep_freed_memory({"MALLOC_MMAP_THRESHOLD_": "65536"})
    assert not keep_freed_memory({"MALLOC_TRIM_THRESHOLD_": "0"})
    assert not keep_freed_memory({"MINIGRAD_KEEP_MALLOC": "1"})


@pytest.mark.skipif(not _is_glibc(), reason="mallopt thresholds are glibc's")
def test_a_freed_large_array_is_reused_without_page_faults():
    # 4 MiB is 1024 pages: left to glibc's defaults the second array is a fresh mapping that
    # faults its pages in again (hundreds of faults); with minigrad's thresholds it is the same memory
    assert _faults() < 50
    assert _faults(MINIGRAD_KEEP_MALLOC="1") > 200
