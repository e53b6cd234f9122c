"""Checking gradients, and hypothesis strategies for property-testing ops.

`gradcheck` compares the full Jacobian that backward computes with one
found by central finite differences, in float64; `gradgradcheck` does the
same for the backward pass itself (second derivatives). Both raise a
`GradcheckError` that names the output, the input, the element and both
values when they disagree.

Property-testing a new op in three lines (the strategies need hypothesis):

    from hypothesis import given
    from minigrad.testing import gradcheck, gradgradcheck, tensors, bounded_floats

    @given(x=tensors(elements=bounded_floats(0.1, 3.0)))     # float64, requires_grad
    def test_my_op(x):
        assert gradcheck(my_op, [x]) and gradgradcheck(my_op, [x])

For ops with kinks (relu, abs, max, maximum, clamp) draw the inputs with
`tie_free_arrays`, whose values are distinct and away from the kinks, so
that the op is differentiable at every sampled point.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

import minigrad as mg  # random programs are written, and run, as mg.* code

from . import autograd, grad_mode
from .creation import tensor
from .tensor import Tensor, _make

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck", "bounded_floats", "nonzero_floats",
           "float_arrays", "tensors", "broadcastable_shapes", "tie_free_arrays", "random_programs",
           "ZEROS", "HUGE", "TIE_VALUES", "special_floats", "special_arrays", "tied_arrays",
           "with_special_values", "masked_logits"]


class GradcheckError(AssertionError):
    """A gradient computed by backward differs from the finite-difference one."""


# ---- gradient checks ------------------------------------------------------------------

def _as_tuple(values) -> tuple:
    return tuple(values) if isinstance(values, (tuple, list)) else (values,)


def _check_inputs(inputs: tuple, op: str) -> list:
    """Indices of the inputs to differentiate; refuses inputs too imprecise for finite differences."""
    wanted = []
    for index, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad:
            if x.dtype != np.float64:
                raise TypeError(f"{op}: input {index} requires grad but has dtype {x.dtype} - finite "
                                "differences need float64 inputs (use .double() or dtype=mg.float64)")
            if not x.array.flags.writeable:
                raise ValueError(f"{op}: input {index} is a read-only view - pass a .clone() of it")
            wanted.append(index)
    if not wanted:
        raise ValueError(f"{op}: no input requires grad - mark the inputs to check with requires_grad=True")
    return wanted


def _evaluate(fn, inputs) -> list:
    """fn's outputs as float64 copies (copies: an output may share memory with an input)."""
    return [np.array(out.array, dtype=np.float64, copy=True) if isinstance(out, Tensor) else None
            for out in _as_tuple(fn(*inputs))]


def _differentiable(out) -> bool:
    return isinstance(out, Tensor) and out.dtype.kind == "f"


def _numerical_jacobians(fn, inputs, wanted, outputs, eps: float) -> dict:
    """{(output k, input i): array (out_k.size, in_i.size)} by central differences."""
    jacobians = {(k, i): np.zeros((out.array.size, inputs[i].array.size))
                 for k, out in enumerate(outputs) if _differentiable(out) for i in wanted}
    for i in wanted:
        data = inputs[i].array
        for column, element in enumerate(np.ndindex(data.shape)):
            original = data[element]
            data[element] = original + eps
            plus = _evaluate(fn, inputs)
            data[element] = original - eps
            minus = _evaluate(fn, inputs)
            data[element] = original
            for k, out in enumerate(outputs):
                if _differentiable(out):
                    jacobians[k, i][:, column] = ((plus[k] - minus[k]) / (2 * eps)).reshape(-1)
    return jacobians


def _analytical_jacobians(outputs, inputs, wanted, op: str) -> dict:
    """{(output k, input i): array (out_k.size, in_i.size)}, one backward per output element."""
    diff_inputs = [inputs[i] for i in wanted]
    jacobians = {}
    for k, out in enumerate(outputs):
        if not _differentiable(out):
            continue
        for i in wanted:
            jacobians[k, i] = np.zeros((out.array.size, inputs[i].array.size))
        if not out.requires_grad:
            continue  # a constant output: its Jacobian is zero
        for row in range(out.array.size):
            seed = np.zeros(out.shape, dtype=out.dtype)
            seed.reshape(-1)[row] = 1
            grads = autograd.grad(out, diff_inputs, grad_outputs=_make(seed), retain_graph=True,
                                  allow_unused=True)
            for i, g in zip(wanted, grads):
                if g is None:
                    continue
                x = inputs[i]
                if g.shape != x.shape or g.dtype != x.dtype:
                    raise GradcheckError(
                        f"{op}: the gradient of output {k} with respect to input {i} has shape "
                        f"{g.shape} and dtype {g.dtype}, but the input has shape {x.shape} and dtype "
                        f"{x.dtype} - they must match")
                jacobians[k, i][row] = g.array.reshape(-1)
    return jacobians


def _fail(message: str, raise_exception: bool) -> bool:
    if raise_exception:
        raise GradcheckError(message)
    return False


