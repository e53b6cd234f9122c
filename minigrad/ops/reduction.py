"""Reductions: sum, amax/amin, the 2-norm (primitives) and what composes from them.

`dim` is an int, a tuple of ints or None (all dimensions); negative dims
count from the end. Shapes: (*) -> (*) with the reduced dims removed, or
kept as size 1 with `keepdim=True`.
"""
from __future__ import annotations

import builtins
import math
from collections import namedtuple

import numpy as np

from ..function import Function
from ..tensor import Tensor, _make, _check_dim
from .elementwise import Sqrt, log, exp, sqrt, where, maximum, minimum, abs as _abs
from .shape import expand, flip, index_add, permute, reshape, take_along_dim, squeeze, unsqueeze


def normalize_dims(dim, ndim: int, op: str):
    """dim (int, tuple or None) -> sorted tuple of non-negative axes, or None for all."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    axes = tuple(sorted({_check_dim(int(d), ndim, op) for d in dims}))
    return axes if ndim > 0 else None


_LONGEST_BLAS_ROW = 1024  # numpy sums a longer row pairwise, more precisely than BLAS's running sums
_BLAS_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def sum_array(x: np.ndarray, axis=None, keepdims: bool = False) -> np.ndarray:
    """np.sum(x, axis, keepdims=keepdims), computed as BLAS matrix-vector products with a vector
    of ones when the summed axes are a leading block, a trailing block or both, of a
    C-contiguous float32/float64 array (bias gradients, softmax and layer-norm rows).

    numpy's reduction loop is slow on such shapes: a (1024, 128) array summed over its rows
    takes 18 µs with np.sum and 6 µs with gemv, softmax rows of 64 (16x4x64x64) 85 -> 14 µs,
    a conv bias gradient (64, 16, 28, 28) over (0, 2, 3) 118 -> 39 µs (and BLAS uses every
    thread). The additions are done in no worse an order: over leading axes both add row
    after row; along a row numpy adds pairwise and BLAS in several running sums, so rows
    longer than 1024 are left to numpy.

    Args:
        x: array of shape (*).
        axis: int (negative counts from the end), sorted tuple of distinct non-negative ints,
            or None (every axis). Anything else goes to np.sum as it is.

    Returns:
        The sums, shaped as np.sum's.
    """
    ndim = x.ndim
    axes = (int(axis) % ndim,) if isinstance(axis, (int, np.integer)) and -ndim <= axis < ndim else axis
    if type(axes) is tuple and axes and len(axes) < ndim and x.size and x.dtype in _BLAS_FLOATS \
            and x.flags.c_contiguous:
        lead = 0  # axes 0, 1, ..., lead - 1 open the tuple
        while lead < len(axes) and axes[lead] == lead:
            lead += 1
        trail = len(axes) - lead
        shape = x.shape
        length = math.prod(shape[ndim - trail:])  # of each row the trailing axes sum
        if axes[lead:] == tuple(range(ndim - trail, ndim)) and length <= _LONGEST_BLAS_ROW:
            out = x
            if trail:
                out = out.reshape(-1, length) @ np.ones(length, x.dtype)
            if lead:
                rows = math.prod(shape[:lead])
                out = np.ones(rows, x.dtype) @ out.reshape(rows, -1)
            kept = shape[lead:ndim - trail]
            return out.reshape((1,) * lead + kept + (1,) * trail if keepdims else kept)
    return np.sum(x, axis=axis, keepdims=keepdims)


def _kept_shape(shape: tuple, axes) -> tuple:
    """The shape after reducing `axes` with keepdims=True."""
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    """Sum over `axis`; the VJP spreads the gradient back over the summed elements."""
    @staticmethod
    def forward(ctx, x, *, axis=None, keepdims=False):
        ctx.kept_shape = _kept_shape(x.shape, axis)
        return sum_array(x, axis, keepdims)

    @staticmethod
    def backward(ctx, grad):
        return expand(reshape(grad, ctx.kept_shape), ctx.shapes[0])


class Amax(Function):
    """Largest element over `axis`; tied maxima share the gradient equally (as PyTorch's amax)."""
    @staticmethod
    def forward(ctx, x, *, axis=None, keepdims=False):
        out = np.max(x, axis=axis, keepdims=True)
        ctx.kept_shape = out.shape
        is_max = x == out
        ctx.save_for_backward(is_max / is_max.sum(axis=axis, keepdims=True, dtype=x.dtype))
        return out if keepdims else np.squeeze(out, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        share, = ctx.saved_tensors
        return reshape(grad, ctx.kept_shape) * share


class Amin(Function):
    """Smallest element over `axis`; tied minima share the gradient equally."""
    @staticmethod
    def forward(ctx, x, *, axis=None, keepdims=False):
        out = np.min(x, axis=axis, keepdims=True)
        ctx.kept_shape = out.shape
        is_min = x == out
        ctx.save_for_backward(is_min / is_min.sum(axis=axis, keepdims=True, dtype=x.dtype))
        return out if keepdims else np.squeeze(out, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        share, = ctx.saved_tensors
        return reshape(grad, ctx.kept_shape) * share


class Norm(Function):
    """Euclidean norm over `axis`; its gradient at the zero vector is 0 (not nan)."""
    @staticmethod
    def forward(ctx, x, *, axis=None, keepdims=False):
        out = np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
        ctx.kept_shape = out.shape
        out = out if keepdims else np.squeeze(out, axis=axis)
        ctx.save_for_backward(x, out)  # the returned array, so a second derivative sees it depend on x
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        out = reshape(out, ctx.kept_shape)
        nonzero = out.array > 0
        return x * where(nonzero, reshape(grad, ctx.kept_shape) / where(nonzero, out, 1.0), 0.0)


# ---- public functions -------------------------------------------------------------

def sum(input, dim=None, keepdim: bool = False, dtype=None, *, axis=None, keepdims=None):
    """Sum of elements over `dim` (all when None).

    Args:
        input: tensor of shape (*).
        dim: int or tuple of ints.
        keepdim: keep reduced dims as size 1.

    Returns:
        Tensor with the reduced dims removed (or kept as 1).
    """
    dim = axis if axis is not None else dim
    keepdim = keepdims if keepdims is not None else keepdim
    if dtype is not None:
        input = input.to(dtype)
    if input.dtype == np.bool_:
        input = input.long()
    return Sum.apply(input, axis=normalize_dims(dim, input.ndim, "sum"), keepdims=keepdim)


def mean(input, dim=None, keepdim: bool = False, dtype=None, *, axis=None, keepdims=None):
    """Mean over `dim` (all when None); shapes as `sum`."""
    dim = axis if axis is not None else dim
    keepdim = keepdims if keepdims is not None else keepdim
    if dtype is not None:
        input = input.to(dtype)
    if input.dtype.kind not in "fc":
        raise RuntimeError(f"mean: could not infer output dtype - input dtype is {input.dtype}, "
                           "expected a floating point tensor (use .float())")
    axes = normalize_dims(dim, input.ndim, "mean")
    count = input.array.size if axes is None else int(np.prod([input.shape[a] for a in axes]))
    total = Sum.apply(input, axis=axes, keepdims=keepdim)
    return total / count if count else total * float("nan")  # the mean of nothing is nan, as in PyTorch


def var(input, dim=None, unbiased: bool | None = None, keepdim: bool = False, *, correction=None):
    """Variance over `dim`: sum((x - mean)^2) / (N - correction).

    `unbiased=True` (the default) is correction=1; `unbiased=False` is 0.
    """
    if correction is None:
        correction = 0 if unbiased is False else 1
    axes = normalize_dims(dim, input.ndim, "var")
    count = input.array.size if axes is None else int(np.prod([input.shape[a] for a in axes]))
    deviation = input - mean(input, axes, keepdim=True)
    return sum(deviation * deviation, axes, keepdim=keepdim) / builtins.max(count - correction, 0)


def std(input, dim=None, unbiased: bool | None = None, keepdim: bool = False, *, correction=None):
    """Standard deviation: sqrt(var(...)); same arguments as `var`.

    A constant row has std 0 and gradient 0 (PyTorch's convention), not sqrt's 1 / 0.
    """
    return RootOfVariance.apply(var(input, dim, unbiased, keepdim, correction=correction))


class RootOfVariance(Sqrt):
    """Sqrt's forward for a variance v >= 0, whose gradient is 0 where v is 0: there every
    deviation is 0 too, so the chain rule's 0 * inf is taken as 0, as PyTorch's std_backward does."""
    @staticmethod
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        zero = out.array == 0
        # the divisor is never 0, so the double backward has no inf to multiply by 0 either
        return where(zero, 0.0, grad / (where(zero, 1.0, out) * 2))


MaxResult = namedtuple("max", ["values", "indices"])
MinResult = namedtuple("min", ["values", "indices"])


def amax(input, dim=None, keepdim: bool = False):
    """Largest elements over `dim`; ties share the gradient."""
    return Amax.apply(input, axis=normalize_dims(dim, input.ndim, "amax"), keepdims=keepdim)


def amin(input, dim=None, keepdim: bool = False):
    """Smallest elements over `dim`; ties share the gradient."""
    return Amin.apply(input, axis=normalize_dims(dim, input.ndim, "amin"), keepdims=keepdim)


def max(input, dim=None, keepdim: bool = False):
    """`max(x)`: the largest element. `max(x, dim)`: (values, indices) along dim, as PyTorch.

    With `dim`, the gradient goes to the element at `indices` (the first
    maximum); without, tied maxima share it. `max(x, y)` of two tensors is
    `maximum`.
    """
    if isinstance(dim, Tensor):
        return maximum(input, dim)
    if dim is None:
        return amax(input)
    return _reduce_with_indices(input, dim, keepdim, np.argmax, MaxResult, "max")


def min(input, dim=None, keepdim: bool = False):
    """`min(x)`: the smallest element. `min(x, dim)`: (values, indices) along dim."""
    if isinstance(dim, Tensor):
        return minimum(input, dim)
    if dim is None:
        return amin(input)
    return _reduce_with_indices(input, dim, keepdim, np.argmin, MinResult, "min")


def _reduce_with_indices(input, dim, keepdim, arg_function, result_type, op):
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"{op}: dim must be a single int when indices are returned, got {dim}")
    axis = _check_dim(int(dim), input.ndim, op)
    if input.ndim and input.shape[axis] == 0:
        raise IndexError(f"{op}: cannot reduce over dimension {dim} of size 0 (shape {input.shape})")
    indices = np.expand_dims(arg_function(input.array, axis=axis), axis) if input.ndim else np.array(0)
    values = take_along_dim(input, indices, axis) if input.ndim else input * 1
    if not keepdim and input.ndim:
        values = squeeze(values, axis)
        indices = np.squeeze(indices, axis)
    return result_type(values, _make(indices.astype(np.int64)))


def argmax(input, dim=None, keepdim: bool = False):
    """Index of the largest element (of the flattened tensor when dim is None)."""
    return _arg(input, dim, keepdim, np.argmax, "argmax")


def argmin(input, dim=None, keepdim: bool = False):
    """Index of the smallest element (of the flattened tensor when dim is None)."""
    return _arg(input, dim, keepdim, np.argmin, "argmin")


def _arg(input, dim, keepdim, arg_function, op):
    data = input.array if isinstance(input, Tensor) else np.asarray(input)
    if dim is None:
        return _make(np.asarray(arg_function(data), dtype=np.int64))
    axis = _check_dim(int(dim), data.ndim, op)
    return _make(arg_function(data, axis=axis, keepdims=keepdim).astype(np.int64))


def logsumexp(input, dim, keepdim: bool = False):
    """log(sum(exp(x))) over `dim`, computed stably by shifting by the maximum."""
    axes = normalize_dims(dim, input.ndim, "logsumexp")
    shift = np.max(input.array, axis=axes, keepdims=True, initial=-np.inf)  # of nothing: -inf, as PyTorch
    shift = np.where(np.isfinite(shift), shift, 0).astype(input.dtype)
    out = log(sum(exp(input - shift), axes, keepdim=True)) + shift
    return out if keepdim else reshape(out, np.squeeze(shift, axis=axes).shape)


def norm(input, p=2, dim=None, keepdim: bool = False):
    """p-norm over `dim` (all elements when None); the 2-norm's gradient at 0 is 0."""
    axes = normalize_dims(dim, input.ndim, "norm")
    if p == 2 or p == "fro":
        return Norm.apply(input, axis=axes, keepdims=keepdim)
    if p == 1:
        return sum(_abs(input), axes, keepdim=keepdim)
    if p == float("inf"):
        return amax(_abs(input), axes, keepdim=keepdim)
    # where a whole group is 0, s ** (1 / p) has an infinite slope times a zero: PyTorch's
    # norm_backward masks those groups to gradient 0, and so does the safe power here (as for p < 1
    # the elements that are 0 inside a nonzero group)
    total = sum(_power_of_nonnegative(_abs(input), p), axes, keepdim=keepdim)
    return _power_of_nonnegative(total, 1.0 / p)


def _power_of_nonnegative(x, exponent):
    """x ** exponent for x >= 0, with value and gradient 0 where x is 0: the base there is 1
    inside the power, so no infinite slope meets the zero."""
    positive = x.array > 0
    if positive.all():
        return x ** exponent
    return where(positive, where(positive, x, 1.0) ** exponent, 0.0)


def prod(input, dim=None, keepdim: bool = False):
    """Product over `dim` (all elements when None); the gradient is right with zeros too."""
    axes = normalize_dims(dim, input.ndim, "prod")
    if axes is None:
        return Prod.apply(input, axis=None, keepdims=keepdim)
    for axis in reversed(axes):  # from the last, so the axes left keep their numbers
        input = Prod.apply(input, axis=axis, keepdims=keepdim)
    return input


class Prod(Function):
    """Product over one `axis` (all elements when None). VJP: grad times the product of the
    *other* elements (not out / x, which is nan at zeros), itself computed with Prod."""
    @staticmethod
    def forward(ctx, x, *, axis=None, keepdims=False):
        ctx.kept_shape = _kept_shape(x.shape, None if axis is None else (axis,))
        ctx.save_for_backward(x)
        return np.prod(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return reshape(grad, ctx.kept_shape) * _product_of_others(x, ctx.attributes["axis"])


def _product_of_others(x, axis):
    """out[..., i, ...] = product of x[..., j, ...] over j != i along `axis` (all elements when None)."""
    if axis is None:
        return reshape(_product_of_others(reshape(x, (-1,)), 0), x.shape)
    n = x.shape[axis]
    order = tuple(i for i in range(x.ndim) if i != axis) + (axis,)
    moved = permute(x, order)                                          # (..., n)
    rows = expand(unsqueeze(moved, -2), moved.shape[:-1] + (n, n))     # row i: all of x along axis
    others = where(np.eye(n, dtype=bool), np.ones((), x.dtype), rows)  # ... with x_i replaced by 1
    return permute(Prod.apply(others, axis=others.ndim - 1), tuple(int(i) for i in np.argsort(order)))


def all(input, dim=None, keepdim: bool = False):
    """True where every element (over dim) is nonzero."""
    data = input.array if isinstance(input, Tensor) else np.asarray(input)
    axes = normalize_dims(dim, data.ndim, "all")
    return _make(np.all(data, axis=axes, keepdims=keepdim))


def any(input, dim=None, keepdim: bool = False):
    """True where some element (over dim) is nonzero."""
    data = input.array if isinstance(input, Tensor) else np.asarray(input)
    axes = normalize_dims(dim, data.ndim, "any")
    return _make(np.any(data, axis=axes, keepdims=keepdim))


def count_nonzero(input, dim=None):
    axes = normalize_dims(dim, input.ndim, "count_nonzero")
    return _make(np.asarray(np.count_nonzero(input.array, axis=axes), dtype=np.int64))


def bincount(input, weights=None, minlength: int = 0):
    """How often each value occurs in a 1-D tensor of non-negative ints (weighted: the sum of
    the weights of each value's positions).

    Args:
        input: (n,) integer tensor, all values >= 0.
        weights: None, or (n,) tensor; float32 weights give float32 counts, any other dtype
            float64 (as PyTorch on the CPU).
        minlength: the least length of the result.

    Returns:
        (max(max(input) + 1, minlength),) - int64 without weights. Not differentiable in input;
        differentiable in weights (each weight gets the gradient of its bin), where PyTorch
        has no derivative for bincount.
    """
    values = input.array if isinstance(input, Tensor) else np.asarray(input)
    if values.ndim != 1 or values.dtype.kind not in "iu":
        raise RuntimeError(f"bincount: expected a 1-D tensor of integers, got shape {tuple(values.shape)} "
                           f"and dtype {values.dtype}")
    if values.size and values.min() < 0:
        raise RuntimeError(f"bincount: input must be non-negative, got the value {values.min()}")
    if int(minlength) < 0:
        raise RuntimeError(f"bincount: minlength must be non-negative, got {minlength}")
    size = builtins.max(int(values.max()) + 1 if values.size else 0, int(minlength))
    if weights is None:
        return _make(np.bincount(values, minlength=size).astype(np.int64))
    if not isinstance(weights, Tensor):
        weights = Tensor(weights)
    if tuple(weights.shape) != values.shape:
        raise RuntimeError(f"bincount: weights of shape {tuple(weights.shape)} do not match the input of "
                           f"shape {values.shape}")
    if weights.dtype != np.float32:
        weights = weights.to(np.float64)
    return index_add(weights, (size,), (values.astype(np.intp),))


def cumsum(input, dim: int):
    """Cumulative sum along `dim` (a composition: the VJP is a reversed cumsum)."""
    return Cumsum.apply(input, axis=_check_dim(dim, input.ndim, "cumsum"))


class Cumsum(Function):
    """Running sum along `axis`; the VJP is the running sum of the gradient from the end."""
    @staticmethod
    def forward(ctx, x, *, axis):
        return np.cumsum(x, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        axis = ctx.attributes["axis"]
        return flip(cumsum(flip(grad, axis), axis), axis)


def cumprod(input, dim: int, *, dtype=None):
    """Cumulative product along `dim`: out[..., i, ...] = x[..., 0, ...] * ... * x[..., i, ...].

    The gradient is right where x has zeros (it never divides by x); it costs O(n^2) per row of
    length n along `dim`.
    """
    if dtype is not None:
        input = input.to(dtype)
    axis = _check_dim(dim, input.ndim, "cumprod")
    if input.ndim == 0:  # a 0-d tensor is its own cumulative product
        return reshape(Cumprod.apply(reshape(input, (1,)), axis=0), ())
    return Cumprod.apply(input, axis=axis)


class Cumprod(Function):
    """Running product along `axis`. VJP: d out_i / d x_k = prod_{j <= i, j != k} x_j for i >= k,
    computed with x_k left out of the product (not as out_i / x_k, which is nan where x_k = 0)."""
    @staticmethod
    def forward(ctx, x, *, axis):
        ctx.save_for_backward(x)
        return np.cumprod(x, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        axis = ctx.attributes["axis"]
        n = x.shape[axis]
        order = tuple(i for i in range(x.ndim) if i != axis) + (axis,)
        moved_x, moved_grad = permute(x, order), permute(grad, order)             # (..., n)
        rows = expand(unsqueeze(moved_x, -2), moved_x.shape[:-1] + (n, n))        # [..., k, j] = x_j
        others = where(np.eye(n, dtype=bool), np.ones((), x.dtype), rows)        # ... x_k replaced by 1
        partial = Cumprod.apply(others, axis=others.ndim - 1)  # [..., k, i] = prod_{j <= i, j != k} x_j
        later = np.triu(np.ones((n, n), dtype=bool))           # [k, i]: i >= k, the outputs x_k is in
        terms = where(later, unsqueeze(moved_grad, -2) * partial, np.zeros((), x.dtype))
        return permute(sum(terms, -1), tuple(int(i) for i in np.argsort(order)))


# ---- ordering: sort, argsort, topk ---------------------------------------------------------

SortResult = namedtuple("sort", ["values", "indices"])
TopkResult = namedtuple("topk", ["values", "indices"])


def _sort_indices(input, dim: int, descending: bool, op: str) -> tuple:
    """(axis, int64 indices that sort input along it), after the checks sort, argsort and topk share.

    The sort is stable: equal elements keep their order, descending too; nan sorts as the largest
    value (last ascending, first descending), as in PyTorch. A 0-d input is its own sort (index 0).
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: argument 'input' must be a Tensor, got {type(input).__name__}")
    axis = _check_dim(dim, input.ndim, op)
    if input.ndim == 0:
        return axis, np.zeros((), np.int64)
    data = input.array
    if not descending:
        return axis, np.argsort(data, axis=axis, kind="stable").astype(np.int64, copy=False)
    # ascending on the reversed data, read backwards: ties come out in their original order
    backwards = np.flip(np.argsort(np.flip(data, axis), axis=axis, kind="stable"), axis)
    return axis, (data.shape[axis] - 1 - backwards).astype(np.int64, copy=False)


def _sorted_values(input, indices: np.ndarray, axis: int):
    """The elements of input at `indices` along axis; their gradient goes back to where they came from."""
    if input.ndim == 0:  # its own sort: a copy (input * 1 would turn a bool into an int)
        return input * 1 if input.dtype.kind == "f" else _make(input.array.copy())
    return take_along_dim(input, indices, axis)


def sort(input, dim: int = -1, descending: bool = False, stable: bool = False):
    """input sorted along `dim`, with the indices that sort it.

    The sort is always stable (equal elements keep their order), so `stable` changes nothing.
    The values' gradient goes back to the elements they came from.

    Args:
        input: tensor of shape (*).
        dim: the dimension to sort along.
        descending: largest first.

    Returns:
        namedtuple (values, indices), both of input's shape; indices are int64.
    """
    axis, indices = _sort_indices(input, dim, descending, "sort")
    return SortResult(_sorted_values(input, indices, axis), _make(indices))


def argsort(input, dim: int = -1, descending: bool = False, stable: bool = False):
    """The int64 indices that sort input along `dim` (`sort(...).indices`)."""
    return _make(_sort_indices(input, dim, descending, "argsort")[1])


def topk(input, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
    """The k largest (or, with largest=False, smallest) elements along `dim`, and their indices.

    They come out sorted (largest first, or smallest first) whatever `sorted` says; among equal
    elements the first ones win. The values' gradient goes back to the elements they came from.

    Args:
        input: tensor of shape (*, n, *) with n at `dim`.
        k: how many, 0 <= k <= n.

    Returns:
        namedtuple (values, indices), shaped like input with k at `dim`; indices are int64.
    """
    axis, indices = _sort_indices(input, dim, largest, "topk")
    n = input.shape[axis] if input.ndim else 1
    k = int(k)
    if not 0 <= k <= n:
        raise RuntimeError(f"topk: k ({k}) is out of range for dimension {dim} of size {n} "
                           f"(tensor shape {tuple(input.shape)}) - expected 0 <= k <= {n}")
    if input.ndim and k < n:  # the first k indices, and only their elements taken from input
        indices = indices[(slice(None),) * axis + (slice(0, k),)]
    return TopkResult(_sorted_values(input, indices, axis), _make(indices))

__all__ = ['all', 'amax', 'amin', 'any', 'argmax', 'argmin', 'argsort', 'bincount', 'count_nonzero', 'cumprod', 'cumsum',
           'logsumexp', 'max', 'mean', 'min', 'norm', 'prod', 'sort', 'std', 'sum', 'topk', 'var']
