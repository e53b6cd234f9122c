"""Every op, from one table: forward vs an independent numpy reference (float64 and float32),
gradcheck and gradgradcheck on hypothesis-drawn inputs.

Adding an op is adding one `OpSpec` to `SPECS`: a name, the minigrad call, a numpy
reference and a strategy of `Case`s (the float arrays that become tensors, plus the
op's other arguments). Inputs are bounded, and tie-free where the op has a kink, so
that the op is differentiable at every sampled point.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
import minigrad.nn.functional as F
from minigrad.function import _RELEASED
from minigrad.ops import conv as conv_ops, elementwise, neural
from minigrad.testing import (bounded_floats, broadcastable_shapes, float_arrays, gradcheck,
                              gradgradcheck, masked_logits, nonzero_floats, tie_free_arrays,
                              with_special_values)


@dataclass
class Case:
    """One drawn input: `arrays` become (float) tensors, `kwargs` go unchanged to op and reference."""
    arrays: tuple
    kwargs: dict


@dataclass
class OpSpec:
    """One row of the table.

    op(*tensors, **kwargs) and reference(*float64 arrays, **kwargs) return an
    output or a tuple of outputs; `examples` scales the profile's max_examples
    down for expensive ops.
    """
    name: str
    op: Callable
    reference: Callable
    cases: st.SearchStrategy
    examples: float = 1.0


# ---- strategies of cases --------------------------------------------------------------

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
POSITIVE = bounded_floats(0.1, 3.0)
NONZERO = nonzero_floats(0.2, 3.0)


def arrays_case(*array_strategies, **kwarg_strategies):
    """Case of independently drawn arrays and keyword arguments."""
    return st.builds(lambda arrays, kwargs: Case(tuple(arrays), kwargs),
                     st.tuples(*array_strategies), st.fixed_dictionaries(kwarg_strategies))


def unary(elements=None, **kwarg_strategies):
    return arrays_case(float_arrays(SHAPES, elements=elements), **kwarg_strategies)


def unary_tie_free(avoid=(0.0,), **kwarg_strategies):
    return arrays_case(tie_free_arrays(SHAPES, avoid=avoid), **kwarg_strategies)


def binary(elements_a=None, elements_b=None):
    """Two arrays of mutually broadcastable shapes (missing and size-1 dims included)."""
    return broadcastable_shapes(2, max_dims=3).flatmap(
        lambda shapes: arrays_case(float_arrays(shapes[0], elements=elements_a),
                                   float_arrays(shapes[1], elements=elements_b)))


def ternary(*elements):
    """Three arrays of mutually broadcastable shapes (values from `elements`, one strategy or None each)."""
    elements = elements or (None, None, None)
    return broadcastable_shapes(3, max_dims=3).flatmap(
        lambda shapes: arrays_case(*(float_arrays(shape, elements=e) for shape, e in zip(shapes, elements))))


def binary_tie_free():
    """Two broadcastable arrays with no value in common (maximum/minimum have no ties)."""
    return broadcastable_shapes(2, max_dims=3).flatmap(
        lambda shapes: tie_free_arrays(*shapes).map(lambda arrays: Case(arrays, {})))


def remainder_case():
    """a from a grid that never meets b's multiples (b is irrational-ish), so a / b is never a jump."""
    divisors = st.sampled_from([0.7071067811865476, -1.3247179572447458, 1.618033988749895])
    return broadcastable_shapes(2, max_dims=3).flatmap(
        lambda shapes: st.builds(lambda a, b: Case((a, b), {}), tie_free_arrays(shapes[0]),
                                 float_arrays(shapes[1], elements=divisors)))


def dims_for(ndim: int, allow_none: bool = True, allow_tuple: bool = True):
    """dim arguments: None, an int (negative too) or a tuple of distinct ints."""
    options = [st.none()] if allow_none or ndim == 0 else []
    if ndim > 0:
        options.append(st.integers(-ndim, ndim - 1))
        if allow_tuple:
            options.append(hnp.valid_tuple_axes(ndim, min_size=1))
    return st.one_of(options)


@st.composite
def reduction(draw, elements=None, tie_free=False, allow_none=True, allow_tuple=True, keepdim=True,
              min_dims=0, min_side=1, max_side=4):
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=min_side, max_side=max_side))
    x = draw(tie_free_arrays(shape) if tie_free else float_arrays(shape, elements=elements))
    kwargs = {"dim": draw(dims_for(len(shape), allow_none, allow_tuple))}
    if keepdim:
        kwargs["keepdim"] = draw(st.booleans())
    return Case((x,), kwargs)


def _reduced_count(shape, dim) -> int:
    if dim is None:
        return int(np.prod(shape))
    dims = (dim,) if isinstance(dim, int) else dim
    return int(np.prod([shape[d] for d in dims]))


@st.composite
def variance_case(draw, tie_free=False, min_side=1):
    """var/std: dim, keepdim and one of unbiased / correction, with more elements than the correction."""
    case = draw(reduction(tie_free=tie_free, min_dims=1, min_side=min_side))
    count = _reduced_count(case.arrays[0].shape, case.kwargs["dim"])
    choice = draw(st.sampled_from(["default", "unbiased", "biased", "correction"]))
    if choice == "unbiased":
        case.kwargs["unbiased"] = True
    elif choice == "biased":
        case.kwargs["unbiased"] = False
    elif choice == "correction":
        case.kwargs["correction"] = draw(st.integers(0, 2))
    ddof = 0 if choice == "biased" else case.kwargs.get("correction", 1)
    if count <= ddof:  # fewer elements than the correction: the variance is undefined, test elsewhere
        case.kwargs.pop("unbiased", None)
        case.kwargs["correction"] = 0
    return case


def _ddof(kwargs) -> int:
    if kwargs.get("unbiased") is False:
        return 0
    return kwargs.get("correction", 1)


@st.composite
def distinct_magnitudes(draw, min_dims=0):
    """Arrays whose |values| are distinct and >= 0.005 (for abs-based maxima: the inf-norm)."""
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, max_side=4))
    magnitudes = draw(tie_free_arrays(shape, min_value=0.0, max_value=3.0))
    signs = draw(hnp.arrays(np.bool_, shape))
    return np.where(signs, -magnitudes, magnitudes)


@st.composite
def norm_case(draw):
    x = draw(distinct_magnitudes())
    return Case((x,), {"p": draw(st.sampled_from([2, 1, float("inf"), 3, "fro"])),
                       "dim": draw(dims_for(x.ndim)), "keepdim": draw(st.booleans())})


@st.composite
def with_dim(draw, min_dims=1, tie_free=False, elements=None, keepdim=False):
    """One array and one int `dim` (negative too)."""
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, max_side=4))
    x = draw(tie_free_arrays(shape) if tie_free else float_arrays(shape, elements=elements))
    kwargs = {"dim": draw(st.integers(-len(shape), len(shape) - 1))}
    if keepdim:
        kwargs["keepdim"] = draw(st.booleans())
    return Case((x,), kwargs)


@st.composite
def pow_scalar_int(draw):
    return Case((draw(float_arrays(SHAPES)),), {"exponent": draw(st.sampled_from([0, 1, 2, 3]))})


@st.composite
def pow_scalar_float(draw):
    return Case((draw(float_arrays(SHAPES, elements=POSITIVE)),),
                {"exponent": draw(st.sampled_from([0.5, -1.5, 2.5, -2.0]))})


@st.composite
def where_case(draw):
    shape_c, shape_a, shape_b = draw(broadcastable_shapes(3, max_dims=3))
    condition = draw(hnp.arrays(np.bool_, shape_c))
    a, b = draw(float_arrays(shape_a)), draw(float_arrays(shape_b))
    return Case((a, b), {"condition": condition})


@st.composite
def clamp_case(draw):
    low, high = draw(st.sampled_from([(-0.5, 0.5), (None, 0.5), (-0.5, None), (1.0, 1.5)]))
    x = draw(tie_free_arrays(SHAPES, avoid=[v for v in (low, high) if v is not None]))
    return Case((x,), {"min": low, "max": high})


# ---- shape cases ----

@st.composite
def reshape_case(draw):
    shape = draw(SHAPES)
    x = draw(float_arrays(shape))
    n = x.size
    targets = [(n,), (-1,), tuple(reversed(shape)), (1,) + shape, shape + (1,)]
    if len(shape) >= 2:
        targets.append((shape[0] * shape[1],) + shape[2:])
    target = list(draw(st.sampled_from(targets)))
    if target and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return Case((x,), {"shape": tuple(target)})


@st.composite
def flatten_case(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    ndim = len(shape)
    start = draw(st.integers(0, ndim - 1))
    end = draw(st.integers(start, ndim - 1))
    if draw(st.booleans()):
        start -= ndim
    if draw(st.booleans()):
        end -= ndim
    return Case((draw(float_arrays(shape)),), {"start_dim": start, "end_dim": end})


@st.composite
def permute_case(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=3))
    dims = draw(st.permutations(range(len(shape))))
    dims = tuple(d - len(shape) if draw(st.booleans()) else d for d in dims)
    return Case((draw(float_arrays(shape)),), {"dims": dims})


@st.composite
def transpose_case(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    n = len(shape)
    return Case((draw(float_arrays(shape)),),
                {"dim0": draw(st.integers(-n, n - 1)), "dim1": draw(st.integers(-n, n - 1))})


@st.composite
def expand_case(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
    x = draw(float_arrays(shape))
    new = [draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 2)))]
    kept = [draw(st.sampled_from([1, 2, 3, -1])) if n == 1 else draw(st.sampled_from([n, -1])) for n in shape]
    return Case((x,), {"shape": tuple(new + kept)})


def _expand_reference(x, shape):
    extra = len(shape) - x.ndim
    return np.broadcast_to(x, tuple(x.shape[i - extra] if s == -1 else s for i, s in enumerate(shape)))


@st.composite
def squeeze_case(draw):
    shape = tuple(draw(st.lists(st.sampled_from([1, 1, 2, 3]), min_size=0, max_size=4)))
    x = draw(float_arrays(shape))
    dim = draw(st.one_of(st.none(), dims_for(len(shape), allow_none=False))) if shape else None
    return Case((x,), {"dim": dim})


def _squeeze_reference(x, dim):
    if dim is None:
        return np.squeeze(x)
    dims = {d % x.ndim for d in ((dim,) if isinstance(dim, int) else dim)}
    return x.reshape(tuple(n for i, n in enumerate(x.shape) if not (i in dims and n == 1)))


@st.composite
def unsqueeze_case(draw):
    shape = draw(SHAPES)
    return Case((draw(float_arrays(shape)),), {"dim": draw(st.integers(-len(shape) - 1, len(shape)))})


@st.composite
def basic_index_case(draw):
    """Ints (negative too), slices with steps (negative too), None and ... ."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
    index = draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    return Case((draw(float_arrays(shape)),), {"index": index})


def _index_array(n: int, shape_strategy=hnp.array_shapes(min_dims=1, max_dims=2, max_side=5)):
    """Integer index arrays into a dim of size n: negative and REPEATED indices included."""
    return hnp.arrays(np.int64, shape_strategy, elements=st.integers(-n, n - 1))


@st.composite
def advanced_index_case(draw):
    """Integer arrays (repeated indices, several arrays, mixed with slices, None and ...) and bool masks."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    x = draw(float_arrays(shape))
    form = draw(st.sampled_from(["one", "all", "slice_then_array", "array_then_slice", "two_arrays",
                                 "ellipsis", "newaxis", "mask", "row_mask", "list"]))
    n0 = shape[0]
    if form == "one":
        index = draw(_index_array(n0))
    elif form == "all":  # one array per dim, shapes broadcasting together
        index = draw(hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(max_dims=2, max_side=4)))
    elif form == "slice_then_array" and len(shape) >= 2:
        index = (slice(None, None, draw(st.sampled_from([1, 2, -1]))), draw(_index_array(shape[1])))
    elif form == "array_then_slice" and len(shape) >= 2:
        index = (draw(_index_array(n0)), slice(1, None))
    elif form == "two_arrays" and len(shape) >= 2:
        rows = draw(_index_array(n0, st.just((3,))))
        cols = draw(_index_array(shape[1], st.sampled_from([(3,), (1,)])))
        index = (rows, cols)
    elif form == "ellipsis":
        index = (Ellipsis, draw(_index_array(shape[-1])))
    elif form == "newaxis":
        index = (None, draw(_index_array(n0)))
    elif form == "mask":
        index = draw(hnp.arrays(np.bool_, shape))
    elif form == "row_mask":
        index = draw(hnp.arrays(np.bool_, (n0,)))
    else:  # a Python list of ints, with a repeat
        index = [0, -1, 0]
    return Case((x,), {"index": index})


def _convert_index(index):
    """numpy's reading of a list index (PyTorch reads it the same way)."""
    return np.asarray(index) if isinstance(index, list) else index


@st.composite
def take_along_case(draw, allow_negative=True, smaller_other_dims=False):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    ndim = len(shape)
    dim = draw(st.integers(-ndim, ndim - 1))
    axis = dim % ndim
    index_shape = tuple(draw(st.integers(1, 4)) if i == axis else
                        (draw(st.integers(1, n)) if smaller_other_dims else n) for i, n in enumerate(shape))
    low = -shape[axis] if allow_negative else 0
    indices = draw(hnp.arrays(np.int64, index_shape, elements=st.integers(low, shape[axis] - 1)))
    return Case((draw(float_arrays(shape)),), {"indices": indices, "dim": dim})