def gradcheck(fn: Callable, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True) -> bool:
    """Check backward's gradients of `fn` against central finite differences, element by element.

    Args:
        fn: function of the inputs returning a tensor or a tuple of tensors.
        inputs: tensor or sequence of tensors (and other arguments passed
            through unchanged); those with requires_grad=True are
            differentiated and must be float64.
        eps: finite-difference step.
        atol, rtol: an analytical value a passes when
            |a - n| <= atol + rtol * |n| for the numerical value n.
        raise_exception: raise `GradcheckError` on failure (else return False).

    Returns:
        True when every Jacobian entry agrees.

    Raises:
        GradcheckError: naming the output index, the input index, the output
            and input elements (as tuples) and both values; also when a
            gradient's shape or dtype differs from its input's, or when fn
            modified its inputs.
    """
    inputs = _as_tuple(inputs)
    wanted = _check_inputs(inputs, "gradcheck")
    before = [np.array(x.array, copy=True) if isinstance(x, Tensor) else None for x in inputs]
    with grad_mode.enable_grad():
        outputs = _as_tuple(fn(*inputs))
    for index, (x, old) in enumerate(zip(inputs, before)):
        if old is not None and not np.array_equal(x.array, old, equal_nan=x.dtype.kind == "f"):
            return _fail(f"gradcheck: fn modified input {index} in place - a function under test must "
                         "leave its inputs unchanged", raise_exception)
    for k, out in enumerate(outputs):
        if not isinstance(out, Tensor):
            raise TypeError(f"gradcheck: fn must return tensors, output {k} is a {type(out).__name__}")
        if out.dtype.kind == "f" and out.dtype != np.float64:
            return _fail(f"gradcheck: output {k} has dtype {out.dtype} although the inputs are "
                         "float64 - the op lost precision (finite differences need float64)",
                         raise_exception)

    try:
        analytical = _analytical_jacobians(outputs, inputs, wanted, "gradcheck")
    except GradcheckError as error:
        return _fail(str(error), raise_exception)
    with grad_mode.enable_grad():  # fn may itself differentiate (gradgradcheck)
        numerical = _numerical_jacobians(fn, inputs, wanted, outputs, eps)

    for (k, i), num in numerical.items():
        ana = analytical[k, i]
        excess = np.abs(ana - num) - (atol + rtol * np.abs(num))
        excess = np.where(np.isnan(ana) | np.isnan(num), np.inf, excess)
        if excess.size and excess.max() > 0:
            row, column = np.unravel_index(int(np.argmax(excess)), excess.shape)
            out_element = tuple(int(v) for v in np.unravel_index(row, outputs[k].shape))
            in_element = tuple(int(v) for v in np.unravel_index(column, inputs[i].shape))
            bad = int((excess > 0).sum())
            return _fail(
                f"gradcheck: Jacobian mismatch for output {k} with respect to input {i}: at output "
                f"element {out_element}, input element {in_element}: numerical {float(num[row, column])!r}, "
                f"analytical {float(ana[row, column])!r} (atol={atol}, rtol={rtol}; {bad} of {excess.size} "
                "entries differ)", raise_exception)
    return True


def gradgradcheck(fn: Callable, inputs, grad_outputs=None, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, raise_exception: bool = True, seed: int = 0) -> bool:
    """Check second derivatives: gradcheck of (inputs, grad_outputs) -> first-order gradients.

    The first-order gradients are computed with `mg.grad(..., create_graph=True)`,
    so this checks that every VJP is itself correctly differentiable (as
    PyTorch's gradgradcheck).

    Args:
        fn, inputs, eps, atol, rtol, raise_exception: as `gradcheck`.
        grad_outputs: float64 tensors shaped like fn's differentiable outputs,
            requiring grad; by default standard normal ones drawn from a
            generator seeded with `seed` (so failures repeat).

    Returns:
        True when every second-derivative entry agrees.
    """
    inputs = _as_tuple(inputs)
    wanted = _check_inputs(inputs, "gradgradcheck")
    with grad_mode.enable_grad():
        outputs = [out for out in _as_tuple(fn(*inputs)) if _differentiable(out) and out.requires_grad]
    if not outputs:
        return True  # nothing depends on the inputs: there is no first derivative to check
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        grad_outputs = [_make(rng.standard_normal(out.shape), requires_grad=True) for out in outputs]
    grad_outputs = _as_tuple(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"gradgradcheck: got {len(grad_outputs)} grad_outputs for {len(outputs)} "
                         "differentiable outputs - pass one per output")
    n = len(inputs)

    def first_derivatives(*args):
        ins, gos = args[:n], args[n:]
        outs = [out for out in _as_tuple(fn(*ins)) if _differentiable(out) and out.requires_grad]
        grads = autograd.grad(outs, [ins[i] for i in wanted], grad_outputs=list(gos),
                              create_graph=True, allow_unused=True)
        return tuple(g if g is not None else _make(np.zeros(ins[i].shape, ins[i].dtype))
                     for i, g in zip(wanted, grads))

    return gradcheck(first_derivatives, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)


# ---- hypothesis strategies ------------------------------------------------------------

def _hypothesis():
    try:
        from hypothesis import strategies
        from hypothesis.extra import numpy as hnp
    except ImportError:  # pragma: no cover - hypothesis is a test dependency
        raise ImportError("minigrad.testing: the strategies need hypothesis (pip install hypothesis)") from None
    return strategies, hnp


def bounded_floats(min_value: float = -3.0, max_value: float = 3.0):
    """Strategy of finite Python floats in [min_value, max_value] (no nan, inf or subnormals)."""
    st, _ = _hypothesis()
    return st.floats(min_value, max_value, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def nonzero_floats(min_abs: float = 0.1, max_abs: float = 3.0):
    """Strategy of floats with min_abs <= |x| <= max_abs: for divisors, log|x|, 1/x."""
    st, _ = _hypothesis()
    return st.one_of(bounded_floats(min_abs, max_abs), bounded_floats(-max_abs, -min_abs))


def _shape_strategy(shape, min_dims: int, max_dims: int, min_side: int, max_side: int):
    st, hnp = _hypothesis()
    if shape is None:
        return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)
    if isinstance(shape, st.SearchStrategy):
        return shape
    return st.just(tuple(shape))


def float_arrays(shape=None, dtype=np.float64, elements=None, *, min_dims: int = 0, max_dims: int = 3,
                 min_side: int = 1, max_side: int = 4):
    """Strategy of numpy float arrays (built on `hypothesis.extra.numpy.arrays`).

    Args:
        shape: a tuple, a strategy of tuples, or None for
            `array_shapes(min_dims, max_dims, min_side, max_side)`.
        dtype: float64 (default) or float32; values are drawn in float64 and cast.
        elements: strategy of Python floats (default `bounded_floats(-3, 3)`).

    Returns:
        Strategy of np.ndarray.
    """
    _, hnp = _hypothesis()
    elements = elements if elements is not None else bounded_floats()
    shapes = _shape_strategy(shape, min_dims, max_dims, min_side, max_side)
    arrays = hnp.arrays(np.float64, shapes, elements=elements)
    return arrays if np.dtype(dtype) == np.float64 else arrays.map(lambda a: a.astype(dtype))


def tensors(shape=None, dtype=np.float64, elements=None, requires_grad: bool = True, **shape_options):
    """Strategy of minigrad float tensors (float64 and requiring grad by default).

    Args: as `float_arrays`, plus requires_grad.

    Returns:
        Strategy of Tensor.
    """
    arrays = float_arrays(shape, dtype, elements, **shape_options)
    return arrays.map(lambda a: _make(a, requires_grad=requires_grad))


def broadcastable_shapes(num_shapes: int = 2, min_dims: int = 0, max_dims: int = 4, min_side: int = 1,
                         max_side: int = 4):
    """Strategy of `num_shapes` shapes that broadcast together (size-1 and missing dims included).

    Built on `hypothesis.extra.numpy.mutually_broadcastable_shapes`.

    Returns:
        Strategy of a tuple of `num_shapes` shape tuples.
    """
    _, hnp = _hypothesis()
    return hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims,
                                             min_side=min_side, max_side=max_side).map(lambda r: r.input_shapes)


