"""Neural-network ops: softmax, log_softmax and layer_norm (fused primitives), dropout and embedding.

The fused primitives compute in one numerically stable pass what a
composition would do in several (and in a way that could overflow).
"""
from __future__ import annotations

import numpy as np

from ..function import Function
from ..tensor import Tensor, _make, _check_dim
from .. import grad_mode
from ..random import generator
from .reduction import sum, mean, var, sum_array
from .elementwise import _promoted, clamp, exp, log, sqrt, where
from .shape import getitem


class Softmax(Function):
    """exp(x) / sum(exp(x)) along `axis`, shifted by the max so exp never overflows."""
    @staticmethod
    def forward(ctx, x, *, axis):
        shifted = x - np.max(x, axis=axis, keepdims=True, initial=-np.inf)  # initial: a 0-size dim is fine
        out = np.exp(shifted)
        out /= sum_array(out, axis, keepdims=True)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        axis = ctx.attributes["axis"]
        return out * (grad - sum(grad * out, axis, keepdim=True))


class LogSoftmax(Function):
    """x - logsumexp(x) along `axis`, computed stably."""
    @staticmethod
    def forward(ctx, x, *, axis):
        shifted = x - np.max(x, axis=axis, keepdims=True, initial=-np.inf)
        out = shifted - np.log(sum_array(np.exp(shifted), axis, keepdims=True))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        axis = ctx.attributes["axis"]
        return grad - exp(out) * sum(grad, axis, keepdim=True)


class LayerNorm(Function):
    """(x - mean) / sqrt(var + eps) over the last `axes` (biased variance), without weight or bias.

    VJP: rstd * (g - mean(g) - y * mean(g * y)), with y the output. rstd is
    recomputed from x with recorded ops only when the backward itself is
    being recorded (create_graph), so second derivatives see it depend on x.
    """
    @staticmethod
    def forward(ctx, x, *, axes, eps):
        # the mean accumulates in float64: a constant row then centres to exactly 0 in float32 too
        # (a rounded mean would be amplified by rstd, up to 1 / sqrt(eps))
        mu = np.mean(x, axis=axes, keepdims=True, dtype=np.float64).astype(x.dtype, copy=False)
        centered = x - mu
        variance = np.mean(centered * centered, axis=axes, keepdims=True)  # float16 adds in float32
        rstd = 1.0 / np.sqrt(variance + eps)
        out = centered * rstd
        ctx.save_for_backward(x, out, rstd.astype(x.dtype, copy=False))
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out, rstd = ctx.saved_tensors
        axes = ctx.attributes["axes"]
        if grad_mode.is_grad_enabled():
            rstd = 1 / sqrt(var(x, axes, keepdim=True, correction=0) + ctx.attributes["eps"])
        return rstd * (grad - mean(grad, axes, keepdim=True) - out * mean(grad * out, axes, keepdim=True))


# ---- binary cross-entropy: the loss and its VJP, one op each ------------------------------------

_LOG_FLOOR = -100.0  # PyTorch clamps each log of binary_cross_entropy at -100 ...
_SMALLEST_KEPT = float(np.exp(_LOG_FLOOR))  # ... which happens below this probability


def _unclamped(x: np.ndarray):
    """Where log(x) and where log(1 - x) stay above the floor, and so pass a gradient."""
    return x >= _SMALLEST_KEPT, (1 - x) >= _SMALLEST_KEPT


class BinaryCrossEntropy(Function):
    """-(y log x + (1 - y) log(1 - x)) elementwise, each log clamped at -100 as PyTorch does.

    Shapes: probabilities x and targets y, broadcast together. A clamped log passes
    no gradient, so x = 0 or 1 still gets a finite one (PyTorch's would be ~1e12).
    """
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        log_x, log_1mx = np.empty_like(x), np.empty_like(x)  # arrays even for a 0-d x: clamped in place
        with np.errstate(divide="ignore"):  # log(0) = -inf, then clamped
            np.log(x, out=log_x)
            np.log(1 - x, out=log_1mx)
        np.maximum(log_x, _LOG_FLOOR, out=log_x)
        np.maximum(log_1mx, _LOG_FLOOR, out=log_1mx)
        return -(y * log_x + (1 - y) * log_1mx)

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        grad_x = grad_y = None
        if ctx.parents[0] is not None:
            grad_x = BinaryCrossEntropyBackward.apply(grad, x, y)
        if ctx.parents[1] is not None:  # d/dy = log(1 - x) - log(x), each clamped
            grad_y = grad * (_clamped_log(1 - x) - _clamped_log(x))
        return grad_x, grad_y


