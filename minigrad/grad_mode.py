"""Grad mode: whether operations are recorded into the graph. Per thread."""
from __future__ import annotations

import functools

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


class _BareDecorator:
    """Lets the class decorate without parentheses (`@mg.no_grad`), as PyTorch 2 allows."""

    def __new__(cls, function=None):
        self = super().__new__(cls)
        if function is None:
            return self
        if not callable(function):
            raise TypeError(f"{cls.__name__}: takes no arguments, or one function to decorate - "
                            f"got {function!r}")
        return self(function)


class no_grad(_BareDecorator, Flip):
    """Context manager and decorator (`@no_grad()` or `@no_grad`): operations inside are not recorded."""
    switch, mode = _state, False


class enable_grad(_BareDecorator, Flip):
    """Context manager and decorator: operations inside are recorded (even within no_grad)."""
    switch, mode = _state, True


_inference = Switch(False)


def is_inference_mode_enabled() -> bool:
    """True inside `inference_mode()` in this thread."""
    return _inference.enabled


class inference_mode:
    """Context manager and decorator (`@inference_mode()`, `@inference_mode`) for evaluation.

    In minigrad it is `no_grad` plus the flag `is_inference_mode_enabled()`: nothing inside is
    recorded. PyTorch's further speed-ups (tensors without version counters, refused later in
    autograd) do not exist here; tensors made inside are ordinary tensors that require no grad.

    Args:
        mode: True to enter inference mode; False leaves grad mode as it is and clears the flag.
    """

    def __new__(cls, mode=True):
        self = super().__new__(cls)
        if callable(mode):   # used bare as a decorator: `mode` is the function
            self.__init__()
            return self(mode)
        return self

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)
        self._saved = []

    def __enter__(self):
        self._saved.append((_state.enabled, _inference.enabled))
        if self.mode:
            _state.enabled = False
        _inference.enabled = self.mode
        return self

    def __exit__(self, *exc):
        _state.enabled, _inference.enabled = self._saved.pop()
        return False

    def __call__(self, function):
        mode = self.mode

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return function(*args, **kwargs)
        return wrapper

    def clone(self) -> "inference_mode":
        return inference_mode(self.mode)
