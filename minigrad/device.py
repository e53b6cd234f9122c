"""Devices: `mg.device("cpu")`, as `torch.device`. minigrad computes on the CPU only.

A device object for 'cuda' or 'mps' can be made and compared (a program may only ask
`device.type == "cuda"`), but a tensor or module cannot be put there: creating or moving
one raises a RuntimeError naming the device.
"""
from __future__ import annotations

__all__ = ["device"]

_TYPES = ("cpu", "cuda", "mps", "xpu", "meta", "hpu", "xla", "ipu", "mtia", "privateuseone")


class device:
    """A device: a type ('cpu', 'cuda', ...) and an optional index.

    Spellings: `device("cpu")`, `device("cuda:1")`, `device("cuda", 1)`, `device(other_device)`.
    Equal to another device of the same type and index, and to its string
    (`device("cpu") == "cpu"`).
    """

    __slots__ = ("type", "index")

    def __init__(self, type, index: int | None = None):
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        elif isinstance(type, int) and not isinstance(type, bool) and index is None:
            type, index = "cuda", type   # PyTorch reads a bare ordinal as a CUDA device
        elif not isinstance(type, str):
            raise TypeError(f"device: expected a string like 'cpu' or 'cuda:0', got {type!r}")
        elif ":" in type:
            if index is not None:
                raise RuntimeError(f"device: type {type!r} already has an index, and index={index} "
                                   "was given too")
            type, _, ordinal = type.partition(":")
            if not ordinal.isdigit():
                raise RuntimeError(f"device: invalid device string {type + ':' + ordinal!r} - "
                                   "expected e.g. 'cuda:0'")
            index = int(ordinal)
        if type not in _TYPES:
            raise RuntimeError(f"device: expected one of {', '.join(_TYPES)} as the device type, "
                               f"got {type!r}")
        if index is not None and (not isinstance(index, int) or index < 0):
            raise RuntimeError(f"device: the index must be a non-negative int, got {index!r}")
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "index", index)

    def __setattr__(self, name, value):
        raise AttributeError(f"device: '{name}' cannot be assigned (devices are immutable)")

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except (RuntimeError, TypeError):
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __reduce__(self):
        return (device, (self.type, self.index))


CPU = device("cpu")
