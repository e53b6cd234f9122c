"""minigrad.backends.mkldnn: no oneDNN in minigrad (numpy's BLAS does the CPU work)."""
from __future__ import annotations

enabled = False


def is_available() -> bool:
    return False
