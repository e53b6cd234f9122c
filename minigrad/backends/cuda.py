"""minigrad.backends.cuda: `matmul.allow_tf32` and the attention-kernel switches, kept as values;
there is no CUDA, so they change nothing."""
from __future__ import annotations

import contextlib

__all__ = ["is_built", "matmul", "enable_flash_sdp", "enable_mem_efficient_sdp",
           "enable_math_sdp", "flash_sdp_enabled", "mem_efficient_sdp_enabled",
           "math_sdp_enabled", "sdp_kernel"]


class _Matmul:
    """`backends.cuda.matmul`: allow_tf32 and the reduced-precision reduction flags."""

    def __init__(self):
        self.allow_tf32 = False
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True


matmul = _Matmul()
_sdp = {"flash": True, "mem_efficient": True, "math": True}


def is_built() -> bool:
    return False


def enable_flash_sdp(enabled: bool) -> None:
    _sdp["flash"] = bool(enabled)


def enable_mem_efficient_sdp(enabled: bool) -> None:
    _sdp["mem_efficient"] = bool(enabled)


def enable_math_sdp(enabled: bool) -> None:
    _sdp["math"] = bool(enabled)


def flash_sdp_enabled() -> bool:
    return _sdp["flash"]


def mem_efficient_sdp_enabled() -> bool:
    return _sdp["mem_efficient"]


def math_sdp_enabled() -> bool:
    return _sdp["math"]


@contextlib.contextmanager
def sdp_kernel(enable_flash: bool = True, enable_math: bool = True, enable_mem_efficient: bool = True,
               **kwargs):
    """Context manager accepted for compatibility: minigrad's attention has one (math) kernel."""
    yield
