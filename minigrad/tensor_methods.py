"""The method and operator spellings of the ops: `x.sum()`, `x.view(...)`, `x + y`, `x @ w`, ...

Each entry points at the one function in `minigrad.ops` that does the work,
so a method and its function can never disagree.
"""
from __future__ import annotations

import numpy as np

from . import ops
from .tensor import Tensor


def _swap(function):
    """For reflected operators: `2 - x` calls x.__rsub__(2) = sub(2, x)."""
    def reflected(self, other):
        return function(other, self)
    return reflected


def _compare(ufunc):
    """Comparisons give bool tensors that never require grad."""
    def compare(self, other):
        from .tensor import _make
        return _make(ufunc(self.array, other.array if isinstance(other, Tensor) else other))
    return compare


def _matmul(a, b):
    return ops.matmul(a, b)


_OPERATORS = {
    "__add__": ops.add, "__radd__": _swap(ops.add),
    "__sub__": ops.sub, "__rsub__": _swap(ops.sub),
    "__mul__": ops.mul, "__rmul__": _swap(ops.mul),
    "__truediv__": ops.div, "__rtruediv__": _swap(ops.div),
    "__pow__": ops.pow, "__rpow__": _swap(ops.pow),
    "__matmul__": _matmul, "__rmatmul__": _swap(_matmul),
    "__neg__": ops.neg,
    "__abs__": ops.abs,
    "__getitem__": ops.getitem,
    "__lt__": _compare(np.less), "__le__": _compare(np.less_equal),
    "__gt__": _compare(np.greater), "__ge__": _compare(np.greater_equal),
    "__eq__": _compare(np.equal), "__ne__": _compare(np.not_equal),
    "__and__": _compare(np.logical_and), "__or__": _compare(np.logical_or),
    "__xor__": _compare(np.logical_xor),
    "__floordiv__": lambda a, b: ops.div(a, b, rounding_mode="floor"),
    "__mod__": _compare(np.mod),
}


def _invert(self):
    from .tensor import _make
    return _make(np.logical_not(self.array) if self.dtype == np.bool_ else np.invert(self.array))


# methods whose signature is the function's, with self as the first argument
_SAME_SIGNATURE = [
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "rsqrt", "square", "sin", "cos",
    "tanh", "sigmoid", "relu", "abs", "erf", "maximum", "minimum", "clamp", "clip", "log1p", "expm1",
    "sign", "floor", "ceil", "round", "lerp", "softplus",
    "sum", "mean", "var", "std", "max", "min", "amax", "amin", "argmax", "argmin", "logsumexp",
    "norm", "prod", "all", "any", "cumsum", "count_nonzero",
    "reshape", "view", "flatten", "permute", "transpose", "swapaxes", "t", "expand", "expand_as",
    "squeeze", "unsqueeze", "take_along_dim", "gather", "split", "chunk", "unbind", "flip",
    "clone", "contiguous", "repeat", "tril", "triu", "masked_fill",
    "matmul", "mm", "bmm", "mv", "dot", "outer",
    "softmax", "log_softmax",
]

_ALIASES = {"subtract": "sub", "multiply": "mul", "divide": "div", "true_divide": "div",
            "negative": "neg", "absolute": "abs"}


def install() -> None:
    """Attach operators and methods to Tensor (called once at import)."""
    for name, function in _OPERATORS.items():
        setattr(Tensor, name, function)
    Tensor.__invert__ = _invert
    for name in _SAME_SIGNATURE:
        setattr(Tensor, name, getattr(ops, name))
    for alias, name in _ALIASES.items():
        setattr(Tensor, alias, getattr(ops, name))
    Tensor.T = property(lambda self: ops.permute(self, tuple(reversed(range(self.ndim)))))
    Tensor.mT = property(lambda self: ops.transpose(self, -2, -1))
    Tensor.view_as = lambda self, other: ops.reshape(self, other.shape)
    Tensor.reshape_as = Tensor.view_as
    Tensor.where = lambda self, condition, other: ops.where(condition, self, other)
    Tensor.type_as = lambda self, other: self.to(other.dtype)
    Tensor.new_zeros = lambda self, *size, dtype=None: _new_filled(self, 0, size, dtype)
    Tensor.new_ones = lambda self, *size, dtype=None: _new_filled(self, 1, size, dtype)
    Tensor.new_tensor = lambda self, data, dtype=None: _new_tensor(self, data, dtype)


def _new_filled(self, value, size, dtype):
    from . import creation
    return creation.full(creation._shape(size), value, dtype=dtype or self.dtype)


def _new_tensor(self, data, dtype):
    from . import creation
    return creation.tensor(data, dtype=dtype or self.dtype)
