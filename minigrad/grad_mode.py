"""Grad mode: whether operations are recorded into the graph. Per thread."""
from __future__ import annotations

from .switch import Flip, FlipNow, Switch

_state = Switch(True)


def is_grad_enabled() -> bool:
    """True when new operations are recorded for backward in this thread."""
    return _state.enabled


class set_grad_enabled(FlipNow):
    """Turn recording on or off; works as a call, a context manager and a decorator.

    Args:
        mode: True to record operations, False not to.
    """
    switch = _state


class no_grad(Flip):
    """Context manager and decorator: operations inside are not recorded."""
    switch, mode = _state, False


class enable_grad(Flip):
    """Context manager and decorator: operations inside are recorded (even within no_grad)."""
    switch, mode = _state, True
