"""Tensor: a numpy array that remembers how it was made.

`array` is the numpy array (users get it from `.numpy()`; `.data` is
PyTorch's: a tensor sharing the memory that records nothing). A tensor made
by a recorded op points to its graph node (`grad_fn`); a leaf (made by the
user) has none and, if it requires grad, receives `.grad` from `backward()`.

The operations themselves live in `minigrad.ops`; this file holds the
tensor's state, its PyTorch-style properties, the in-place operations and
the method spellings of the ops (`x.sum()`, `x.view(...)`, `x + y`, ...),
each a one-line call of the one function in `minigrad.ops` that does the work.
"""
from __future__ import annotations

import builtins  # annotations: Tensor defines int(), float() and bool() methods
import weakref

import numpy as np

from . import dtypes, grad_mode, printing
from .device import CPU as _CPU, device as _device
from .random import generator as rng


class Tensor:
    """An n-dimensional array with automatic differentiation.

    `mg.Tensor(3, 4)` makes an uninitialised float32 tensor of shape (3, 4);
    `mg.Tensor([1, 2])` makes one from data (use `mg.tensor` for that).
    """

    __slots__ = ("array", "grad", "_requires_grad", "_node", "_version_counter",
                 "_hooks", "name", "__weakref__")
    __array_priority__ = 1000  # numpy scalars and arrays defer to our operators

    def __new__(cls, *args, dtype=None, requires_grad: builtins.bool = False):
        if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
            data = dtypes.as_array(args[0], dtype if dtype is not None else dtypes.default_float)
            data = np.array(data, copy=True)
        else:
            shape = tuple(int(n) for n in (args[0] if len(args) == 1 and isinstance(args[0], tuple) else args))
            shape = shape if args else (0,)  # Tensor() is empty, as in PyTorch
            data = np.empty(shape, dtype=dtypes.to_dtype(dtype) or dtypes.default_float)
        tensor = _make(data, cls=cls)
        if requires_grad:
            tensor.requires_grad = True
        return tensor

    # ---- graph state ------------------------------------------------------------
    @property
    def requires_grad(self) -> builtins.bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: builtins.bool) -> None:
        if value and self.array.dtype.kind != "f":
            raise RuntimeError(
                f"requires_grad: only floating-point tensors can require gradients, this one is "
                f"{self.array.dtype} - convert it first with .float()")
        if not value and self._node is not None:
            raise RuntimeError("requires_grad: cannot turn off gradients of a non-leaf tensor "
                               "(one made by an op) - use .detach() instead")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: builtins.bool = True) -> "Tensor":
        """Set `requires_grad` in place and return self."""
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> builtins.bool:
        """True for tensors made by the user (not by a recorded op)."""
        return self._node is None

    @property
    def grad_fn(self):
        """The graph node that made this tensor, or None for a leaf."""
        return self._node

    @property
    def _version(self) -> builtins.int:
        """How many in-place changes this tensor's memory has seen."""
        return self._version_counter[0] if self._version_counter is not None else 0

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

    def backward(self, gradient=None, retain_graph: builtins.bool | None = None,
                 create_graph: builtins.bool = False) -> None:
        """Accumulate the gradient of this tensor into every leaf that requires grad.

        Args:
            gradient: d(something)/d(self), shaped like self; may be omitted
                only when self has one element.
            retain_graph: keep the graph's saved values for another backward
                (defaults to `create_graph`).
            create_graph: record the backward pass, so gradients can be
                differentiated again.
        """
        autograd.backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

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

    def size(self, dim: builtins.int | None = None):
        """The shape, or the length of dimension `dim`."""
        if dim is None:
            return self.array.shape
        return self.array.shape[_check_dim(dim, self.array.ndim, "size")]

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def ndim(self) -> builtins.int:
        return self.array.ndim

    def dim(self) -> builtins.int:
        return self.array.ndim

    ndimension = dim

    def numel(self) -> builtins.int:
        return self.array.size

    nelement = numel

    def __len__(self) -> builtins.int:
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    @property
    def device(self) -> _device:
        """Always the CPU: `device(type='cpu')`, which also equals the string 'cpu'."""
        return _CPU

    @property
    def is_cuda(self) -> builtins.bool:
        return False

    is_mps = is_xpu = is_meta = is_cuda

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
        body = printing.array_to_string(self.array, prefix="tensor(")  # mg.set_printoptions
        extra = ""
        if self.array.dtype not in (dtypes.float32, dtypes.int64, dtypes.bool) or self.array.size == 0:
            extra += f", dtype={self.array.dtype}"
        if self._node is not None:
            extra += f", grad_fn=<{type(self._node).__name__}>"
        elif self._requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __format__(self, spec: str) -> str:
        """`f"{loss:.4f}"` formats the value of a one-element tensor; no spec gives the repr."""
        if not spec:
            return self.__repr__()
        if self.array.size != 1:
            raise TypeError(f"format: the format spec {spec!r} needs a one-element tensor, this one "
                            f"has shape {self.shape} - format .item() of one element, or .tolist()")
        return format(self.array.item(), spec)

    def __bool__(self) -> builtins.bool:
        if self.array.size != 1:
            raise RuntimeError(f"bool: the truth value of a tensor with {self.array.size} elements is "
                               "ambiguous - use .any() or .all()")
        return bool(self.array)

    def __float__(self) -> builtins.float:
        return float(self.item())

    def __int__(self) -> builtins.int:
        return int(self.item())

    def __index__(self) -> builtins.int:
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
        for flag in ("non_blocking", "copy", "memory_format"):   # nothing to do on one device
            kwargs.pop(flag, None)
        for arg in args + tuple(kwargs.values()):
            if isinstance(arg, Tensor):
                dtype = arg.dtype
            elif isinstance(arg, (str, _device)):
                _check_device(arg)
            elif arg is not None and not isinstance(arg, bool):
                dtype = arg
        if dtype is None:
            return self
        return ops.cast(self, dtypes.to_dtype(dtype))

    def type(self, dtype=None, non_blocking: builtins.bool = False):
        """No argument: PyTorch's type name ('torch.FloatTensor'); else cast (legacy.py)."""
        if dtype is None:
            return f"torch.{dtypes.LEGACY_TYPE_NAMES.get(self.dtype, self.dtype)}"
        return self.to(dtypes.to_dtype(dtype))

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

    def pin_memory(self, device=None) -> "Tensor":
        """Self: pinned (page-locked) memory only speeds copies to a GPU, and minigrad has none."""
        return self

    def is_pinned(self, device=None) -> builtins.bool:
        return False

    def cuda(self, *args, **kwargs):
        _check_device("cuda", "cuda")

    def is_floating_point(self) -> builtins.bool:
        return self.array.dtype.kind == "f"

    def is_contiguous(self) -> builtins.bool:
        return self.array.flags.c_contiguous

    # ---- in-place operations ----------------------------------------------------
    def _writing(self, op: str = "in-place write") -> "_Writing":
        """A context manager giving this tensor's array to write into, which counts the change when done.

        The one way the library writes into a tensor's memory: nodes that
        saved the old value see the version go up and refuse to use it.
        (An optimizer's own state buffers, exp_avg and the like, are updated
        as arrays: no recorded op ever saves them.)

        Args:
            op: the operation's name, for the error about read-only memory.
        """
        if not self.array.flags.writeable:
            raise RuntimeError(f"{op}: this tensor's memory is read-only (an expand()ed view?) - "
                               "call .clone() first")
        return _Writing(self)

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
        if recording and self._viewed_leaf() is not None:
            raise RuntimeError(
                f"{name}: a view of a leaf tensor that requires grad is being used in an in-place "
                "operation - wrap the update in `with mg.no_grad():` or change a .clone()")
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
        aliased = self._version_counter is not None  # views and detach() share the counter: none yet, no alias
        with self._writing(name) as array:
            np.copyto(array, result.array, casting="unsafe")
        if recording:
            if self._node is None and aliased:
                # self now has a history that the views of it, or the tensor it is a view of, do not
                # (PyTorch rebases them all): the counter they share notes which array has one, so
                # that using another in a recorded op is refused (function._check_history) instead
                # of silently giving no gradient. Weakly, and forgetting views that are gone: a buffer
                # written through a fresh view every step must not keep every one of them
                counter = self._version_counter
                counter[1:] = [ref for ref in counter[1:] if ref() is not None]
                counter.append(weakref.ref(self.array))
            self._node = result._node
            self._requires_grad = True
            result._node.rebase_output(self)
        return self

    def _viewed_leaf(self):
        """The leaf requiring grad whose memory this tensor views (through view ops), or None."""
        node = self._node
        while isinstance(node, ViewFunction) and node.parents:
            source = node.parents[0]
            if isinstance(source, Tensor):  # a leaf is its own parent key
                return source if np.may_share_memory(self.array, source.array) else None
            node = source
        return None

    def add_(self, other, alpha=1) -> "Tensor":
        return self._inplace("add_", lambda a, b: ops.add(a, b, alpha), other)

    def sub_(self, other, alpha=1) -> "Tensor":
        return self._inplace("sub_", lambda a, b: ops.sub(a, b, alpha), other)

    def mul_(self, other) -> "Tensor":
        return self._inplace("mul_", ops.mul, other)

    def div_(self, other, rounding_mode=None) -> "Tensor":
        return self._inplace("div_", lambda a, b: ops.div(a, b, rounding_mode), other)

    def pow_(self, exponent) -> "Tensor":
        return self._inplace("pow_", ops.pow, exponent)

    def clamp_(self, min=None, max=None) -> "Tensor":
        return self._inplace("clamp_", lambda a: ops.clamp(a, min, max))

    clip_ = clamp_

    def nan_to_num_(self, nan: builtins.float = 0.0, posinf=None, neginf=None) -> "Tensor":
        return self._inplace("nan_to_num_", lambda a: ops.nan_to_num(a, nan, posinf, neginf))

    def copy_(self, source, non_blocking: builtins.bool = False) -> "Tensor":
        """Copy `source` (broadcast to self's shape) into self."""
        def compute(a, b):
            b = b if isinstance(b, Tensor) else _make(dtypes.as_array(b))
            b = ops.cast(b, a.dtype) if b.dtype != a.dtype else b
            try:
                copied = ops.expand(b, a.shape) if b.shape != a.shape else b * 1
            except (ValueError, RuntimeError):  # expand says RuntimeError; name copy_ instead
                raise RuntimeError(f"copy_: source of shape {b.shape} cannot be broadcast to "
                                   f"this tensor's shape {a.shape}") from None
            if a.requires_grad and not copied.requires_grad:
                # self keeps requiring grad (as in PyTorch); its old value gets a zero gradient
                copied = ops.mul(a, 0) + copied
            return copied
        return self._inplace("copy_", compute, source)

    def zero_(self) -> "Tensor":
        return self.fill_(0)

    def fill_(self, value) -> "Tensor":
        value_recorded = isinstance(value, Tensor) and value._requires_grad
        if grad_mode._state.enabled and (self._requires_grad or value_recorded):
            # the old value gets gradient 0; a value that requires grad gets the sum (PyTorch's
            # fill_.Tensor); _inplace refuses a leaf that requires grad
            return self._inplace("fill_", lambda a, v: ops.mul(a, 0) + v, value)
        with self._writing() as array:
            array[...] = value.item() if isinstance(value, Tensor) else value
        return self

    def uniform_(self, low: builtins.float = 0.0, high: builtins.float = 1.0, *, generator=None) -> "Tensor":
        return self._fill_random("uniform_", rng(generator).uniform(low, high, self.shape))

    def normal_(self, mean: builtins.float = 0.0, std: builtins.float = 1.0, *, generator=None) -> "Tensor":
        return self._fill_random("normal_", rng(generator).normal(mean, std, self.shape))

    def exponential_(self, lambd: builtins.float = 1.0, *, generator=None) -> "Tensor":
        return self._fill_random("exponential_", rng(generator).exponential(1.0 / lambd, self.shape))

    def bernoulli_(self, p: builtins.float = 0.5, *, generator=None) -> "Tensor":
        p = p.array if isinstance(p, Tensor) else p
        return self._fill_random("bernoulli_", rng(generator).random(self.shape) < p)

    def random_(self, low: builtins.int = 0, high: builtins.int | None = None, *, generator=None) -> "Tensor":
        """Integers from [low, high); `random_(high)` is [0, high); no bound: [0, 2**mantissa bits]."""
        if high is None and low != 0:
            low, high = 0, low
        if high is None:
            high = 2 ** (np.finfo(self.dtype).nmant + 1) + 1 if self.dtype.kind == "f" else \
                (2 if self.dtype == np.bool_ else int(np.iinfo(self.dtype).max))
        return self._fill_random("random_", rng(generator).integers(low, high, self.shape))

    def _fill_random(self, name: str, values: np.ndarray) -> "Tensor":
        if grad_mode._state.enabled and self._requires_grad:
            # a non-leaf (as in PyTorch): the draw replaces it, its old value gets gradient 0;
            # _inplace refuses a leaf
            drawn = _make(np.asarray(values).astype(self.array.dtype))
            return self._inplace(name, lambda a: ops.mul(a, 0) + drawn)
        with self._writing() as array:
            array[...] = values
        return self

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def masked_fill_(self, mask, value) -> "Tensor":
        return self._inplace("masked_fill_", lambda a, v: ops.masked_fill(a, mask, v), value)

    def __setitem__(self, index, value) -> None:
        self._inplace("setitem", lambda a, v: ops.index_put(a, v, index), value)

    # ---- the ops as methods: each is the one function in minigrad.ops that does the work ----
    # operators
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __floordiv__(self, other):
        return ops.div(self, other, rounding_mode="floor")

    def __rfloordiv__(self, other):
        return ops.div(other, self, rounding_mode="floor")

    def __pow__(self, exponent):
        return ops.pow(self, exponent)

    def __rpow__(self, base):
        return ops.pow(base, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __neg__(self):
        return ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return ops.abs(self)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    # comparisons and logic give tensors that never require grad
    def __eq__(self, other):
        return _compare(np.equal, self, other)

    def __ne__(self, other):
        return _compare(np.not_equal, self, other)

    def __lt__(self, other):
        return _compare(np.less, self, other)

    def __le__(self, other):
        return _compare(np.less_equal, self, other)

    def __gt__(self, other):
        return _compare(np.greater, self, other)

    def __ge__(self, other):
        return _compare(np.greater_equal, self, other)

    def __and__(self, other):
        return _compare(np.logical_and if self.array.dtype == np.bool_ else np.bitwise_and, self, other)

    def __or__(self, other):
        return _compare(np.logical_or if self.array.dtype == np.bool_ else np.bitwise_or, self, other)

    def __xor__(self, other):
        return _compare(np.logical_xor if self.array.dtype == np.bool_ else np.bitwise_xor, self, other)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __mod__(self, other):
        return ops.remainder(self, other)

    def __rmod__(self, other):
        return ops.remainder(other, self)

    def remainder(self, other):
        return ops.remainder(self, other)

    def __invert__(self):
        return _make(np.logical_not(self.array) if self.array.dtype == np.bool_ else np.invert(self.array))

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__
    greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne
    logical_and, logical_or, logical_xor = __and__, __or__, __xor__

    def logical_not(self):
        return _make(np.logical_not(self.array))

    def equal(self, other) -> builtins.bool:
        return ops.equal(self, other)

    def isclose(self, other, rtol: builtins.float = 1e-05, atol: builtins.float = 1e-08,
                equal_nan: builtins.bool = False):
        return ops.isclose(self, other, rtol, atol, equal_nan)

    def allclose(self, other, rtol: builtins.float = 1e-05, atol: builtins.float = 1e-08,
                 equal_nan: builtins.bool = False) -> builtins.bool:
        return ops.allclose(self, other, rtol, atol, equal_nan)

    # arithmetic and math
    def add(self, other, alpha=1):
        return ops.add(self, other, alpha)

    def sub(self, other, alpha=1):
        return ops.sub(self, other, alpha)

    def mul(self, other):
        return ops.mul(self, other)

    def div(self, other, rounding_mode=None):
        return ops.div(self, other, rounding_mode)

    subtract, multiply, divide, true_divide = sub, mul, div, div

    def neg(self):
        return ops.neg(self)

    negative = neg

    def pow(self, exponent):
        return ops.pow(self, exponent)

    def exp(self):
        return ops.exp(self)

    def log(self):
        return ops.log(self)

    def sqrt(self):
        return ops.sqrt(self)

    def rsqrt(self):
        return ops.rsqrt(self)

    def square(self):
        return ops.square(self)

    def sin(self):
        return ops.sin(self)

    def cos(self):
        return ops.cos(self)

    def tanh(self):
        return ops.tanh(self)

    def sigmoid(self):
        return ops.sigmoid(self)

    def relu(self):
        return ops.relu(self)

    def abs(self):
        return ops.abs(self)

    absolute = abs

    def erf(self):
        return ops.erf(self)

    def maximum(self, other):
        return ops.maximum(self, other)

    def minimum(self, other):
        return ops.minimum(self, other)

    def clamp(self, min=None, max=None):
        return ops.clamp(self, min, max)

    clip = clamp

    def log1p(self):
        return ops.log1p(self)

    def expm1(self):
        return ops.expm1(self)

    def sign(self):
        return ops.sign(self)

    def floor(self):
        return ops.floor(self)

    def ceil(self):
        return ops.ceil(self)

    def round(self, decimals: builtins.int = 0):
        return ops.round(self, decimals)

    def lerp(self, end, weight):
        return ops.lerp(self, end, weight)

    def softplus(self, beta: builtins.float = 1.0, threshold: builtins.float = 20.0):
        return ops.softplus(self, beta, threshold)

    def where(self, condition, other):
        return ops.where(condition, self, other)

    def nan_to_num(self, nan: builtins.float = 0.0, posinf=None, neginf=None):
        return ops.nan_to_num(self, nan, posinf, neginf)

    # reductions
    def sum(self, dim=None, keepdim: builtins.bool = False, dtype=None, *, axis=None, keepdims=None):
        return ops.sum(self, dim, keepdim, dtype, axis=axis, keepdims=keepdims)

    def mean(self, dim=None, keepdim: builtins.bool = False, dtype=None, *, axis=None, keepdims=None):
        return ops.mean(self, dim, keepdim, dtype, axis=axis, keepdims=keepdims)

    def var(self, dim=None, unbiased: builtins.bool | None = None, keepdim: builtins.bool = False, *,
            correction=None):
        return ops.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim=None, unbiased: builtins.bool | None = None, keepdim: builtins.bool = False, *,
            correction=None):
        return ops.std(self, dim, unbiased, keepdim, correction=correction)

    def max(self, dim=None, keepdim: builtins.bool = False):
        return ops.max(self, dim, keepdim)

    def min(self, dim=None, keepdim: builtins.bool = False):
        return ops.min(self, dim, keepdim)

    def amax(self, dim=None, keepdim: builtins.bool = False):
        return ops.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim: builtins.bool = False):
        return ops.amin(self, dim, keepdim)

    def argmax(self, dim=None, keepdim: builtins.bool = False):
        return ops.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim: builtins.bool = False):
        return ops.argmin(self, dim, keepdim)

    def logsumexp(self, dim, keepdim: builtins.bool = False):
        return ops.logsumexp(self, dim, keepdim)

    def norm(self, p=2, dim=None, keepdim: builtins.bool = False):
        return ops.norm(self, p, dim, keepdim)

    def prod(self, dim=None, keepdim: builtins.bool = False):
        return ops.prod(self, dim, keepdim)

    def all(self, dim=None, keepdim: builtins.bool = False):
        return ops.all(self, dim, keepdim)

    def any(self, dim=None, keepdim: builtins.bool = False):
        return ops.any(self, dim, keepdim)

    def cumsum(self, dim: builtins.int):
        return ops.cumsum(self, dim)

    def cumprod(self, dim: builtins.int, *, dtype=None):
        return ops.cumprod(self, dim, dtype=dtype)

    def sort(self, dim: builtins.int = -1, descending: builtins.bool = False, stable: builtins.bool = False):
        return ops.sort(self, dim, descending, stable)

    def argsort(self, dim: builtins.int = -1, descending: builtins.bool = False, stable: builtins.bool = False):
        return ops.argsort(self, dim, descending, stable)

    def bincount(self, weights=None, minlength: builtins.int = 0):
        return ops.bincount(self, weights, minlength)

    def topk(self, k: builtins.int, dim: builtins.int = -1, largest: builtins.bool = True,
             sorted: builtins.bool = True):
        return ops.topk(self, k, dim, largest, sorted)

    def count_nonzero(self, dim=None):
        return ops.count_nonzero(self, dim)

    # shape and indexing
    def reshape(self, *shape):
        return ops.reshape(self, *shape)

    def view(self, *shape):
        return ops.view(self, *shape)

    def view_as(self, other):
        return ops.reshape(self, other.shape)

    reshape_as = view_as

    def flatten(self, start_dim: builtins.int = 0, end_dim: builtins.int = -1):
        return ops.flatten(self, start_dim, end_dim)

    def permute(self, *dims):
        return ops.permute(self, *dims)

    def transpose(self, dim0: builtins.int, dim1: builtins.int):
        return ops.transpose(self, dim0, dim1)

    swapaxes = transpose
    swapdims = transpose

    def movedim(self, source, destination):
        return ops.movedim(self, source, destination)

    moveaxis = movedim

    def t(self):
        return ops.t(self)

    @property
    def T(self):
        return ops.permute(self, tuple(reversed(range(self.array.ndim))))

    @property
    def mT(self):
        return ops.transpose(self, -2, -1)

    def expand(self, *shape):
        return ops.expand(self, *shape)

    def expand_as(self, other):
        return ops.expand_as(self, other)

    def squeeze(self, dim=None):
        return ops.squeeze(self, dim)

    def unsqueeze(self, dim: builtins.int):
        return ops.unsqueeze(self, dim)

    def take_along_dim(self, indices, dim: builtins.int):
        return ops.take_along_dim(self, indices, dim)

    def gather(self, dim: builtins.int, index, *, sparse_grad: builtins.bool = False):
        return ops.gather(self, dim, index)

    def split(self, split_size_or_sections, dim: builtins.int = 0):
        return ops.split(self, split_size_or_sections, dim)

    def chunk(self, chunks: builtins.int, dim: builtins.int = 0):
        return ops.chunk(self, chunks, dim)

    def unbind(self, dim: builtins.int = 0):
        return ops.unbind(self, dim)

    def flip(self, *dims):
        return ops.flip(self, dims[0] if len(dims) == 1 else dims)  # x.flip(0, 1) as x.flip((0, 1))

    def clone(self):
        return ops.clone(self)

    def contiguous(self, memory_format=None):  # every format is C order here (runtime.memory_format)
        return ops.contiguous(self)

    def repeat(self, *sizes):
        return ops.repeat(self, *sizes)

    def tril(self, diagonal: builtins.int = 0):
        return ops.tril(self, diagonal)

    def triu(self, diagonal: builtins.int = 0):
        return ops.triu(self, diagonal)

    def masked_fill(self, mask, value):
        return ops.masked_fill(self, mask, value)

    def masked_select(self, mask):
        return ops.masked_select(self, mask)

    def roll(self, shifts, dims=None):
        return ops.roll(self, shifts, dims)

    def narrow(self, dim: builtins.int, start, length: builtins.int):
        return ops.narrow(self, dim, start, length)

    def unflatten(self, dim: builtins.int, sizes):
        return ops.unflatten(self, dim, sizes)

    def select(self, dim: builtins.int, index: builtins.int):
        return ops.select(self, dim, index)

    def diagonal(self, offset: builtins.int = 0, dim1: builtins.int = 0, dim2: builtins.int = 1):
        return ops.diagonal(self, offset, dim1, dim2)

    def diag(self, diagonal: builtins.int = 0):
        return ops.diag(self, diagonal)

    def index_select(self, dim: builtins.int, index):
        return ops.index_select(self, dim, index)

    def repeat_interleave(self, repeats, dim=None, *, output_size=None):
        return ops.repeat_interleave(self, repeats, dim)

    def scatter(self, dim: builtins.int, index, src=None, *, value=None, reduce=None):
        return ops.scatter(self, dim, index, src, value=value, reduce=reduce)

    def scatter_add(self, dim: builtins.int, index, src):
        return ops.scatter_add(self, dim, index, src)

    def scatter_(self, dim: builtins.int, index, src=None, *, value=None, reduce=None) -> "Tensor":
        return self._inplace("scatter_", lambda a, s: ops.scatter(a, dim, index, s, value=value, reduce=reduce), src)

    def scatter_add_(self, dim: builtins.int, index, src) -> "Tensor":
        return self._inplace("scatter_add_", lambda a, s: ops.scatter_add(a, dim, index, s), src)

    # products
    def matmul(self, other):
        return ops.matmul(self, other)

    def mm(self, mat2):
        return ops.mm(self, mat2)

    def bmm(self, mat2):
        return ops.bmm(self, mat2)

    def mv(self, vec):
        return ops.mv(self, vec)

    def dot(self, other):
        return ops.dot(self, other)

    def outer(self, vec2):
        return ops.outer(self, vec2)

    # neural-network functions
    def softmax(self, dim: builtins.int, dtype=None):
        return ops.softmax(self, dim, dtype)

    def log_softmax(self, dim: builtins.int, dtype=None):
        return ops.log_softmax(self, dim, dtype)

    # new tensors like this one
    def type_as(self, other):
        return self.to(other.dtype)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad: builtins.bool = False):
        return creation.zeros(*size, dtype=dtype or self.dtype, device=device, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad: builtins.bool = False):
        return creation.ones(*size, dtype=dtype or self.dtype, device=device, requires_grad=requires_grad)

    def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad: builtins.bool = False):
        return creation.full(size, fill_value, dtype=dtype or self.dtype, device=device, requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad: builtins.bool = False):
        return creation.empty(*size, dtype=dtype or self.dtype, device=device, requires_grad=requires_grad)

    def new_tensor(self, data, dtype=None, device=None, requires_grad: builtins.bool = False):
        return creation.tensor(data, dtype=dtype or self.dtype, device=device, requires_grad=requires_grad)