def _gather_reference(x, dim, indices):
    """PyTorch's gather: out[i][j] = x[indices[i][j]][j] (dim 0), index dims may be smaller."""
    axis = dim % x.ndim
    grid = list(np.indices(indices.shape, sparse=True))
    grid[axis] = indices
    return x[tuple(grid)]


@st.composite
def cat_case(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3))
    ndim = len(shape)
    dim = draw(st.integers(-ndim, ndim - 1))
    count = draw(st.integers(1, 3))
    arrays = []
    for _ in range(count):
        piece = list(shape)
        piece[dim % ndim] = draw(st.integers(1, 3))
        arrays.append(draw(float_arrays(tuple(piece))))
    return Case(tuple(arrays), {"dim": dim})


@st.composite
def stack_case(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
    count = draw(st.integers(1, 3))
    arrays = tuple(draw(float_arrays(shape)) for _ in range(count))
    return Case(arrays, {"dim": draw(st.integers(-len(shape) - 1, len(shape)))})


@st.composite
def split_case(draw):
    case = draw(with_dim())
    n = case.arrays[0].shape[case.kwargs["dim"]]
    if draw(st.booleans()):
        case.kwargs["split"] = draw(st.integers(1, n + 1))
    else:
        sizes, left = [], n
        while left:
            sizes.append(draw(st.integers(1, left)))
            left -= sizes[-1]
        case.kwargs["split"] = sizes
    return case


def _split_reference(x, split, dim):
    n = x.shape[dim]
    sizes = [split] * (n // split) + ([n % split] if n % split else []) if isinstance(split, int) else split
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=dim))


def _chunk_reference(x, chunks, dim):
    n = x.shape[dim]
    return _split_reference(x, -(-n // chunks), dim)


@st.composite
def pad_case(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3))
    pairs = draw(st.integers(1, len(shape)))
    pad = tuple(draw(st.integers(0, 2)) for _ in range(2 * pairs))
    return Case((draw(float_arrays(shape)),), {"pad": pad, "value": draw(st.sampled_from([0.0, -1.5]))})


def _pad_reference(x, pad, value):
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return np.pad(x, widths, constant_values=value)


@st.composite
def flip_case(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    return Case((draw(float_arrays(shape)),), {"dims": draw(hnp.valid_tuple_axes(len(shape), min_size=1))})


@st.composite
def repeat_case(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
    sizes = tuple(draw(st.integers(1, 3)) for _ in range(len(shape) + draw(st.integers(0, 1))))
    return Case((draw(float_arrays(shape)),), {"sizes": sizes})


@st.composite
def triangle_case(draw):
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=3, max_side=4))
    return Case((draw(float_arrays(shape)),), {"diagonal": draw(st.integers(-2, 2))})


@st.composite
def masked_fill_case(draw):
    shape = draw(SHAPES)
    mask_shape = draw(hnp.broadcastable_shapes(shape, max_dims=len(shape)).filter(
        lambda s: np.broadcast_shapes(s, shape) == shape))
    return Case((draw(float_arrays(shape)),), {"mask": draw(hnp.arrays(np.bool_, mask_shape)),
                                               "value": draw(st.sampled_from([0.0, -2.5]))})


@st.composite
def index_put_case(draw):
    """x[index] = values with unique positions (with repeated ones which write wins is undefined)."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    form = draw(st.sampled_from(["basic", "array", "mask", "broadcast"]))
    if form == "basic":
        index = draw(hnp.basic_indices(shape, allow_newaxis=True))
    elif form == "array":
        index = np.asarray(draw(st.permutations(range(shape[0]))))[:draw(st.integers(1, shape[0]))]
    else:
        index = draw(hnp.arrays(np.bool_, shape))
    x = draw(float_arrays(shape))
    target_shape = x[index].shape
    value_shape = () if form == "broadcast" else target_shape
    return Case((x, draw(float_arrays(value_shape))), {"index": index})


def _index_put(x, values, index):
    y = x.clone()
    y[index] = values
    return y


def _index_put_reference(x, values, index):
    y = x.copy()
    y[index] = values
    return y


def _setitem_add(x, values, index):
    y = x * 1
    y[index] += values
    return y


def _setitem_add_reference(x, values, index):
    y = x.copy()
    y[index] += values
    return y


@st.composite
def inplace_case(draw):
    shape = draw(SHAPES)
    other = draw(hnp.broadcastable_shapes(shape, max_dims=len(shape)).filter(
        lambda s: np.broadcast_shapes(s, shape) == shape))  # in place: the result keeps x's shape
    # moderate ranges: the chain below squares a quotient, and finite differences of large values are noisy
    return Case((draw(float_arrays(shape, elements=bounded_floats(-1.5, 1.5))),
                 draw(float_arrays(other, elements=nonzero_floats(0.5, 1.5)))), {})


def _inplace_chain(a, b):
    y = a * 1
    y.mul_(b)
    y.add_(a, alpha=2)
    y.sub_(b)
    y.div_(b)
    y.pow_(2)
    y *= a
    return y


# ---- linear algebra, conv, neural ----

@st.composite
def matmul_case(draw):
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    batch_a, batch_b = draw(broadcastable_shapes(2, max_dims=2, max_side=3))
    form = draw(st.sampled_from(["vv", "vm", "mv", "mm", "batched", "batch_mat", "vec_batch", "batch_vec"]))
    shapes = {"vv": ((k,), (k,)), "vm": ((k,), (k, m)), "mv": ((n, k), (k,)), "mm": ((n, k), (k, m)),
              "batched": (batch_a + (n, k), batch_b + (k, m)),
              "batch_mat": ((draw(st.integers(1, 3)), n, k), (k, m)),
              "vec_batch": ((k,), batch_b + (k, m)), "batch_vec": (batch_a + (n, k), (k,))}[form]
    return Case(tuple(draw(float_arrays(s)) for s in shapes), {})


@st.composite
def fixed_shapes_case(draw, shapes_fn):
    """Arrays whose shapes come from shapes_fn(n, k, m, b)."""
    sizes = [draw(st.integers(1, 4)) for _ in range(3)] + [draw(st.integers(1, 3))]
    return Case(tuple(draw(float_arrays(s)) for s in shapes_fn(*sizes)), {})


@st.composite
def addmm_case(draw):
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    input_shape = draw(st.sampled_from([(n, m), (m,), (1, m), (n, 1), ()]))
    mat1_shape = draw(st.sampled_from([(n, k), (2, n, k)]))  # minigrad's addmm also takes a batch
    arrays = tuple(draw(float_arrays(s)) for s in (input_shape, mat1_shape, (k, m)))
    return Case(arrays, {"beta": draw(st.sampled_from([1, 0.5])), "alpha": draw(st.sampled_from([1, 2.0]))})


def _pair(v):
    return tuple(v) if isinstance(v, tuple) else (v, v)


def _pair_strategy(values):
    return st.one_of(st.sampled_from(values), st.tuples(st.sampled_from(values), st.sampled_from(values)))


@st.composite
def window_geometry(draw, kernel=(1, 3), dilation=True, padding_at_most_half=False):
    """kernel (non-square too), stride, padding, dilation and an input size giving >= 1 output."""
    kh, kw = draw(st.integers(*kernel)), draw(st.integers(*kernel))
    stride = draw(_pair_strategy([1, 2]))
    dil = draw(_pair_strategy([1, 2])) if dilation else 1
    if padding_at_most_half:
        padding = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    else:
        padding = draw(_pair_strategy([0, 1]))
    (dh, dw), (ph, pw) = _pair(dil), _pair(padding)
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), dh * (kh - 1) + 3))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), dw * (kw - 1) + 3))
    return (kh, kw), stride, padding, dil, (h, w)


@st.composite
def conv2d_case(draw):
    (kh, kw), stride, padding, dilation, (h, w) = draw(window_geometry())
    n, c, o = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    arrays = [draw(float_arrays((n, c, h, w))), draw(float_arrays((o, c, kh, kw)))]
    if draw(st.booleans()):
        arrays.append(draw(float_arrays((o,))))
    return Case(tuple(arrays), {"stride": stride, "padding": padding, "dilation": dilation})


def _conv2d(x, w, *bias, **kwargs):
    return mg.conv2d(x, w, bias[0] if bias else None, **kwargs)


def _windows_reference(x, kernel, stride, padding, dilation, fill):
    """Naive loops: every window of the padded input, (N, C, OH, OW, kh, kw)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = _pair(kernel), _pair(stride), _pair(padding), _pair(dilation)
    n, c, h, w = x.shape
    padded = np.full((n, c, h + 2 * ph, w + 2 * pw), fill)
    padded[:, :, ph:ph + h, pw:pw + w] = x
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.empty((n, c, oh, ow, kh, kw))
    for i in range(oh):
        for j in range(ow):
            for p in range(kh):
                for q in range(kw):
                    out[:, :, i, j, p, q] = padded[:, :, i * sh + p * dh, j * sw + q * dw]
    return out


def _conv2d_reference(x, w, *bias, stride, padding, dilation):
    windows = _windows_reference(x, w.shape[2:], stride, padding, dilation, 0.0)
    n, c, oh, ow = windows.shape[:4]
    out = np.zeros((n, w.shape[0], oh, ow))
    for b in range(n):
        for o in range(w.shape[0]):
            for i in range(oh):
                for j in range(ow):
                    out[b, o, i, j] = np.sum(windows[b, :, i, j] * w[o]) + (bias[0][o] if bias else 0.0)
    return out


@st.composite
def pool_case(draw, tie_free=False, dilation=True):
    (kh, kw), stride, padding, dil, (h, w) = draw(window_geometry(dilation=dilation, padding_at_most_half=True))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), h, w)
    x = draw(tie_free_arrays(shape) if tie_free else float_arrays(shape))
    kwargs = {"kernel_size": (kh, kw), "stride": stride, "padding": padding}
    if dilation:
        kwargs["dilation"] = dil
    return Case((x,), kwargs)


def _has_real_element_per_window(case: Case) -> bool:
    """A (dilated) window that sees only padding has max -inf: not a differentiable point."""
    return bool(np.isfinite(_max_pool_reference(*case.arrays, **case.kwargs)).all())


def _max_pool_reference(x, kernel_size, stride, padding, dilation):
    return _windows_reference(x, kernel_size, stride, padding, dilation, -np.inf).max(axis=(-2, -1))


def _avg_pool_reference(x, kernel_size, stride, padding):
    return _windows_reference(x, kernel_size, stride, padding, 1, 0.0).mean(axis=(-2, -1))


@st.composite
def unfold_case(draw):
    (kh, kw), stride, padding, dilation, (h, w) = draw(window_geometry())
    x = draw(float_arrays((draw(st.integers(1, 2)), draw(st.integers(1, 2)), h, w)))
    return Case((x,), {"kernel_size": (kh, kw), "stride": stride, "padding": padding, "dilation": dilation})


def _unfold_reference(x, kernel_size, stride, padding, dilation):
    windows = _windows_reference(x, kernel_size, stride, padding, dilation, 0.0)  # (N, C, OH, OW, kh, kw)
    n, c, oh, ow, kh, kw = windows.shape
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, oh * ow)


def _softmax_reference(x, dim):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def _log_softmax_reference(x, dim):
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))


def _logsumexp_reference(x, dim, keepdim):
    m = np.max(x, axis=dim, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=dim, keepdims=True)) + m
    return out if keepdim else np.squeeze(out, axis=dim)


