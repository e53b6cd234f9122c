"""minigrad.backends.cudnn: the switches programs set (`benchmark`, `deterministic`, ...),
kept as module values; there is no cuDNN, so they change nothing."""
from __future__ import annotations

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True
benchmark_limit = 10


def is_available() -> bool:
    """False: minigrad has no cuDNN."""
    return False


def version():
    """None, as PyTorch's answer on a build without cuDNN."""
    return None