def _make(array: np.ndarray, requires_grad: builtins.bool = False, node=None, cls=Tensor) -> Tensor:
    """Wrap an array as a tensor without checks or copies: the one place a tensor's fields are
    made (Tensor(...) and Parameter(...) come here too), and the engine's fast path."""
    t = _new(cls)
    t.array = array
    t.grad = None
    t._requires_grad = requires_grad
    t._node = node
    # made on the first write, shared by views and detach(): [version, weak references to those
    # arrays among them that an in-place op gave a history] (function._check_history reads the rest)
    t._version_counter = None
    t._hooks = None
    t.name = None
    return t


_new = object.__new__


def _compare(ufunc, a: Tensor, b) -> Tensor:
    return _make(ufunc(a.array, b.array if isinstance(b, Tensor) else b))


class _Writing:
    """Tensor._writing's context manager: the version goes up when the write ends, also when it
    failed half-way. (A class, not contextlib's generator: ~0.3 µs a write instead of ~1.5.)"""
    __slots__ = ("tensor",)

    def __init__(self, tensor: Tensor):
        self.tensor = tensor

    def __enter__(self) -> np.ndarray:
        return self.tensor.array

    def __exit__(self, *exc_info) -> None:
        counter = self.tensor._version_counter
        if counter is None:
            self.tensor._version_counter = [1]
        else:
            counter[0] += 1