@st.composite
def layer_norm_case(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    k = draw(st.integers(1, min(2, len(shape))))
    normalized = shape[len(shape) - k:]
    arrays = [draw(float_arrays(shape))]
    affine = draw(st.sampled_from(["none", "weight", "both"]))
    if affine != "none":
        arrays.append(draw(float_arrays(normalized)))
    if affine == "both":
        arrays.append(draw(float_arrays(normalized)))
    spelled = normalized[0] if k == 1 and draw(st.booleans()) else normalized
    return Case(tuple(arrays), {"normalized_shape": spelled})


def _layer_norm(x, *affine, normalized_shape):
    return mg.layer_norm(x, normalized_shape, *affine)


def _layer_norm_reference(x, *affine, normalized_shape, eps=1e-5):
    k = 1 if isinstance(normalized_shape, int) else len(normalized_shape)
    axes = tuple(range(x.ndim - k, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    out = (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=axes, keepdims=True) + eps)
    if len(affine) >= 1:
        out = out * affine[0]
    if len(affine) == 2:
        out = out + affine[1]
    return out


@st.composite
def embedding_case(draw):
    rows, width = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    indices = draw(hnp.arrays(np.int64, hnp.array_shapes(min_dims=0, max_dims=2, max_side=4),
                              elements=st.integers(0, rows - 1)))  # repeats are likely: rows are few
    return Case((draw(float_arrays((rows, width))),), {"indices": indices})


def _erf_reference(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _max_dim_reference(x, dim, keepdim, pick=np.argmax):
    indices = np.expand_dims(pick(x, axis=dim), dim)
    values = np.take_along_axis(x, indices, dim)
    if not keepdim:
        values, indices = np.squeeze(values, dim), np.squeeze(indices, dim)
    return values, indices


def _norm_reference(x, p, dim, keepdim):
    a = np.abs(x)
    if p in (2, "fro"):
        return np.sqrt(np.sum(a * a, axis=dim, keepdims=keepdim))
    if p == float("inf"):
        return np.max(a, axis=dim, keepdims=keepdim)
    return np.sum(a ** p, axis=dim, keepdims=keepdim) ** (1.0 / p)


def _with_flag(name: str):
    """case -> strategy of the case with a drawn bool keyword `name` added."""
    return lambda case: st.booleans().map(lambda flag: Case(case.arrays, {**case.kwargs, name: flag}))


def _sort_reference(x, dim, descending):
    indices = np.argsort(-x if descending else x, axis=dim)  # tie-free: the order is unique
    return np.take_along_axis(x, indices, dim), indices


@st.composite
def topk_case(draw):
    case = draw(with_dim(tie_free=True))
    n = case.arrays[0].shape[case.kwargs["dim"]]
    return Case(case.arrays, {**case.kwargs, "k": draw(st.integers(0, n)), "largest": draw(st.booleans())})


def _topk_reference(x, dim, k, largest):
    values, indices = _sort_reference(x, dim, largest)
    first = (slice(None),) * (dim % x.ndim) + (slice(0, k),)
    return values[first], indices[first]


@st.composite
def roll_case(draw):
    shape = draw(SHAPES)
    x = draw(float_arrays(shape))
    if not shape or draw(st.booleans()):
        return Case((x,), {"shifts": draw(st.integers(-6, 6)), "dims": None})
    dims = draw(hnp.valid_tuple_axes(len(shape), min_size=1))
    dims = tuple(d % len(shape) - (len(shape) if draw(st.booleans()) else 0) for d in dims)
    return Case((x,), {"shifts": tuple(draw(st.integers(-6, 6)) for _ in dims), "dims": dims})


@st.composite
def narrow_case(draw):
    case = draw(with_dim())
    n = case.arrays[0].shape[case.kwargs["dim"]]
    start = draw(st.integers(-n, n))
    length = draw(st.integers(0, n - start % n if start < 0 else n - start))
    return Case(case.arrays, {**case.kwargs, "start": start, "length": length})


def _narrow_reference(x, dim, start, length):
    start = start + x.shape[dim] if start < 0 else start
    return np.take(x, np.arange(start, start + length), axis=dim)


@st.composite
def movedim_case(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=3))
    n = len(shape)
    k = draw(st.integers(1, n))
    source = draw(st.permutations(range(n)))[:k]
    destination = draw(st.permutations(range(n)))[:k]
    source, destination = ([d - n if draw(st.booleans()) else d for d in dims] for dims in (source, destination))
    if k == 1 and draw(st.booleans()):
        return Case((draw(float_arrays(shape)),), {"source": source[0], "destination": destination[0]})
    return Case((draw(float_arrays(shape)),), {"source": tuple(source), "destination": tuple(destination)})


@st.composite
def unflatten_case(draw):
    case = draw(with_dim())
    n = case.arrays[0].shape[case.kwargs["dim"]]
    d = draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
    sizes = draw(st.sampled_from([[n], [d, n // d], [1, d, n // d], [n // d, 1, d]]))
    if draw(st.booleans()):
        sizes[draw(st.integers(0, len(sizes) - 1))] = -1
    return Case(case.arrays, {**case.kwargs, "sizes": tuple(sizes)})


def _unflatten_reference(x, dim, sizes):
    dim %= x.ndim
    return x.reshape(x.shape[:dim] + sizes + x.shape[dim + 1:])


@st.composite
def select_case(draw):
    case = draw(with_dim())
    n = case.arrays[0].shape[case.kwargs["dim"]]
    return Case(case.arrays, {**case.kwargs, "index": draw(st.integers(-n, n - 1))})


@st.composite
def diagonal_case(draw):
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=4, max_side=4))
    n = len(shape)
    dim1, dim2 = draw(st.permutations(range(n)))[:2]
    dim1, dim2 = (d - n if draw(st.booleans()) else d for d in (dim1, dim2))
    offset = draw(st.integers(-shape[dim1] - 1, shape[dim2] + 1))  # past either end too: an empty diagonal
    return Case((draw(float_arrays(shape)),), {"offset": offset, "dim1": dim1, "dim2": dim2})


@st.composite
def diag_case(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=2, max_side=4))
    return Case((draw(float_arrays(shape)),), {"diagonal": draw(st.integers(-3, 3))})


@st.composite
def index_select_case(draw):
    case = draw(with_dim())
    n = case.arrays[0].shape[case.kwargs["dim"]]
    index = draw(hnp.arrays(np.int64, st.integers(0, 5), elements=st.integers(0, n - 1)))  # repeats too
    return Case(case.arrays, {**case.kwargs, "index": index})


@st.composite
def masked_select_case(draw):
    shape, mask_shape = draw(broadcastable_shapes(2, max_dims=3))  # the mask may broadcast the input
    return Case((draw(float_arrays(shape)),), {"mask": draw(hnp.arrays(np.bool_, mask_shape))})


def _masked_select_reference(x, mask):
    x, mask = np.broadcast_arrays(x, mask)
    return x[mask]


@st.composite
def scatter_case(draw, unique: bool):
    """input, src and an index no larger than src, nor than input outside dim; with `unique`, no
    position is written twice (which write wins is unspecified, and the losing one's derivative is 0)."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    ndim = len(shape)
    dim = draw(st.integers(-ndim, ndim - 1))
    axis = dim % ndim
    n = shape[axis]
    index_shape = tuple(draw(st.integers(1, n if unique else 4)) if d == axis else draw(st.integers(1, size))
                        for d, size in enumerate(shape))
    if unique:  # distinct rows along dim for every other position: argsort of distinct keys
        keys_shape = tuple(n if d == axis else size for d, size in enumerate(index_shape))
        keys = draw(hnp.arrays(np.int64, keys_shape, elements=st.integers(0, 10_000), unique=True))
        index = np.take(np.argsort(keys, axis=axis), np.arange(index_shape[axis]), axis=axis)
    else:
        index = draw(hnp.arrays(np.int64, index_shape, elements=st.integers(0, n - 1)))
    src_shape = tuple(size + draw(st.integers(0, 1)) for size in index_shape)
    return Case((draw(float_arrays(shape)), draw(float_arrays(src_shape))), {"dim": dim, "index": index})


def _scatter_reference(x, src, dim, index, add):
    out = x.copy()
    for position in np.ndindex(*index.shape):
        target = list(position)
        target[dim % x.ndim] = index[position]
        if add:
            out[tuple(target)] += src[position]
        else:
            out[tuple(target)] = src[position]
    return out


@st.composite
def repeat_interleave_case(draw):
    shape = draw(SHAPES)
    x = draw(float_arrays(shape))
    dim = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1))) if shape else None
    n = x.size if dim is None else shape[dim]
    repeats = draw(st.one_of(st.integers(0, 3), hnp.arrays(np.int64, (n,), elements=st.integers(0, 3))))
    return Case((x,), {"repeats": repeats, "dim": dim})


@st.composite
def meshgrid_case(draw):
    shapes = draw(st.lists(st.sampled_from([(), (1,), (2,), (3,), (4,)]), min_size=1, max_size=3))
    return Case(tuple(draw(float_arrays(s)) for s in shapes), {"indexing": draw(st.sampled_from(["ij", "xy"]))})


# (equation, the same written out without '...' or an implicit output, operand shapes from sizes n, k, m, b)
EINSUM_TEMPLATES = [
    ("ij,jk->ik", "ij,jk->ik", lambda n, k, m, b: [(n, k), (k, m)]),
    ("ij,jk", "ij,jk->ik", lambda n, k, m, b: [(n, k), (k, m)]),  # implicit: letters used once, sorted
    ("bij,bjk->bik", "bij,bjk->bik", lambda n, k, m, b: [(b, n, k), (b, k, m)]),
    ("...ij,...jk->...ik", "xyij,yjk->xyik", lambda n, k, m, b: [(2, 1, n, k), (b, k, m)]),  # broadcast batch
    ("bhqd,bhkd->bhqk", "bhqd,bhkd->bhqk", lambda n, k, m, b: [(1, 2, n, k), (b, 2, m, k)]),  # attention scores
    ("ij,ij->i", "ij,ij->i", lambda n, k, m, b: [(n, k), (1, k)]),  # a size-1 dim broadcasts
    ("ii->i", "ii->i", lambda n, k, m, b: [(n, n)]),  # diagonal
    ("ii", "ii->", lambda n, k, m, b: [(n, n)]),  # trace
    ("iji->j", "iji->j", lambda n, k, m, b: [(n, k, n)]),
    ("ij->", "ij->", lambda n, k, m, b: [(n, k)]),
    ("ij->ji", "ij->ji", lambda n, k, m, b: [(n, k)]),
    ("...i->...", "xi->x", lambda n, k, m, b: [(n, k)]),
    ("i,j->ij", "i,j->ij", lambda n, k, m, b: [(n,), (m,)]),
    (" i , i ", "i,i->", lambda n, k, m, b: [(k,), (k,)]),
    ("ij,k->ij", "ij,k->ij", lambda n, k, m, b: [(n, k), (m,)]),  # k summed within one operand
    ("bn,anm,bm->ba", "bn,anm,bm->ba", lambda n, k, m, b: [(b, n), (k, n, m), (b, m)]),  # bilinear
]


@st.composite
def einsum_case(draw):
    equation, explicit, shapes = draw(st.sampled_from(EINSUM_TEMPLATES))
    sizes = [draw(st.integers(1, 3)) for _ in range(4)]
    arrays = tuple(draw(float_arrays(shape)) for shape in shapes(*sizes))
    return Case(arrays, {"equation": equation, "explicit": explicit})


def _einsum_loops(explicit, *arrays):
    """The sum over every assignment of the letters of the product of the operands' elements
    (a size-1 dim broadcasts)."""
    terms, output = explicit.split("->")
    terms = terms.split(",")
    sizes = {}
    for term, a in zip(terms, arrays):
        for letter, size in zip(term, a.shape):
            sizes[letter] = max(sizes.get(letter, 1), size)
    letters = sorted(sizes)
    out = np.zeros(tuple(sizes[c] for c in output))
    for values in itertools.product(*(range(sizes[c]) for c in letters)):
        at = dict(zip(letters, values))
        product = 1.0
        for term, a in zip(terms, arrays):
            product *= a[tuple(at[c] if a.shape[i] > 1 else 0 for i, c in enumerate(term))]
        out[tuple(at[c] for c in output)] += product
    return out


@st.composite
def loss_pair_case(draw, name, values):
    """input and target of one shape, |input - target| away from 0 and from the kink `name` (beta/delta)."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=2, max_side=4))
    kink = draw(st.sampled_from(values))
    x = draw(float_arrays(shape))
    d = draw(tie_free_arrays(shape, avoid=(0.0, kink, -kink)))
    return Case((x, x - d), {name: kink})


def _smooth_l1_reference(x, y, beta):
    d = np.abs(x - y)
    return np.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta) if beta > 0 else d


def _huber_reference(x, y, delta):
    d = np.abs(x - y)
    return np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))


# ---- the table ------------------------------------------------------------------------