def tie_free_arrays(*shapes, min_value: float = -3.0, max_value: float = 3.0, gap: float = 1e-2,
                    avoid: Sequence[float] = (0.0,), dtype=np.float64):
    """Strategy of arrays whose values are all distinct and away from kinks.

    Every value, across all the arrays drawn together, differs from every
    other by at least `gap`, and lies at least gap / 2 from each point of
    `avoid` (where the op has a kink: 0 for relu/abs, the bounds of clamp).
    So max, abs, relu, maximum/minimum, clamp and max-pooling are
    differentiable at the sampled points and finite differences with a
    step far below `gap` never cross a kink or change a winner.

    Values are picked (unique, via `hypothesis.extra.numpy.arrays`) from a
    grid of step `gap` in [min_value, max_value], offset by half a step.

    Args:
        *shapes: tuples or strategies of tuples, one per array.
        min_value, max_value: range of the values.
        gap: smallest distance between two values.
        avoid: values to keep away from.
        dtype: float64 or float32.

    Returns:
        Strategy of one array (one shape given) or of a tuple of arrays.
    """
    st, hnp = _hypothesis()
    grid = np.arange(min_value + gap / 2, max_value, gap)
    for point in avoid:
        grid = grid[np.abs(grid - point) >= gap / 2 * (1 - 1e-9)]

    def build(concrete):
        sizes = [int(np.prod(s, dtype=np.int64)) for s in concrete]
        total = sum(sizes)
        if total > grid.size:
            raise ValueError(f"tie_free_arrays: {total} distinct values do not fit in [{min_value}, "
                             f"{max_value}] with gap {gap} - use smaller shapes or a smaller gap")
        picks = hnp.arrays(np.int64, (total,), elements=st.integers(0, grid.size - 1), unique=True)

        def split(indices):
            values = grid[indices].astype(dtype)
            arrays, start = [], 0
            for shape, size in zip(concrete, sizes):
                arrays.append(values[start:start + size].reshape(shape))
                start += size
            return arrays[0] if len(arrays) == 1 else tuple(arrays)
        return picks.map(split)

    parts = [s if isinstance(s, st.SearchStrategy) else st.just(tuple(s)) for s in shapes]
    return st.tuples(*parts).flatmap(build)



# ---- special values ---------------------------------------------------------------------
#
# Random floats never land on the points where a composed or hand-derived gradient goes
# wrong: an exact 0 (and -0.0), a tie between elements, an op's own bound, a logit of 1e4,
# a masked (-inf) position or a fully masked row. These strategies put such points into
# arrays on purpose. Every value they add is exact in float32 as well (or, for 1e-12, keeps
# its sign and size), so one drawn case can be checked in float64 and in float32.

ZEROS = (0.0, -0.0, 1e-12, -1e-12)
"""Exact zeros of both signs and values a hair from zero: where relu, abs, sign, norm and the
std have their kinks, and where x * log(x)-style compositions produce 0 * inf."""

HUGE = (30.0, -30.0, 100.0, -100.0, 1e4, -1e4)
"""Logit-sized magnitudes: exp overflows float32 beyond 88, sigmoid/softplus/log-sum-exp
must saturate without inf - inf or 0 * inf."""

TIE_VALUES = (-1.0, -0.5, 0.0, 0.5, 1.0)
"""A small pool of float32-exact values: arrays drawn from it have ties in every row/window."""


def _special_pool(points: Sequence[float], zeros: bool, huge: bool) -> list:
    """`points`, then `ZEROS` and `HUGE` when asked for."""
    return list(points) + (list(ZEROS) if zeros else []) + (list(HUGE) if huge else [])


def special_floats(points: Sequence[float] = (), zeros: bool = True, huge: bool = False,
                   min_value: float = -3.0, max_value: float = 3.0):
    """Strategy of floats that are often special: `points`, `ZEROS`, `HUGE`, else ordinary.

    Args:
        points: the op's own kinks and bounds (clamp limits, relu6's 0 and 6,
            hardtanh's -1 and 1, smooth-L1's +-beta, Huber's +-delta).
        zeros: include 0.0, -0.0 and +-1e-12.
        huge: include +-30, +-100 and +-1e4 (for exp / logsumexp / sigmoid /
            softplus / binary-cross-entropy families).
        min_value, max_value: range of the ordinary floats.

    Returns:
        Strategy of Python floats (half of them special, when any are given).
    """
    st, _ = _hypothesis()
    special = _special_pool(points, zeros, huge)
    ordinary = bounded_floats(min_value, max_value)
    return st.one_of(st.sampled_from(special), ordinary) if special else ordinary


def tied_arrays(shape=None, values: Sequence[float] = TIE_VALUES, dtype=np.float64, **shape_options):
    """Strategy of arrays whose elements all come from `values`: every row, window and
    reduction group of a few elements has ties (for max/min/amax/sort/topk/max-pool).

    Args:
        shape: a tuple, a strategy of tuples, or None (see `float_arrays`).
        values: the pool (float32-exact by default: -1, -0.5, 0, 0.5, 1).
        dtype: float64 or float32.

    Returns:
        Strategy of np.ndarray.
    """
    st, _ = _hypothesis()
    return float_arrays(shape, dtype, elements=st.sampled_from([float(v) for v in values]), **shape_options)


def special_arrays(shape=None, points: Sequence[float] = (), zeros: bool = True, huge: bool = False,
                   ties: bool = False, dtype=np.float64, min_value: float = -3.0, max_value: float = 3.0,
                   **shape_options):
    """Strategy of float arrays that deliberately contain special values.

    Args:
        shape: a tuple, a strategy of tuples, or None (see `float_arrays`).
        points, zeros, huge, min_value, max_value: as `special_floats`.
        ties: draw the ordinary elements from `TIE_VALUES` instead, so that
            equal elements are common.
        dtype: float64 or float32.

    Returns:
        Strategy of np.ndarray.

    Example:
        @given(x=special_arrays((3, 4), points=[-1.0, 1.0]))   # hardtanh's bounds
        def test_hardtanh_at_its_bounds(x): ...
    """
    st, _ = _hypothesis()
    if ties:
        elements = st.sampled_from(list(TIE_VALUES) + _special_pool(points, zeros, huge))
    else:
        elements = special_floats(points, zeros, huge, min_value, max_value)
    return float_arrays(shape, dtype, elements=elements, **shape_options)


