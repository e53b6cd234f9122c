"""Elementwise primitives: arithmetic, math and activations.

Binary ops broadcast like numpy; their VJPs return gradients in the
broadcast shape and the engine sums them back (`engine.unbroadcast`).
Shapes: (*a), (*b) -> broadcast(*a, *b); unary ops keep the shape.
"""
from __future__ import annotations

import builtins
import math

import numpy as np

from .. import creation, dtypes
from ..function import Function
from ..tensor import Tensor, _make


def _data(x):
    return x.array if isinstance(x, Tensor) else x


# ---- type promotion (PyTorch's rules, not numpy's) --------------------------------------

_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
_PYTHON_SCALAR_DTYPES = (np.dtype(np.bool_), np.dtype(np.int64), None)  # None: the default float


def _promote_types(a: np.dtype, b: np.dtype) -> np.dtype:
    """torch.promote_types: a higher category (bool < int < float) wins outright, so
    float32 with int64 is float32 (numpy would say float64)."""
    ca, cb = _CATEGORY[a.kind], _CATEGORY[b.kind]
    if ca != cb:
        return a if ca > cb else b
    return np.promote_types(a, b)


def result_type(*operands) -> np.dtype:
    """The dtype PyTorch gives an elementwise op of `operands` (tensors, arrays, Python numbers).

    Tensors with dimensions decide; 0-d tensors and then Python numbers count only when of a
    higher category (a float32 tensor times a float64 0-d tensor or times 2.5 stays float32;
    an int64 tensor times 2.5 is float32, the default float).
    """
    shaped = zero_dim = None
    scalar = -1
    for x in operands:
        if isinstance(x, (Tensor, np.ndarray)):
            if x.ndim:
                shaped = x.dtype if shaped is None else _promote_types(shaped, x.dtype)
            else:
                zero_dim = x.dtype if zero_dim is None else _promote_types(zero_dim, x.dtype)
        elif isinstance(x, (bool, np.bool_)):
            scalar = builtins.max(scalar, 0)
        elif isinstance(x, (int, np.integer)):
            scalar = builtins.max(scalar, 1)
        elif isinstance(x, (float, np.floating)):
            scalar = builtins.max(scalar, 2)
    result = shaped
    if zero_dim is not None and (result is None or _CATEGORY[zero_dim.kind] > _CATEGORY[result.kind]):
        result = zero_dim
    if scalar >= 0 and (result is None or scalar > _CATEGORY[result.kind]):
        result = _PYTHON_SCALAR_DTYPES[scalar] or dtypes.default_float
    return result


def _as_dtype(x, dtype):
    if isinstance(x, Tensor):
        return x if x.array.dtype == dtype else cast(x, dtype)
    if isinstance(x, np.ndarray):
        return x if x.dtype == dtype else x.astype(dtype)
    if isinstance(x, np.generic):
        return x.item()  # numpy scalars act as Python numbers, which never widen a tensor
    return x


def _promoted(a, b, true_division: bool = False):
    """a and b cast to their PyTorch result dtype (the common cases return at once)."""
    if isinstance(a, Tensor):
        dtype = a.array.dtype
        if type(b) is float or type(b) is int:
            if dtype.kind == "f":
                return a, b
        elif isinstance(b, (Tensor, np.ndarray)):
            if (b.array.dtype if isinstance(b, Tensor) else b.dtype) == dtype and (
                    not true_division or dtype.kind == "f"):
                return a, b
    elif isinstance(b, Tensor) and type(a) in (int, float) and b.array.dtype.kind == "f":
        return a, b
    dtype = result_type(a, b)
    if true_division and dtype.kind != "f":  # int / int is a float tensor, as in PyTorch
        dtype = dtypes.default_float
    if not isinstance(a, (Tensor, np.ndarray)) and not isinstance(b, (Tensor, np.ndarray)):
        return np.asarray(a, dtype), b  # two numbers (where(c, 1.0, 0.0)): numpy alone would pick float64
    return _as_dtype(a, dtype), _as_dtype(b, dtype)


# ---- arithmetic -----------------------------------------------------------------

