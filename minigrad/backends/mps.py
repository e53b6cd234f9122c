"""minigrad.backends.mps: there is no Apple-GPU (MPS) backend in minigrad."""
from __future__ import annotations


def is_available() -> bool:
    return False


def is_built() -> bool:
    return False