def with_special_values(array: np.ndarray, points: Sequence[float] = (), zeros: bool = True,
                        huge: bool = False, ties: bool = False):
    """Strategy of copies of `array` with some elements (or all) replaced by special values.

    The replacements are `points`, `ZEROS` (when `zeros`), `HUGE` (when
    `huge`) and, with `ties`, values of `TIE_VALUES` or other elements of the
    array itself (so ties appear within the array). Use it to move an
    existing strategy's cases onto special points:
    `cases.flatmap(lambda a: with_special_values(a, points=[0.5]))`.

    Returns:
        Strategy of np.ndarray, same shape and dtype as `array`.
    """
    st, hnp = _hypothesis()
    array = np.asarray(array)
    pool = _special_pool(points, zeros, huge)
    if ties:
        pool += list(TIE_VALUES) + [float(v) for v in array.reshape(-1)[:4]]
    if not pool or array.size == 0:
        return st.just(array.copy())
    masks = st.one_of(hnp.arrays(np.bool_, array.shape), st.just(np.ones(array.shape, bool)))
    replacements = hnp.arrays(np.float64, array.shape, elements=st.sampled_from(pool))
    return st.tuples(masks, replacements).map(
        lambda drawn: np.where(drawn[0], drawn[1], array).astype(array.dtype))


def masked_logits(array: np.ndarray, dim: int = -1, fully_masked: bool = True):
    """Strategy of copies of `array` with -inf at masked positions, as attention masks and
    masked softmax rows produce them.

    Some positions along `dim` are set to -inf; with `fully_masked`, one whole
    row along `dim` may be -inf (PyTorch's softmax of such a row is nan, its
    logsumexp -inf).

    Returns:
        Strategy of np.ndarray, same shape and dtype as `array`.
    """
    st, hnp = _hypothesis()
    array = np.asarray(array)
    if array.ndim == 0 or array.size == 0:
        return st.just(array.copy())
    axis = dim % array.ndim

    def apply(drawn):
        mask, whole_row = drawn
        out = np.where(mask, -np.inf, array).astype(array.dtype)
        if whole_row is not None:
            moved = np.moveaxis(out, axis, -1)  # a view: the write lands in `out`
            rows = list(np.ndindex(moved.shape[:-1]))
            moved[rows[whole_row % len(rows)]] = -np.inf
        return out
    rows = st.one_of(st.none(), st.integers(0, 1000)) if fully_masked else st.none()
    return st.tuples(hnp.arrays(np.bool_, array.shape), rows).map(apply)


# ---- random programs --------------------------------------------------------------------
#
# `random_programs()` draws small chains of primitive ops over random, broadcast-compatible
# shapes (binary ops may reuse an earlier value, so the graph branches and joins), so that one
# property test exercises the engine on combinations no hand-written test thought of. Each drawn
# step is run on the concrete inputs while the program is being drawn: a step is kept only if its
# output is finite and moderate and, for ops with kinks (relu, abs, maximum, clamp, amax, max,
# max_pool2d, norm, std), only if every value is far from the kink - so finite differences are
# valid at the drawn point and a failure is the engine's, not the check's.

_KINK_MARGIN = 1e-3   # ops with kinks: every input at least this far from a kink or a tie
_MAX_MAGNITUDE = 30.0  # values beyond this make finite differences of exp/pow chains too coarse
_MAX_SIZE = 48         # elements per value: keeps the Jacobians (and so the checks) small


class ProgramStep:
    """One op of a `Program`: `text` shows it (with `{v}` for the current value), `run` applies it."""

    def __init__(self, text: str, run: Callable, margin: Callable | None = None):
        self.text = text
        self.run = run        # run(value, env) -> Tensor; env maps "x0", "x1", ..., "v1", ... to tensors
        self.margin = margin  # margin(value, env) on arrays -> distance to the nearest kink or tie


class Program:
    """A chain of primitive ops drawn by `random_programs()`; call it on its input tensors.

    `program(*program.leaves())` runs it: `x0` is where the chain starts, the
    other inputs are the second operands of binary ops, matmul, conv2d,
    layer_norm, ... A binary op may also take an earlier value (`v3 = v2 * v1`),
    so the graph is not only a chain. Every input is a float64 tensor that can
    require grad, so `gradcheck(program, program.leaves())` checks all of them.

    Attributes:
        inputs: list of float64 arrays, one per input.
        steps: list of `ProgramStep`, in order.
        shapes: shape of each value v0 (= x0), v1, ... after each step.
    """

    def __init__(self, inputs: list, steps: list, shapes: list):
        self.inputs = inputs
        self.steps = steps
        self.shapes = shapes

    def __call__(self, *inputs):
        env = {f"x{i}": x for i, x in enumerate(inputs)}
        value = env["v0"] = inputs[0]
        for i, step in enumerate(self.steps):
            value = env[f"v{i + 1}"] = step.run(value, env)
        return value

    def leaves(self, requires_grad: bool = True) -> list:
        """Fresh float64 tensors holding copies of the inputs."""
        return [_make(a.copy(), requires_grad=requires_grad) for a in self.inputs]

    def __repr__(self) -> str:
        lines = ["Program("]
        for i, a in enumerate(self.inputs):
            lines.append(f"    x{i} = mg.tensor({a.tolist()!r}, dtype=mg.float64)  # shape {a.shape}")
        lines.append("    v0 = x0")
        for i, step in enumerate(self.steps):
            lines.append(f"    v{i + 1} = {step.text.format(v=f'v{i}')}  # shape {self.shapes[i + 1]}")
        lines.append(f"    return v{len(self.steps)}")
        lines.append(")")
        return "\n".join(lines)


def _broadcasts(a: tuple, b: tuple) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def _gap_to_second(values: np.ndarray, axes) -> float:
    """Smallest gap between the largest and the second largest value over `axes` (inf if alone)."""
    if axes is None:
        axes = tuple(range(values.ndim))
    axes = tuple(a % max(values.ndim, 1) for a in ((axes,) if isinstance(axes, int) else axes))
    kept = [a for a in range(values.ndim) if a not in axes]
    rows = np.transpose(values, kept + list(axes)).reshape(
        int(np.prod([values.shape[a] for a in kept], dtype=np.int64)), -1)
    if rows.shape[1] < 2 or rows.shape[0] == 0:
        return np.inf
    top = np.sort(rows, axis=1)[:, -2:]
    return float(np.min(top[:, 1] - top[:, 0]))


