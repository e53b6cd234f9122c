"""PyTorch's legacy tensor types: `mg.FloatTensor`, `mg.LongTensor`, ... (one per dtype).

They are not subclasses of Tensor and no tensor is ever of one of these classes: as in PyTorch,
each is a constructor and a dtype test in one object.

    mg.FloatTensor([1, 2])          # tensor([1., 2.]): data, cast to the type's dtype
    mg.LongTensor(3, 4)             # uninitialised int64 (3, 4)
    mg.FloatTensor()                # empty, shape (0,)
    isinstance(x, mg.FloatTensor)   # x is a Tensor of dtype float32
    x.type(mg.LongTensor)           # cast, as x.long(); x.type('torch.LongTensor') too
    x.type()                        # 'torch.FloatTensor': PyTorch's name, the string programs compare

A size passed as one tuple is data, as PyTorch treats a plain tuple (`mg.FloatTensor((3, 4))` is
tensor([3., 4.])); pass sizes as separate ints. `device=` accepts only the CPU.
"""
from __future__ import annotations

from . import dtypes
from .tensor import Tensor, _check_device

__all__ = ["FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor", "ShortTensor",
           "CharTensor", "ByteTensor", "BoolTensor"]


class _TensorType(type):
    """The metaclass: calling the type makes a Tensor, isinstance compares dtypes."""

    def __call__(cls, *args, device=None):
        if device is not None:
            _check_device(device)
        if not args:
            return Tensor(0, dtype=cls.dtype)
        return Tensor(*args, dtype=cls.dtype)

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype

    def __repr__(cls) -> str:
        return f"<class 'minigrad.{cls.__name__}'>"


def _tensor_type(name: str, dtype):
    assert dtypes.LEGACY_TYPE_NAMES[dtype] == name
    return _TensorType(name, (), {"dtype": dtype, "__slots__": (), "__module__": "minigrad",
                                  "__doc__": f"Legacy constructor and isinstance test for {dtype} tensors."})


FloatTensor = _tensor_type("FloatTensor", dtypes.float32)
DoubleTensor = _tensor_type("DoubleTensor", dtypes.float64)
HalfTensor = _tensor_type("HalfTensor", dtypes.float16)
LongTensor = _tensor_type("LongTensor", dtypes.int64)
IntTensor = _tensor_type("IntTensor", dtypes.int32)
ShortTensor = _tensor_type("ShortTensor", dtypes.int16)
CharTensor = _tensor_type("CharTensor", dtypes.int8)
ByteTensor = _tensor_type("ByteTensor", dtypes.uint8)
BoolTensor = _tensor_type("BoolTensor", dtypes.bool)
