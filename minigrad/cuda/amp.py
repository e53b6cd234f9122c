"""minigrad.cuda.amp: PyTorch's older spellings `torch.cuda.amp.GradScaler()` and
`torch.cuda.amp.autocast()`; both mean device 'cuda', which minigrad does not have, so
the scaler is disabled and autocast runs as written (see minigrad.amp)."""
from __future__ import annotations

from .. import amp as _amp

__all__ = ["GradScaler", "autocast"]


class GradScaler(_amp.GradScaler):
    """`torch.cuda.amp.GradScaler(...)` = `mg.amp.GradScaler('cuda', ...)`: disabled, with a warning."""

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True):
        super().__init__("cuda", init_scale=init_scale, growth_factor=growth_factor,
                         backoff_factor=backoff_factor, growth_interval=growth_interval,
                         enabled=enabled)


class autocast(_amp.autocast):
    """`torch.cuda.amp.autocast(...)` = `mg.autocast('cuda', ...)`."""

    def __init__(self, enabled: bool = True, dtype=None, cache_enabled=None):
        super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)
