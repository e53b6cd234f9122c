"""Tensor: a numpy array that remembers how it was made.

`data` is the numpy array. A tensor made by a recorded op points to its graph
node (`grad_fn`); a leaf (made by the user) has none and, if it requires
grad, receives `.grad` from `backward()`.

The operations themselves live in `minigrad.ops`; this file holds the
tensor's state, its PyTorch-style properties and the method spellings of the
ops (`x.sum()`, `x.view(...)`, `x + y`, ...).
"""
from __future__ import annotations

import weakref
from typing import Iterable

import numpy as np

from . import dtypes, grad_mode


class Tensor:
    """An n-dimensional array with automatic differentiation.

    `mg.Tensor(3, 4)` makes an uninitialised float32 tensor of shape (3, 4);
    `mg.Tensor([1, 2])` makes one from data (use `mg.tensor` for that).
    """

    __slots__ = ("array", "grad", "_requires_grad", "_node", "_version_counter",
                 "_hooks", "name", "__weakref__")
    __array_priority__ = 1000  # numpy scalars and arrays defer to our operators

    def __init__(self, *args, dtype=None, requires_grad: bool = False):
        if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
            data = dtypes.as_array(args[0], dtype if dtype is not None else dtypes.default_float)
            data = np.array(data, copy=True)
        else:
            shape = tuple(int(n) for n in (args[0] if len(args) == 1 and isinstance(args[0], tuple) else args))
            data = np.empty(shape, dtype=dtypes.to_dtype(dtype) or dtypes.default_float)
        self.array = data
        self.grad = None
        self._requires_grad = False
        self._node = None
        self._version_counter = None
        self._hooks = None
        self.name = None
        if requires_grad:
            self.requires_grad = True

    # ---- graph state ------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self.array.dtype.kind != "f":
            raise RuntimeError(
                f"requires_grad: only floating-point tensors can require gradients, this one is "
                f"{self.array.dtype} - convert it first with .float()")
        if not value and self._node is not None:
            raise RuntimeError("requires_grad: cannot turn off gradients of a non-leaf tensor "
                               "(one made by an op) - use .detach() instead")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set `requires_grad` in place and return self."""
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user (not by a recorded op)."""
        return self._node is None

    @property
    def grad_fn(self):
        """The graph node that made this tensor, or None for a leaf."""
        return self._node

    @property
    def _version(self) -> int:
        """How many in-place changes this tensor's memory has seen."""
        return self._version_counter[0] if self._version_counter is not None else 0

    def _bump_version(self) -> None:
        if self._version_counter is None:
            self._version_counter = [0]
        self._version_counter[0] += 1

    def retain_grad(self) -> None:
        """Keep `.grad` on this non-leaf tensor after backward (leaves always keep it)."""
        if self._node is None:
            if not self._requires_grad:
                raise RuntimeError("retain_grad: this tensor does not require grad")
            return
        self._node.retained = weakref.ref(self)

    def register_hook(self, hook):
        """Call `hook(grad)` with this tensor's gradient during backward.

        The hook may return a new gradient to use instead. Returns a handle
        whose `remove()` unregisters the hook.
        """
        if not self._requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not require grad")
        owner = self._node if self._node is not None else self
        hooks = owner.hooks if owner is self._node else self._hooks
        if hooks is None:
            hooks = []
            if owner is self._node:
                owner.hooks = hooks
            else:
                self._hooks = hooks
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def backward(self, gradient=None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
        """Accumulate the gradient of this tensor into every leaf that requires grad.

        Args:
            gradient: d(something)/d(self), shaped like self; may be omitted
                only when self has one element.
            retain_graph: keep the graph's saved values for another backward
                (defaults to `create_graph`).
            create_graph: record the backward pass, so gradients can be
                differentiated again.
        """
        from .autograd import backward
        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

    def detach(self) -> "Tensor":
        """The same data (shared, not copied), cut from the graph."""
        out = _make(self.array)
        if self._version_counter is None:
            self._version_counter = [0]
        out._version_counter = self._version_counter
        return out

    def detach_(self) -> "Tensor":
        self._node = None
        self._requires_grad = False
        return self

    @property
    def data(self) -> "Tensor":
        """This tensor's memory as a tensor that records nothing, as PyTorch's `.data`.

        Writes through it change this tensor but are not seen by autograd
        (`p.data.add_(g, alpha=-lr)`, `p.data.normal_(0, 0.02)`); prefer
        `with mg.no_grad():` and `.detach()` in new code.
        """
        return _make(self.array)

    @data.setter
    def data(self, value: "Tensor") -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data: assigned value must be a Tensor, got {type(value).__name__}")
        if value.array.shape != self.array.shape:
            raise RuntimeError(f"data: cannot assign a tensor of shape {value.shape} to the data of a "
                               f"tensor of shape {self.shape} - the shapes must match")
        self.array = value.array

    # ---- array-like properties --------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.array.shape

    def size(self, dim: int | None = None):
        """The shape, or the length of dimension `dim`."""
        if dim is None:
            return self.array.shape
        return self.array.shape[_check_dim(dim, self.array.ndim, "size")]

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def ndim(self) -> int:
        return self.array.ndim

    def dim(self) -> int:
        return self.array.ndim

    ndimension = dim

    def numel(self) -> int:
        return self.array.size

    nelement = numel

    def __len__(self) -> int:
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def is_cuda(self) -> bool:
        return False

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.array.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted to a Python number, "
                             f"this one has shape {self.shape}")
        return self.array.item()

    def numpy(self) -> np.ndarray:
        """The numpy array (shared memory, as in PyTorch)."""
        if self._requires_grad:
            raise RuntimeError("numpy: can't call numpy() on a tensor that requires grad - use .detach().numpy()")
        return self.array

    def tolist(self):
        return self.array.tolist()

    def __array__(self, dtype=None, copy=None):
        return self.array if dtype is None else self.array.astype(dtype)

    def __repr__(self) -> str:
        body = np.array2string(self.array, separator=", ", precision=4, prefix="tensor(")
        extra = ""
        if self.array.dtype not in (dtypes.float32, dtypes.int64, dtypes.bool) or self.array.size == 0:
            extra += f", dtype={self.array.dtype}"
        if self._node is not None:
            extra += f", grad_fn=<{type(self._node).__name__}>"
        elif self._requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __bool__(self) -> bool:
        if self.array.size != 1:
            raise RuntimeError(f"bool: the truth value of a tensor with {self.array.size} elements is "
                               "ambiguous - use .any() or .all()")
        return bool(self.array)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.array.dtype.kind not in "iu" or self.array.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.array.item())

    __hash__ = object.__hash__

    def __iter__(self):
        if self.array.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.array.shape[0]))

    # ---- conversions ------------------------------------------------------------
    def to(self, *args, **kwargs) -> "Tensor":
        """Cast to a dtype (`x.to(mg.float64)`); devices other than 'cpu' are refused."""
        dtype = kwargs.pop("dtype", None)
        for arg in args + tuple(kwargs.values()):
            if isinstance(arg, Tensor):
                dtype = arg.dtype
            elif isinstance(arg, str) or type(arg).__name__ == "device":
                _check_device(arg)
            elif arg is not None and not isinstance(arg, bool):
                dtype = arg
        if dtype is None:
            return self
        from .ops import cast
        return cast(self, dtypes.to_dtype(dtype))

    def type(self, dtype=None):
        if dtype is None:
            return f"minigrad.{self.dtype}"
        return self.to(dtype)

    def float(self) -> "Tensor":
        return self.to(dtypes.float32)

    def double(self) -> "Tensor":
        return self.to(dtypes.float64)

    def half(self) -> "Tensor":
        return self.to(dtypes.float16)

    def long(self) -> "Tensor":
        return self.to(dtypes.int64)

    def int(self) -> "Tensor":
        return self.to(dtypes.int32)

    def bool(self) -> "Tensor":
        return self.to(dtypes.bool)

    def cpu(self) -> "Tensor":
        return self

    def cuda(self, *args, **kwargs):
        _check_device("cuda")

    def is_floating_point(self) -> bool:
        return self.array.dtype.kind == "f"

    def is_contiguous(self) -> bool:
        return self.array.flags.c_contiguous

    # ---- in-place operations ----------------------------------------------------
    def _inplace(self, name: str, compute, *others) -> "Tensor":
        """Change self in place to `compute(self, *others)`.

        Without recording this is a plain numpy write. While recording, the
        result is computed by recorded ops, written into self's memory and
        self's history is moved onto the new node. Either way the version
        goes up, so nodes that saved the old value refuse to use it.
        """
        recording = grad_mode._state.enabled and (
            self._requires_grad or any(isinstance(o, Tensor) and o._requires_grad for o in others))
        if recording and self._node is None and self._requires_grad:
            raise RuntimeError(
                f"{name}: a leaf tensor that requires grad is being used in an in-place operation - "
                "wrap the update in `with mg.no_grad():` or use an out-of-place operation")
        if recording:
            if self._node is not None:
                self._node.view_watch = None  # its output lives on in `old`, a copy nothing will change
            # the op may save its input for backward: give it the old value, not memory we overwrite
            old = _make(self.array.copy(), self._requires_grad, self._node)
            result = compute(old, *others)
        else:
            result = compute(self, *others)
        if result.shape != self.array.shape:
            raise RuntimeError(f"{name}: the result has shape {result.shape}, which cannot be written "
                               f"in place into a tensor of shape {self.array.shape}")
        if self.array.dtype.kind != "f" and result.array.dtype.kind == "f":
            raise RuntimeError(f"{name}: result type {result.array.dtype} can't be cast to the "
                               f"desired output type {self.array.dtype}")
        if not self.array.flags.writeable:
            raise RuntimeError(f"{name}: this tensor's memory is read-only (an expand()ed view?) - "
                               "call .clone() first")
        np.copyto(self.array, result.array, casting="unsafe")
        self._bump_version()
        if recording:
            self._node = result._node
            self._requires_grad = True
            result._node.rebase_output(self)
        return self

    def add_(self, other, alpha=1) -> "Tensor":
        from .ops import add
        return self._inplace("add_", lambda a, b: add(a, b * alpha if alpha != 1 else b), other)

    def sub_(self, other, alpha=1) -> "Tensor":
        from .ops import sub
        return self._inplace("sub_", lambda a, b: sub(a, b * alpha if alpha != 1 else b), other)

    def mul_(self, other) -> "Tensor":
        from .ops import mul
        return self._inplace("mul_", mul, other)

    def div_(self, other) -> "Tensor":
        from .ops import div
        return self._inplace("div_", div, other)

    def pow_(self, exponent) -> "Tensor":
        from .ops import pow
        return self._inplace("pow_", pow, exponent)

    def clamp_(self, min=None, max=None) -> "Tensor":
        from .ops import clamp
        return self._inplace("clamp_", lambda a: clamp(a, min, max))

    clip_ = clamp_

    def copy_(self, source) -> "Tensor":
        """Copy `source` (broadcast to self's shape) into self."""
        from .ops import expand, cast
        def compute(a, b):
            b = b if isinstance(b, Tensor) else _make(dtypes.as_array(b))
            b = cast(b, a.dtype) if b.dtype != a.dtype else b
            try:
                return expand(b, a.shape) if b.shape != a.shape else b * 1
            except (ValueError, RuntimeError):  # expand says RuntimeError; name copy_ instead
                raise RuntimeError(f"copy_: source of shape {b.shape} cannot be broadcast to "
                                   f"this tensor's shape {a.shape}") from None
        return self._inplace("copy_", compute, source)

    def zero_(self) -> "Tensor":
        return self.fill_(0)

    def fill_(self, value) -> "Tensor":
        if grad_mode._state.enabled and self._node is None and self._requires_grad:
            raise RuntimeError("fill_: a leaf tensor that requires grad is being used in an in-place "
                               "operation - wrap it in `with mg.no_grad():`")
        if self._node is not None and grad_mode._state.enabled:
            from .ops import mul
            return self._inplace("fill_", lambda a: mul(a, 0) + value)
        self.array[...] = value.item() if isinstance(value, Tensor) else value
        self._bump_version()
        return self

    def uniform_(self, low: float = 0.0, high: float = 1.0) -> "Tensor":
        from .random import generator
        return self._fill_random("uniform_", generator().uniform(low, high, self.shape))

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> "Tensor":
        from .random import generator
        return self._fill_random("normal_", generator().normal(mean, std, self.shape))

    def _fill_random(self, name: str, values: np.ndarray) -> "Tensor":
        if grad_mode._state.enabled and self._requires_grad:
            raise RuntimeError(f"{name}: a tensor that requires grad is being used in an in-place "
                               "operation - wrap it in `with mg.no_grad():`")
        self.array[...] = values
        self._bump_version()
        return self

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def __setitem__(self, index, value) -> None:
        from .ops import index_put
        self._inplace("setitem", lambda a, v: index_put(a, v, index), value)


def _make(data: np.ndarray, requires_grad: bool = False, node=None) -> Tensor:
    """Wrap an array as a tensor without checks or copies (the engine's fast path)."""
    t = _new(Tensor)
    t.array = data
    t.grad = None
    t._requires_grad = requires_grad
    t._node = node
    t._version_counter = None
    t._hooks = None
    t.name = None
    return t


_new = object.__new__


class _HookHandle:
    __slots__ = ("hooks", "hook")

    def __init__(self, hooks, hook):
        self.hooks, self.hook = hooks, hook

    def remove(self) -> None:
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


def _check_dim(dim: int, ndim: int, op: str) -> int:
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{op}: dimension {dim} is out of range for a tensor of {ndim} dimensions "
                         f"(expected to be in [{-max(ndim, 1)}, {max(ndim, 1) - 1}])")
    return dim % max(ndim, 1)


def _check_device(device, op: str = "to") -> None:
    name = str(device)
    if name.split(":")[0] != "cpu":
        raise RuntimeError(f"{op}: minigrad runs on the CPU only, got device {name!r} - use 'cpu' "
                           "(or leave the device out)")


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)