SPECS = [
    # elementwise arithmetic
    OpSpec("add", lambda a, b: a + b, np.add, binary()),
    OpSpec("add_alpha", lambda a, b: mg.add(a, b, alpha=2.5), lambda a, b: a + 2.5 * b, binary()),
    OpSpec("sub", lambda a, b: a - b, np.subtract, binary()),
    OpSpec("mul", lambda a, b: a * b, np.multiply, binary()),
    OpSpec("addcmul", mg.addcmul, lambda c, a, b: c + a * b, ternary()),
    OpSpec("div", lambda a, b: a / b, np.divide, binary(elements_b=NONZERO)),
    OpSpec("rdiv_scalar", lambda a: 2.0 / a, lambda a: 2.0 / a, unary(NONZERO)),
    OpSpec("neg", lambda a: -a, np.negative, unary()),
    OpSpec("pow_scalar_int", lambda a, exponent: a ** exponent, lambda a, exponent: a ** exponent, pow_scalar_int()),
    OpSpec("pow_scalar_float", lambda a, exponent: a ** exponent, lambda a, exponent: a ** exponent,
           pow_scalar_float()),
    OpSpec("pow_tensor_tensor", lambda a, b: a ** b, np.power,
           binary(elements_a=POSITIVE, elements_b=bounded_floats(-2.0, 2.0))),
    OpSpec("pow_scalar_tensor", lambda b: 2.0 ** b, lambda b: 2.0 ** b, unary()),
    OpSpec("square", mg.square, np.square, unary()),
    # math
    OpSpec("exp", mg.exp, np.exp, unary()),
    OpSpec("expm1", mg.expm1, np.expm1, unary()),
    OpSpec("log", mg.log, np.log, unary(POSITIVE)),
    OpSpec("log1p", mg.log1p, np.log1p, unary(bounded_floats(-0.9, 3.0))),
    OpSpec("sqrt", mg.sqrt, np.sqrt, unary(POSITIVE)),
    OpSpec("rsqrt", mg.rsqrt, lambda a: 1 / np.sqrt(a), unary(POSITIVE)),
    OpSpec("sin", mg.sin, np.sin, unary()),
    OpSpec("cos", mg.cos, np.cos, unary()),
    OpSpec("tanh", mg.tanh, np.tanh, unary()),
    OpSpec("sigmoid", mg.sigmoid, lambda a: 1 / (1 + np.exp(-a)), unary()),
    OpSpec("relu", mg.relu, lambda a: np.maximum(a, 0), unary_tie_free()),
    # binary cross-entropy and its VJP (probabilities away from 0 and 1, where the logs are clamped)
    OpSpec("binary_cross_entropy", neural.binary_cross_entropy,
           lambda x, y: -(y * np.log(x) + (1 - y) * np.log(1 - x)),
           binary(elements_a=bounded_floats(0.05, 0.95), elements_b=bounded_floats(0.0, 1.0))),
    OpSpec("binary_cross_entropy_backward", lambda g, x, y: neural.BinaryCrossEntropyBackward.apply(g, x, y),
           lambda g, x, y: g * (x - y) / (x * (1 - x)),
           ternary(None, bounded_floats(0.05, 0.95), bounded_floats(0.0, 1.0))),
    # the activations' VJPs are ops too (one call each in backward), differentiable again
    OpSpec("tanh_backward", elementwise.tanh_backward, lambda g, y: g * (1 - y * y), binary()),
    OpSpec("sigmoid_backward", elementwise.sigmoid_backward, lambda g, y: g * y * (1 - y), binary()),
    OpSpec("relu_backward", elementwise.relu_backward, lambda g, y: g * (y > 0), binary(elements_b=NONZERO)),
    OpSpec("abs", mg.abs, np.abs, unary_tie_free()),
    OpSpec("erf", mg.erf, _erf_reference, unary()),
    OpSpec("softplus", lambda a, beta: mg.softplus(a, beta=beta), lambda a, beta: np.logaddexp(0, beta * a) / beta,
           unary(beta=st.sampled_from([1.0, 2.0, 0.5]))),
    OpSpec("remainder", mg.remainder, np.remainder, remainder_case()),
    # piecewise constant: gradient 0 (the grid of tie_free_arrays never lands on a jump)
    OpSpec("sign", mg.sign, np.sign, unary_tie_free()),
    OpSpec("floor", mg.floor, np.floor, unary_tie_free()),
    OpSpec("ceil", mg.ceil, np.ceil, unary_tie_free()),
    OpSpec("round", lambda a, decimals: mg.round(a, decimals), lambda a, decimals: np.round(a, decimals),
           unary_tie_free(decimals=st.sampled_from([0, 1]))),
    OpSpec("maximum", mg.maximum, np.maximum, binary_tie_free()),
    OpSpec("minimum", mg.minimum, np.minimum, binary_tie_free()),
    OpSpec("where", lambda a, b, condition: mg.where(mg.tensor(condition), a, b),
           lambda a, b, condition: np.where(condition, a, b), where_case()),
    OpSpec("clamp", lambda a, min, max: mg.clamp(a, min, max), lambda a, min, max: np.clip(a, min, max),
           clamp_case()),
    OpSpec("lerp", lambda a, b: mg.lerp(a, b, 0.25), lambda a, b: a + 0.25 * (b - a), binary()),
    OpSpec("nan_to_num", lambda a, **kw: a.nan_to_num(**kw), lambda a, **kw: np.nan_to_num(a, **kw),
           unary(st.one_of(st.sampled_from([np.nan, np.inf, -np.inf]), bounded_floats()),
                 nan=st.sampled_from([0.0, 2.5]), posinf=st.sampled_from([1e3, 5.0]),
                 neginf=st.sampled_from([-1e3, -5.0]))),  # defaults (the dtype's extremes): tests/test_ops_everyday.py
    # reductions
    OpSpec("sum", lambda a, dim, keepdim: a.sum(dim, keepdim=keepdim),
           lambda a, dim, keepdim: np.sum(a, axis=dim, keepdims=keepdim), reduction()),
    OpSpec("mean", lambda a, dim, keepdim: a.mean(dim, keepdim=keepdim),
           lambda a, dim, keepdim: np.mean(a, axis=dim, keepdims=keepdim), reduction()),
    OpSpec("var", lambda a, **kw: a.var(**kw),
           lambda a, dim, keepdim, **kw: np.var(a, axis=dim, keepdims=keepdim, ddof=_ddof(kw)), variance_case()),
    OpSpec("std", lambda a, **kw: a.std(**kw),
           lambda a, dim, keepdim, **kw: np.std(a, axis=dim, keepdims=keepdim, ddof=_ddof(kw)),
           variance_case(tie_free=True, min_side=2)),  # std is not differentiable at variance 0
    OpSpec("amax", lambda a, dim, keepdim: mg.amax(a, dim, keepdim),
           lambda a, dim, keepdim: np.max(a, axis=dim, keepdims=keepdim), reduction(tie_free=True)),
    OpSpec("amin", lambda a, dim, keepdim: mg.amin(a, dim, keepdim),
           lambda a, dim, keepdim: np.min(a, axis=dim, keepdims=keepdim), reduction(tie_free=True)),
    OpSpec("max_all", lambda a: a.max(), np.max, unary_tie_free()),
    OpSpec("max_dim", lambda a, dim, keepdim: tuple(a.max(dim, keepdim=keepdim)), _max_dim_reference,
           with_dim(tie_free=True, keepdim=True)),
    OpSpec("min_dim", lambda a, dim, keepdim: tuple(mg.min(a, dim, keepdim)),
           lambda a, dim, keepdim: _max_dim_reference(a, dim, keepdim, np.argmin),
           with_dim(tie_free=True, keepdim=True)),
    OpSpec("logsumexp", lambda a, dim, keepdim: mg.logsumexp(a, dim, keepdim), _logsumexp_reference,
           reduction(allow_none=False, min_dims=1)),
    OpSpec("norm", lambda a, p, dim, keepdim: a.norm(p, dim, keepdim), _norm_reference, norm_case()),
    OpSpec("prod", lambda a, dim, keepdim: a.prod(dim, keepdim),
           lambda a, dim, keepdim: np.prod(a, axis=dim, keepdims=keepdim),
           reduction(elements=st.one_of(st.just(0.0), bounded_floats(-1.5, 1.5)), max_side=3)),
    OpSpec("cumsum", lambda a, dim: a.cumsum(dim), lambda a, dim: np.cumsum(a, axis=dim), with_dim()),
    OpSpec("cumprod", lambda a, dim: a.cumprod(dim), lambda a, dim: np.cumprod(a, axis=dim),
           with_dim(elements=st.one_of(st.just(0.0), bounded_floats(-1.5, 1.5)))),  # zeros: no division
    OpSpec("sort", lambda a, dim, descending: tuple(mg.sort(a, dim, descending)), _sort_reference,
           with_dim(tie_free=True).flatmap(_with_flag("descending"))),
    OpSpec("topk", lambda a, dim, k, largest: tuple(a.topk(k, dim, largest)), _topk_reference, topk_case()),
    # shape
    OpSpec("reshape", lambda a, shape: a.reshape(shape), lambda a, shape: np.reshape(a, shape), reshape_case()),
    OpSpec("view", lambda a, shape: a.view(*shape), lambda a, shape: np.reshape(a, shape), reshape_case()),
    OpSpec("flatten", lambda a, start_dim, end_dim: a.flatten(start_dim, end_dim),
           lambda a, start_dim, end_dim: a.reshape(
               a.shape[:start_dim % a.ndim] + (-1,) + a.shape[end_dim % a.ndim + 1:]), flatten_case()),
    OpSpec("permute", lambda a, dims: a.permute(*dims), lambda a, dims: np.transpose(a, dims), permute_case()),
    OpSpec("transpose", lambda a, dim0, dim1: a.transpose(dim0, dim1),
           lambda a, dim0, dim1: np.swapaxes(a, dim0, dim1), transpose_case()),
    OpSpec("T", lambda a: a.T, np.transpose, unary()),
    OpSpec("expand", lambda a, shape: a.expand(*shape), _expand_reference, expand_case()),
    OpSpec("squeeze", lambda a, dim: a.squeeze() if dim is None else a.squeeze(dim), _squeeze_reference,
           squeeze_case()),
    OpSpec("unsqueeze", lambda a, dim: a.unsqueeze(dim), lambda a, dim: np.expand_dims(a, dim), unsqueeze_case()),
    OpSpec("getitem_basic", lambda a, index: a[index], lambda a, index: a[index], basic_index_case()),
    OpSpec("getitem_advanced", lambda a, index: a[index], lambda a, index: a[_convert_index(index)],
           advanced_index_case()),
    OpSpec("take_along_dim", lambda a, indices, dim: mg.take_along_dim(a, mg.tensor(indices), dim),
           lambda a, indices, dim: np.take_along_axis(a, indices, dim), take_along_case()),
    OpSpec("gather", lambda a, indices, dim: mg.gather(a, dim, mg.tensor(indices)),
           lambda a, indices, dim: _gather_reference(a, dim, indices),
           take_along_case(allow_negative=False, smaller_other_dims=True)),
    OpSpec("cat", lambda *arrays, dim: mg.cat(arrays, dim), lambda *arrays, dim: np.concatenate(arrays, dim),
           cat_case()),
    OpSpec("stack", lambda *arrays, dim: mg.stack(arrays, dim), lambda *arrays, dim: np.stack(arrays, dim),
           stack_case()),
    OpSpec("split", lambda a, split, dim: a.split(split, dim), _split_reference, split_case()),
    OpSpec("chunk", lambda a, chunks, dim: a.chunk(chunks, dim), _chunk_reference,
           with_dim().flatmap(lambda c: st.integers(1, 4).map(lambda k: Case(c.arrays, {**c.kwargs, "chunks": k})))),
    OpSpec("unbind", lambda a, dim: a.unbind(dim),
           lambda a, dim: tuple(np.take(a, i, axis=dim) for i in range(a.shape[dim])), with_dim()),
    OpSpec("pad", lambda a, pad, value: mg.pad(a, pad, value=value), _pad_reference, pad_case()),
    OpSpec("flip", lambda a, dims: a.flip(dims), lambda a, dims: np.flip(a, dims), flip_case()),
    OpSpec("clone", lambda a: a.clone(), np.copy, unary()),
    OpSpec("repeat", lambda a, sizes: a.repeat(*sizes), lambda a, sizes: np.tile(a, sizes), repeat_case()),
    OpSpec("tril", lambda a, diagonal: a.tril(diagonal), lambda a, diagonal: np.tril(a, diagonal), triangle_case()),
    OpSpec("triu", lambda a, diagonal: a.triu(diagonal), lambda a, diagonal: np.triu(a, diagonal), triangle_case()),
    OpSpec("masked_fill", lambda a, mask, value: a.masked_fill(mg.tensor(mask), value),
           lambda a, mask, value: np.where(mask, value, a), masked_fill_case()),
    OpSpec("index_put", _index_put, _index_put_reference, index_put_case()),
    OpSpec("roll", lambda a, shifts, dims: a.roll(shifts, dims),
           lambda a, shifts, dims: np.roll(a, shifts, axis=dims), roll_case()),
    OpSpec("narrow", lambda a, dim, start, length: a.narrow(dim, start, length), _narrow_reference, narrow_case()),
    OpSpec("movedim", lambda a, source, destination: a.movedim(source, destination),
           lambda a, source, destination: np.moveaxis(a, source, destination), movedim_case()),
    OpSpec("moveaxis", mg.moveaxis, lambda a, source, destination: np.moveaxis(a, source, destination),
           movedim_case()),
    OpSpec("swapdims", lambda a, dim0, dim1: a.swapdims(dim0, dim1),
           lambda a, dim0, dim1: np.swapaxes(a, dim0, dim1), transpose_case()),
    OpSpec("unflatten", lambda a, dim, sizes: a.unflatten(dim, sizes), _unflatten_reference, unflatten_case()),
    OpSpec("select", lambda a, dim, index: a.select(dim, index),
           lambda a, dim, index: np.take(a, index, axis=dim), select_case()),
    OpSpec("diagonal", lambda a, offset, dim1, dim2: a.diagonal(offset, dim1, dim2),
           lambda a, offset, dim1, dim2: np.diagonal(a, offset, dim1, dim2), diagonal_case()),
    OpSpec("diag", lambda a, diagonal: mg.diag(a, diagonal), lambda a, diagonal: np.diag(a, diagonal), diag_case()),
    OpSpec("index_select", lambda a, dim, index: mg.index_select(a, dim, mg.tensor(index)),
           lambda a, dim, index: np.take(a, index, axis=dim), index_select_case()),
    OpSpec("masked_select", lambda a, mask: mg.masked_select(a, mg.tensor(mask)), _masked_select_reference,
           masked_select_case()),
    OpSpec("scatter", lambda a, src, dim, index: a.scatter(dim, mg.tensor(index), src),
           lambda a, src, dim, index: _scatter_reference(a, src, dim, index, add=False), scatter_case(unique=True)),
    OpSpec("scatter_add", lambda a, src, dim, index: mg.scatter_add(a, dim, mg.tensor(index), src),
           lambda a, src, dim, index: _scatter_reference(a, src, dim, index, add=True), scatter_case(unique=False)),
    OpSpec("repeat_interleave", lambda a, repeats, dim: a.repeat_interleave(
               repeats if isinstance(repeats, int) else mg.tensor(repeats), dim),
           lambda a, repeats, dim: np.repeat(a, repeats, axis=dim), repeat_interleave_case()),
    OpSpec("meshgrid", lambda *arrays, indexing: mg.meshgrid(*arrays, indexing=indexing),
           lambda *arrays, indexing: tuple(np.meshgrid(*arrays, indexing=indexing)), meshgrid_case()),
    OpSpec("setitem_add", _setitem_add, _setitem_add_reference, index_put_case()),
    OpSpec("inplace_arithmetic", _inplace_chain, lambda a, b: ((a * b + 2 * a - b) / b) ** 2 * a, inplace_case()),
    # linear algebra
    OpSpec("matmul", lambda a, b: a @ b, np.matmul, matmul_case()),
    OpSpec("mm", mg.mm, np.matmul, fixed_shapes_case(lambda n, k, m, b: ((n, k), (k, m)))),
    OpSpec("bmm", mg.bmm, np.matmul, fixed_shapes_case(lambda n, k, m, b: ((b, n, k), (b, k, m)))),
    OpSpec("mv", mg.mv, np.matmul, fixed_shapes_case(lambda n, k, m, b: ((n, k), (k,)))),
    OpSpec("dot", mg.dot, np.dot, fixed_shapes_case(lambda n, k, m, b: ((k,), (k,)))),
    OpSpec("outer", mg.outer, np.outer, fixed_shapes_case(lambda n, k, m, b: ((n,), (m,)))),
    OpSpec("addmm", lambda c, a, b, beta, alpha: mg.addmm(c, a, b, beta=beta, alpha=alpha),
           lambda c, a, b, beta, alpha: beta * c + alpha * (a @ b), addmm_case()),
    OpSpec("einsum", lambda *arrays, equation, explicit: mg.einsum(equation, *arrays),
           lambda *arrays, equation, explicit: _einsum_loops(explicit, *arrays), einsum_case(), examples=0.6),
    # convolution and pooling
    OpSpec("conv2d", _conv2d, _conv2d_reference, conv2d_case(), examples=0.4),
    OpSpec("max_pool2d", mg.max_pool2d, _max_pool_reference, pool_case(tie_free=True).filter(_has_real_element_per_window),
           examples=0.6),
    OpSpec("avg_pool2d", mg.avg_pool2d, _avg_pool_reference, pool_case(dilation=False), examples=0.6),
    OpSpec("unfold", mg.unfold, _unfold_reference, unfold_case(), examples=0.6),
    # neural
    OpSpec("softmax", lambda a, dim: mg.softmax(a, dim), _softmax_reference, with_dim()),
    OpSpec("log_softmax", lambda a, dim: mg.log_softmax(a, dim), _log_softmax_reference, with_dim()),
    OpSpec("layer_norm", _layer_norm, _layer_norm_reference, layer_norm_case()),
    OpSpec("embedding", lambda w, indices: mg.embedding(mg.tensor(indices), w),
           lambda w, indices: w[indices], embedding_case()),
    OpSpec("dropout_eval", lambda a: mg.dropout(a, 0.5, training=False), lambda a: a, unary()),
    # activations and losses with their own kinks and bounds (nn.functional)
    OpSpec("hardtanh", F.hardtanh, lambda a: np.clip(a, -1.0, 1.0), unary_tie_free(avoid=(-1.0, 1.0))),
    OpSpec("relu6", F.relu6, lambda a: np.clip(a, 0.0, 6.0),
           arrays_case(tie_free_arrays(SHAPES, min_value=-1.0, max_value=7.0, gap=0.05, avoid=(0.0, 6.0)))),
    OpSpec("leaky_relu", lambda a: F.leaky_relu(a, 0.1), lambda a: np.where(a > 0, a, 0.1 * a), unary_tie_free()),
    OpSpec("logsigmoid", F.logsigmoid, lambda a: -np.logaddexp(0, -a), unary()),
    OpSpec("binary_cross_entropy_with_logits",
           lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction="none"),
           lambda x, y: np.logaddexp(0, x) - x * y,
           arrays_case(*(float_arrays(s) for s in ((2, 3), (2, 3))))),
    OpSpec("smooth_l1_loss", lambda x, y, beta: F.smooth_l1_loss(x, y, reduction="none", beta=beta),
           _smooth_l1_reference, loss_pair_case("beta", [0.5, 1.0])),
    OpSpec("huber_loss", lambda x, y, delta: F.huber_loss(x, y, reduction="none", delta=delta),
           _huber_reference, loss_pair_case("delta", [0.5, 1.0])),
]


