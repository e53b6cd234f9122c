"""Gradient clipping and flat parameter vectors (torch.nn.utils.clip_grad, convert_parameters).

    nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

import minigrad as mg
from minigrad import ops
from minigrad.tensor import Tensor, _make

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


def _as_list(parameters) -> list:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Scale all gradients together so that their joint norm is at most max_norm.

    The norm is taken over all gradients as if concatenated into one vector;
    every gradient is multiplied by min(1, max_norm / (norm + 1e-6)), in place.

    Args:
        parameters: a tensor or an iterable of tensors (those without .grad are skipped).
        max_norm: the largest allowed norm.
        norm_type: p of the p-norm; float('inf') for the largest absolute value.
        error_if_nonfinite: raise if the total norm is nan or inf (else the
            gradients become nan, as in PyTorch).

    Returns:
        The total norm of the gradients before clipping, a 0-d tensor.
    """
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    norm_type = float(norm_type)
    if not grads:
        return mg.tensor(0.0)
    dtype = grads[0].dtype
    if norm_type == float("inf"):
        total = max(float(np.max(np.abs(g.array))) if g.array.size else 0.0 for g in grads)
    else:
        per_grad = [np.linalg.norm(g.array.reshape(-1).astype(np.float64), norm_type) for g in grads]
        total = float(np.linalg.norm(np.asarray(per_grad), norm_type))
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} for gradients from "
                           f"`parameters` is non-finite ({total}), so it cannot be clipped - set "
                           "`error_if_nonfinite=False` to clip anyway")
    coefficient = min(max_norm / (total + 1e-6), 1.0)
    # PyTorch multiplies even when the coefficient is 1 (so nan/inf norms propagate); we do the same
    for g in grads:
        with g._writing() as array:
            array *= np.asarray(coefficient, dtype=g.dtype)
    return _make(np.asarray(total, dtype=dtype))


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element into [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    for p in _as_list(parameters):
        if p.grad is not None:
            with p.grad._writing() as grad:
                np.clip(grad, -clip_value, clip_value, out=grad)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    return ops.cat([ops.reshape(p, (-1,)) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D `vec` into the parameters (in place, same objects)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected vec to be a Tensor, but got {type(vec).__name__}")
    if vec.ndim != 1:
        raise ValueError(f"vector_to_parameters: expected a 1-D vector, got shape {tuple(vec.shape)}")
    parameters = list(parameters)
    needed = sum(p.array.size for p in parameters)
    if vec.shape[0] != needed:
        raise ValueError(f"vector_to_parameters: the vector has {vec.shape[0]} elements but the parameters "
                         f"need {needed}")
    pointer = 0
    for p in parameters:
        n = p.array.size
        with p._writing() as array:
            array[...] = vec.array[pointer:pointer + n].reshape(p.shape)
        pointer += n
