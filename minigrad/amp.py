"""Mixed precision (torch.amp): `autocast` and `GradScaler`, as they behave without a GPU.

minigrad computes in the dtypes it is given, on the CPU, with numpy. What each piece does here:

- `autocast(device_type, ...)` runs its block **unchanged, in float32**. With device_type
  'cuda' (or any device minigrad lacks) it is disabled with a one-time warning, as PyTorch
  does when CUDA is not available. With 'cpu' it also runs in float32, with a one-time
  warning: numpy has no bfloat16 (PyTorch's CPU autocast dtype), and numpy's float16
  matmuls are many times slower than float32 ones, so casting would cost speed and
  accuracy and buy nothing. A program that wants half precision casts explicitly
  (`model.half()`, `x.half()`).
- `GradScaler('cuda', ...)` (the default device, and `mg.cuda.amp.GradScaler()`) is disabled
  with a one-time warning, as PyTorch's is when CUDA is not available: `scale(loss)` returns
  `loss`, `step(opt)` calls `opt.step()`, `update()` does nothing.
  `GradScaler('cpu', ...)` scales for real, as PyTorch's CPU scaler: `scale` multiplies by
  the scale, `unscale_`/`step` divide the gradients by it and skip `opt.step()` when any is
  inf or nan, and `update` backs the scale off after such a step and grows it after
  `growth_interval` clean steps. In float32 this changes no result; it matters only for
  float16 models.
"""
from __future__ import annotations

import functools
import warnings

import numpy as np

from .device import device as _device
from .tensor import Tensor, _make

__all__ = ["autocast", "GradScaler", "custom_fwd", "custom_bwd", "is_autocast_available"]

_warned: set = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, UserWarning, stacklevel=3)


def _device_type(device_type, who: str) -> str:
    if not isinstance(device_type, (str, _device)):
        raise ValueError(f"{who}: expected device_type as a string like 'cuda' or 'cpu', "
                         f"got {device_type!r}")
    return _device(device_type).type


def is_autocast_available(device_type: str) -> bool:
    """False for every device: minigrad's autocast never casts (see the module docstring)."""
    return False