class BinaryCrossEntropyBackward(Function):
    """grad * (-y / x + (1 - y) / (1 - x)), each term 0 where its log was clamped:
    binary_cross_entropy's VJP in x as one op (PyTorch's binary_cross_entropy_backward)."""
    @staticmethod
    def forward(ctx, grad, x, y):
        ctx.save_for_backward(grad, x, y)
        keep_x, keep_1mx = _unclamped(x)
        if keep_x.all() and keep_1mx.all():  # the usual case, no log clamped: the terms over one denominator
            out = (x - y) / (x * (1 - x))
        else:
            with np.errstate(divide="ignore", invalid="ignore"):  # the terms where() drops
                out = np.where(keep_x, -y / x, 0) + np.where(keep_1mx, (1 - y) / (1 - x), 0)
        return out * grad

    @staticmethod
    def backward(ctx, g):
        grad, x, y = ctx.saved_tensors
        keep_x, keep_1mx = _unclamped(x.array)
        # safe denominators: no 1/0 in the branch where() drops, whose gradient would be nan
        x_safe, rest_safe = where(keep_x, x, 1.0), where(keep_1mx, 1 - x, 1.0)
        both = g * grad
        parents = ctx.parents
        return (BinaryCrossEntropyBackward.apply(g, x, y) if parents[0] is not None else None,
                where(keep_x, both * y / (x_safe * x_safe), 0.0) +
                where(keep_1mx, both * (1 - y) / (rest_safe * rest_safe), 0.0) if parents[1] is not None else None,
                -(where(keep_x, both / x_safe, 0.0) + where(keep_1mx, both / rest_safe, 0.0))
                if parents[2] is not None else None)


def _clamped_log(x):
    """log(x) clamped at -100 (log(0) included), as recorded ops without a nan gradient at 0."""
    positive = x.array > 0
    if positive.all():
        out = log(x)
    else:
        # replace the zeros before log: the branch where() drops must have a finite gradient
        out = where(positive, log(where(positive, x, 1.0)), _LOG_FLOOR)
    return clamp(out, min=_LOG_FLOOR)


def binary_cross_entropy(input, target):
    """Elementwise binary cross-entropy of probabilities `input` against `target` (broadcast together)."""
    input, target = _promoted(input, target)
    if np.dtype(input.dtype).kind != "f":
        raise RuntimeError(f"binary_cross_entropy: expected floating-point probabilities, got {input.dtype}")
    return BinaryCrossEntropy.apply(input, target)


def softmax(input, dim: int, dtype=None):
    """Softmax along `dim`: non-negative values summing to 1. Shape unchanged."""
    if dtype is not None:
        input = input.to(dtype)
    return Softmax.apply(input, axis=_check_dim(dim, input.ndim, "softmax"))


def log_softmax(input, dim: int, dtype=None):
    """log(softmax(input)) along `dim`, stable for large inputs. Shape unchanged."""
    if dtype is not None:
        input = input.to(dtype)
    return LogSoftmax.apply(input, axis=_check_dim(dim, input.ndim, "log_softmax"))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """Normalise over the last dims `normalized_shape`, then scale by weight and shift by bias.

    Args:
        input: (*, *normalized_shape).
        normalized_shape: int or tuple, the trailing shape to normalise over.
        weight, bias: tensors of shape normalized_shape, or None.

    Returns:
        Tensor shaped like input.
    """
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(normalized_shape)
    if tuple(input.shape[input.ndim - k:]) != normalized_shape or k > input.ndim:
        raise RuntimeError(f"layer_norm: input of shape {tuple(input.shape)} does not end with "
                           f"normalized_shape {normalized_shape}")
    out = LayerNorm.apply(input, axes=tuple(range(input.ndim - k, input.ndim)), eps=float(eps))
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def dropout(input, p: float = 0.5, training: bool = True):
    """Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p).

    The mask comes from minigrad's generator (`mg.manual_seed`). Identity when
    not training or p == 0.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * np.zeros((), input.dtype)
    keep = generator().random(input.shape, dtype=np.float32 if input.dtype != np.float64 else np.float64) >= p
    return input * (keep * np.asarray(1.0 / (1.0 - p), dtype=input.dtype))


def embedding(input, weight, padding_idx=None):
    """Rows of `weight` (num_embeddings, dim) picked by the integer tensor `input` (*) -> (*, dim).

    Rows at `padding_idx` get no gradient.
    """
    indices = input.array if isinstance(input, Tensor) else np.asarray(input)
    if indices.dtype.kind not in "iu":
        raise RuntimeError(f"embedding: expected an integer index tensor, got {indices.dtype}")
    n = weight.shape[0]
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        bad = indices.min() if indices.min() < 0 else indices.max()
        raise IndexError(f"embedding: index {bad} is out of range for an embedding of {n} rows")
    out = getitem(weight, indices)
    if padding_idx is not None and weight.requires_grad:
        padding_idx = padding_idx % n
        keep = (indices != padding_idx)[..., None].astype(weight.dtype)
        out = out * keep + (out * (1 - keep)).detach()
    return out