def _draw_dims(draw, st, ndim: int, allow_none: bool = True):
    """None, one dim (maybe negative) or a tuple of distinct dims, for a reduction."""
    choices = ["one", "tuple"] + (["none"] if allow_none else [])
    kind = draw(st.sampled_from(choices)) if ndim else "none"
    if kind == "none":
        return None
    if kind == "one":
        return draw(st.integers(-ndim, ndim - 1))
    return tuple(draw(st.permutations(range(ndim)))[:draw(st.integers(1, ndim))])


def _factor_shape(draw, st, size: int) -> tuple:
    """A random shape of up to 4 dims with `size` elements."""
    dims = []
    rest = size
    for _ in range(draw(st.integers(0, 3))):
        divisors = [d for d in range(1, rest + 1) if rest % d == 0]
        d = draw(st.sampled_from(divisors))
        dims.append(d)
        rest //= d
    dims.append(rest)
    if size == 1 and draw(st.booleans()):
        return ()
    return tuple(draw(st.permutations(dims)))


def _broadcast_partner(draw, st, shape: tuple) -> tuple:
    """A shape that broadcasts with `shape`: dims dropped, set to 1, grown from 1, or a new leading dim."""
    ndim = len(shape)
    partner = list(shape[draw(st.integers(0, ndim)):]) if ndim else []
    offset = ndim - len(partner)
    for i, n in enumerate(partner):
        pick = draw(st.integers(0, 3))
        if pick == 0:
            partner[i] = 1
        elif pick == 1 and shape[offset + i] == 1:
            partner[i] = draw(st.integers(1, 3))
    if offset == 0 and ndim < 4 and draw(st.integers(0, 4)) == 0:
        partner.insert(0, draw(st.integers(1, 3)))
    return tuple(partner)


def _basic_index(draw, st, shape: tuple):
    """(index, text): ints, slices with steps, None and ... for one basic-indexing step."""
    parts, texts = [], []
    count = draw(st.integers(1, len(shape)))
    ellipsis = draw(st.sampled_from([None, None, "before", "after"]))
    for n in (shape[len(shape) - count:] if ellipsis == "before" else shape[:count]):
        kind = draw(st.sampled_from(["all", "int", "slice"]))
        if kind == "int":
            i = draw(st.integers(-n, n - 1))
            parts.append(i)
            texts.append(str(i))
        elif kind == "slice":
            start = draw(st.integers(0, n - 1))
            stop = draw(st.integers(start + 1, n))
            step = draw(st.integers(1, 2))
            parts.append(slice(start, stop, step))
            texts.append(f"{start}:{stop}" + (f":{step}" if step != 1 else ""))
        else:
            parts.append(slice(None))
            texts.append(":")
        if len(shape) < 4 and draw(st.integers(0, 5)) == 0:
            parts.append(None)
            texts.append("None")
    if ellipsis is not None:  # "before": the parts index the last dims
        at = 0 if ellipsis == "before" else len(parts)
        parts.insert(at, Ellipsis)
        texts.insert(at, "...")
    return tuple(parts), ", ".join(texts)


def _fancy_index(draw, st, shape: tuple):
    """(index, text): integer tensors (repeats and negative values included) or a boolean mask."""
    kind = draw(st.sampled_from(["ints", "two ints", "mask"]))
    if kind == "mask" or (kind == "two ints" and len(shape) < 2):
        k = draw(st.integers(1, len(shape)))
        mask = np.array(draw(st.lists(st.booleans(), min_size=int(np.prod(shape[:k])),
                                      max_size=int(np.prod(shape[:k]))))).reshape(shape[:k])
        if not mask.any():
            mask.reshape(-1)[0] = True
        return tensor(mask), f"mg.tensor({mask.tolist()!r})"
    count = draw(st.integers(1, 4))
    dim = draw(st.integers(0, len(shape) - 1)) if kind == "ints" else draw(st.integers(0, len(shape) - 2))
    rows = []
    for d in ([dim] if kind == "ints" else [dim, dim + 1]):
        rows.append(draw(st.lists(st.integers(-shape[d], shape[d] - 1), min_size=count, max_size=count)))
    index = (slice(None),) * dim + tuple(tensor(r) for r in rows)
    text = ", ".join([":"] * dim + [f"mg.tensor({r!r})" for r in rows])
    return index, text


def _unary_step(draw, st, shape: tuple, env: dict, new_input: Callable):
    """An elementwise op of one value (log and sqrt only of positive things)."""
    name = draw(st.sampled_from(["tanh", "exp", "neg", "sigmoid", "erf", "sin", "softplus", "relu",
                                 "abs", "log", "sqrt", "square", "cube", "rpow", "clamp"]))
    if name == "log":
        return ProgramStep("mg.log({v} * {v} + 1)", lambda v, env: mg.log(v * v + 1))
    if name == "sqrt":
        return ProgramStep("mg.sqrt({v} * {v} + 0.5)", lambda v, env: mg.sqrt(v * v + 0.5))
    if name == "square":
        return ProgramStep("{v} ** 2", lambda v, env: v ** 2)
    if name == "cube":
        return ProgramStep("mg.pow({v}, 3)", lambda v, env: mg.pow(v, 3))
    if name == "rpow":
        p = draw(st.sampled_from([0.5, -0.5, 1.5, -1.0]))
        return ProgramStep(f"({{v}} * {{v}} + 1) ** {p}", lambda v, env: (v * v + 1) ** p)
    if name == "clamp":
        low = draw(st.sampled_from([-1.5, -0.5, 0.25, None]))
        high = draw(st.sampled_from([0.75, 2.0, None] if low is not None else [0.75, 2.0]))
        points = [b for b in (low, high) if b is not None]
        return ProgramStep(f"mg.clamp({{v}}, {low}, {high})", lambda v, env: mg.clamp(v, low, high),
                           lambda v, env: float(min(np.abs(v - b).min() for b in points)))
    function = getattr(mg, name)
    margin = (lambda v, env: float(np.abs(v).min())) if name in ("relu", "abs") else None
    return ProgramStep(f"mg.{name}({{v}})", lambda v, env: function(v), margin)


