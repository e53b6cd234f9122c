"""Per-thread on/off switches (grad mode, anomaly detection) and the objects that flip them."""
from __future__ import annotations

import functools
import threading


class Switch(threading.local):
    """One boolean per thread, read on hot paths as `switch.enabled`."""

    def __init__(self, default: bool):
        self.enabled = default


class Flip:
    """Set a switch for a block: as a context manager, or as a decorator of a function.

    Subclasses name their `switch`; `mode` is the value inside the block.
    """

    switch: Switch
    mode = True

    def __enter__(self):
        self.previous = self.switch.enabled
        self.switch.enabled = self.mode
        return self

    def __exit__(self, *exc):
        self.switch.enabled = self.previous
        return False

    def __call__(self, function):
        switch, mode = self.switch, self.mode

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            previous = switch.enabled
            switch.enabled = mode
            try:
                return function(*args, **kwargs)
            finally:
                switch.enabled = previous
        return wrapper


class FlipNow(Flip):
    """A `Flip` that also takes effect at once when called (`mg.set_grad_enabled(False)`),
    as PyTorch's set_grad_enabled and set_detect_anomaly do."""

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)
        self.previous = self.switch.enabled
        self.switch.enabled = self.mode

    def __enter__(self):
        return self  # the switch was already set by __init__

    def __call__(self, function):
        self.switch.enabled = self.previous  # used as a decorator: undo the switch made in __init__
        return super().__call__(function)
