"""Data types: minigrad's dtypes are numpy dtypes, float32 by default.

`mg.float32 == np.float32` and `x.dtype` is a `numpy.dtype`, so a tensor's dtype
can be compared with either spelling.

`mg.bfloat16` exists as a name only: numpy has no bfloat16, so comparing with it or choosing
it in an expression works, and making or casting a tensor to it raises a TypeError that says
to use float32 (or float16). float16 is numpy's own and works (slowly: numpy computes it in
software on most CPUs).
"""
from __future__ import annotations

import builtins
import types

import numpy as np

float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)
float64 = double = np.dtype(np.float64)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
int16 = short = np.dtype(np.int16)
int32 = int = np.dtype(np.int32)
int64 = long = np.dtype(np.int64)
bool = np.dtype(np.bool_)

default_float = float32


class _NumpyLacks:
    """A PyTorch dtype numpy has no type for (bfloat16): it can be named, compared and put in
    a variable (`dtype = mg.bfloat16 if cond else mg.float32`, `x.dtype == mg.bfloat16` is
    False), but making or casting a tensor to it raises, naming what to use instead."""

    __slots__ = ("name", "itemsize", "instead")

    def __init__(self, name: str, itemsize: "builtins.int", instead: str):
        self.name, self.itemsize, self.instead = name, itemsize, instead

    is_floating_point = True
    is_complex = False
    is_signed = True

    def __repr__(self) -> str:
        return f"minigrad.{self.name}"

    def refuse(self) -> TypeError:
        return TypeError(f"dtype: numpy has no {self.name}, so minigrad cannot make or cast to "
                         f"{self.name} tensors - {self.instead}")


# bfloat16 is a name only (see _NumpyLacks): numpy has no such type, and emulating it in float32
# would look like bfloat16 while computing something else.
bfloat16 = _NumpyLacks("bfloat16", 2, "use mg.float32 (or mg.float16 to halve the memory)")

# numpy's float limits, except bfloat16's, which numpy cannot compute
_BFLOAT16_FINFO = dict(bits=16, eps=0.0078125, max=3.3895313892515355e+38,
                       min=-3.3895313892515355e+38, tiny=1.1754943508222875e-38,
                       smallest_normal=1.1754943508222875e-38, resolution=0.01, dtype="bfloat16")


# PyTorch's legacy tensor-type names (legacy.py makes the classes; Tensor.type() gives the string)
LEGACY_TYPE_NAMES = {float32: "FloatTensor", float64: "DoubleTensor", float16: "HalfTensor",
                     int64: "LongTensor", int32: "IntTensor", int16: "ShortTensor",
                     int8: "CharTensor", uint8: "ByteTensor", bool: "BoolTensor"}
_LEGACY_DTYPES = {name: dtype for dtype, name in LEGACY_TYPE_NAMES.items()}


def to_dtype(dtype) -> np.dtype | None:
    """Turn a dtype spelling (np.float32, 'float32', mg.float32, Python float, mg.FloatTensor,
    'torch.FloatTensor') into a numpy dtype."""
    if dtype is None:
        return None
    if isinstance(dtype, type) and isinstance(dtype.__dict__.get("dtype"), np.dtype):
        return dtype.__dict__["dtype"]   # a legacy tensor type (legacy.py)
    if isinstance(dtype, str) and dtype.rpartition(".")[2] in _LEGACY_DTYPES:
        module = dtype.rpartition(".")[0]
        if module not in ("", "torch", "minigrad"):
            raise TypeError(f"dtype: {dtype!r} is not a CPU tensor type - minigrad runs on the CPU only")
        return _LEGACY_DTYPES[dtype.rpartition(".")[2]]
    if isinstance(dtype, _NumpyLacks):
        raise dtype.refuse()

    if dtype is builtins.float:
        return default_float
    if dtype is builtins.int:
        return int64
    if dtype is builtins.bool:
        return bool
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: {dtype!r} is not a data type - expected e.g. mg.float32, mg.int64") from None


def is_floating(dtype: np.dtype) -> "builtins.bool":
    """True for float16/32/64: the only dtypes that can require gradients."""
    return dtype.kind == "f"


def as_array(data, dtype=None) -> np.ndarray:
    """Convert Python data or an array to a numpy array with PyTorch's default dtypes.

    Python floats (and lists of them) become float32, ints int64, bools bool;
    a numpy array keeps its dtype unless `dtype` is given.
    """
    dtype = to_dtype(dtype)
    if isinstance(data, np.ndarray):
        return data.astype(dtype, copy=False) if dtype is not None else data
    try:
        array = np.asarray(data)
    except ValueError as error:  # nested lists of uneven lengths
        raise ValueError(f"tensor: cannot make a tensor from {type(data).__name__} - {error} "
                         "(nested lists must be rectangular: every row of one length)") from None
    if dtype is not None:
        return array.astype(dtype, copy=False)
    if array.dtype == float64 and not isinstance(data, np.generic):
        return array.astype(default_float)
    if array.dtype.kind in "iu" and not isinstance(data, np.generic):
        return array.astype(int64, copy=False)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__} "
                        f"(numpy dtype {array.dtype}) - expected numbers, bools or arrays of them")
    return array


def finfo(dtype=None):
    """Limits of a float dtype (numpy's `np.finfo`: .eps, .max, .min, .tiny, .bits, ...);
    the default dtype when none is given. bfloat16's are given too, though it cannot be used."""
    if isinstance(dtype, _NumpyLacks):
        return types.SimpleNamespace(**_BFLOAT16_FINFO)
    return np.finfo(to_dtype(dtype) or default_float)


def iinfo(dtype):
    """Limits of an integer dtype (numpy's `np.iinfo`: .min, .max, .bits)."""
    return np.iinfo(to_dtype(dtype))


def get_default_dtype() -> np.dtype:
    """The dtype of floats made without a dtype (float32 unless set_default_dtype changed it)."""
    return default_float


def set_default_dtype(dtype) -> None:
    """Set the dtype of floats made without a dtype: mg.float32 (the default), float64 or float16."""
    global default_float
    dtype = to_dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: only floating-point dtypes can be the default, got {dtype}")
    default_float = dtype


def is_floating_point(input) -> "builtins.bool":
    """True for a tensor of float16/32/64."""
    return input.dtype.kind == "f"