class _HookHandle:
    __slots__ = ("hooks", "hook")

    def __init__(self, hooks, hook):
        self.hooks, self.hook = hooks, hook

    def remove(self) -> None:
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


def _check_dim(dim: builtins.int, ndim: builtins.int, op: str) -> builtins.int:
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{op}: dimension {dim} is out of range for a tensor of {ndim} dimensions "
                         f"(expected to be in [{-max(ndim, 1)}, {max(ndim, 1) - 1}])")
    return dim % max(ndim, 1)


def _check_device(device, op: str = "to") -> None:
    """Refuse every device but the CPU, naming it (a device that is ignored would hide a porting
    mistake); 'cuda' is refused the same way whether spelled as a string or a device object."""
    if device is _CPU or device == "cpu":
        return
    if _device(device).type != "cpu":   # an unknown spelling like 'gpu' raises in _device
        raise RuntimeError(
            f"{op}: minigrad runs on the CPU only, got device '{device}' - use 'cpu' or leave the "
            f"device out (mg.cuda.is_available() is False, so "
            f"`'cuda' if torch.cuda.is_available() else 'cpu'` picks the CPU)")


def is_tensor(obj) -> builtins.bool:
    return isinstance(obj, Tensor)


# The ops are built on Tensor and Tensor's methods call them: they are imported once the class
# exists, so either module can be imported first.
from . import autograd, creation, ops  # noqa: E402
from .function import ViewFunction  # noqa: E402