class autocast:
    """Context manager and decorator for mixed precision; in minigrad the block runs in float32.

    Args:
        device_type: 'cuda', 'cpu', ... ('cuda' and other devices minigrad lacks disable it
            with a one-time warning, as PyTorch does without CUDA).
        dtype: the half-precision dtype PyTorch would use (float16 or bfloat16); accepted, unused.
        enabled: False makes it a plain no-op with no warning.
        cache_enabled: accepted, unused.

    With enabled=True on the CPU the block also runs in float32, unchanged, with a one-time
    warning (numpy has no bfloat16, and its float16 matmuls are slower than float32).
    """

    def __init__(self, device_type, dtype=None, enabled: bool = True, cache_enabled=None):
        self.device = _device_type(device_type, "autocast")
        self.fast_dtype = dtype
        self._enabled = bool(enabled)
        if self._enabled and self.device != "cpu":
            _warn_once("autocast-" + self.device,
                       f"autocast: device_type '{self.device}' is not available in minigrad "
                       f"(it runs on the CPU only) - disabling autocast; the block runs in float32")
            self._enabled = False
        elif self._enabled:
            _warn_once("autocast-cpu",
                       "autocast: minigrad does not cast on the CPU - the block runs in float32 "
                       "unchanged (numpy has no bfloat16, and float16 matmuls are slower than "
                       "float32); cast explicitly with .half() if you want float16")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __call__(self, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with self:
                return function(*args, **kwargs)
        return wrapper


def custom_fwd(fwd=None, *, device_type: str = "cuda", cast_inputs=None):
    """Decorator for a custom Function's forward under autocast: returns it unchanged here."""
    if fwd is None:
        return lambda f: f
    return fwd


def custom_bwd(bwd=None, *, device_type: str = "cuda"):
    """Decorator for a custom Function's backward under autocast: returns it unchanged here."""
    if bwd is None:
        return lambda f: f
    return bwd


_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"


class GradScaler:
    """Loss scaling for mixed-precision training, as torch.amp.GradScaler.

        scaler = mg.amp.GradScaler()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    On the default device 'cuda' (which minigrad does not have) the scaler is disabled with a
    one-time warning, as PyTorch's is without CUDA: `scale(x)` returns x, `step(opt)` is
    `opt.step()`, `unscale_` and `update` do nothing, `get_scale()` is 1.0, `state_dict()` is {}.
    With device 'cpu' and enabled=True it scales for real, as PyTorch's CPU GradScaler:
    gradients are unscaled before the step, a step whose gradients hold inf or nan is skipped,
    and `update` multiplies the scale by backoff_factor after such a step, or by growth_factor
    after growth_interval steps in a row without one.

    Args:
        device: 'cuda' (PyTorch's default) or 'cpu'.
        init_scale: the first scale.
        growth_factor, backoff_factor: how `update` grows and shrinks the scale.
        growth_interval: clean steps before the scale grows.
        enabled: False makes every method a pass-through.
    """

    def __init__(self, device="cuda", init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True):
        self._device = _device_type(device, "GradScaler")
        self._enabled = bool(enabled)
        if self._enabled and self._device != "cpu":
            _warn_once("scaler-" + self._device,
                       f"GradScaler: enabled for device '{self._device}', which minigrad does not "
                       f"have (it runs on the CPU only) - disabling the scaler: scale() returns "
                       f"the loss unchanged and step() calls optimizer.step()")
            self._enabled = False
        if growth_factor <= 1.0 or not 0.0 < backoff_factor < 1.0:
            raise ValueError(f"GradScaler: expected growth_factor > 1 and 0 < backoff_factor < 1, "
                             f"got {growth_factor} and {backoff_factor}")
        self._scale = float(init_scale)
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._growth_tracker = 0
        self._states: dict = {}   # id(optimizer) -> {"stage": ..., "found_inf": bool}

    def is_enabled(self) -> bool:
        return self._enabled

    def get_scale(self) -> float:
        return self._scale if self._enabled else 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = int(new_interval)

    def scale(self, outputs):
        """`outputs` (a tensor, or lists/tuples of them) multiplied by the scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return outputs * self._scale
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise ValueError(f"GradScaler.scale: expected a tensor or a list/tuple of tensors, "
                         f"got {type(outputs).__name__}")

    def _state(self, optimizer) -> dict:
        return self._states.setdefault(id(optimizer), {"stage": _READY, "found_inf": False})

    def unscale_(self, optimizer) -> None:
        """Divide the optimizer's gradients by the scale (once between two `update` calls)."""
        if not self._enabled:
            return
        state = self._state(optimizer)
        if state["stage"] is _UNSCALED:
            raise RuntimeError("GradScaler.unscale_: already called on this optimizer since the "
                               "last update()")
        if state["stage"] is _STEPPED:
            raise RuntimeError("GradScaler.unscale_: called after step() - call it before step()")
        inverse = 1.0 / self._scale
        found_inf = False
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad.array
                unscaled = grad * np.asarray(inverse, dtype=grad.dtype)
                found_inf = found_inf or not bool(np.isfinite(unscaled).all())
                p.grad = _make(unscaled)
        state["found_inf"] = found_inf
        state["stage"] = _UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """Unscale (if not done yet), then `optimizer.step()` unless a gradient is inf or nan.

        Returns what optimizer.step returns, or None when the step is skipped.
        """
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("GradScaler.step: a closure is not supported while the scaler is "
                               "enabled (as in PyTorch)")
        state = self._state(optimizer)
        if state["stage"] is _STEPPED:
            raise RuntimeError("GradScaler.step: already called for this optimizer since the "
                               "last update()")
        if state["stage"] is _READY:
            self.unscale_(optimizer)
        result = None if state["found_inf"] else optimizer.step(*args, **kwargs)
        state["stage"] = _STEPPED
        return result

    def update(self, new_scale=None) -> None:
        """Set the scale for the next iteration (backoff after inf/nan, growth after a clean run)."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale.item() if isinstance(new_scale, Tensor) else new_scale)
        elif any(s["found_inf"] for s in self._states.values()):
            self._scale *= self._backoff_factor
            self._growth_tracker = 0
        elif self._states:
            self._growth_tracker += 1
            if self._growth_tracker == self._growth_interval:
                self._scale *= self._growth_factor
                self._growth_tracker = 0
        self._states = {}

    def state_dict(self) -> dict:
        if not self._enabled:
            return {}
        return {"scale": self._scale, "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict: dict) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("GradScaler.load_state_dict: the state dict is empty - it was "
                               "probably saved from a disabled GradScaler")
        self._scale = float(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])
