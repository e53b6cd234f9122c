"""minigrad.cuda: there is no CUDA in minigrad, and it says so when asked.

Programs written for PyTorch ask `torch.cuda.is_available()` (False here, so they pick the CPU),
seed with `torch.cuda.manual_seed_all` and call `synchronize`/`empty_cache`: those work and do
nothing. Anything that would really use a GPU (`current_device`, `get_device_name`, memory
statistics, streams) raises a RuntimeError that names it and says to run on the CPU.
"""
from __future__ import annotations

from .._missing import missing, refusals
from . import amp

__all__ = ["is_available", "device_count", "is_initialized", "is_bf16_supported", "manual_seed",
           "manual_seed_all", "seed", "seed_all", "synchronize", "empty_cache", "amp"]


def is_available() -> bool:
    """False: minigrad computes on the CPU only."""
    return False


def device_count() -> int:
    return 0


def is_initialized() -> bool:
    return False


def is_bf16_supported(including_emulation: bool = True) -> bool:
    return False


def manual_seed(seed: int) -> None:
    """Does nothing: there is no GPU generator (seed the CPU one with `mg.manual_seed`)."""


def manual_seed_all(seed: int) -> None:
    """Does nothing: there is no GPU generator (seed the CPU one with `mg.manual_seed`)."""


def seed() -> None:
    """Does nothing: there is no GPU generator."""


def seed_all() -> None:
    """Does nothing: there is no GPU generator."""


def synchronize(device=None) -> None:
    """Does nothing: CPU work is finished when the call that did it returns."""


def empty_cache() -> None:
    """Does nothing: there is no GPU memory cache."""


globals().update(refusals(
    "cuda.", "minigrad has no CUDA - it runs on the CPU only; guard GPU-only code with "
    "`if torch.cuda.is_available():`",
    ("current_device", "set_device", "get_device_name", "get_device_properties",
     "get_device_capability", "memory_allocated", "max_memory_allocated", "memory_reserved",
     "max_memory_reserved", "reset_peak_memory_stats", "memory_summary", "mem_get_info", "Stream",
     "Event", "stream", "current_stream", "device", "graph", "CUDAGraph")))


def __getattr__(name: str):
    raise missing("cuda.", name)
