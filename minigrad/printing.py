"""How tensors print (`torch.set_printoptions`): the one place Tensor.__repr__ takes its options from."""
from __future__ import annotations

import sys

import numpy as np

__all__ = ["set_printoptions", "get_printoptions"]

# PyTorch's profiles; "default" is what a fresh interpreter prints with
_PROFILES = {
    "default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
    "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
    "full": dict(precision=4, threshold=sys.maxsize, edgeitems=3, linewidth=80),
}

_options = dict(_PROFILES["default"], sci_mode=None)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None,
                     sci_mode=None) -> None:
    """Set how tensors print, as PyTorch's `set_printoptions`.

    Args:
        precision: digits after the decimal point of floats (default 4).
        threshold: more elements than this print summarised with '...' (default 1000).
        edgeitems: elements kept at each end of a summarised dimension (default 3).
        linewidth: characters per line before wrapping (default 80).
        profile: 'default', 'short' or 'full' - sets the four above first, then any given
            argument overrides it.
        sci_mode: True always prints floats in scientific notation, False never does,
            None (default) lets numpy choose.
    """
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {sorted(_PROFILES)}, got {profile!r}")
        _options.update(_PROFILES[profile])
    given = dict(precision=precision, threshold=threshold, edgeitems=edgeitems, linewidth=linewidth)
    for name, value in given.items():
        if value is not None:
            if value == float("inf"):
                value = sys.maxsize
            _options[name] = int(value)
    # PyTorch sets sci_mode on every call, so set_printoptions(precision=2) resets it to automatic
    _options["sci_mode"] = sci_mode


def get_printoptions() -> dict:
    """The options in force (a copy), by set_printoptions' argument names."""
    return dict(_options)


def array_to_string(array: np.ndarray, prefix: str) -> str:
    """The body of a tensor's repr: `array` printed with the options in force."""
    formatter = None
    if _options["sci_mode"] and array.dtype.kind == "f":
        digits = _options["precision"]
        formatter = {"float_kind": lambda v: f"{v:.{digits}e}"}
    return np.array2string(array, separator=", ", prefix=prefix, precision=_options["precision"],
                           threshold=_options["threshold"], edgeitems=_options["edgeitems"],
                           max_line_width=_options["linewidth"],
                           suppress_small=_options["sci_mode"] is False, formatter=formatter)
