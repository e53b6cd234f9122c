"""Parameter: a leaf tensor that a Module registers as learnable when assigned to it."""
from __future__ import annotations

import numpy as np

from minigrad import dtypes
from minigrad.tensor import Tensor, _make


class Parameter(Tensor):
    """A tensor that is a module parameter: requires grad by default, found by `parameters()`.

    Args:
        data: a Tensor (its memory is shared, as in PyTorch) or array-like; None gives an empty tensor.
        requires_grad: whether the parameter is trained.
    """

    __slots__ = ()

    def __new__(cls, data=None, requires_grad: bool = True):
        if data is None:
            array = np.empty((0,), dtype=dtypes.default_float)
        elif isinstance(data, Tensor):
            array = data.array
        else:
            array = dtypes.as_array(data)
        parameter = _make(array, cls=cls)
        if isinstance(data, Tensor):  # the same memory: the same version counter
            parameter._version_counter = data._version_counter
        if requires_grad:
            parameter.requires_grad = True
        return parameter

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