def _binary_step(draw, st, shape: tuple, env: dict, new_input: Callable):
    """An elementwise op of the value and a new input of a broadcast-compatible shape."""
    earlier = [name for name, value in env.items() if name.startswith("v") and
               _broadcasts(shape, value.shape)]
    if earlier and draw(st.integers(0, 3)) == 0:  # an earlier value: the graph branches and joins
        k = draw(st.sampled_from(earlier))
    else:
        k = new_input(_broadcast_partner(draw, st, shape))
    name = draw(st.sampled_from(["add", "sub", "mul", "div", "rdiv", "maximum", "minimum", "where",
                                 "pow"]))
    if name == "div":
        return ProgramStep(f"{{v}} / ({k} * {k} + 0.5)", lambda v, env: v / (env[k] * env[k] + 0.5))
    if name == "rdiv":
        return ProgramStep(f"{k} / ({{v}} * {{v}} + 0.5)", lambda v, env: env[k] / (v * v + 0.5))
    if name == "pow":
        return ProgramStep(f"mg.pow({{v}} * {{v}} + 1, {k})", lambda v, env: mg.pow(v * v + 1, env[k]))
    if name == "where":
        out_shape = np.broadcast_shapes(shape, env[k].shape)
        mask = np.array(draw(st.lists(st.booleans(), min_size=int(np.prod(out_shape)),
                                      max_size=int(np.prod(out_shape))))).reshape(out_shape)
        condition = tensor(mask)
        return ProgramStep(f"mg.where(mg.tensor({mask.tolist()!r}), {{v}}, {k})",
                           lambda v, env: mg.where(condition, v, env[k]))
    swap = draw(st.booleans())
    function = getattr(mg, name)
    margin = (lambda v, env: float(np.abs(v - env[k]).min())) if name in ("maximum", "minimum") else None
    if swap:
        return ProgramStep(f"mg.{name}({k}, {{v}})", lambda v, env: function(env[k], v), margin)
    return ProgramStep(f"mg.{name}({{v}}, {k})", lambda v, env: function(v, env[k]), margin)


def _reduce_step(draw, st, shape: tuple, env: dict, new_input: Callable):
    """sum, mean, amax, logsumexp, max(dim), var, std, norm, prod or cumsum over random dims."""
    ndim = len(shape)
    name = draw(st.sampled_from(["sum", "mean", "amax", "logsumexp", "max_dim", "var", "std", "norm",
                                 "prod", "cumsum"]))
    if name in ("prod", "cumsum"):
        if ndim == 0:
            return None
        dim = draw(st.integers(-ndim, ndim - 1))
        if name == "cumsum":
            return ProgramStep(f"mg.cumsum({{v}}, {dim})", lambda v, env: mg.cumsum(v, dim))
        keepdim = draw(st.booleans())
        return ProgramStep(f"mg.prod({{v}}, {dim}, keepdim={keepdim})",
                           lambda v, env: mg.prod(v, dim, keepdim=keepdim))
    if name in ("var", "std", "norm"):
        dim = _draw_dims(draw, st, ndim)
        keepdim = draw(st.booleans())
        axes = dim if dim is None or isinstance(dim, tuple) else (dim,)
        if name == "norm":  # the 2-norm has a kink where a whole group is 0
            return ProgramStep(f"mg.norm({{v}}, 2, {dim!r}, keepdim={keepdim})",
                               lambda v, env: mg.norm(v, 2, dim, keepdim=keepdim),
                               lambda v, env: float(np.sqrt((v * v).sum(axis=axes)).min()))
        function = getattr(mg, name)  # std = sqrt(var) has a kink where a group is constant
        margin = (lambda v, env: float(np.var(v, axis=axes).min())) if name == "std" else None
        return ProgramStep(f"mg.{name}({{v}}, {dim!r}, keepdim={keepdim})",
                           lambda v, env: function(v, dim, keepdim=keepdim), margin)
    if name == "max_dim":
        if ndim == 0:
            return None
        dim = draw(st.integers(-ndim, ndim - 1))
        keepdim = draw(st.booleans())
        return ProgramStep(f"mg.max({{v}}, {dim}, keepdim={keepdim}).values",
                           lambda v, env: mg.max(v, dim, keepdim=keepdim).values,
                           lambda v, env: _gap_to_second(v, dim))
    dim = _draw_dims(draw, st, ndim, allow_none=name != "logsumexp")
    if name == "logsumexp" and dim is None:
        return None
    keepdim = draw(st.booleans())
    function = getattr(mg, name)
    margin = (lambda v, env: _gap_to_second(v, dim)) if name == "amax" else None
    return ProgramStep(f"mg.{name}({{v}}, {dim!r}, keepdim={keepdim})",
                       lambda v, env: function(v, dim, keepdim=keepdim), margin)


def _shape_step(draw, st, shape: tuple, env: dict, new_input: Callable):
    """reshape, permute, transpose, unsqueeze, squeeze, flatten, expand, flip, pad, tril, chunk or
    masked_fill (None if not applicable)."""
    ndim = len(shape)
    name = draw(st.sampled_from(["reshape", "permute", "transpose", "unsqueeze", "squeeze", "flatten",
                                 "expand", "flip", "pad", "tril", "chunk", "masked_fill"]))
    if name == "flip" and ndim >= 1:
        dims = sorted(draw(st.sets(st.integers(0, ndim - 1), min_size=1)))
        return ProgramStep(f"mg.flip({{v}}, {dims!r})", lambda v, env: mg.flip(v, dims))
    if name == "pad" and ndim >= 1:
        widths = tuple(draw(st.integers(0, 2)) for _ in range(2 * min(ndim, 2)))
        return ProgramStep(f"mg.pad({{v}}, {widths!r})", lambda v, env: mg.pad(v, widths))
    if name == "tril" and ndim >= 2:
        diagonal = draw(st.integers(-1, 1))
        function = draw(st.sampled_from(["tril", "triu"]))
        return ProgramStep(f"mg.{function}({{v}}, {diagonal})",
                           lambda v, env: getattr(mg, function)(v, diagonal))
    if name == "chunk" and ndim >= 1:
        dim = draw(st.integers(0, ndim - 1))
        chunks = draw(st.integers(1, 3))
        count = len(mg.chunk(mg.zeros(shape), chunks, dim))
        piece = draw(st.integers(0, count - 1))
        return ProgramStep(f"mg.chunk({{v}}, {chunks}, {dim})[{piece}]",
                           lambda v, env: mg.chunk(v, chunks, dim)[piece])
    if name == "masked_fill" and ndim >= 1:
        mask = np.array(draw(st.lists(st.booleans(), min_size=shape[-1], max_size=shape[-1])))
        condition = tensor(mask)
        return ProgramStep(f"{{v}}.masked_fill(mg.tensor({mask.tolist()!r}), 0.5)",
                           lambda v, env: v.masked_fill(condition, 0.5))
    if name == "reshape":
        new = _factor_shape(draw, st, int(np.prod(shape, dtype=np.int64)))
        return ProgramStep(f"{{v}}.reshape({new!r})", lambda v, env: v.reshape(new))
    if name == "permute" and ndim >= 2:
        axes = tuple(draw(st.permutations(range(ndim))))
        return ProgramStep(f"{{v}}.permute{axes!r}", lambda v, env: v.permute(*axes))
    if name == "transpose" and ndim >= 2:
        d0, d1 = draw(st.integers(-ndim, ndim - 1)), draw(st.integers(-ndim, ndim - 1))
        return ProgramStep(f"{{v}}.transpose({d0}, {d1})", lambda v, env: v.transpose(d0, d1))
    if name == "unsqueeze" and ndim < 4:
        d = draw(st.integers(-ndim - 1, ndim))
        return ProgramStep(f"{{v}}.unsqueeze({d})", lambda v, env: v.unsqueeze(d))
    if name == "squeeze" and 1 in shape:
        ones = [i for i, n in enumerate(shape) if n == 1]
        d = draw(st.sampled_from(ones + [None]))
        return ProgramStep(f"{{v}}.squeeze({'' if d is None else d})",
                           lambda v, env: v.squeeze() if d is None else v.squeeze(d))
    if name == "flatten" and ndim >= 1:
        start = draw(st.integers(0, ndim - 1))
        end = draw(st.integers(start, ndim - 1))
        return ProgramStep(f"{{v}}.flatten({start}, {end})", lambda v, env: v.flatten(start, end))
    if name == "expand" and ndim < 4:
        new = tuple(draw(st.integers(1, 3)) if n == 1 else n for n in shape)
        if draw(st.booleans()):
            new = (draw(st.integers(1, 3)),) + new
        return ProgramStep(f"{{v}}.expand{new!r}", lambda v, env: v.expand(*new))
    return None