class Add(Function):
    """a + b."""
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    """a - b."""
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad):
        return grad, -grad if ctx.parents[1] is not None else None


class Mul(Function):
    """a * b."""
    @staticmethod
    def forward(ctx, a, b):
        # keep only what the wanted gradients use: y = x[1] * 2 must not hold x[1], or a later
        # x[0] = y would trip the in-place check although no gradient ever reads x[1] (PyTorch's rule)
        parents = ctx.parents
        ctx.save_for_backward(a if parents[1] is not None else None, b if parents[0] is not None else None)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return (grad * b if ctx.parents[0] is not None else None,
                grad * a if ctx.parents[1] is not None else None)


class Addcmul(Function):
    """c + a * b as one op (PyTorch's addcmul): the gated sums of LSTM and GRU steps."""
    @staticmethod
    def forward(ctx, c, a, b):
        parents = ctx.parents
        ctx.save_for_backward(a if parents[2] is not None else None, b if parents[1] is not None else None)
        out = a * b
        if type(out) is np.ndarray and out.shape == np.shape(c):
            return np.add(out, c, out=out)  # into the fresh product: one output array, not two
        return out + c

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return (grad,
                grad * b if ctx.parents[1] is not None else None,
                grad * a if ctx.parents[2] is not None else None)


class Div(Function):
    """a / b."""
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)  # a only for d/db (as Mul)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = grad / b
        return (grad_a if ctx.parents[0] is not None else None,
                -grad_a * a / b if ctx.parents[1] is not None else None)


def _make_zeros(like):
    return _make(np.zeros(like.shape, like.dtype))


class Neg(Function):
    """-x."""
    @staticmethod
    def forward(ctx, x):
        return np.negative(x)

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Pow(Function):
    """a ** b; d/db uses log(a) and is taken as 0 where a == 0 (PyTorch's convention)."""
    @staticmethod
    def forward(ctx, a, b):
        out = np.power(a, b)
        # the output is needed only for d/db: not saving it otherwise lets x.pow_(2) be followed
        # by more in-place ops on x (as in PyTorch)
        ctx.save_for_backward(a, b, out if ctx.needs_input_grad[1] else None)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        grad_a = grad_b = None
        if ctx.parents[0] is not None:
            zero_exponent = np.asarray(_data(b)) == 0
            if zero_exponent.all() and not isinstance(b, Tensor):
                # a ** 0 is constant: its gradient is 0, also at a == 0 where b * a**(b-1) is 0 * inf
                grad_a = _make_zeros(grad)
            else:
                zero_power_zero = zero_exponent & (a.array == 0)
                if zero_power_zero.any():  # 0 ** 0: take d/da as 0 (PyTorch's convention), not 0 * inf
                    a = where(zero_power_zero, 1.0, a)
                grad_a = grad * b * a ** (b - 1)
        if ctx.parents[1] is not None:
            positive = np.asarray(_data(a)) > 0
            if isinstance(a, Tensor):
                log_a = where(positive, log(where(positive, a, 1.0)), 0.0)
            else:  # a constant base (scalar ** tensor): log(a) is a constant array
                log_a = np.where(positive, np.log(np.where(positive, a, 1.0)), 0.0).astype(grad.dtype)
            grad_b = grad * out * log_a
            pole = (np.asarray(_data(a)) == 0) & (np.asarray(_data(b)) < 0)
            if pole.any():  # 0 ** b for b < 0 is inf: PyTorch's out * log(0) = -inf there, not inf * 0
                grad_b = where(pole, grad * -np.inf, grad_b)
        return grad_a, grad_b


# ---- math -----------------------------------------------------------------------

class Exp(Function):
    """exp(x)."""
    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return grad * out


class Log(Function):
    """Natural logarithm log(x)."""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad / x


class Sqrt(Function):
    """sqrt(x); its gradient at 0 is inf, as in PyTorch."""
    @staticmethod
    def forward(ctx, x):
        out = np.sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return grad / (2 * out)


class Sin(Function):
    """sin(x)."""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * cos(x)


class Cos(Function):
    """cos(x)."""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.cos(x)

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return -grad * sin(x)


