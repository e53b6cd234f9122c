"""Shape primitives: reshape, permute, expand, indexing, concatenation, padding, flipping.

Reshape, permute, expand and basic indexing return numpy views (no copy);
their outputs share the input's version counter (`ViewFunction`).
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import grad_mode
from ..engine import ScatteredGradient, unbroadcast
from ..function import Function, ViewFunction
from ..tensor import Tensor, _make, _check_dim
from .elementwise import where


class Reshape(ViewFunction):
    """x with a new shape of the same size (a view when x is contiguous)."""
    @staticmethod
    def forward(ctx, x, *, shape):
        return np.reshape(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return reshape(grad, ctx.shapes[0])


class Permute(ViewFunction):
    """x with its dimensions reordered by `axes` (a strided view)."""
    always_view = True
    @staticmethod
    def forward(ctx, x, *, axes):
        return np.transpose(x, axes)

    @staticmethod
    def backward(ctx, grad):
        return permute(grad, tuple(np.argsort(ctx.attributes["axes"])))


class Expand(ViewFunction):
    """x broadcast to `shape` (a read-only view); the VJP sums the gradient back."""
    always_view = True
    @staticmethod
    def forward(ctx, x, *, shape):
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return unbroadcast(grad, ctx.shapes[0])


class GetItem(ViewFunction):
    """x[index] for numpy-style indices (ints, slices, None, ..., integer and boolean arrays)."""
    @staticmethod
    def forward(ctx, x, *, index):
        try:
            return x[index]
        except IndexError as error:
            raise IndexError(f"getitem: {error} (tensor shape {x.shape})") from None

    @staticmethod
    def backward(ctx, grad):
        index = ctx.attributes["index"]
        if not grad_mode._state.enabled:  # not recording: the engine scatters into its sum in place
            return ScatteredGradient(grad.array, index, _indices_are_unique(index))
        return index_add(grad, ctx.shapes[0], index)


class IndexAdd(Function):
    """zeros(shape) with `values` added at `index` (repeated indices add up): getitem's VJP."""
    @staticmethod
    def forward(ctx, values, *, shape, index, unique=None):
        out = np.zeros(shape, dtype=values.dtype)
        unique = unique if unique is not None else _indices_are_unique(index)
        ScatteredGradient(values, index, unique).add_into(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return getitem(grad, ctx.attributes["index"])


class IndexPut(Function):
    """A copy of x with `values` written at `index` (what `x[index] = values` records)."""
    @staticmethod
    def forward(ctx, x, values, *, index):
        out = x.copy()
        try:
            out[index] = values
        except IndexError as error:
            raise IndexError(f"setitem: {error} (tensor shape {x.shape})") from None
        except ValueError as error:
            raise ValueError(f"setitem: {error}") from None
        return out

    @staticmethod
    def backward(ctx, grad):
        index = ctx.attributes["index"]
        return (index_put(grad, np.zeros((), grad.dtype), index) if ctx.parents[0] is not None else None,
                getitem(grad, index) if ctx.parents[1] is not None else None)


class Cat(Function):
    """Concatenation of the inputs along `axis`; the VJP slices the gradient apart."""
    @staticmethod
    def forward(ctx, *arrays, axis):
        ctx.sizes = [np.shape(a)[axis] for a in arrays]
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        axis = ctx.attributes["axis"]
        grads, start = [], 0
        for size, parent in zip(ctx.sizes, ctx.parents):
            index = (slice(None),) * axis + (slice(start, start + size),)
            grads.append(getitem(grad, index) if parent is not None else None)
            start += size
        return tuple(grads)


class Stack(Function):
    """The inputs stacked along a new dim `axis`; the VJP hands each input its slice of the gradient.

    One op, where unsqueezing each input and concatenating made n + 1 (an RNN stacks one per step).
    """
    @staticmethod
    def forward(ctx, *arrays, axis):
        return np.stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        lead = (slice(None),) * ctx.attributes["axis"]
        return tuple(getitem(grad, lead + (i,)) if parent is not None else None
                     for i, parent in enumerate(ctx.parents))


class Pad(Function):
    """x padded with `value`; `widths` is numpy's ((before, after), ...) per dimension."""
    @staticmethod
    def forward(ctx, x, *, widths, value=0):
        return np.pad(x, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, grad):
        index = tuple(slice(before, n - after) for (before, after), n
                      in zip(ctx.attributes["widths"], grad.shape))
        return getitem(grad, index)


class Flip(Function):
    """x reversed along `axis`."""
    @staticmethod
    def forward(ctx, x, *, axis):
        return np.flip(x, axis).copy()

    @staticmethod
    def backward(ctx, grad):
        return flip(grad, ctx.attributes["axis"])


class Clone(Function):
    """A copy of x in its own memory (the gradient passes unchanged)."""
    @staticmethod
    def forward(ctx, x):
        return np.array(x, copy=True, order="C")

    @staticmethod
    def backward(ctx, grad):
        return grad


# ---- helpers for indices ----------------------------------------------------------

def _indices_are_unique(index) -> bool:
    """True when no element can be selected twice (no integer arrays in the index)."""
    for part in index if isinstance(index, tuple) else (index,):  # a loop: GetItem's VJP asks at every slice
        if isinstance(part, np.ndarray) and part.dtype != np.bool_:
            return False
    return True


_BASIC_INDEX_TYPES = {int, slice, type(None), type(Ellipsis)}


def _as_index(index):
    """Turn tensors and lists inside an index into numpy arrays numpy can use."""
    if type(index) is tuple:
        for part in index:
            if type(part) not in _BASIC_INDEX_TYPES:
                return tuple(_as_index_part(p) for p in index)
        return index  # ints and slices (an RNN's x[:, t]): nothing to convert
    return index if type(index) in _BASIC_INDEX_TYPES else _as_index_part(index)


def _as_index_part(part):
    if isinstance(part, Tensor):
        part = part.array
    elif isinstance(part, list):
        part = np.asarray(part)
    if isinstance(part, np.ndarray):
        if part.dtype.kind not in "iub":
            raise IndexError(f"getitem: tensors used as indices must be long, int or bool, got {part.dtype}")
        if part.dtype.kind == "u" and part.dtype != np.uint8:
            part = part.astype(np.int64)
        if part.dtype == np.uint8:  # PyTorch treats uint8 index tensors as masks
            part = part.astype(bool)
    return part


# ---- public functions -------------------------------------------------------------

def reshape(input, *shape):
    """input with shape `shape` (one entry may be -1); a view when possible.

    Args:
        input: tensor of N elements.
        shape: ints or one tuple whose product is N.
    """
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = tuple(int(s) for s in shape)
    if shape == input.shape:
        return input
    if _inferred(shape, input.array.size) is None:
        raise RuntimeError(f"view: shape {list(shape)} is invalid for input of size {input.array.size} "
                           f"(shape {tuple(input.shape)})")
    return Reshape.apply(input, shape=shape)


view = reshape


def _inferred(shape: tuple, size: int) -> tuple | None:
    """`shape` with its -1 (at most one) worked out for `size` elements; None when no shape fits."""
    known = int(np.prod([s for s in shape if s != -1]))
    if shape.count(-1) > 1 or (-1 not in shape and known != size) or (-1 in shape and (known == 0 or size % known)):
        return None
    return tuple(size // known if s == -1 else s for s in shape)


def flatten(input, start_dim: int = 0, end_dim: int = -1):
    """Merge dims start_dim..end_dim into one."""
    if input.ndim == 0:
        return reshape(input, (1,))
    start = _check_dim(start_dim, input.ndim, "flatten")
    end = _check_dim(end_dim, input.ndim, "flatten")
    shape = input.shape[:start] + (-1 if input.array.size else int(np.prod(input.shape[start:end + 1])),) + input.shape[end + 1:]
    return reshape(input, shape)


def permute(input, *dims):
    """input with dimensions reordered: output dim i is input dim dims[i]."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    if sorted(d % max(input.ndim, 1) for d in dims) != list(range(input.ndim)):
        raise RuntimeError(f"permute: dims {tuple(dims)} are not a permutation of the "
                           f"{input.ndim} dimensions of a tensor of shape {input.shape}")
    axes = tuple(int(d) % input.ndim for d in dims)
    if axes == tuple(range(input.ndim)):
        return input
    return Permute.apply(input, axes=axes)


def transpose(input, dim0: int, dim1: int):
    """input with dims dim0 and dim1 swapped."""
    ndim = input.ndim
    d0, d1 = _check_dim(dim0, ndim, "transpose"), _check_dim(dim1, ndim, "transpose")
    if d0 == d1:
        return input
    axes = list(range(ndim))
    axes[d0], axes[d1] = d1, d0
    return Permute.apply(input, axes=tuple(axes))


swapaxes = transpose
swapdims = transpose


def movedim(input, source, destination):
    """input with dims `source` moved to positions `destination` (ints or equal-length sequences);
    the other dims keep their order. A strided view, as permute."""
    ndim = input.ndim
    sources = (source,) if isinstance(source, (int, np.integer)) else tuple(source)
    destinations = (destination,) if isinstance(destination, (int, np.integer)) else tuple(destination)
    if len(sources) != len(destinations):
        raise RuntimeError(f"movedim: source {sources} and destination {destinations} must have the "
                           f"same number of dims")
    sources = tuple(_check_dim(int(d), ndim, "movedim") for d in sources)
    destinations = tuple(_check_dim(int(d), ndim, "movedim") for d in destinations)
    for name, dims in (("source", sources), ("destination", destinations)):
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"movedim: repeated dim in {name} {dims} of a tensor of shape {input.shape}")
    order = [d for d in range(ndim) if d not in sources]
    for dest, src in sorted(zip(destinations, sources)):
        order.insert(dest, src)
    return permute(input, tuple(order)) if ndim else input


moveaxis = movedim


def t(input):
    """Transpose of a tensor of at most 2 dimensions."""
    if input.ndim > 2:
        raise RuntimeError(f"t: expects a tensor with <= 2 dimensions, got shape {input.shape} - use .mT or transpose")
    return transpose(input, 0, 1) if input.ndim == 2 else input


def expand(input, *shape):
    """input broadcast to `shape` (-1 keeps a size) without copying."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    extra = len(shape) - input.ndim
    if extra < 0:
        raise RuntimeError(f"expand: the requested shape {tuple(shape)} has fewer dimensions than "
                           f"the tensor's shape {input.shape}")
    shape = tuple(input.shape[i - extra] if s == -1 else int(s) for i, s in enumerate(shape))
    if shape == input.shape:
        return input
    for i, size in enumerate(input.shape):
        if size != 1 and size != shape[i + extra]:
            raise RuntimeError(f"expand: the size {size} of dimension {i} must match {shape[i + extra]} "
                               f"(or be 1): tensor shape {input.shape}, requested {shape}")
    return Expand.apply(input, shape=shape)


broadcast_to = expand


def expand_as(input, other):
    return expand(input, other.shape)


def squeeze(input, dim=None):
    """input without size-1 dims (only `dim`, if given and of size 1)."""
    if dim is None:
        shape = tuple(s for s in input.shape if s != 1)
    else:
        dims = {_check_dim(d, input.ndim, "squeeze") for d in ((dim,) if isinstance(dim, int) else dim)}
        shape = tuple(s for i, s in enumerate(input.shape) if not (i in dims and s == 1))
    return reshape(input, shape)


def unsqueeze(input, dim: int):
    """input with a size-1 dim inserted at `dim`."""
    axis = _check_dim(dim, input.ndim + 1, "unsqueeze")
    return reshape(input, input.shape[:axis] + (1,) + input.shape[axis:])


def getitem(input, index):
    """input[index] with numpy/PyTorch indexing; repeated indices accumulate in the VJP."""
    return GetItem.apply(input, index=_as_index(index))


def index_add(values, shape: tuple, index, unique: bool | None = None):
    """zeros(shape) with values added at index (the adjoint of getitem).

    `unique=True` promises that no position is indexed twice (a fast plain write).
    """
    return IndexAdd.apply(values, shape=tuple(shape), index=index, unique=unique)


def index_put(input, values, index):
    """A copy of input with input[index] = values (recorded; used by `x[index] = v`)."""
    return IndexPut.apply(input, values, index=_as_index(index))


def take_along_dim(input, indices, dim: int):
    """Elements of input picked along `dim` by `indices` (shaped like input except at dim)."""
    indices = indices.array if isinstance(indices, Tensor) else np.asarray(indices)
    axis = _check_dim(dim, input.ndim, "take_along_dim")
    if indices.ndim != input.ndim:
        raise RuntimeError(f"take_along_dim: indices have {indices.ndim} dims, the input {input.ndim} - "
                           "they must have the same number of dimensions")
    size = input.shape[axis]
    if indices.size and (indices.min() < -size or indices.max() >= size):
        bad = indices.min() if indices.min() < -size else indices.max()
        raise IndexError(f"take_along_dim: index {bad} is out of bounds for dimension {axis} with size {size}")
    grid = np.ogrid[tuple(slice(0, n) for n in indices.shape)]
    index = tuple(indices if i == axis else grid[i] for i in range(input.ndim))
    return GetItem.apply(input, index=index)


def gather(input, dim: int, index, *, sparse_grad: bool = False):
    """out[i][j] = input[index[i][j]][j] for dim=0 (PyTorch's gather).

    index has input's number of dims, is no larger than input outside `dim`, and its entries are
    in [0, input.shape[dim]); the output has index's shape. `sparse_grad` changes nothing here.
    """
    return GetItem.apply(input, index=_scatter_position("gather", input, dim, index))


def cat(tensors, dim: int = 0):
    """Concatenate tensors along `dim`; all other dims must match."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    shapes = [np.shape(t.array if isinstance(t, Tensor) else t) for t in tensors]
    axis = _check_dim(dim, len(shapes[0]), "cat")
    for i, shape in enumerate(shapes):
        if len(shape) != len(shapes[0]) or any(a != b for k, (a, b) in enumerate(zip(shape, shapes[0])) if k != axis):
            raise RuntimeError(f"cat: tensor {i} has shape {tuple(shape)}, which does not match tensor 0's "
                               f"shape {tuple(shapes[0])} outside dimension {axis}")
    return Cat.apply(*tensors, axis=axis)


concatenate = concat = cat


def stack(tensors, dim: int = 0):
    """Stack equally shaped tensors along a new dim."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise RuntimeError(f"stack: expects each tensor to be equal size, got shapes {sorted(shapes)}")
    axis = _check_dim(dim, tensors[0].ndim + 1, "stack")
    return Stack.apply(*tensors, axis=axis)


def split(input, split_size_or_sections, dim: int = 0):
    """Split into chunks of `split_size` (int) or of the given sizes (list) along dim."""
    axis = _check_dim(dim, input.ndim, "split")
    n = input.shape[axis]
    if isinstance(split_size_or_sections, int):
        sizes = [split_size_or_sections] * (n // split_size_or_sections)
        if n % split_size_or_sections:
            sizes.append(n % split_size_or_sections)
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(f"split: sizes {sizes} do not add up to {n}, the size of dimension {dim}")
    parts, start = [], 0
    for size in sizes:
        parts.append(getitem(input, (slice(None),) * axis + (slice(start, start + size),)))
        start += size
    return tuple(parts)


def chunk(input, chunks: int, dim: int = 0):
    """Split into `chunks` nearly equal pieces along dim."""
    n = input.shape[_check_dim(dim, input.ndim, "chunk")]
    return split(input, -(-n // chunks), dim)


def unbind(input, dim: int = 0):
    """The slices along dim, as a tuple of tensors without that dim."""
    axis = _check_dim(dim, input.ndim, "unbind")
    return tuple(getitem(input, (slice(None),) * axis + (i,)) for i in range(input.shape[axis]))


def pad(input, pad, mode: str = "constant", value: float = 0.0):
    """Pad with a constant; `pad` lists (before, after) pairs from the LAST dim backwards (PyTorch's order)."""
    if mode != "constant":
        raise NotImplementedError(f"pad: mode {mode!r} is not supported - only 'constant'")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise RuntimeError(f"pad: padding length {len(pad)} must be even and at most twice the "
                           f"number of dimensions ({input.ndim})")
    if any(p < 0 for p in pad):
        raise NotImplementedError(f"pad: negative padding {tuple(pad)} is not supported")
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return Pad.apply(input, widths=tuple(widths), value=value)


def flip(input, dims):
    """input reversed along dims."""
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    return Flip.apply(input, axis=tuple(_check_dim(d, input.ndim, "flip") for d in dims))


def clone(input):
    """A copy with its own memory; gradients pass through."""
    return Clone.apply(input)


def contiguous(input):
    """input in C order (a copy only when it is not already)."""
    return input if input.array.flags.c_contiguous else Clone.apply(input)


def repeat(input, *sizes):
    """input tiled `sizes` times along each dim (PyTorch's repeat)."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if len(sizes) < input.ndim:
        raise RuntimeError(f"repeat: number of repeat dims {len(sizes)} can not be smaller than the "
                           f"number of dimensions of the tensor ({input.ndim})")
    x = reshape(input, (1,) * (len(sizes) - input.ndim) + input.shape)
    interleaved = tuple(d for size, n in zip(sizes, x.shape) for d in (1, n))
    expanded = tuple(d for size, n in zip(sizes, x.shape) for d in (size, n))
    return reshape(expand(reshape(x, interleaved), expanded), tuple(s * n for s, n in zip(sizes, x.shape)))


def _check_matrices(op: str, input) -> None:
    if input.ndim < 2:  # np.tril would turn a vector into a matrix
        raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions, got shape {tuple(input.shape)}")


def tril(input, diagonal: int = 0):
    """Lower triangle of the last two dims (the rest zeroed)."""
    _check_matrices("tril", input)
    mask = np.tril(np.ones(input.shape[-2:], dtype=bool), diagonal)
    return where(mask, input, np.zeros((), input.dtype))


def triu(input, diagonal: int = 0):
    """Upper triangle of the last two dims (the rest zeroed)."""
    _check_matrices("triu", input)
    mask = np.triu(np.ones(input.shape[-2:], dtype=bool), diagonal)
    return where(mask, input, np.zeros((), input.dtype))


def masked_fill(input, mask, value):
    """input with `value` where mask is true (mask broadcasts)."""
    mask = mask.array if isinstance(mask, Tensor) else np.asarray(mask)
    if mask.dtype != np.bool_:
        raise RuntimeError(f"masked_fill: expected a bool mask, got {mask.dtype}")
    fill = value if isinstance(value, Tensor) else np.asarray(value, dtype=input.dtype)
    return where(mask, fill, input)


# ---- rolling, narrowing, selecting, scattering, grids (compositions of the primitives above) ----

def roll(input, shifts, dims=None):
    """input shifted along `dims`: elements leaving one end come back at the other.

    Args:
        input: tensor of shape (*).
        shifts: int or tuple of ints, one per dim (negative shifts go the other way).
        dims: int or tuple of ints; None rolls the flattened tensor and restores the shape.

    Returns:
        Tensor of input's shape.
    """
    if dims is None:
        if not isinstance(shifts, (int, np.integer)):
            if len(shifts) != 1:
                raise RuntimeError(f"roll: with dims=None, shifts must be one int, got {tuple(shifts)}")
            shifts = shifts[0]
        return reshape(roll(flatten(input), shifts, 0), input.shape)
    shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    out = input
    for shift, dim in zip(shifts, dims):
        axis = _check_dim(int(dim), input.ndim, "roll")
        n = input.shape[axis] if input.ndim else 1
        s = int(shift) % n if n else 0
        if s:  # the last s elements, then the first n - s
            lead = (slice(None),) * axis
            out = cat([getitem(out, lead + (slice(n - s, None),)), getitem(out, lead + (slice(0, n - s),))], axis)
    return clone(input) if out is input else out


def narrow(input, dim: int, start, length: int):
    """input[..., start:start + length, ...] along `dim`: a view sharing input's memory.

    `start` may be negative (counted from the end) or a 0-d integer tensor.
    """
    if input.ndim == 0:
        raise RuntimeError("narrow: cannot be applied to a 0-dim tensor")
    axis = _check_dim(dim, input.ndim, "narrow")
    n = input.shape[axis]
    start, length = int(start), int(length)
    if not -n <= start <= n:
        raise IndexError(f"narrow: start {start} is out of range for dimension {dim} of size {n} "
                         f"(expected to be in [{-n}, {n}])")
    start = start + n if start < 0 else start
    if length < 0 or start + length > n:
        raise RuntimeError(f"narrow: start ({start}) + length ({length}) exceeds dimension size ({n}) "
                           f"of a tensor of shape {tuple(input.shape)}")
    return getitem(input, (slice(None),) * axis + (slice(start, start + length),))


def unflatten(input, dim: int, sizes):
    """input with dim `dim` split into dims of `sizes` (one may be -1, inferred): a view when possible.

    A (2, 12) tensor unflattened at dim 1 into (3, -1) has shape (2, 3, 4).
    """
    if input.ndim == 0:
        raise RuntimeError("unflatten: cannot be applied to a 0-dim tensor")
    axis = _check_dim(dim, input.ndim, "unflatten")
    sizes = tuple(int(s) for s in sizes)
    n = input.shape[axis]
    resolved = _inferred(sizes, n) if sizes and all(s >= -1 for s in sizes) else None
    if resolved is None:
        raise RuntimeError(f"unflatten: sizes {list(sizes)} do not multiply to the size {n} of dimension "
                           f"{dim} of a tensor of shape {tuple(input.shape)} (at most one -1 is inferred)")
    return reshape(input, input.shape[:axis] + resolved + input.shape[axis + 1:])


def select(input, dim: int, index: int):
    """input[..., index] along `dim`: one fewer dim, a view. `index` may be negative."""
    if input.ndim == 0:
        raise IndexError("select: cannot be applied to a 0-dim tensor")
    axis = _check_dim(dim, input.ndim, "select")
    n, index = input.shape[axis], int(index)
    if not -n <= index < n:
        raise IndexError(f"select: index {index} is out of range for dimension {dim} of size {n} "
                         f"(expected to be in [{-n}, {n - 1}])")
    return getitem(input, (slice(None),) * axis + (index % n,))


def diagonal(input, offset: int = 0, dim1: int = 0, dim2: int = 1):
    """The `offset`-th diagonal of the (dim1, dim2) planes (offset > 0 above the main one, < 0 below).

    dim1 and dim2 are removed and the diagonal becomes the LAST dim, as in PyTorch: a (2, 3, 4)
    tensor with dim1=0, dim2=2 gives shape (3, min(2, 4 - offset)) for offset >= 0 (0 allowed).
    """
    ndim, offset = input.ndim, int(offset)
    d1, d2 = _check_dim(dim1, ndim, "diagonal"), _check_dim(dim2, ndim, "diagonal")
    if d1 == d2:
        raise RuntimeError(f"diagonal: dim1 ({dim1}) and dim2 ({dim2}) must be different dims of a "
                           f"tensor of shape {tuple(input.shape)}")
    n1, n2 = input.shape[d1], input.shape[d2]
    length = max(0, min(n1, n2 - offset) if offset >= 0 else min(n1 + offset, n2))
    planes = movedim(input, (d1, d2), (-2, -1))
    flat = reshape(planes, planes.shape[:-2] + (n1 * n2,))
    start = offset if offset >= 0 else -offset * n2
    stop = start + (length - 1) * (n2 + 1) + 1 if length else 0
    return getitem(flat, (Ellipsis, slice(start, stop, n2 + 1)))


_diagonal = diagonal  # diag's argument `diagonal` hides the function


def diag(input, diagonal: int = 0):
    """1-D input of n elements: the (n + |diagonal|)-square matrix with input on its `diagonal`-th
    diagonal (zeros elsewhere). 2-D input: its `diagonal`-th diagonal, a 1-D tensor."""
    k = int(diagonal)
    if input.ndim == 2:
        return _diagonal(input, k)
    if input.ndim != 1:
        raise RuntimeError(f"diag: expected a 1-D or 2-D tensor, got shape {tuple(input.shape)}")
    m = input.shape[0] + abs(k)
    padded = pad(input, (0, abs(k)))  # row i holds input[i] when k >= 0, column j holds input[j] when k < 0
    values = reshape(padded, (m, 1) if k >= 0 else (1, m))
    return where(np.eye(m, k=k, dtype=bool), values, 0)


def _integer_index(op: str, index, what: str = "index") -> np.ndarray:
    array = index.array if isinstance(index, Tensor) else np.asarray(index)
    if array.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: expected an integer (int64) {what} tensor, got {array.dtype}")
    return array


def _check_index_range(op: str, index: np.ndarray, size: int, axis: int) -> None:
    """PyTorch's index-taking functions refuse negative indices (unlike getitem)."""
    if index.size and (index.min() < 0 or index.max() >= size):
        bad = index.min() if index.min() < 0 else index.max()
        raise IndexError(f"{op}: index {bad} is out of bounds for dimension {axis} with size {size} "
                         f"(expected 0 <= index < {size})")


def index_select(input, dim: int, index):
    """The slices of input along `dim` at the positions in `index` (repeats allowed).

    Args:
        input: tensor of shape (*, n, *) with n at `dim`.
        index: 1-D (or 0-d) integer tensor of k positions in [0, n).

    Returns:
        Tensor of input's shape with k at `dim`; the gradient adds up at repeated positions.
    """
    positions = _integer_index("index_select", index)
    if positions.ndim > 1:
        raise IndexError(f"index_select: index must be a 1-D (or 0-d) tensor, got shape {positions.shape}")
    if input.ndim == 0:
        raise IndexError("index_select: cannot select from a 0-dim tensor - reshape it to (1,) first")
    axis = _check_dim(dim, input.ndim, "index_select")
    _check_index_range("index_select", positions, input.shape[axis], axis)
    return _take_rows(input, axis, positions.reshape(-1).astype(np.int64))


def _take_rows(input, axis: int, rows: np.ndarray):
    """The slices of input at `rows` along axis (no rows: an empty slice, whose VJP is plain)."""
    lead = (slice(None),) * axis
    return GetItem.apply(input, index=lead + ((rows,) if rows.size else (slice(0, 0),)))


def masked_select(input, mask):
    """The elements of input where `mask` (a bool tensor broadcasting with input) is true, as a
    1-D tensor in row-major order."""
    mask = mask.array if isinstance(mask, Tensor) else np.asarray(mask)
    if mask.dtype != np.bool_:
        raise RuntimeError(f"masked_select: expected a bool mask, got {mask.dtype}")
    try:
        shape = np.broadcast_shapes(input.shape, mask.shape)
    except ValueError:
        raise RuntimeError(f"masked_select: the mask of shape {mask.shape} does not broadcast with the "
                           f"input of shape {tuple(input.shape)}") from None
    source = expand(input, shape) if input.shape != shape else input
    return GetItem.apply(source, index=np.broadcast_to(mask, shape))


def _scatter_position(op: str, input, dim: int, index, src=None) -> tuple:
    """The numpy index that addresses, in input, the element each entry of `index` sends to
    (index[i][j] names the row for dim 0), after PyTorch's checks."""
    index = _integer_index(op, index)
    if input.ndim == 0:
        raise RuntimeError(f"{op}: input must have at least one dimension, got a 0-dim tensor")
    axis = _check_dim(dim, input.ndim, op)
    if index.ndim != input.ndim:
        raise RuntimeError(f"{op}: index has {index.ndim} dimensions and input {input.ndim} - they must "
                           "have the same number of dimensions")
    for d, size in enumerate(index.shape):
        if d != axis and size > input.shape[d]:
            raise RuntimeError(f"{op}: index shape {index.shape} is larger than input shape "
                               f"{tuple(input.shape)} in dimension {d} (only dimension {axis} may be larger)")
        if isinstance(src, Tensor) and (src.ndim != index.ndim or size > src.shape[d]):
            raise RuntimeError(f"{op}: index shape {index.shape} is larger than src shape {tuple(src.shape)} "
                               f"(index must be no larger than src in every dimension)")
    _check_index_range(op, index, input.shape[axis], axis)
    grid = np.ogrid[tuple(slice(0, n) for n in index.shape)]
    return tuple(index.astype(np.int64) if d == axis else grid[d] for d in range(input.ndim))


def _src_part(op: str, input, src, position: tuple):
    """The elements of src sent to `position` (from _scatter_position): src's leading block of
    index's shape, in input's dtype."""
    index_shape = np.broadcast_shapes(*(p.shape for p in position))  # index and its grid broadcast to it
    if src.dtype != input.dtype:
        raise RuntimeError(f"{op}: expected src to have input's dtype {input.dtype}, got {src.dtype}")
    return src if src.shape == index_shape else getitem(src, tuple(slice(0, n) for n in index_shape))


def scatter(input, dim: int, index, src=None, *, value=None, reduce=None):
    """A copy of input with src's elements written where index sends them (PyTorch's scatter):
    out[index[i][j]][j] = src[i][j] for dim 0.

    Args:
        input: tensor of shape (*).
        dim: the dimension index addresses.
        index: integer tensor with input's number of dims, no larger than src in any dim, nor
            than input outside `dim`; entries in [0, input.shape[dim]).
        src: tensor of input's dtype, or a number (as `value=`) written at every position.
        reduce: only 'add' (the same as scatter_add); 'multiply' is not supported.

    Returns:
        Tensor of input's shape. Gradients: input's is zero where it was overwritten; src's
        element gets the gradient of the position it was sent to. Where index names a position
        twice, which write wins is unspecified (as in PyTorch).
    """
    if src is not None and not isinstance(src, Tensor):
        if value is not None:
            raise TypeError("scatter: pass either src or value, not both")
        src, value = None, src  # scatter(x, dim, index, 1.0): the number form
    if (src is None) == (value is None):
        raise TypeError("scatter: expected src (a tensor) or value (a number)")
    if reduce is not None:
        if reduce != "add":
            raise NotImplementedError(f"scatter: reduce={reduce!r} is not supported - only 'add' "
                                      "(use scatter_add), or compute the update out of place")
        if src is None:  # the number added at every position index names
            src = _make(np.full(np.shape(_integer_index("scatter", index)), value, input.dtype))
        return scatter_add(input, dim, index, src)
    position = _scatter_position("scatter", input, dim, index, src)
    if src is None:
        return index_put(input, np.asarray(value, dtype=input.dtype), position)
    return index_put(input, _src_part("scatter", input, src, position), position)


def scatter_add(input, dim: int, index, src):
    """input with src's elements added where index sends them: out[index[i][j]][j] += src[i][j]
    for dim 0 (repeated positions add up). Arguments as `scatter`; the gradient of input passes
    unchanged, src's element gets the gradient of the position it was added to."""
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_add: src must be a tensor, got {type(src).__name__}")
    position = _scatter_position("scatter_add", input, dim, index, src)
    return input + index_add(_src_part("scatter_add", input, src, position), input.shape, position)


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Each slice of input along `dim` repeated `repeats` times, in place (not tiled like `repeat`):
    [a, b] with repeats 2 is [a, a, b, b].

    Args:
        input: tensor of shape (*); flattened first when dim is None.
        repeats: int, or integer tensor with one count per slice (or a single count).
        dim: the dimension to repeat along.

    Returns:
        Tensor of input's shape with the sum of the counts at `dim`. `repeat_interleave(counts)`
        alone gives arange(len(counts)) with each index repeated counts[i] times.
    """
    if repeats is None:  # torch.repeat_interleave(repeats)
        counts = _integer_index("repeat_interleave", input, "repeats")
        if counts.ndim > 1:
            raise RuntimeError(f"repeat_interleave: repeats must be 0-d or 1-D, got shape {counts.shape}")
        return _make(np.repeat(np.arange(counts.size, dtype=np.int64), counts.reshape(-1)))
    if dim is None:
        input, axis = flatten(input), 0
    else:
        axis = _check_dim(dim, input.ndim, "repeat_interleave")
        if input.ndim == 0:
            input = reshape(input, (1,))
    counts = _integer_index("repeat_interleave", repeats, "repeats")
    n = input.shape[axis]
    if counts.ndim > 1 or counts.size not in (1, n):
        raise RuntimeError(f"repeat_interleave: repeats must be one number or have shape ({n},) to match "
                           f"dimension {axis} of size {n}, got shape {counts.shape}")
    if counts.size and counts.min() < 0:
        raise RuntimeError(f"repeat_interleave: repeats can not be negative, got {counts.min()}")
    rows = np.repeat(np.arange(n, dtype=np.int64), np.broadcast_to(counts.reshape(-1), (n,)))
    return _take_rows(input, axis, rows)


def meshgrid(*tensors, indexing: str | None = None):
    """Coordinate grids from 1-D tensors: with 'ij' indexing, output i has shape (n1, n2, ...) and
    varies along its dim i; 'xy' swaps the first two dims (numpy's and matplotlib's convention).

    Each output is an expanded (read-only) view of its input; gradients sum back into it.
    Leaving out `indexing` warns, as PyTorch does, and uses 'ij'.
    """
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn("meshgrid: in an upcoming release, it will be required to pass the indexing argument "
                      "(using indexing='ij', as PyTorch does)", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    for i, t in enumerate(tensors):
        if t.ndim > 1:
            raise RuntimeError(f"meshgrid: expects 0-d or 1-d tensors, tensor {i} has shape {tuple(t.shape)}")
    sizes = [t.numel() for t in tensors]
    order = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) >= 2:
        order[0], order[1] = 1, 0  # the first tensor varies along dim 1, the second along dim 0
    shape = tuple(sizes[order.index(d)] for d in range(len(tensors)))
    grids = []
    for i, t in enumerate(tensors):
        view_shape = [1] * len(tensors)
        view_shape[order[i]] = sizes[i]
        grids.append(expand(reshape(t, view_shape), shape))
    return tuple(grids)


__all__ = ['broadcast_to', 'cat', 'chunk', 'clone', 'concat', 'concatenate', 'contiguous', 'expand', 'expand_as', 'flatten', 'flip', 'gather', 'getitem', 'index_add', 'index_put', 'masked_fill', 'pad', 'permute', 'repeat', 'reshape', 'split', 'squeeze', 'stack', 'swapaxes', 't', 'take_along_dim', 'transpose', 'tril', 'triu', 'unbind', 'unsqueeze', 'view',
           'roll', 'narrow', 'index_select', 'masked_select', 'scatter', 'scatter_add', 'repeat_interleave',
           'meshgrid', 'movedim', 'moveaxis', 'swapdims', 'unflatten', 'select', 'diagonal', 'diag']
