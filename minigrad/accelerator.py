"""minigrad.accelerator: as torch.accelerator, reporting that there is none (minigrad runs on the CPU)."""
from __future__ import annotations

__all__ = ["is_available", "current_accelerator", "device_count"]


def is_available() -> bool:
    return False


def current_accelerator(check_available: bool = False):
    """None: there is no accelerator, so programs fall back to 'cpu'."""
    return None


def device_count() -> int:
    return 0