class Tanh(Function):
    """tanh(x)."""
    @staticmethod
    def forward(ctx, x):
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return tanh_backward(grad, out)


class TanhBackward(Function):
    """grad * (1 - y * y), tanh's VJP at y = tanh(x) as one op: one Python call in backward where
    three ops would make three (PyTorch has tanh_backward for the same reason); its own VJP gives
    second derivatives."""
    @staticmethod
    def forward(ctx, grad, y):
        ctx.save_for_backward(grad, y)
        return grad * (1 - y * y)

    @staticmethod
    def backward(ctx, g):
        grad, y = ctx.saved_tensors
        return (tanh_backward(g, y) if ctx.parents[0] is not None else None,
                -2 * g * grad * y if ctx.parents[1] is not None else None)


class Sigmoid(Function):
    """1 / (1 + exp(-x)); accurate in both tails (no 1 - p cancellation)."""
    @staticmethod
    def forward(ctx, x):
        # for x < -88 (float32) exp(-x) overflows to inf and 1 / inf = 0, the true value rounded:
        # silencing that warning is cheaper than the branch-free two-sided formula (~15x on 100k floats)
        with np.errstate(over="ignore"):
            out = np.asarray(np.exp(-x))  # asarray: numpy gives a scalar for a 0-d input
        out += 1
        np.reciprocal(out, out=out)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return sigmoid_backward(grad, out)


class SigmoidBackward(Function):
    """grad * y * (1 - y), sigmoid's VJP at y = sigmoid(x) as one op (see TanhBackward)."""
    @staticmethod
    def forward(ctx, grad, y):
        ctx.save_for_backward(grad, y)
        return grad * (y * (1 - y))

    @staticmethod
    def backward(ctx, g):
        grad, y = ctx.saved_tensors
        return (sigmoid_backward(g, y) if ctx.parents[0] is not None else None,
                g * grad * (1 - 2 * y) if ctx.parents[1] is not None else None)


class Softplus(Function):
    """log(1 + exp(x)), computed without overflow; its VJP is sigmoid(x)."""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0, x).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * sigmoid(x)


class Relu(Function):
    """max(x, 0); the gradient at 0 is 0."""
    @staticmethod
    def forward(ctx, x):
        out = np.maximum(x, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return relu_backward(grad, out)


class ReluBackward(Function):
    """grad where y > 0, else 0: relu's VJP at y = relu(x) as one op.

    Its VJP passes g through the same mask to grad; y's is zero (the mask is
    piecewise constant in y).
    """
    @staticmethod
    def forward(ctx, grad, y):
        ctx.save_for_backward(y)
        return np.multiply(grad, y > 0)

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return (relu_backward(g, y) if ctx.parents[0] is not None else None,
                _make(np.zeros_like(y.array)) if ctx.parents[1] is not None else None)


class Abs(Function):
    """|x|; the gradient at 0 is 0."""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * np.sign(x.array)


class Erf(Function):
    """The error function erf(x) (numpy has none; this fit is exact to ~1.2e-7, below float32's step)."""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _erf(x)

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * (2 / np.sqrt(np.pi)) * exp(-(x * x))


def _erf(x: np.ndarray) -> np.ndarray:
    if x.dtype == np.float64:
        # the fit below is only float32-accurate: float64 (gradient checks) gets the exact math.erf
        return np.asarray(_exact_erf(x), dtype=np.float64)
    # Numerical Recipes' erfc Chebyshev fit: relative error < 1.2e-7 everywhere
    z = np.abs(x).astype(np.float64)
    t = 1 / (1 + 0.5 * z)
    poly = (-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277)))))))))
    erfc = t * np.exp(poly)
    return np.where(x >= 0, 1 - erfc, erfc - 1).astype(x.dtype if x.dtype.kind == "f" else np.float32)


_exact_erf = np.frompyfunc(math.erf, 1, 1)


class Maximum(Function):
    """Elementwise max(a, b); at ties each side gets half the gradient (as PyTorch)."""
    @staticmethod
    def forward(ctx, a, b):
        a_wins = (a > b) + 0.5 * (a == b)
        ctx.save_for_backward(a_wins.astype(np.result_type(a, b), copy=False))
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a_wins, = ctx.saved_tensors
        return grad * a_wins, grad * (1 - a_wins)