# ---- the checks, run for every row ----------------------------------------------------

def _outputs(result) -> tuple:
    return tuple(result) if isinstance(result, tuple) else (result,)


def _run(spec: OpSpec, check, share: float = 1.0) -> None:
    """Run `check(spec, case)` on the spec's cases, with fewer examples for expensive ops (and a
    `share` of the profile's number for checks that depend on the op's code, not its values)."""
    examples = max(1, round(settings.default.max_examples * spec.examples * share))

    @settings(max_examples=examples)
    @given(case=spec.cases)
    def run(case):
        check(spec, case)
    run()


def _check_forward(spec: OpSpec, case: Case, dtype, rtol: float, atol: float) -> list:
    tensors = [mg.tensor(a.astype(dtype), requires_grad=True) for a in case.arrays]
    outputs = _outputs(spec.op(*tensors, **case.kwargs))
    expected = _outputs(spec.reference(*[a.astype(dtype).astype(np.float64) for a in case.arrays],
                                       **case.kwargs))
    assert len(outputs) == len(expected), f"{spec.name}: {len(outputs)} outputs, expected {len(expected)}"
    for index, (out, want) in enumerate(zip(outputs, expected)):
        want = np.asarray(want)
        assert isinstance(out, mg.Tensor)
        assert out.shape == want.shape, f"{spec.name}: output {index} shape {out.shape} != {want.shape}"
        if want.dtype.kind == "f":
            assert out.dtype == dtype, f"{spec.name}: output {index} is {out.dtype}, input was {np.dtype(dtype)}"
            np.testing.assert_allclose(out.array, want, rtol=rtol, atol=atol, err_msg=f"{spec.name} output {index}")
        else:
            np.testing.assert_array_equal(out.array, want, err_msg=f"{spec.name} output {index}")
    return tensors, outputs


def check_forward_float64(spec: OpSpec, case: Case) -> None:
    _check_forward(spec, case, np.float64, rtol=1e-9, atol=1e-12)


def check_float32(spec: OpSpec, case: Case) -> None:
    """float32 in -> float32 out, and float32 gradients of the inputs' shapes."""
    tensors, outputs = _check_forward(spec, case, np.float32, rtol=1e-4, atol=1e-5)
    differentiable = [out for out in outputs if out.dtype.kind == "f" and out.requires_grad]
    if not differentiable:
        return
    mg.autograd.backward(differentiable, [mg.ones_like(out) for out in differentiable])
    for index, x in enumerate(tensors):
        assert x.grad is not None, f"{spec.name}: input {index} got no gradient"
        assert x.grad.dtype == np.float32, f"{spec.name}: input {index} gradient is {x.grad.dtype}"
        assert x.grad.shape == x.shape


def _float64_inputs(case: Case) -> list:
    return [mg.tensor(a, dtype=mg.float64, requires_grad=True) for a in case.arrays]


def check_gradcheck(spec: OpSpec, case: Case) -> None:
    assert gradcheck(lambda *xs: spec.op(*xs, **case.kwargs), _float64_inputs(case))


def check_gradgradcheck(spec: OpSpec, case: Case) -> None:
    assert gradgradcheck(lambda *xs: spec.op(*xs, **case.kwargs), _float64_inputs(case))


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_forward_matches_numpy_float64(spec):
    _run(spec, check_forward_float64)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_float32_forward_and_backward_stay_float32(spec):
    _run(spec, check_float32)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_gradcheck(spec):
    _run(spec, check_gradcheck)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_gradgradcheck(spec):
    _run(spec, check_gradgradcheck)


def test_table_covers_the_public_ops():
    names = {spec.name for spec in SPECS}
    for required in ["add", "sub", "mul", "div", "neg", "pow_scalar_int", "pow_tensor_tensor", "pow_scalar_tensor",
                     "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "erf", "maximum",
                     "minimum", "where", "clamp", "softplus", "sum", "mean", "var", "std", "amax", "amin",
                     "max_dim", "min_dim", "logsumexp", "norm", "prod", "cumsum", "reshape", "view", "flatten",
                     "permute", "transpose", "expand", "squeeze", "unsqueeze", "getitem_basic",
                     "getitem_advanced", "take_along_dim", "gather", "cat", "stack", "split", "chunk", "unbind",
                     "pad", "flip", "clone", "repeat", "tril", "triu", "masked_fill", "index_put", "matmul", "mm",
                     "bmm", "addmm", "conv2d", "max_pool2d", "avg_pool2d", "unfold", "softmax", "log_softmax",
                     "layer_norm", "embedding", "dropout_eval", "addcmul", "tanh_backward", "sigmoid_backward",
                     "relu_backward", "binary_cross_entropy", "binary_cross_entropy_backward",
                     "cumprod", "sort", "topk", "roll", "narrow", "index_select", "masked_select", "scatter",
                     "scatter_add", "repeat_interleave", "meshgrid", "einsum", "nan_to_num", "remainder",
                     "sign", "floor", "ceil", "round", "movedim", "moveaxis", "swapdims", "unflatten", "select",
                     "diagonal", "diag"]:
        assert required in names, required


# ---- random ops: dropout, reparameterized sampling, distributions --------------------

def test_dropout_training_mask_statistics_and_scaling():
    mg.manual_seed(0)
    x = mg.ones(200_000)
    out = mg.dropout(x, p=0.3, training=True)
    dropped = (out.array == 0).mean()
    assert abs(dropped - 0.3) < 0.005  # binomial std is 0.001
    np.testing.assert_allclose(out.array[out.array != 0], 1 / 0.7, rtol=1e-6)
    assert abs(out.array.mean() - 1.0) < 0.01  # inverted dropout keeps the expectation
    assert out.dtype == mg.float32


def test_dropout_gradient_is_mask_times_scale():
    mg.manual_seed(1)
    x = mg.tensor(np.linspace(1, 2, 1000), dtype=mg.float64, requires_grad=True)
    out = mg.dropout(x, p=0.4, training=True)
    out.backward(mg.ones_like(out))
    mask = out.array != 0
    assert 0.3 < 1 - mask.mean() < 0.5
    np.testing.assert_allclose(x.grad.array, mask / 0.6)
    np.testing.assert_allclose(out.array, x.array * mask / 0.6)


def test_dropout_is_repeatable_with_manual_seed_and_identity_when_not_training():
    x = mg.randn(50)
    mg.manual_seed(5)
    a = mg.dropout(x, 0.5).array.copy()
    mg.manual_seed(5)
    b = mg.dropout(x, 0.5).array
    np.testing.assert_array_equal(a, b)
    assert mg.dropout(x, 0.5, training=False) is x or np.array_equal(mg.dropout(x, 0.5, training=False).array, x.array)
    np.testing.assert_array_equal(mg.dropout(x, 0.0).array, x.array)
    assert (mg.dropout(x, 1.0).array == 0).all()
    with pytest.raises(ValueError, match="dropout"):
        mg.dropout(x, 1.5)


def test_normal_is_reparameterized_gradients_are_one_and_eps():
    mg.manual_seed(3)
    mean = mg.tensor([0.5, -1.0, 2.0], dtype=mg.float64, requires_grad=True)
    std = mg.tensor([1.0, 0.5, 2.0], dtype=mg.float64, requires_grad=True)
    z = mg.normal(mean, std)
    z.sum().backward()
    eps = (z.array - mean.array) / std.array
    np.testing.assert_allclose(mean.grad.array, np.ones(3))
    np.testing.assert_allclose(std.grad.array, eps)
    assert z.dtype == mg.float64
    mg.manual_seed(3)  # the noise comes from minigrad's generator: seeded runs repeat
    np.testing.assert_array_equal(mg.normal(mean, std).array, z.array)


def test_normal_sample_statistics():
    mg.manual_seed(4)
    z = mg.normal(mg.full((100_000,), 2.0), mg.full((100_000,), 3.0))
    assert abs(z.array.mean() - 2.0) < 0.05 and abs(z.array.std() - 3.0) < 0.05


def test_distributions_normal_rsample_log_prob_and_kl_match_closed_forms():
    from minigrad.distributions import Normal, kl_divergence
    loc = mg.tensor([0.0, 1.0, -2.0], dtype=mg.float64, requires_grad=True)
    scale = mg.tensor([1.0, 0.5, 3.0], dtype=mg.float64, requires_grad=True)
    p = Normal(loc, scale)
    mg.manual_seed(7)
    sample = p.rsample((2,))
    assert sample.shape == (2, 3)
    sample.sum().backward()
    np.testing.assert_allclose(loc.grad.array, [2.0, 2.0, 2.0])
    np.testing.assert_allclose(scale.grad.array, ((sample.array - loc.array) / scale.array).sum(0))
    assert not p.sample().requires_grad

    value = np.array([0.3, 0.7, 1.0])
    expected = -(value - loc.array) ** 2 / (2 * scale.array ** 2) - np.log(scale.array) - 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(p.log_prob(mg.tensor(value, dtype=mg.float64)).array, expected)

    q_loc, q_scale = np.array([0.5, 1.0, 0.0]), np.array([2.0, 0.5, 1.0])
    q = Normal(mg.tensor(q_loc, dtype=mg.float64), mg.tensor(q_scale, dtype=mg.float64))
    expected_kl = (np.log(q_scale / scale.array) + (scale.array ** 2 + (loc.array - q_loc) ** 2) / (2 * q_scale ** 2)
                   - 0.5)
    np.testing.assert_allclose(kl_divergence(p, q).array, expected_kl)
    np.testing.assert_allclose(kl_divergence(p, p).array, 0.0, atol=1e-12)


def test_distributions_normal_log_prob_and_kl_gradcheck():
    from minigrad.distributions import Normal, kl_divergence
    loc = mg.tensor([0.0, 1.0, -2.0], dtype=mg.float64, requires_grad=True)
    scale = mg.tensor([1.0, 0.5, 3.0], dtype=mg.float64, requires_grad=True)
    value = mg.tensor([0.3, 0.7, 1.0], dtype=mg.float64, requires_grad=True)
    assert gradcheck(lambda m, s, v: Normal(m, s).log_prob(v), [loc, scale, value])
    q_loc = mg.tensor([0.5, 1.0, 0.0], dtype=mg.float64, requires_grad=True)
    q_scale = mg.tensor([2.0, 0.5, 1.0], dtype=mg.float64, requires_grad=True)
    assert gradcheck(lambda a, b, c, d: kl_divergence(Normal(a, b), Normal(c, d)), [loc, scale, q_loc, q_scale])


