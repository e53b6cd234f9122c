"""Process-wide settings PyTorch programs call: threads, matmul precision, determinism, and the
memory-format names (`compile` is capture.py, print options printing.py)."""
from __future__ import annotations

import os

__all__ = ["set_num_threads", "get_num_threads", "set_num_interop_threads",
           "get_num_interop_threads", "set_float32_matmul_precision",
           "get_float32_matmul_precision", "use_deterministic_algorithms",
           "are_deterministic_algorithms_enabled", "is_deterministic_algorithms_warn_only_enabled",
           "memory_format", "contiguous_format", "channels_last", "channels_last_3d",
           "preserve_format"]

_threads = {"intra": None, "interop": None}
_limiter = None   # the threadpoolctl limiter in force, kept alive so its limit stays set
_precision = ["highest"]


def set_num_threads(n: int) -> None:
    """Set the number of threads numpy's BLAS uses (through threadpoolctl when it is installed;
    otherwise the number is only remembered, for `get_num_threads`)."""
    global _limiter
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: expected a positive number of threads, got {n}")
    _threads["intra"] = n
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    _limiter = threadpool_limits(limits=n, user_api="blas")


def get_num_threads() -> int:
    """The number set by `set_num_threads`, else numpy's BLAS thread count, else the CPU count."""
    if _threads["intra"] is not None:
        return _threads["intra"]
    try:
        from threadpoolctl import threadpool_info
        counts = [info["num_threads"] for info in threadpool_info() if info.get("user_api") == "blas"]
        if counts:
            return int(max(counts))
    except ImportError:
        pass
    return os.cpu_count() or 1


def set_num_interop_threads(n: int) -> None:
    """Remembered only: minigrad runs no parallel ops of its own."""
    _threads["interop"] = int(n)


def get_num_interop_threads() -> int:
    return _threads["interop"] or 1


def set_float32_matmul_precision(precision: str) -> None:
    """'highest', 'high' or 'medium': remembered; numpy always multiplies float32 in full float32."""
    if precision not in ("highest", "high", "medium"):
        raise ValueError(f"set_float32_matmul_precision: expected 'highest', 'high' or 'medium', "
                         f"got {precision!r}")
    _precision[0] = precision


def get_float32_matmul_precision() -> str:
    return _precision[0]


_deterministic = {"mode": False, "warn_only": False}


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Remembered only: every minigrad op is already deterministic (numpy on the CPU, no atomics,
    a fixed order of summation), so there is nothing to switch and nothing to warn about."""
    _deterministic["mode"] = bool(mode)
    _deterministic["warn_only"] = bool(warn_only)


def are_deterministic_algorithms_enabled() -> bool:
    """What `use_deterministic_algorithms` last set (False at start, as in PyTorch)."""
    return _deterministic["mode"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _deterministic["warn_only"]


class memory_format:
    """A memory-format name (`mg.channels_last`, ...), accepted where PyTorch takes one
    (`x.to(memory_format=...)`, `x.contiguous(memory_format=...)`, `module.to(memory_format=...)`)
    and ignored: minigrad's arrays are always C-contiguous (N, C, H, W), and channels-last only
    changes speed in PyTorch, never values."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"minigrad.{self.name}"

    def __reduce__(self):
        return self.name   # pickles as the module-level name, so it stays one object


contiguous_format = memory_format("contiguous_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")
preserve_format = memory_format("preserve_format")