def _index_step(draw, st, shape: tuple, env: dict, new_input: Callable):
    """Basic indexing, fancy indexing (integer tensors or a mask) or take_along_dim."""
    ndim = len(shape)
    if ndim == 0:
        return None
    name = draw(st.sampled_from(["basic", "fancy", "take_along_dim"]))
    if name == "basic":
        index, text = _basic_index(draw, st, shape)
        return ProgramStep(f"{{v}}[{text}]", lambda v, env: v[index])
    if name == "fancy":
        index, text = _fancy_index(draw, st, shape)
        return ProgramStep(f"{{v}}[{text}]", lambda v, env: v[index])
    dim = draw(st.integers(0, ndim - 1))
    index_shape = shape[:dim] + (draw(st.integers(1, 3)),) + shape[dim + 1:]
    flat = draw(st.lists(st.integers(0, shape[dim] - 1), min_size=int(np.prod(index_shape)),
                         max_size=int(np.prod(index_shape))))
    indices = tensor(np.array(flat, dtype=np.int64).reshape(index_shape))
    return ProgramStep(f"mg.take_along_dim({{v}}, mg.tensor({indices.array.tolist()!r}), {dim})",
                       lambda v, env: mg.take_along_dim(v, indices, dim))


def _matmul_step(draw, st, shape: tuple, env: dict, new_input: Callable):
    """matmul with a new input, on either side, batched when the value has batch dims."""
    ndim = len(shape)
    if ndim == 0:
        return None
    left = ndim >= 2 and draw(st.booleans())
    n = draw(st.integers(1, 3))
    if left:   # x @ v: (..., n, shape[-2]) @ (..., shape[-2], shape[-1])
        batch = shape[:-2][draw(st.integers(0, ndim - 2)):]
        k = new_input(tuple(batch) + (n, shape[-2]))
        return ProgramStep(f"mg.matmul({k}, {{v}})", lambda v, env: mg.matmul(env[k], v))
    other = (shape[-1],) if draw(st.integers(0, 3)) == 0 else (shape[-1], n)
    if ndim >= 2 and len(other) == 2 and draw(st.booleans()):
        other = shape[:-2][-1:] + other  # batched on the right too
    k = new_input(other)
    return ProgramStep(f"mg.matmul({{v}}, {k})", lambda v, env: mg.matmul(v, env[k]))


def _cat_step(draw, st, shape: tuple, env: dict, new_input: Callable):
    """cat or stack with new inputs."""
    ndim = len(shape)
    dim = draw(st.integers(-ndim, ndim - 1))
    other = shape[:dim % ndim] + (draw(st.integers(1, 2)),) + shape[dim % ndim + 1:]
    k = new_input(other)
    if draw(st.booleans()):
        return ProgramStep(f"mg.cat([{{v}}, {k}], {dim})", lambda v, env: mg.cat([v, env[k]], dim))
    k2 = new_input(shape)
    return ProgramStep(f"mg.stack([{k2}, {{v}}], {dim})", lambda v, env: mg.stack([env[k2], v], dim))


def _neural_step(draw, st, shape: tuple, env: dict, new_input: Callable):
    """softmax, log_softmax or layer_norm (with or without weight and bias)."""
    ndim = len(shape)
    name = draw(st.sampled_from(["softmax", "log_softmax", "layer_norm"]))
    if name != "layer_norm":
        dim = draw(st.integers(-ndim, ndim - 1))
        function = getattr(mg, name)
        return ProgramStep(f"mg.{name}({{v}}, {dim})", lambda v, env: function(v, dim))
    normalized = tuple(shape[ndim - draw(st.integers(1, min(ndim, 2))):])
    weight = new_input(normalized) if draw(st.booleans()) else None
    bias = new_input(normalized) if draw(st.booleans()) else None
    axes = tuple(range(ndim - len(normalized), ndim))

    def spread(v, env):  # a group of (nearly) equal values makes 1 / std huge
        if int(np.prod(normalized)) == 1:
            return np.inf
        return float(np.min(np.var(v, axis=axes))) * 100
    return ProgramStep(
        f"mg.layer_norm({{v}}, {normalized!r}, {'None' if weight is None else weight}, "
        f"{'None' if bias is None else bias})",
        lambda v, env: mg.layer_norm(v, normalized, None if weight is None else env[weight],
                                    None if bias is None else env[bias]), spread)