# ---- numerical stability at large inputs ----------------------------------------------

BIG = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4 - 1.0, -1e4]])


@pytest.mark.parametrize("dtype", [mg.float64, mg.float32])
def test_softmax_and_log_softmax_are_stable_at_large_inputs(dtype):
    x = mg.tensor(BIG, dtype=dtype, requires_grad=True)
    expected = _softmax_reference(BIG, 1)
    s = mg.softmax(x, 1)
    np.testing.assert_allclose(s.array, expected, rtol=1e-6, atol=1e-30)
    (s * mg.tensor(np.arange(9.0).reshape(3, 3), dtype=dtype)).sum().backward()
    assert np.isfinite(x.grad.array).all()
    x.grad = None
    ls = mg.log_softmax(x, 1)
    np.testing.assert_allclose(ls.array, _log_softmax_reference(BIG, 1), rtol=1e-6)
    assert np.isfinite(ls.array).all()
    ls.sum().backward()
    np.testing.assert_allclose(x.grad.array, 1 - 3 * expected, atol=1e-6)


@pytest.mark.parametrize("dtype", [mg.float64, mg.float32])
def test_logsumexp_is_stable_at_large_inputs(dtype):
    x = mg.tensor(BIG, dtype=dtype, requires_grad=True)
    out = mg.logsumexp(x, 1)
    np.testing.assert_allclose(out.array, [1e4, -1e4 + np.log(3), 1e4 + np.log(1 + np.exp(-1.0))], rtol=1e-7)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.array, _softmax_reference(BIG, 1), atol=1e-6)


@pytest.mark.parametrize("dtype", [mg.float64, mg.float32])
def test_sigmoid_is_stable_at_large_inputs(dtype):
    x = mg.tensor([1e4, -1e4, 0.0], dtype=dtype, requires_grad=True)
    out = mg.sigmoid(x)
    np.testing.assert_array_equal(out.array, [1.0, 0.0, 0.5])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.array, [0.0, 0.0, 0.25])


@pytest.mark.parametrize("dtype", [mg.float64, mg.float32])
def test_softplus_is_stable_at_large_inputs(dtype):
    x = mg.tensor([1e4, -1e4, 0.0], dtype=dtype, requires_grad=True)
    out = mg.softplus(x)
    np.testing.assert_allclose(out.array, [1e4, 0.0, np.log(2)], rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.array, [1.0, 0.0, 0.5])


@pytest.mark.parametrize("dtype", [mg.float64, mg.float32])
def test_cross_entropy_composition_is_stable_at_large_inputs(dtype):
    """-log_softmax(logits)[i, target_i], averaged: finite loss and gradient softmax - one_hot."""
    logits = mg.tensor(BIG, dtype=dtype, requires_grad=True)
    target = np.array([1, 0, 2])
    loss = -mg.log_softmax(logits, 1)[np.arange(3), target].mean()
    expected = -_log_softmax_reference(BIG, 1)[np.arange(3), target].mean()
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-6)
    assert np.isfinite(loss.item())
    loss.backward()
    one_hot = np.eye(3)[target]
    np.testing.assert_allclose(logits.grad.array, (_softmax_reference(BIG, 1) - one_hot) / 3, atol=1e-6)


def test_stable_ops_pass_gradcheck_at_large_inputs():
    x = mg.tensor(BIG, dtype=mg.float64, requires_grad=True)
    for fn in (lambda t: mg.softmax(t, 1), lambda t: mg.log_softmax(t, 0), lambda t: mg.logsumexp(t, 1),
               mg.sigmoid, mg.softplus):
        assert gradcheck(fn, [x])


# ---- gradcheck itself ----------------------------------------------------------------

def test_gradcheck_reports_output_input_element_and_values():
    class WrongSquare(mg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            x, = ctx.saved_tensors
            return grad * 3 * x  # should be 2 x

    x = mg.tensor([[1.0, 2.0]], dtype=mg.float64, requires_grad=True)
    y = mg.tensor([1.0, 1.0], dtype=mg.float64, requires_grad=True)
    from minigrad.testing import GradcheckError
    with pytest.raises(GradcheckError, match=r"output 1 with respect to input 0.*input element \(0, 1\).*"
                                             r"numerical 4\.0\d*, analytical 6\.0"):
        gradcheck(lambda a, b: (a + b, WrongSquare.apply(a)), [x, y])
    assert gradcheck(lambda a, b: (a + b, WrongSquare.apply(a)), [x, y], raise_exception=False) is False


def test_gradcheck_refuses_float32_and_detects_mutation():
    x32 = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        gradcheck(mg.exp, [x32])
    x = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)

    def mutating(t):
        t.array[0] += 1
        return t * 2
    with pytest.raises(AssertionError, match="modified input 0"):
        gradcheck(mutating, [x])


def test_gradgradcheck_catches_a_backward_that_is_not_differentiable():
    class DetachedBackward(mg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad):
            x, = ctx.saved_tensors
            return grad * 3 * x.detach() ** 2  # right value, but its own derivative wrt x is lost

    x = mg.tensor([0.5, -1.5], dtype=mg.float64, requires_grad=True)
    assert gradcheck(DetachedBackward.apply, [x])
    from minigrad.testing import GradcheckError
    with pytest.raises(GradcheckError):
        gradgradcheck(DetachedBackward.apply, [x])


# ---- options the table does not vary ------------------------------------------------------

def test_embedding_padding_idx_row_gets_no_gradient():
    w = mg.tensor(np.arange(12.0).reshape(4, 3), dtype=mg.float64, requires_grad=True)
    idx = mg.tensor([[0, 2, 2], [1, 0, 3]])
    out = mg.embedding(idx, w, padding_idx=2)
    np.testing.assert_array_equal(out.array, w.array[idx.array])
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.array, [[2] * 3, [1] * 3, [0] * 3, [1] * 3])
    with pytest.raises(IndexError, match="index 4 is out of range"):
        mg.embedding(mg.tensor([4]), w)


def test_max_pool2d_overlapping_windows_add_gradients_and_return_indices():
    x = mg.tensor([[[[1.0, 5.0, 2.0, 0.0], [3.0, 4.0, 8.0, 6.0], [0.0, 1.0, 2.0, 3.0]]]], requires_grad=True)
    out, indices = mg.max_pool2d(x, 2, stride=1, return_indices=True)
    np.testing.assert_array_equal(out.array[0, 0], [[5, 8, 8], [4, 8, 8]])
    np.testing.assert_array_equal(indices.array[0, 0], [[1, 6, 6], [5, 6, 6]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.array[0, 0], [[0, 1, 0, 0], [0, 1, 4, 0], [0, 0, 0, 0]])


def test_conv2d_same_padding_keeps_the_size():
    x = mg.tensor(np.random.default_rng(0).standard_normal((1, 2, 5, 4)))
    w = mg.tensor(np.random.default_rng(1).standard_normal((3, 2, 3, 3)))
    out = mg.conv2d(x, w, padding="same")
    assert out.shape == (1, 3, 5, 4)
    np.testing.assert_allclose(out.array, _conv2d_reference(x.array, w.array, stride=1, padding=1, dilation=1))


@pytest.mark.parametrize("equation, explicit, shapes", EINSUM_TEMPLATES, ids=[t[1] for t in EINSUM_TEMPLATES])
def test_einsum_every_template_forward_gradcheck_and_gradgradcheck(equation, explicit, shapes):
    """The table samples the templates; this runs each one (sizes 2 and 3, so no dim is 1 by chance)."""
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(shape) for shape in shapes(2, 3, 2, 3)]
    inputs = [mg.tensor(a, dtype=mg.float64, requires_grad=True) for a in arrays]
    np.testing.assert_allclose(mg.einsum(equation, *inputs).array, _einsum_loops(explicit, *arrays), rtol=1e-12)
    assert gradcheck(lambda *xs: mg.einsum(equation, *xs), inputs)
    assert gradgradcheck(lambda *xs: mg.einsum(equation, *xs), inputs)


# ---- special points: exact zeros, ties, bounds, huge logits, masked rows ---------------------
#
# A second column of the table. Each op's cases are moved onto special points (some or all
# elements replaced by 0.0, -0.0, +-1e-12, the op's own bounds, ties, +-1e4, -inf in masked
# positions) and the gradient is checked against an oracle:
# - where the op is smooth at those points, a float64 central difference (gradcheck);
# - where it has a corner (or a domain edge, or an infinity), PyTorch's derivative formula for
#   the op, written out in numpy below (derivatives.yaml / FunctionsManual.cpp conventions).
# The same points run in float32, whose gradients must agree with float64's. The conventions
# are listed in the README ("Gradients at special points").


def _axes(dim, ndim):
    if dim is None:
        return tuple(range(ndim))
    return tuple(d % ndim for d in ((dim,) if isinstance(dim, int) else dim))


def _kept(g, dim, keepdim, ndim):
    """An output-shaped array back to the input's rank (size-1 reduced dims)."""
    return g if keepdim else np.expand_dims(g, _axes(dim, ndim))


def _unbroadcast(g, shape):
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    return g.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1), keepdims=True) \
        if g.ndim else g


def _elementwise(derivative):
    """Convention of a unary elementwise op: grad = go * derivative(x, **kwargs)."""
    return lambda arrays, kwargs, outs, gos: [gos[0] * derivative(arrays[0], **kwargs)]


def _spread_among_ties(arrays, kwargs, outs, gos, pick=np.max):
    """amax/amin/max(): the gradient split evenly among the elements equal to the result."""
    x, dim, keepdim = arrays[0], kwargs.get("dim"), kwargs.get("keepdim", False)
    axes = _axes(dim, x.ndim)
    result = pick(x, axis=axes, keepdims=True)
    hits = x == result
    return [_kept(gos[0], dim, keepdim, x.ndim) * hits / hits.sum(axis=axes, keepdims=True)]


def _to_selected_index(arrays, kwargs, outs, gos):
    """max(dim)/min(dim): all of the gradient to the returned index (the first extreme one)."""
    x, dim, keepdim = arrays[0], kwargs["dim"], kwargs["keepdim"]
    grad = np.zeros_like(x)
    np.put_along_axis(grad, _kept(outs[1], dim, keepdim, x.ndim), _kept(gos[0], dim, keepdim, x.ndim), dim)
    return [grad]


def _to_returned_indices(arrays, kwargs, outs, gos):
    """sort/topk: each value's gradient to the index returned with it."""
    grad = np.zeros_like(arrays[0])
    np.put_along_axis(grad, outs[1], gos[0], kwargs["dim"])
    return [grad]


def _std_vjp(arrays, kwargs, outs, gos):
    """std_backward: (x - mean) / ((n - ddof) std), and 0 where std == 0."""
    x, dim, keepdim = arrays[0], kwargs.get("dim"), kwargs.get("keepdim", False)
    axes = _axes(dim, x.ndim)
    n = int(np.prod([x.shape[a] for a in axes]))
    std = np.std(x, axis=axes, keepdims=True, ddof=_ddof(kwargs))
    scale = np.where(std == 0, 0.0, _kept(gos[0], dim, keepdim, x.ndim) / np.where(std == 0, 1.0, (n - _ddof(kwargs)) * std))
    return [(x - x.mean(axis=axes, keepdims=True)) * scale]


def _norm_vjp(arrays, kwargs, outs, gos):
    """norm_backward: 0 wherever the norm is 0; the inf-norm splits among tied |x|."""
    x, p, dim, keepdim = arrays[0], kwargs["p"], kwargs["dim"], kwargs["keepdim"]
    axes = _axes(dim, x.ndim)
    go = _kept(gos[0], dim, keepdim, x.ndim)
    norm = _kept(_norm_reference(x, p, dim, keepdim), dim, keepdim, x.ndim)
    if p == 1:
        return [np.sign(x) * go]
    if p == float("inf"):
        hits = np.abs(x) == norm
        return [np.sign(x) * hits * go / hits.sum(axis=axes, keepdims=True)]
    p = 2 if p == "fro" else p
    scale = np.where(norm == 0, 0.0, go / np.where(norm == 0, 1.0, norm) ** (p - 1))
    return [x * np.abs(x) ** (p - 2) * scale]


def _clamp_vjp(arrays, kwargs, outs, gos):
    """clamp_backward: the gradient passes where min <= x <= max, bounds included."""
    x, low, high = arrays[0], kwargs["min"], kwargs["max"]
    inside = np.ones(x.shape, bool)
    if low is not None:
        inside &= x >= low
    if high is not None:
        inside &= x <= high
    return [gos[0] * inside]


def _pick_vjp(larger: bool):
    """maximum/minimum: a tie sends half of the gradient to each side."""
    def vjp(arrays, kwargs, outs, gos):
        a, b = arrays
        wins_a = a > b if larger else a < b
        share_a = np.where(a == b, 0.5, wins_a * 1.0)
        share_b = np.where(a == b, 0.5, 1.0 - share_a)
        return [_unbroadcast(gos[0] * share_a, a.shape), _unbroadcast(gos[0] * share_b, b.shape)]
    return vjp