class Minimum(Function):
    """Elementwise min(a, b); at ties each side gets half the gradient (as PyTorch)."""
    @staticmethod
    def forward(ctx, a, b):
        a_wins = (a < b) + 0.5 * (a == b)
        ctx.save_for_backward(a_wins.astype(np.result_type(a, b), copy=False))
        return np.minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a_wins, = ctx.saved_tensors
        return grad * a_wins, grad * (1 - a_wins)


class Where(Function):
    """where(condition, a, b): a where condition holds, else b. condition gets no gradient."""
    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.save_for_backward(condition)
        # b with a written where the condition holds: twice as fast as np.where when the condition
        # broadcasts (an attention mask over batch and heads), as fast otherwise
        out = np.empty(np.broadcast_shapes(np.shape(condition), np.shape(a), np.shape(b)),
                       dtype=np.result_type(a, b))
        np.copyto(out, b)
        np.copyto(out, a, where=condition)
        return out

    @staticmethod
    def backward(ctx, grad):
        condition, = ctx.saved_tensors
        zero = np.zeros((), dtype=grad.dtype)
        return (None,
                where(condition, grad, zero) if ctx.parents[1] is not None else None,
                where(condition, zero, grad) if ctx.parents[2] is not None else None)


class Clamp(Function):
    """clamp(x, min, max); the gradient passes where min <= x <= max (as PyTorch)."""
    @staticmethod
    def forward(ctx, x, *, min=None, max=None):
        inside = np.ones(x.shape, dtype=bool)
        if min is not None:
            inside &= x >= min
        if max is not None:
            inside &= x <= max
        ctx.save_for_backward(inside)
        return np.clip(x, min, max)

    @staticmethod
    def backward(ctx, grad):
        inside, = ctx.saved_tensors
        return grad * inside.array


