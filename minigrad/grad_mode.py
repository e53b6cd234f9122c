"""Grad mode: whether operations are recorded into the graph. Per thread."""
from __future__ import annotations

import functools
import threading


class _State(threading.local):
    enabled = True


_state = _State()


def is_grad_enabled() -> bool:
    """True when new operations are recorded for backward in this thread."""
    return _state.enabled


class set_grad_enabled:
    """Turn recording on or off; works as a call, a context manager and a decorator.

    Args:
        mode: True to record operations, False not to.
    """

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)
        self.previous = _state.enabled
        _state.enabled = self.mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.enabled = self.previous
        return False

    def __call__(self, function):
        mode = self.mode
        _state.enabled = self.previous  # used as a decorator: undo the switch made in __init__

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return function(*args, **kwargs)
        return wrapper


class _GradModeContext:
    mode = True

    def __enter__(self):
        self.previous = _state.enabled
        _state.enabled = self.mode
        return self

    def __exit__(self, *exc):
        _state.enabled = self.previous
        return False

    def __call__(self, function):
        mode = self.mode

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return function(*args, **kwargs)
        return wrapper


class no_grad(_GradModeContext):
    """Context manager and decorator: operations inside are not recorded."""
    mode = False


class enable_grad(_GradModeContext):
    """Context manager and decorator: operations inside are recorded (even within no_grad)."""
    mode = True
