"""minigrad.backends.cpu: the CPU, which minigrad runs on."""
from __future__ import annotations


def get_cpu_capability() -> str:
    """'DEFAULT': minigrad's speed comes from numpy's BLAS, not from its own vector kernels."""
    return "DEFAULT"
