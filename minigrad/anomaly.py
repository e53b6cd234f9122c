"""Anomaly detection: find the op whose backward produced NaN or inf.

Off by default and free when off: `Function.apply` checks one flag. When on,
every node records the user's file and line that created it, and the
backward engine checks each gradient it computes. A recorded op whose
forward makes a NaN out of inputs without one (log or sqrt of a negative,
0 / 0, inf - inf) is refused at once too: its backward is often finite
(d log(x)/dx = 1/x), so only the forward shows where the NaN was born.
The switch is per thread, as grad mode is.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from .switch import FlipNow, Switch


_state = Switch(False)


def is_anomaly_enabled() -> bool:
    return _state.enabled


class set_detect_anomaly(FlipNow):
    """Turn anomaly detection on or off (a call, a context manager or a decorator)."""
    switch = _state


class detect_anomaly(set_detect_anomaly):
    """Context manager: record where each op was created and fail loudly on non-finite gradients."""

    def __init__(self):
        super().__init__(True)


def _library_roots() -> tuple:
    here = os.path.dirname(os.path.abspath(__file__))
    parent = os.path.dirname(here)
    return (here + os.sep, os.path.join(parent, "nn") + os.sep, os.path.join(parent, "optim") + os.sep)


_ROOTS = _library_roots()


def user_frame() -> str:
    """'file:line in function' of the innermost caller outside minigrad, nn and optim."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith("<"):  # "<stdin>", "<string>": not paths
            filename = os.path.abspath(filename)
        if not filename.startswith(_ROOTS):
            return f"{filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return "<unknown>"


def _has_nan(value) -> bool:
    value = value if isinstance(value, np.ndarray) else np.asarray(value)
    return value.dtype.kind in "fc" and bool(np.isnan(value).any())


def check_forward(node, inputs, output) -> None:
    """Raise if `node`'s forward made a NaN from inputs (arrays or numbers) that had none."""
    if not _has_nan(output) or any(_has_nan(value) for value in inputs
                                   if isinstance(value, (np.ndarray, np.generic, float, complex))):
        return
    raise RuntimeError(
        f"{node.name}: forward produced a non-finite value (nan) from inputs without nan, e.g. the "
        f"log or sqrt of a negative number or 0 / 0; the {node.name} was called at {node.created_at}")


def check_gradient(node, grads) -> None:
    """Raise if a backward step of `node` produced a NaN or inf for an input that receives it."""
    for index, (parent, grad) in enumerate(zip(node.parents, grads)):
        if grad is None or parent is None:  # a gradient nobody receives cannot spread
            continue
        data = grad if isinstance(grad, np.ndarray) else grad.array
        if data.dtype.kind == "f" and not np.isfinite(data).all():
            kind = "nan" if np.isnan(data).any() else "inf"
            where = getattr(node, "created_at", "<unknown: created before anomaly detection was on>")
            raise RuntimeError(
                f"{node.name}: backward produced a non-finite gradient ({kind}) for its input {index}; "
                f"the {node.name} was called at {where}")
