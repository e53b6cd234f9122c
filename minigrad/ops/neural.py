"""Neural-network ops: softmax, log_softmax and layer_norm (fused primitives), dropout and embedding.

The fused primitives compute in one numerically stable pass what a
composition would do in several (and in a way that could overflow).
"""
from __future__ import annotations

import numpy as np

from ..function import Function
from ..tensor import Tensor, _make, _check_dim
from .. import grad_mode
from .reduction import sum, mean, var
from .elementwise import exp, sqrt
from .shape import getitem


class Softmax(Function):
    """exp(x) / sum(exp(x)) along `axis`, shifted by the max so exp never overflows."""
    @staticmethod
    def forward(ctx, x, axis):
        shifted = x - np.max(x, axis=axis, keepdims=True, initial=-np.inf)  # initial: a 0-size dim is fine
        out = np.exp(shifted)
        out /= np.sum(out, axis=axis, keepdims=True)
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
    def forward(ctx, x, axis):
        shifted = x - np.max(x, axis=axis, keepdims=True, initial=-np.inf)
        out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
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
    def forward(ctx, x, axes, eps):
        # the mean accumulates in float64: a constant row then centres to exactly 0 in float32 too
        # (a rounded mean would be amplified by rstd, up to 1 / sqrt(eps))
        mu = np.mean(x, axis=axes, keepdims=True, dtype=np.float64).astype(x.dtype, copy=False)
        centered = x - mu
        variance = np.mean(centered * centered, axis=axes, keepdims=True)
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
    from ..random import generator
    keep = generator().random(input.shape, dtype=np.float32 if input.dtype != np.float64 else np.float64) >= p
    return input * (keep * np.asarray(1.0 / (1.0 - p), dtype=input.dtype))


def embedding(input, weight, padding_idx=None):
    """Rows of `weight` (num_embeddings, dim) picked by the integer tensor `input` (*) -> (*, dim).

    Rows at `padding_idx` get no gradient.
    """
    indices = input.data if isinstance(input, Tensor) else np.asarray(input)
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