def _conv_step(draw, st, shape: tuple, env: dict, new_input: Callable):
    """conv2d, avg_pool2d or max_pool2d of a 4-D value."""
    name = draw(st.sampled_from(["conv2d", "conv2d", "avg_pool2d", "max_pool2d"]))
    h, w = shape[2:]
    if name == "conv2d":
        kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        stride, padding, dilation = draw(st.integers(1, 2)), draw(st.integers(0, 1)), draw(st.integers(1, 2))
        if dilation * (kh - 1) + 1 > h + 2 * padding or dilation * (kw - 1) + 1 > w + 2 * padding:
            return None
        channels = draw(st.integers(1, 3))
        k = new_input((channels, shape[1], kh, kw))
        b = new_input((channels,)) if draw(st.booleans()) else None
        return ProgramStep(
            f"mg.conv2d({{v}}, {k}, {'None' if b is None else b}, stride={stride}, "
            f"padding={padding}, dilation={dilation})",
            lambda v, env: mg.conv2d(v, env[k], None if b is None else env[b], stride=stride,
                                    padding=padding, dilation=dilation))
    kernel = draw(st.integers(1, min(h, w, 3)))
    stride = draw(st.integers(1, 2))
    padding = draw(st.integers(0, kernel // 2))
    if name == "avg_pool2d":
        return ProgramStep(f"mg.avg_pool2d({{v}}, {kernel}, {stride}, {padding})",
                           lambda v, env: mg.avg_pool2d(v, kernel, stride, padding))

    def window_gap(v, env):
        padded = np.pad(v, ((0, 0), (0, 0), (padding, padding), (padding, padding)),
                        constant_values=-np.inf)
        windows = np.lib.stride_tricks.sliding_window_view(padded, (kernel, kernel), axis=(2, 3))
        windows = windows[:, :, ::stride, ::stride]
        return _gap_to_second(windows, (4, 5))
    return ProgramStep(f"mg.max_pool2d({{v}}, {kernel}, {stride}, {padding})",
                       lambda v, env: mg.max_pool2d(v, kernel, stride, padding), window_gap)


def _draw_step(draw, st, shape: tuple, env: dict, new_input: Callable):
    """Draw one op applicable to a value of `shape`: a ProgramStep, or None to draw again.

    `env` maps the names of the inputs and values so far ("x0", ..., "v0", ...) to
    them (arrays); `new_input(shape)` draws a new float64 input and returns its name.
    """
    families = [_unary_step, _unary_step, _binary_step, _binary_step, _reduce_step, _shape_step,
                _index_step, _matmul_step]
    if shape:
        families += [_neural_step, _cat_step]
    if len(shape) == 4:
        families += [_conv_step] * 3
    return draw(st.sampled_from(families))(draw, st, shape, env, new_input)


def random_programs(min_ops: int = 3, max_ops: int = 10, max_size: int = _MAX_SIZE, special_values: bool = True):
    """Strategy of small random programs: `min_ops` to `max_ops` primitive ops chained.

    The ops cover elementwise unary and binary ops (with broadcasting, the
    second operand a new input or an earlier value), reductions (sum, mean,
    amax, max, logsumexp, var, std, norm, prod over dims, keepdim or not;
    cumsum), reshape/permute/transpose/squeeze/unsqueeze/flatten/expand/flip/
    pad/tril/triu/chunk/masked_fill, basic and fancy indexing, take_along_dim,
    cat/stack, matmul (batched, left and right), softmax, log_softmax,
    layer_norm and, on 4-D values, conv2d, avg_pool2d and max_pool2d. A third
    of the programs start from an image-shaped (N, C, H, W) value. Inputs are
    float64 with distinct values in [-2, 2], except that with `special_values`
    a third of them get some (or all) elements replaced by special values
    (0.0, -0.0, +-1e-12, ties, and sometimes +-30, +-100, +-1e4; see
    `with_special_values`); log and sqrt only see positive things
    (log(v * v + 1)); every op with a kink is kept only where its inputs are at
    least 1e-3 from the kink (no ties in amax), and every step only where its
    output is finite and at most 30 in magnitude; no value has more than
    `max_size` elements.

    Example:
        @given(program=random_programs())
        def test_program(program):
            assert gradcheck(program, program.leaves())

    Returns:
        Strategy of `Program`; its repr lists the inputs and the ops as code.
    """
    st, hnp = _hypothesis()

    @st.composite
    def build(draw):
        if draw(st.integers(0, 2)) == 0:
            shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(2, 4)),
                     draw(st.integers(2, 4)))
        else:
            shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
        def special(array):  # a third of the inputs: some elements 0, -0, +-1e-12, tied, or huge
            if not special_values or draw(st.integers(0, 2)) != 0:
                return array
            return draw(with_special_values(array, zeros=True, huge=draw(st.integers(0, 3)) == 0, ties=True))

        inputs = [special(draw(tie_free_arrays(shape, min_value=-2.0, max_value=2.0, gap=1e-2)))]
        values = [inputs[0]]  # v0, v1, ...: the value after each step (arrays)
        shapes = [shape]
        arrays = {"x0": inputs[0], "v0": inputs[0]}  # every input and value so far, by name

        def new_input(input_shape):
            inputs.append(special(draw(tie_free_arrays(tuple(input_shape), min_value=-2.0, max_value=2.0,
                                                       gap=1e-2))))
            arrays[f"x{len(inputs) - 1}"] = inputs[-1]
            return f"x{len(inputs) - 1}"

        def forget_inputs_from(count):  # the step was not kept: nor are the inputs it drew
            for i in range(count, len(inputs)):
                del arrays[f"x{i}"]
            del inputs[count:]

        steps = []
        wanted = draw(st.integers(min_ops, max_ops))
        attempts = 0
        while len(steps) < wanted and attempts < 4 * max_ops:
            attempts += 1
            count = len(inputs)
            step = _draw_step(draw, st, values[-1].shape, arrays, new_input)
            if step is None:
                forget_inputs_from(count)
                continue
            env = {name: _make(a) for name, a in arrays.items()}
            try:
                with grad_mode.no_grad(), np.errstate(all="ignore"):  # a nan here just drops the step
                    data = step.run(env[f"v{len(values) - 1}"], env).array
            except (RuntimeError, ValueError, IndexError) as error:
                raise AssertionError(f"random_programs: drew a step the engine refused: "
                                     f"{step.text.format(v='v')} on shape {values[-1].shape}: {error}") from error
            ok = (0 < data.size <= max_size and np.isfinite(data).all()
                  and np.abs(data).max() <= _MAX_MAGNITUDE)
            if ok and step.margin is not None:
                ok = step.margin(values[-1], arrays) >= _KINK_MARGIN
            if not ok:
                forget_inputs_from(count)
                continue
            steps.append(step)
            values.append(data)
            arrays[f"v{len(values) - 1}"] = data
            shapes.append(data.shape)
        return Program(inputs, steps, shapes)

    return build().filter(lambda program: len(program.steps) >= min_ops)


__all__ += ["Program", "ProgramStep", "random_programs"]