def _pow_tensor_vjp(arrays, kwargs, outs, gos):
    """pow_backward_self / pow_backward_exponent: 0 for exponent 0, and for base 0 with exponent >= 0."""
    a, b = arrays
    result = a ** b
    grad_a = np.where(b == 0, 0.0, gos[0] * b * a ** (b - 1))
    grad_b = gos[0] * np.where((a == 0) & (b >= 0), 0.0, result * np.log(a))
    return [_unbroadcast(grad_a, a.shape), _unbroadcast(grad_b, b.shape)]


def _pool_first_max_vjp(arrays, kwargs, outs, gos):
    """max_pool2d: each window's gradient to its first maximum in scan order; overlapping windows add."""
    x = arrays[0]
    n, c, h, w = x.shape
    args = (kwargs["kernel_size"], kwargs["stride"], kwargs["padding"], kwargs.get("dilation", 1))
    windows = _windows_reference(x, *args, -np.inf)
    where = _windows_reference(np.broadcast_to(np.arange(h * w, dtype=np.float64).reshape(1, 1, h, w), x.shape),
                               *args, -1.0)
    flat = windows.reshape(windows.shape[:4] + (-1,))
    first = np.argmax(flat, axis=-1)[..., None]
    source = np.take_along_axis(where.reshape(flat.shape), first, -1)[..., 0].astype(np.int64)
    grad = np.zeros((n, c, h * w))
    for b, ch in np.ndindex(n, c):
        np.add.at(grad[b, ch], source[b, ch].reshape(-1), gos[0][b, ch].reshape(-1))
    return [grad.reshape(x.shape)]


def _softmax_vjp(arrays, kwargs, outs, gos):
    s = _softmax_reference(arrays[0], kwargs["dim"])
    return [s * (gos[0] - (gos[0] * s).sum(axis=kwargs["dim"], keepdims=True))]


def _log_softmax_vjp(arrays, kwargs, outs, gos):
    out = _log_softmax_reference(arrays[0], kwargs["dim"])
    return [gos[0] - np.exp(out) * gos[0].sum(axis=kwargs["dim"], keepdims=True)]


def _logsumexp_masked_reference(x, dim, keepdim):
    """PyTorch's logsumexp: -inf for a row of -inf (the shift of a fully masked row is 0)."""
    m = np.max(x, axis=dim, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(x - m), axis=dim, keepdims=True)) + m
    return out if keepdim else np.squeeze(out, axis=dim)


def _logsumexp_vjp(arrays, kwargs, outs, gos):
    """logsumexp_backward: go * exp(x - out) (nan on a fully masked row, as PyTorch)."""
    x, dim, keepdim = arrays[0], kwargs["dim"], kwargs["keepdim"]
    out = _kept(_logsumexp_masked_reference(x, dim, keepdim), dim, keepdim, x.ndim)
    return [_kept(gos[0], dim, keepdim, x.ndim) * np.exp(x - out)]


def _clamped_log(v):
    """PyTorch's log inside binary_cross_entropy: clamped at -100 (log(0) included)."""
    return np.maximum(np.log(np.maximum(v, 0)), -100.0)


def _bce_vjp(arrays, kwargs, outs, gos):
    """minigrad's binary_cross_entropy at probabilities 0 and 1: the derivative of the clamped loss
    (a clamped log passes nothing), where PyTorch's formula gives (x - y) / 1e-12 (see README)."""
    x, y = arrays
    keep_x, keep_1mx = x >= np.exp(-100.0), 1 - x >= np.exp(-100.0)
    grad_x = np.where(keep_x, -y / np.where(keep_x, x, 1), 0) + np.where(keep_1mx, (1 - y) / np.where(keep_1mx, 1 - x, 1), 0)
    grad_y = _clamped_log(1 - x) - _clamped_log(x)
    return [_unbroadcast(gos[0] * grad_x, x.shape), _unbroadcast(gos[0] * grad_y, y.shape)]


def _bce_clamped_reference(x, y):
    """PyTorch's binary_cross_entropy: each log clamped at -100 (so x = 0 or 1 gives 100, not inf)."""
    return -(y * _clamped_log(x) + (1 - y) * _clamped_log(1 - x))


def _smooth_l1_vjp(arrays, kwargs, outs, gos):
    d = arrays[0] - arrays[1]
    beta = kwargs.get("beta", kwargs.get("delta"))
    if "delta" in kwargs:
        g = np.clip(d, -beta, beta)
    else:
        g = np.where(np.abs(d) < beta, d / beta, np.sign(d)) if beta > 0 else np.sign(d)
    return [gos[0] * g, -gos[0] * g]


def _relu_backward_vjp(arrays, kwargs, outs, gos):
    g, y = arrays
    return [_unbroadcast(gos[0] * (y > 0), g.shape), np.zeros_like(y)]


@dataclass
class Special:
    """How one op of the table meets the special points, and the oracle for its gradient there.

    points: the op's own kinks and bounds; zeros: 0.0, -0.0, +-1e-12; huge: +-30, +-100, +-1e4;
    ties: equal elements; inputs: which inputs get the special values (None: all);
    masked: -inf in masked positions along kwargs["dim"], fully masked rows too;
    groups: whole reduction groups made constant (std, var) or zero (norm);
    convention: PyTorch's VJP in numpy, (arrays, kwargs, outputs, grad_outputs) -> one gradient
    per input; None where the op is smooth at every special point (a central difference decides);
    reference: the forward where the table's reference cannot take the special values.
    """
    points: tuple = ()
    zeros: bool = True
    huge: bool = False
    ties: bool = True
    inputs: tuple | None = None
    masked: bool = False
    groups: str | None = None
    convention: Callable | None = None
    reference: Callable | None = None


SMOOTH = Special()
ONLY_FIRST = Special(inputs=(0,))  # the others are divisors (or held away from a domain edge)
TIES_ONLY = Special(zeros=False)
DOMAIN_EDGE = dict(points=(0.0, 1e-12), zeros=False, ties=False)  # x >= 0: the edge, and a hair from it

SPECIAL_POINTS = {
    "add": SMOOTH, "add_alpha": SMOOTH, "sub": SMOOTH, "mul": SMOOTH, "addcmul": SMOOTH,
    "div": ONLY_FIRST, "rdiv_scalar": Special(zeros=False, ties=False, points=(1.0, -1.0, 0.25)),
    "neg": SMOOTH, "pow_scalar_int": SMOOTH,  # x ** 0 has gradient 0, x ** 1 gradient 1, at 0 too
    "pow_scalar_float": Special(**DOMAIN_EDGE, convention=lambda arrays, kwargs, outs, gos: [
        gos[0] * kwargs["exponent"] * arrays[0] ** (kwargs["exponent"] - 1)]),
    "pow_tensor_tensor": Special(points=(0.0, 1e-12), zeros=False, ties=False, convention=_pow_tensor_vjp),
    "pow_scalar_tensor": SMOOTH, "square": SMOOTH,
    "exp": SMOOTH, "expm1": SMOOTH,
    "log": Special(**DOMAIN_EDGE, convention=_elementwise(lambda x: 1 / x)),
    "log1p": Special(ties=False),
    "sqrt": Special(**DOMAIN_EDGE, convention=_elementwise(lambda x: 1 / (2 * np.sqrt(x)))),
    "rsqrt": Special(**DOMAIN_EDGE, convention=_elementwise(lambda x: -0.5 * (1 / np.sqrt(x)) ** 3)),
    "sin": SMOOTH, "cos": SMOOTH,
    "tanh": Special(huge=True), "sigmoid": Special(huge=True),
    "relu": Special(convention=_elementwise(lambda x: (x > 0) * 1.0)),
    "binary_cross_entropy": Special(points=(0.0, 1.0, 0.5), zeros=False, ties=False, convention=_bce_vjp,
                                    reference=_bce_clamped_reference),
    "binary_cross_entropy_backward": Special(inputs=(0, 2)),
    "tanh_backward": SMOOTH, "sigmoid_backward": SMOOTH,
    "relu_backward": Special(convention=_relu_backward_vjp),
    "abs": Special(convention=_elementwise(np.sign)),
    "erf": Special(huge=True),
    "softplus": Special(huge=True),
    "remainder": Special(inputs=(0,), convention=lambda arrays, kwargs, outs, gos: [
        _unbroadcast(gos[0] + 0 * arrays[1], arrays[0].shape),
        _unbroadcast(-gos[0] * np.floor(arrays[0] / arrays[1]), arrays[1].shape)]),
    "sign": Special(convention=_elementwise(np.zeros_like)), "floor": Special(convention=_elementwise(np.zeros_like)),
    "ceil": Special(convention=_elementwise(np.zeros_like)),
    "round": Special(convention=_elementwise(lambda x, decimals: np.zeros_like(x))),
    "maximum": Special(convention=_pick_vjp(True)), "minimum": Special(convention=_pick_vjp(False)),
    "where": SMOOTH,
    "clamp": Special(points=(-0.5, 0.5, 1.0, 1.5), convention=_clamp_vjp),
    "lerp": SMOOTH,
    "nan_to_num": Special(convention=_elementwise(lambda x, **kw: np.isfinite(x) * 1.0)),
    "sum": SMOOTH, "mean": SMOOTH,
    "var": Special(groups="constant"),  # smooth, also where a group is constant
    "std": Special(groups="constant", convention=_std_vjp),
    "amax": Special(convention=_spread_among_ties),
    "amin": Special(convention=lambda *a: _spread_among_ties(*a, pick=np.min)),
    "max_all": Special(convention=_spread_among_ties),
    "max_dim": Special(convention=_to_selected_index), "min_dim": Special(convention=_to_selected_index),
    "logsumexp": Special(huge=True, masked=True, convention=_logsumexp_vjp, reference=_logsumexp_masked_reference),
    "norm": Special(groups="zero", convention=_norm_vjp),
    "prod": SMOOTH, "cumsum": SMOOTH, "cumprod": SMOOTH,
    "sort": Special(convention=_to_returned_indices), "topk": Special(convention=_to_returned_indices),
    # linear in the values: exact zeros and ties change nothing, the table checks it anyway
    **{name: SMOOTH for name in [
        "reshape", "view", "flatten", "permute", "transpose", "T", "expand", "squeeze", "unsqueeze",
        "getitem_basic", "getitem_advanced", "take_along_dim", "gather", "cat", "stack", "split", "chunk",
        "unbind", "pad", "flip", "clone", "repeat", "tril", "triu", "masked_fill", "index_put", "roll",
        "narrow", "movedim", "moveaxis", "swapdims", "unflatten", "select", "diagonal", "diag",
        "index_select", "masked_select", "scatter", "scatter_add", "repeat_interleave", "meshgrid",
        "setitem_add", "matmul", "mm", "bmm", "mv", "dot", "outer", "addmm", "einsum", "conv2d",
        "avg_pool2d", "unfold", "embedding", "dropout_eval"]},
    "inplace_arithmetic": ONLY_FIRST,
    "max_pool2d": Special(convention=_pool_first_max_vjp),
    "softmax": Special(huge=True, masked=True, convention=_softmax_vjp),
    "log_softmax": Special(huge=True, masked=True, convention=_log_softmax_vjp),
    "layer_norm": SMOOTH,  # a constant row is smooth: eps keeps 1 / sqrt(var + eps) finite
    "hardtanh": Special(points=(-1.0, 1.0), convention=_elementwise(lambda x: ((x > -1) & (x < 1)) * 1.0)),
    "relu6": Special(points=(0.0, 6.0), convention=_elementwise(lambda x: ((x > 0) & (x < 6)) * 1.0)),
    "leaky_relu": Special(convention=_elementwise(lambda x: np.where(x > 0, 1.0, 0.1))),
    "logsigmoid": Special(huge=True),
    "binary_cross_entropy_with_logits": Special(huge=True, inputs=(0,)),
    "smooth_l1_loss": Special(convention=_smooth_l1_vjp), "huber_loss": Special(convention=_smooth_l1_vjp),
}


def _special_groups(x, kwargs, kind, draw_mask):
    """Make some reduction groups of x constant (their max repeated) or zero."""
    axes = _axes(kwargs.get("dim"), x.ndim)
    fill = np.zeros_like(x) if kind == "zero" else np.broadcast_to(x.max(axis=axes, keepdims=True), x.shape)
    mask = np.broadcast_to(draw_mask(np.max(x, axis=axes, keepdims=True).shape), x.shape)
    return np.where(mask, fill, x)


@st.composite
def _loss_kink_case(draw, case):
    """smooth_l1/huber: input - target exactly 0, +-1e-12 or +-beta/delta in some places."""
    x, y = case.arrays
    kink = case.kwargs.get("beta", case.kwargs.get("delta"))
    offsets = draw(hnp.arrays(np.float64, x.shape, elements=st.sampled_from([0.0, 1e-12, -1e-12, kink, -kink])))
    mask = draw(hnp.arrays(np.bool_, x.shape))
    return Case((x, np.where(mask, x - offsets, y)), case.kwargs)


def special_cases(spec: OpSpec, special: Special):
    """The spec's cases moved onto special points; every value float32-exact (both dtypes see the same)."""
    @st.composite
    def build(draw):
        case = draw(spec.cases)
        if spec.name in ("smooth_l1_loss", "huber_loss"):
            case = draw(_loss_kink_case(case))
        arrays = []
        for index, a in enumerate(case.arrays):
            if special.inputs is None or index in special.inputs:
                a = draw(with_special_values(a, special.points, special.zeros, special.huge, special.ties))
                if special.groups and a.ndim:
                    a = _special_groups(a, case.kwargs, special.groups,
                                        lambda shape: draw(hnp.arrays(np.bool_, shape)))
                if special.masked:
                    dim = case.kwargs["dim"]
                    a = draw(masked_logits(a, dim if isinstance(dim, int) else dim[0]))
            arrays.append(np.asarray(a, np.float64).astype(np.float32).astype(np.float64))
        return Case(tuple(arrays), case.kwargs)
    return build()


