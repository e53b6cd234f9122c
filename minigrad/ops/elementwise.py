"""Elementwise primitives: arithmetic, math and activations.

Binary ops broadcast like numpy; their VJPs return gradients in the
broadcast shape and the engine sums them back (`engine.unbroadcast`).
Shapes: (*a), (*b) -> broadcast(*a, *b); unary ops keep the shape.
"""
from __future__ import annotations

import numpy as np

from ..function import Function
from ..tensor import Tensor


def _data(x):
    return x.data if isinstance(x, Tensor) else x


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
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return (grad * b if ctx.parents[0] is not None else None,
                grad * a if ctx.parents[1] is not None else None)


class Div(Function):
    """a / b."""
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = grad / b
        return (grad_a if ctx.parents[0] is not None else None,
                -grad_a * a / b if ctx.parents[1] is not None else None)


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
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        grad_a = grad_b = None
        if ctx.parents[0] is not None:
            grad_a = grad * b * a ** (b - 1)
        if ctx.parents[1] is not None:
            positive = a.data > 0
            grad_b = grad * out * where(positive, log(where(positive, a, 1.0)), 0.0)
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
        return grad * (1 - out * out)


class Sigmoid(Function):
    """1 / (1 + exp(-x)), computed without overflow for large |x|."""
    @staticmethod
    def forward(ctx, x):
        # exp of a non-positive number never overflows; both branches are exact
        e = np.exp(-np.abs(x))
        out = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return grad * (out * (1 - out))


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
        return grad * (out.data > 0)


class Abs(Function):
    """|x|; the gradient at 0 is 0."""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * np.sign(x.data)


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
    # Numerical Recipes' erfc Chebyshev fit: relative error < 1.2e-7 everywhere
    z = np.abs(x).astype(np.float64)
    t = 1 / (1 + 0.5 * z)
    poly = (-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277)))))))))
    erfc = t * np.exp(poly)
    return np.where(x >= 0, 1 - erfc, erfc - 1).astype(x.dtype if x.dtype.kind == "f" else np.float32)


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
        return np.where(condition, a, b)

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
    def forward(ctx, x, min=None, max=None):
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
        return grad * inside.data


class Cast(Function):
    """x converted to another dtype; the gradient is cast back."""
    @staticmethod
    def forward(ctx, x, dtype):
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return cast(grad, ctx.dtypes[0])


# ---- public functions -------------------------------------------------------------

def add(input, other, alpha=1):
    """input + alpha * other, broadcasting."""
    return Add.apply(input, other if alpha == 1 else other * alpha)


def sub(input, other, alpha=1):
    """input - alpha * other, broadcasting."""
    return Sub.apply(input, other if alpha == 1 else other * alpha)


subtract = sub


def mul(input, other):
    """input * other, broadcasting."""
    return Mul.apply(input, other)


multiply = mul


def div(input, other, rounding_mode=None):
    """input / other (true division), broadcasting."""
    if rounding_mode is not None:
        from .. import creation
        result = np.floor_divide(_data(input), _data(other)) if rounding_mode == "floor" else \
            np.trunc(np.true_divide(_data(input), _data(other)))
        return creation.tensor_from_array(result)
    return Div.apply(input, other)


divide = true_divide = div


def neg(input):
    """-input."""
    return Neg.apply(input)


negative = neg


def pow(input, exponent):
    """input ** exponent, broadcasting."""
    return Pow.apply(input, exponent)


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


def abs(input):
    """|input|."""
    return Abs.apply(input)


def erf(input):
    """Error function."""
    return Erf.apply(input)


def maximum(input, other):
    """Elementwise maximum of two tensors (broadcasting)."""
    return Maximum.apply(input, other)


def minimum(input, other):
    """Elementwise minimum of two tensors (broadcasting)."""
    return Minimum.apply(input, other)


def where(condition, input, other):
    """Elements of `input` where `condition` is true, else of `other` (all broadcast)."""
    return Where.apply(np.asarray(_data(condition), dtype=bool), input, other)


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
    """log(1 + exp(beta x)) / beta, stable: max(z, 0) + log(1 + exp(-|z|))."""
    z = input * beta if beta != 1 else input
    return (relu(z) + log(1 + exp(-abs(z)))) / beta if beta != 1 else relu(z) + log(1 + exp(-abs(z)))


def sign(input):
    """Sign of each element (no gradient)."""
    from ..tensor import _make
    return _make(np.sign(_data(input)))


def floor(input):
    from ..tensor import _make
    return _make(np.floor(_data(input)))


def ceil(input):
    from ..tensor import _make
    return _make(np.ceil(_data(input)))


def round(input, decimals: int = 0):
    from ..tensor import _make
    return _make(np.round(_data(input), decimals))


def lerp(input, end, weight):
    """input + weight * (end - input)."""
    return input + weight * (end - input)


__all__ = ['abs', 'add', 'cast', 'ceil', 'clamp', 'clip', 'cos', 'div', 'divide', 'erf', 'exp', 'expm1', 'floor', 'lerp', 'log', 'log1p', 'maximum', 'minimum', 'mul', 'multiply', 'neg', 'negative', 'pow', 'relu', 'round', 'rsqrt', 'sigmoid', 'sign', 'sin', 'softplus', 'sqrt', 'square', 'sub', 'subtract', 'tanh', 'true_divide', 'where']
