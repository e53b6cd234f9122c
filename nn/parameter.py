"""Parameter: a leaf tensor that a Module registers as learnable when assigned to it."""
from __future__ import annotations

import numpy as np

from minigrad import dtypes
from minigrad.tensor import Tensor, _set_fields


class Parameter(Tensor):
    """A tensor that is a module parameter: requires grad by default, found by `parameters()`.

    Args:
        data: a Tensor (its memory is shared, as in PyTorch) or array-like; None gives an empty tensor.
        requires_grad: whether the parameter is trained.
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            array = np.empty((0,), dtype=dtypes.default_float)
        elif isinstance(data, Tensor):
            array = data.array
        else:
            array = dtypes.as_array(data)
        _set_fields(self, array, version_counter=data._version_counter if isinstance(data, Tensor) else None)
        if requires_grad:
            self.requires_grad = True

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