def _vjp(spec: OpSpec, case: Case, dtype):
    """Outputs and the gradients of <grad_outputs, outputs> (fixed float32-exact grad_outputs)."""
    tensors = [mg.tensor(a.astype(dtype), requires_grad=True) for a in case.arrays]
    outputs = _outputs(spec.op(*tensors, **case.kwargs))
    rng = np.random.default_rng(len(case.arrays))
    seeds = [rng.standard_normal(out.shape).astype(np.float32).astype(np.float64) for out in outputs]
    wanted = [(out, seed) for out, seed in zip(outputs, seeds) if out.dtype.kind == "f" and out.requires_grad]
    grads = [np.zeros(a.shape) for a in case.arrays]
    if wanted:
        found = mg.autograd.grad([out for out, _ in wanted], tensors,
                                 grad_outputs=[mg.tensor(seed.astype(dtype)) for _, seed in wanted],
                                 allow_unused=True)
        grads = [np.zeros(a.shape) if g is None else g.numpy().astype(np.float64) for g, a in zip(found, case.arrays)]
        for g, t in zip(found, tensors):
            assert g is None or (g.dtype == dtype and g.shape == t.shape), f"{spec.name}: gradient {g.dtype} {g.shape}"
    return outputs, seeds, grads


def _assert_same(actual, expected, rtol, atol, what):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=f"{what}: nan positions")
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(actual[~finite & ~np.isnan(expected)], expected[~finite & ~np.isnan(expected)],
                                  err_msg=f"{what}: infinities")
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=rtol, atol=atol, err_msg=what)


def check_special_float64(spec: OpSpec, special: Special, case: Case) -> None:
    outputs, seeds, grads = _vjp(spec, case, np.float64)
    reference = special.reference or spec.reference
    for index, (out, want) in enumerate(zip(outputs, _outputs(reference(*case.arrays, **case.kwargs)))):
        if spec.name in ("sort", "topk") and index == 1:  # tied values: any of their indices, consistently
            np.testing.assert_array_equal(np.take_along_axis(case.arrays[0], out.detach().numpy(), case.kwargs["dim"]),
                                          outputs[0].detach().numpy())
            continue
        _assert_same(out.detach().numpy(), want, 1e-9, 1e-12, f"{spec.name} output {index}")
    if special.convention is None:
        assert gradcheck(lambda *xs: spec.op(*xs, **case.kwargs), _float64_inputs(case))
        return
    expected = special.convention(case.arrays, case.kwargs, [out.detach().numpy() for out in outputs], seeds)
    for index, (got, want) in enumerate(zip(grads, expected)):
        _assert_same(got, np.broadcast_to(want, got.shape), 1e-9, 1e-12, f"{spec.name} gradient of input {index}")


def check_special_float32(spec: OpSpec, special: Special, case: Case) -> None:
    outputs64, _, grads64 = _vjp(spec, case, np.float64)
    outputs32, _, grads32 = _vjp(spec, case, np.float32)
    for index, (a, b) in enumerate(zip(outputs32, outputs64)):
        if b.dtype.kind == "f":
            assert a.dtype == np.float32, f"{spec.name}: output {index} is {a.dtype}"
            scale = np.max(np.abs(b.detach().numpy()[np.isfinite(b.detach().numpy())]), initial=1.0)
            _assert_same(a.detach().numpy(), b.detach().numpy(), 1e-4, 1e-5 * scale, f"{spec.name} float32 output {index}")
    for index, (a, b) in enumerate(zip(grads32, grads64)):
        scale = np.max(np.abs(b[np.isfinite(b)]), initial=1.0)
        _assert_same(a, b, 2e-3, 1e-4 * scale, f"{spec.name} float32 gradient of input {index}")


# A fixed handful per op in CI (derandomized); HYPOTHESIS_PROFILE=deep draws many more.
SPECIAL_EXAMPLES = 4 if settings.default.max_examples <= 25 else settings.default.max_examples // 2


def _run_special(spec: OpSpec, check) -> None:
    special = SPECIAL_POINTS[spec.name]

    @settings(max_examples=max(2, round(SPECIAL_EXAMPLES * spec.examples)))
    @given(case=special_cases(spec, special))
    def run(case):
        check(spec, special, case)
    run()


def test_every_op_has_a_special_points_entry():
    assert sorted(SPECIAL_POINTS) == sorted(spec.name for spec in SPECS)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_special_points_float64(spec):
    _run_special(spec, check_special_float64)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_special_points_float32(spec):
    _run_special(spec, check_special_float32)


# ---- no primitive's VJP hands a leaf an array something else holds ---------------------------
#
# A leaf keeps a fresh VJP result as its .grad without a copy, and a second backward sums into it
# in place; that is right only if no VJP returns (a view of) an array something else still holds:
# an input, a saved value, the output, the seed, a constant. Every op of tests/test_ops.py's table,
# then the primitives it reaches only as VJPs, and inputs used twice.


def _flat_arrays(value, found: list) -> None:
    """Append the arrays in value (a tensor, an array, or tuples, lists and dicts of them) to found."""
    if value is _RELEASED:
        return
    if isinstance(value, mg.Tensor):
        value = value.array
    if isinstance(value, np.ndarray):
        found.append(value)
    elif isinstance(value, (tuple, list)):
        for v in value:
            _flat_arrays(v, found)
    elif isinstance(value, dict):
        for v in value.values():
            _flat_arrays(v, found)


def _arrays_the_graph_holds(outputs) -> list:
    """Every array a node behind `outputs` keeps: saved values (its output too), settings, attributes."""
    found, seen = [], set()
    stack = [out.grad_fn for out in outputs if out.grad_fn is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        _flat_arrays([value for name, value in vars(node).items() if name != "parents"], found)  # (output_data too)
        stack.extend(p for p in node.parents if p is not None and not isinstance(p, mg.Tensor))
    return found


def _backward(outputs, seeds, consumed_twice: bool) -> None:
    if consumed_twice:  # each output feeds two consumers: its gradient is summed in place, then passed on
        root = sum(((out * seed).sum() + (out.clone() * seed).sum()).double() for out, seed in zip(outputs, seeds))
        root.backward(retain_graph=True)
    else:
        mg.autograd.backward(outputs, seeds, retain_graph=True)


def _check_leaf_gradients_are_their_own(name: str, function, arrays, consumed_twice: bool = False,
                                        one_leaf: bool = False) -> None:
    """Run `function` on float64 leaves and backward, then: no leaf's .grad shares memory with an input,
    an output, the seed, another .grad or anything the graph holds; `grad += 1` on one changes nothing
    else, nor what a later call computes; a second backward sums into each .grad correctly."""
    def run():
        leaves = [mg.tensor(a, dtype=mg.float64, requires_grad=True) for a in arrays[:1 if one_leaf else None]]
        outputs = list(_outputs(function(*(leaves * len(arrays) if one_leaf else leaves))))
        differentiable = [out for out in outputs if out.requires_grad and out.dtype.kind == "f"]
        rng = np.random.default_rng(0)
        seeds = [mg.tensor(rng.standard_normal(out.shape), dtype=out.dtype) for out in differentiable]
        if differentiable:
            _backward(differentiable, seeds, consumed_twice)  # (retaining the graph, and what it holds)
        return leaves, outputs, differentiable, seeds, _arrays_the_graph_holds(differentiable)

    leaves, outputs, differentiable, seeds, held = run()
    if not differentiable:
        return
    others = ([(f"input {i}", t.array) for i, t in enumerate(leaves)] +
              [(f"output {i}", out.array) for i, out in enumerate(outputs)] +
              [(f"seed {i}", s.array) for i, s in enumerate(seeds)] +
              [(f"saved or kept array {i}", a) for i, a in enumerate(held)])
    grads = [(i, t.grad.array) for i, t in enumerate(leaves) if t.grad is not None]
    assert grads, f"{name}: an output requires grad, but no input got a gradient"
    for i, grad in grads:
        for what, array in others + [(f"input {j}'s .grad", g) for j, g in grads if j != i]:
            assert not np.shares_memory(grad, array), f"{name}: input {i}'s .grad shares memory with {what}"
    before = [(what, array, array.copy()) for what, array in others]
    first = {i: grad.copy() for i, grad in grads}
    for i, grad in grads:
        grad += 1.0  # what a user's x.grad += ..., clip_grad_norm_ or zero_() does
        for what, array, copy in before + [(f"input {j}'s .grad", g, first[j] + (j < i)) for j, g in grads if j != i]:
            np.testing.assert_array_equal(array, copy, err_msg=f"{name}: input {i}'s .grad += 1 changed {what}")
    fresh_leaves, fresh_outputs, *_ = run()  # nor anything the op keeps between calls (a constant)
    for out, again in zip(outputs, fresh_outputs):
        np.testing.assert_array_equal(again.array, out.array, err_msg=f"{name}: output of a later call")
    for i, grad in grads:
        np.testing.assert_array_equal(fresh_leaves[i].grad.array, first[i], err_msg=f"{name}: .grad of a later call")
        grad[...] = first[i]
    _backward(differentiable, seeds, consumed_twice)  # sums into each .grad in place
    for what, array, copy in before:
        np.testing.assert_array_equal(array, copy, err_msg=f"{name}: a second backward changed {what}")
    for i, grad in grads:
        np.testing.assert_allclose(leaves[i].grad.array, 2 * first[i], rtol=1e-12, atol=1e-12,
                                   err_msg=f"{name}: input {i}'s .grad after a second backward")


@pytest.mark.parametrize("use", ["seeded", "consumed twice", "one leaf for every input"])
@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_no_op_gives_a_leaf_a_gradient_array_something_else_holds(spec, use):
    checked = []

    def check(spec, case):
        arrays = [np.asarray(a, dtype=np.float64) for a in case.arrays]
        if use == "one leaf for every input" and (len(arrays) < 2 or len({a.shape for a in arrays}) > 1):
            return  # the same tensor for every input (x * x, cat([x, x])) needs inputs of one shape
        _check_leaf_gradients_are_their_own(spec.name, lambda *xs: spec.op(*xs, **case.kwargs), arrays,
                                            consumed_twice=use == "consumed twice",
                                            one_leaf=use == "one leaf for every input")
        checked.append(case)
    _run(spec, check, share=0.3)  # aliasing follows the op's code paths (shapes), not its values
    if not checked:
        pytest.skip(f"{spec.name}: no case with two or more inputs of one shape")


def _pool_winner(shape, geometry):
    image = np.random.default_rng(2).standard_normal(shape)
    return conv_ops._max_and_winner(image, conv_ops._geometry(geometry))[1]


_WINDOWS = conv_ops.Geometry((2, 3, 5, 5), 3, 1, 1, 1, "test").key()  # overlapping, padded 3x3 windows
_MORE_GRAPHS = {  # name: (function of leaves, their shapes)
    # one input used twice by one op, and a result consumed by several
    "x * x": (lambda x: x * x, [(3, 4)]),
    "x @ x.T": (lambda x: x @ x.T, [(3, 4)]),
    "x.T @ x, batched": (lambda x: x.reshape(1, 3, 4).mT @ x.reshape(1, 3, 4), [(3, 4)]),
    "einsum of x with itself": (lambda x: mg.einsum("ij,kj->ik", x, x), [(3, 4)]),
    "cat and stack of x with itself": (lambda x: (mg.cat([x, x], 1), mg.stack([x, x.flip(0)])), [(3, 4)]),
    "a result consumed by two ops": (lambda x: (lambda y: (y * y, y.T @ y, y.reshape(12)))(x.exp()), [(3, 4)]),
    "views of one result": (lambda x: (lambda y: (y[0], y[1:].T, y.reshape(4, 3)))(x.tanh()), [(3, 4)]),
    # primitives the table reaches only as VJPs (or not in float64)
    "cast": (lambda x: x.float(), [(3, 4)]),
    "conv_transpose2d": (lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1), [(2, 3, 4, 4), (3, 2, 3, 3)]),
    "conv2d_weight": (lambda x, g: conv_ops.Conv2dWeight.apply(x, g, geometry=_WINDOWS), [(2, 3, 5, 5), (2, 4, 5, 5)]),
    "fold": (lambda x: F.fold(x, (4, 4), 2), [(2, 12, 9)]),
    "max_pool2d_backward": (lambda g: conv_ops.MaxPool2dBackward.apply(
        g, _pool_winner((2, 3, 5, 5), _WINDOWS), geometry=_WINDOWS), [(2, 3, 5, 5)]),
    "max_pool2d_pick": (lambda x: conv_ops.MaxPool2dPick.apply(
        x, _pool_winner((2, 3, 5, 5), _WINDOWS), geometry=_WINDOWS), [(2, 3, 5, 5)]),
}


@pytest.mark.parametrize("graph", list(_MORE_GRAPHS), ids=list(_MORE_GRAPHS))
@pytest.mark.parametrize("consumed_twice", [False, True], ids=["seeded", "consumed twice"])
def test_inputs_used_twice_and_primitives_outside_the_table_give_gradients_of_their_own(graph, consumed_twice):
    function, shapes = _MORE_GRAPHS[graph]
    rng = np.random.default_rng(1)
    _check_leaf_gradients_are_their_own(graph, function, [rng.standard_normal(s) for s in shapes], consumed_twice)
