"""Data types: minigrad's dtypes are numpy dtypes, float32 by default.

`mg.float32 == np.float32` and `x.dtype` is a `numpy.dtype`, so a tensor's dtype
can be compared with either spelling.
"""
from __future__ import annotations

import builtins

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


def to_dtype(dtype) -> np.dtype | None:
    """Turn a dtype spelling (np.float32, 'float32', mg.float32, Python float) into a numpy dtype."""
    if dtype is None:
        return None

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