class Remainder(Function):
    """a - floor(a / b) * b, with the sign of b (Python's %, torch.remainder)."""
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.remainder(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad, grad * -div(a, b, rounding_mode="floor")


class _PiecewiseConstant(Function):
    """Base of sign, floor, ceil and round: their derivative is 0 wherever it exists, and
    PyTorch takes 0 at the jumps too, so the gradient is zeros (not grad * 0, which keeps nan)."""
    @staticmethod
    def backward(ctx, grad):
        return _make_zeros(grad)


class Sign(_PiecewiseConstant):
    """-1, 0 or 1."""
    @staticmethod
    def forward(ctx, x):
        return np.sign(x)


class Floor(_PiecewiseConstant):
    """The largest integer <= x."""
    @staticmethod
    def forward(ctx, x):
        return np.floor(x)


class Ceil(_PiecewiseConstant):
    """The smallest integer >= x."""
    @staticmethod
    def forward(ctx, x):
        return np.ceil(x)


class Round(_PiecewiseConstant):
    """x rounded to `decimals` places, halves to even (as PyTorch and numpy)."""
    @staticmethod
    def forward(ctx, x, *, decimals):
        return np.round(x, decimals)


class Cast(Function):
    """x converted to another dtype; the gradient is cast back."""
    @staticmethod
    def forward(ctx, x, *, dtype):
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return cast(grad, ctx.dtypes[0])


# ---- public functions -------------------------------------------------------------

def add(input, other, alpha=1):
    """input + alpha * other, broadcasting."""
    return Add.apply(*_promoted(input, other if alpha == 1 else other * alpha))


def sub(input, other, alpha=1):
    """input - alpha * other, broadcasting."""
    return Sub.apply(*_promoted(input, other if alpha == 1 else other * alpha))


subtract = sub


def mul(input, other):
    """input * other, broadcasting."""
    return Mul.apply(*_promoted(input, other))


multiply = mul


def addcmul(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 * tensor2, broadcasting (one op when value is 1 and the dtypes agree)."""
    if value == 1 and isinstance(input, Tensor) and isinstance(tensor1, Tensor) and isinstance(tensor2, Tensor) \
            and input.array.dtype == tensor1.array.dtype == tensor2.array.dtype:
        return Addcmul.apply(input, tensor1, tensor2)
    product = mul(tensor1, tensor2)
    return add(input, product if value == 1 else mul(product, value))


def div(input, other, rounding_mode=None):
    """input / other (true division), broadcasting."""
    if rounding_mode is not None:
        result = np.floor_divide(_data(input), _data(other)) if rounding_mode == "floor" else \
            np.trunc(np.true_divide(_data(input), _data(other)))
        return creation.tensor_from_array(result)
    return Div.apply(*_promoted(input, other, true_division=True))


divide = true_divide = div


def neg(input):
    """-input."""
    return Neg.apply(input)


negative = neg


def pow(input, exponent):
    """input ** exponent, broadcasting."""
    return Pow.apply(*_promoted(input, exponent))


def exp(input):
    """e ** input."""
    return Exp.apply(input)


def log(input):
    """Natural logarithm."""
    return Log.apply(input)


def sqrt(input):
    """Square root."""
    return Sqrt.apply(input)


def rsqrt(input):
    """1 / sqrt(input)."""
    return 1 / Sqrt.apply(input)


def square(input):
    """input * input."""
    return Mul.apply(input, input)


def sin(input):
    return Sin.apply(input)


def cos(input):
    return Cos.apply(input)


def tanh(input):
    """Hyperbolic tangent."""
    return Tanh.apply(input)


def sigmoid(input):
    """Logistic sigmoid 1 / (1 + exp(-x)), stable for large |x|."""
    return Sigmoid.apply(input)


def relu(input):
    """max(input, 0)."""
    return Relu.apply(input)


def tanh_backward(grad, output):
    """grad * (1 - output ** 2): the gradient of tanh's input, given output = tanh(input)."""
    return TanhBackward.apply(*_promoted(grad, output))


def sigmoid_backward(grad, output):
    """grad * output * (1 - output): the gradient of sigmoid's input, given output = sigmoid(input)."""
    return SigmoidBackward.apply(*_promoted(grad, output))


def relu_backward(grad, output):
    """grad where output > 0, else 0: the gradient of relu's input, given output = relu(input)."""
    return ReluBackward.apply(*_promoted(grad, output))


def abs(input):
    """|input|."""
    return Abs.apply(input)


def erf(input):
    """Error function."""
    return Erf.apply(input)


def maximum(input, other):
    """Elementwise maximum of two tensors (broadcasting)."""
    return Maximum.apply(*_promoted(input, other))


def minimum(input, other):
    """Elementwise minimum of two tensors (broadcasting)."""
    return Minimum.apply(*_promoted(input, other))


def where(condition, input, other):
    """Elements of `input` where `condition` is true, else of `other` (all broadcast)."""
    return Where.apply(np.asarray(_data(condition), dtype=bool), *_promoted(input, other))


def clamp(input, min=None, max=None):
    """input limited to [min, max] (either may be None)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    return Clamp.apply(input, min=_data(min), max=_data(max))


clip = clamp


def cast(input, dtype):
    """input converted to `dtype` (the gradient flows back only between float dtypes)."""
    if input.dtype == dtype:
        return input
    return Cast.apply(input, dtype=np.dtype(dtype))


def log1p(input):
    """log(1 + input)."""
    return log(1 + input)


def expm1(input):
    return exp(input) - 1


def softplus(input, beta: float = 1.0, threshold: float = 20.0):
    """log(1 + exp(beta x)) / beta, computed stably for any x (so `threshold`, where PyTorch
    switches to the identity to avoid overflow, changes nothing here: it is accepted and unused)."""
    if beta == 1:
        return Softplus.apply(input)
    return Softplus.apply(input * beta) / beta


def sign(input):
    """Sign of each element; its gradient is 0."""
    return Sign.apply(input)


def floor(input):
    return Floor.apply(input)


def ceil(input):
    return Ceil.apply(input)


def round(input, decimals: int = 0):
    return Round.apply(input, decimals=decimals)


def remainder(input, other):
    """input - floor(input / other) * other: the sign of `other`, as Python's % and torch.remainder.

    The gradient is 1 for input and -floor(input / other) for other.
    """
    input, other = _promoted(input, other)
    return Remainder.apply(input, other)


def lerp(input, end, weight):
    """input + weight * (end - input)."""
    return input + weight * (end - input)


def nan_to_num(input, nan: float = 0.0, posinf=None, neginf=None):
    """input with nan, +inf and -inf replaced by `nan`, `posinf` and `neginf` (None: the dtype's
    largest and smallest finite values).

    The gradient passes where input is finite and is 0 at the replaced elements (as PyTorch's).
    Integer tensors come back as a copy.
    """
    data = _data(input)
    if data.dtype.kind != "f":
        return _make(np.array(data, copy=True))
    replaced = np.nan_to_num(data, nan=nan, posinf=posinf, neginf=neginf)  # keeps the dtype
    return where(np.isfinite(data), input, replaced)


# ---- comparisons: tensors (or bools) that never require grad -------------------------------

def _comparison_operands(op: str, input, other):
    """The arrays of input and other, refusing a non-tensor input (PyTorch's functions take a tensor)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: argument 'input' must be a Tensor, got {type(input).__name__}")
    return input.array, (other.array if isinstance(other, Tensor) else other)


def eq(input, other):
    """input == other elementwise (other a tensor or a number, broadcasting); a bool tensor."""
    return _make(np.equal(*_comparison_operands("eq", input, other)))


def ne(input, other):
    """input != other elementwise; a bool tensor."""
    return _make(np.not_equal(*_comparison_operands("ne", input, other)))


def lt(input, other):
    """input < other elementwise; a bool tensor."""
    return _make(np.less(*_comparison_operands("lt", input, other)))


def le(input, other):
    """input <= other elementwise; a bool tensor."""
    return _make(np.less_equal(*_comparison_operands("le", input, other)))


def gt(input, other):
    """input > other elementwise; a bool tensor."""
    return _make(np.greater(*_comparison_operands("gt", input, other)))


def ge(input, other):
    """input >= other elementwise; a bool tensor."""
    return _make(np.greater_equal(*_comparison_operands("ge", input, other)))


greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


def equal(input, other) -> bool:
    """True when input and other have the same shape and the same values (a nan is never equal)."""
    a, b = _comparison_operands("equal", input, other)
    b = np.asarray(b)
    return a.shape == b.shape and bool(np.array_equal(a, b))


def _close_operands(op: str, input, other):
    a, b = _comparison_operands(op, input, other)
    if isinstance(other, Tensor) and a.dtype != b.dtype:  # PyTorch refuses too: which precision?
        raise RuntimeError(f"{op}: expected both inputs to have the same dtype, got {a.dtype} and {b.dtype} - "
                           "convert one with .to(other.dtype)")
    return a, b


def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
    """|input - other| <= atol + rtol * |other| elementwise (infinities of one sign are close; a nan
    only to a nan, when `equal_nan`); a bool tensor of the broadcast shape."""
    a, b = _close_operands("isclose", input, other)
    if rtol < 0 or atol < 0:
        raise RuntimeError(f"isclose: rtol ({rtol}) and atol ({atol}) must be non-negative")
    return _make(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """True when every element of input is close to other's (`isclose`), as a Python bool."""
    return bool(isclose(input, other, rtol, atol, equal_nan).array.all())


__all__ = ['abs', 'add', 'addcmul', 'cast', 'ceil', 'clamp', 'clip', 'cos', 'div', 'divide', 'erf', 'exp', 'expm1', 'floor', 'lerp', 'log', 'log1p', 'maximum', 'minimum', 'mul', 'multiply', 'neg', 'negative', 'pow', 'relu', 'remainder', 'round', 'rsqrt', 'sigmoid', 'sign', 'sin', 'softplus', 'sqrt', 'square', 'sub', 'subtract', 'tanh', 'true_divide', 'where',
           'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'greater', 'greater_equal', 'less', 'less_equal',
           'not_equal', 'equal', 'isclose', 'allclose', 'nan_to_num']
