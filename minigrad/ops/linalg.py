"""Matrix multiplication: one primitive (numpy's matmul, i.e. BLAS) and its spellings."""
from __future__ import annotations

import numpy as np

from ..function import Function
from ..tensor import Tensor
from .shape import reshape, unsqueeze, squeeze, transpose


class MatMul(Function):
    """a @ b with numpy's rules: 1-D operands are promoted, leading (batch) dims broadcast.

    Shapes: (*, n, k) @ (*, k, m) -> (*, n, m); (k,) @ (*, k, m) -> (*, m); (*, n, k) @ (k,) -> (*, n).
    """
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        if a.ndim == 1 and b.ndim == 1:
            return grad * b, grad * a
        # promote 1-D operands to matrices so one pair of formulas serves every case
        a2 = unsqueeze(a, 0) if a.ndim == 1 else a
        b2 = unsqueeze(b, -1) if b.ndim == 1 else b
        g2 = grad
        if a.ndim == 1:
            g2 = unsqueeze(g2, -2)
        if b.ndim == 1:
            g2 = unsqueeze(g2, -1)
        grad_a = grad_b = None
        if ctx.parents[0] is not None:
            grad_a = matmul(g2, transpose(b2, -1, -2))
            if a.ndim == 1:
                grad_a = squeeze(grad_a, -2)
        if ctx.parents[1] is not None:
            if b2.ndim == 2 and a2.ndim > 2:
                # (batch..., n, k) @ (k, m): fold the batch into rows, one BLAS call instead of a batched sum
                k = a2.shape[-1]
                grad_b = matmul(transpose(reshape(a2, (-1, k)), 0, 1), reshape(g2, (-1, g2.shape[-1])))
            elif b2.ndim == 2 and b2.data.flags.f_contiguous and not b2.data.flags.c_contiguous:
                # b is a transposed matrix (x @ W.T in a linear layer): give its gradient the same
                # layout, so that the transpose back to W's gradient is contiguous and needs no copy
                grad_b = transpose(matmul(transpose(g2, -1, -2), a2), 0, 1)
            else:
                grad_b = matmul(transpose(a2, -1, -2), g2)
            if b.ndim == 1:
                grad_b = squeeze(grad_b, -1)
        return grad_a, grad_b


def matmul(input, other):
    """Matrix product with broadcasting batch dims (numpy's matmul rules).

    Args:
        input: (*, n, k) or (k,).
        other: (*, k, m) or (k,).

    Returns:
        (*, n, m), with the dims of 1-D operands dropped.
    """
    a = input.shape if isinstance(input, Tensor) else np.shape(input)
    b = other.shape if isinstance(other, Tensor) else np.shape(other)
    if len(a) == 0 or len(b) == 0:
        raise RuntimeError(f"matmul: both arguments need at least 1 dimension, got shapes {a} and {b}")
    k_a = a[-1]
    k_b = b[-2] if len(b) > 1 else b[0]
    if k_a != k_b:
        raise RuntimeError(f"matmul: shapes {a} and {b} are not aligned ({k_a} != {k_b})")
    dtype_a = input.dtype if isinstance(input, Tensor) else np.asarray(input).dtype
    dtype_b = other.dtype if isinstance(other, Tensor) else np.asarray(other).dtype
    if dtype_a != dtype_b:  # PyTorch refuses too: a silent float64 result would double time and memory
        raise RuntimeError(f"matmul: expected both operands to have the same dtype, got {dtype_a} and "
                           f"{dtype_b} - convert one with .float() (float32), .double() or .to(dtype)")
    try:
        np.broadcast_shapes(a[:-2], b[:-2])
    except ValueError:
        raise RuntimeError(f"matmul: batch dimensions of shapes {a} and {b} do not broadcast") from None
    return MatMul.apply(input, other)


def mm(input, mat2):
    """Product of two matrices: (n, k) @ (k, m) -> (n, m)."""
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mm: expects two matrices, got shapes {input.shape} and {mat2.shape}")
    return matmul(input, mat2)


def bmm(input, mat2):
    """Batched product: (B, n, k) @ (B, k, m) -> (B, n, m)."""
    if input.ndim != 3 or mat2.ndim != 3 or input.shape[0] != mat2.shape[0]:
        raise RuntimeError(f"bmm: expects two 3-D tensors with the same batch size, got shapes "
                           f"{input.shape} and {mat2.shape}")
    return matmul(input, mat2)


def mv(input, vec):
    """Matrix-vector product: (n, k) @ (k,) -> (n,)."""
    return matmul(input, vec)


def dot(input, other):
    """Dot product of two 1-D tensors."""
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"dot: expects 1-D tensors, got shapes {input.shape} and {other.shape}")
    return matmul(input, other)


def addmm(input, mat1, mat2, *, beta: float = 1, alpha: float = 1):
    """beta * input + alpha * (mat1 @ mat2); input broadcasts to (n, m)."""
    product = mm(mat1, mat2)
    if alpha != 1:
        product = product * alpha
    return product + (input * beta if beta != 1 else input)


def outer(input, vec2):
    """Outer product of two vectors: (n,), (m,) -> (n, m)."""
    return unsqueeze(input, 1) * unsqueeze(vec2, 0)



__all__ = ['addmm', 'bmm', 'dot', 'matmul', 'mm', 'mv', 'outer']
