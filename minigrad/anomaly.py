"""Anomaly detection: find the op whose backward produced NaN or inf.

Off by default and free when off: `Function.apply` checks one flag. When on,
every node records the user's file and line that created it, and the
backward engine checks each gradient it computes.
"""
from __future__ import annotations

import os
import sys
import threading

import numpy as np


class _State(threading.local):
    enabled = False


_state = _State()


def is_anomaly_enabled() -> bool:
    return _state.enabled


class set_detect_anomaly:
    """Turn anomaly detection on or off (a call, a context manager or a decorator)."""

    def __init__(self, mode: bool):
        self.previous = _state.enabled
        _state.enabled = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.enabled = self.previous
        return False


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
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(_ROOTS):
            return f"{filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return "<unknown>"


def check_gradient(node, grads) -> None:
    """Raise if a backward step of `node` produced a NaN or inf."""
    for index, grad in enumerate(grads):
        if grad is None:
            continue
        data = grad.data
        if data.dtype.kind == "f" and not np.isfinite(data).all():
            kind = "nan" if np.isnan(data).any() else "inf"
            where = getattr(node, "created_at", "<unknown: created before anomaly detection was on>")
            raise RuntimeError(
                f"{node.name}: backward produced a non-finite gradient ({kind}) for its input {index}; "
                f"the {node.name} was called at {where}")
