"""Matrix multiplication: one primitive (numpy's matmul, i.e. BLAS) and its spellings."""
from __future__ import annotations

import numpy as np

from ..engine import broadcasts_to
from ..function import Function
from ..tensor import Tensor
from .shape import expand, reshape, unsqueeze, squeeze, transpose


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
        return _matmul_vjp(grad, a, b, ctx.parents[0] is not None, ctx.parents[1] is not None)


class Addmm(Function):
    """c + a @ b as one op (PyTorch's addmm): a layer's x W^T + b makes one output array, not two.

    Shapes: a (*, n, k), b (k, m), c broadcast to (*, n, m) -> (*, n, m).
    """
    @staticmethod
    def forward(ctx, c, a, b):
        # a only for b's gradient; b for a's gradient and for the layout of its own (see _matmul_vjp)
        ctx.save_for_backward(a if ctx.parents[2] is not None else None, b)
        out = np.matmul(a, b)
        out += c  # into the fresh product: no second array of the output's size
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        parents = ctx.parents
        return (grad,) + _matmul_vjp(grad, a, b, parents[1] is not None, parents[2] is not None)


def _matmul_vjp(grad, a, b, need_a: bool, need_b: bool) -> tuple:
    """The gradients of a and b in a @ b (None where not needed), shaped like a and b up to broadcasting.

    a may be None when its gradient is not needed; b is always given.
    """
    a_vector = a is not None and a.ndim == 1
    b_vector = b.ndim == 1
    if a_vector and b_vector:
        return grad * b if need_a else None, grad * a if need_b else None
    # promote 1-D operands to matrices so one pair of formulas serves every case
    b2 = unsqueeze(b, -1) if b_vector else b
    g2 = unsqueeze(grad, -2) if a_vector else grad
    if b_vector:
        g2 = unsqueeze(g2, -1)
    grad_a = grad_b = None
    if need_a:
        grad_a = matmul(g2, transpose(b2, -1, -2))
        if a_vector:
            grad_a = squeeze(grad_a, -2)
    if need_b:
        a2 = unsqueeze(a, 0) if a_vector else a
        if b2.ndim == 2 and a2.ndim > 2:
            # (batch..., n, k) @ (k, m): fold the batch into rows, one BLAS call instead of a batched sum
            k = a2.shape[-1]
            grad_b = matmul(transpose(reshape(a2, (-1, k)), 0, 1), reshape(g2, (-1, g2.shape[-1])))
        elif b2.ndim == 2 and b2.array.flags.f_contiguous and not b2.array.flags.c_contiguous:
            # b is a transposed matrix (x @ W.T in a linear layer): give its gradient the same
            # layout, so that the transpose back to W's gradient is contiguous and needs no copy
            grad_b = transpose(matmul(transpose(g2, -1, -2), a2), 0, 1)
        else:
            grad_b = matmul(transpose(a2, -1, -2), g2)
        if b_vector:
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
    _check_operands("matmul", input, other)
    return MatMul.apply(input, other)


def _check_operands(name: str, input, other) -> None:
    """Refuse operands matmul cannot multiply, naming the op, the shapes and what was expected."""
    a = input.shape if isinstance(input, Tensor) else np.shape(input)
    b = other.shape if isinstance(other, Tensor) else np.shape(other)
    if len(a) == 0 or len(b) == 0:
        raise RuntimeError(f"{name}: both arguments need at least 1 dimension, got shapes {a} and {b}")
    k_a = a[-1]
    k_b = b[-2] if len(b) > 1 else b[0]
    if k_a != k_b:
        raise RuntimeError(f"{name}: shapes {a} and {b} are not aligned ({k_a} != {k_b})")
    dtype_a = input.dtype if isinstance(input, Tensor) else np.asarray(input).dtype
    dtype_b = other.dtype if isinstance(other, Tensor) else np.asarray(other).dtype
    if dtype_a != dtype_b:  # PyTorch refuses too: a silent float64 result would double time and memory
        raise RuntimeError(f"{name}: expected both operands to have the same dtype, got {dtype_a} and "
                           f"{dtype_b} - convert one with .float() (float32), .double() or .to(dtype)")
    if len(a) > 2 and len(b) > 2:
        try:
            np.broadcast_shapes(a[:-2], b[:-2])
        except ValueError:
            raise RuntimeError(f"{name}: batch dimensions of shapes {a} and {b} do not broadcast") from None


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
    """beta * input + alpha * (mat1 @ mat2).

    Args:
        input: broadcastable to (n, m) (a bias row (m,) is the usual case).
        mat1: (n, k); as an extension, (*, n, k) with batch dims.
        mat2: (k, m).

    Returns:
        (*, n, m), computed as one op (`Addmm`) when beta and alpha are 1.
    """
    if mat1.ndim < 2 or mat2.ndim != 2:
        raise RuntimeError(f"addmm: expects a matrix (or a batch of them) and a matrix, got shapes "
                           f"{tuple(mat1.shape)} and {tuple(mat2.shape)}")
    _check_operands("addmm", mat1, mat2)
    shape = mat1.shape[:-1] + mat2.shape[-1:]
    if beta != 1 or alpha != 1 or not isinstance(input, Tensor) or input.dtype != mat1.dtype or \
            not broadcasts_to(input.shape, shape):
        product = MatMul.apply(mat1, mat2)
        return (product * alpha if alpha != 1 else product) + (input * beta if beta != 1 else input)
    return Addmm.apply(input, mat1, mat2)


def outer(input, vec2):
    """Outer product of two vectors: (n,), (m,) -> (n, m)."""
    return unsqueeze(input, 1) * unsqueeze(vec2, 0)



# ---- einsum --------------------------------------------------------------------------------

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class Einsum(Function):
    """np.einsum over explicit subscripts: no '...', one size per letter, no letter twice in the
    output (`einsum` below brings any equation to this form). The VJP of each operand is itself an
    einsum of the gradient with the other operands."""
    @staticmethod
    def forward(ctx, *operands, equation):
        ctx.save_for_backward(*operands)
        out = np.einsum(equation, *operands, optimize=len(operands) > 1)  # optimize: BLAS contractions
        if any(np.may_share_memory(out, a) for a in operands):  # 'ij->ji', 'ii->i' give views
            out = out.copy()
        return out

    @staticmethod
    def backward(ctx, grad):
        operands = ctx.saved_tensors
        terms, output = ctx.attributes["equation"].split("->")
        terms = terms.split(",")
        return tuple(_einsum_operand_grad(grad, output, terms, operands, k) if parent is not None else None
                     for k, parent in enumerate(ctx.parents))


def _einsum_operand_grad(grad, output: str, terms: list, operands, k: int):
    """d(sum grad * einsum(terms -> output)) / d operand k: the einsum of the gradient and the other
    operands back to operand k's subscripts.

    A letter repeated in operand k (a diagonal, 'ii') gets a fresh letter for each repeat, tied to
    the first by an identity matrix: the gradient lives on the diagonal only. A letter only operand
    k has (summed within it, 'ij->i') comes from a vector of ones: the gradient is broadcast along it.
    """
    target = terms[k]
    sizes = dict(zip(target, operands[k].shape))
    fresh = iter(c for c in _LETTERS if c not in set(output).union(*terms))
    others = [(term, operand) for i, (term, operand) in enumerate(zip(terms, operands)) if i != k]
    subscripts, extra = [], []
    for letter in target:
        if letter in subscripts:
            new = next(fresh)
            extra.append((letter + new, np.eye(sizes[letter], dtype=grad.dtype)))
            subscripts.append(new)
        else:
            subscripts.append(letter)
    available = set(output).union(*(term for term, _ in others))
    for letter in dict.fromkeys(target):
        if letter not in available:
            extra.append((letter, np.ones(sizes[letter], dtype=grad.dtype)))
    pairs = [(output, grad)] + others + extra
    equation = ",".join(term for term, _ in pairs) + "->" + "".join(subscripts)
    return Einsum.apply(*(operand for _, operand in pairs), equation=equation)


def _parse_einsum(equation: str, shapes: list) -> tuple:
    """(explicit terms, explicit output, size of each letter) for `equation` over operands of `shapes`:
    '...' replaced by fresh letters (right-aligned, as broadcasting), the implicit output (the
    '...' letters, then the letters used once, in alphabetical order) made explicit."""
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: the equation {equation!r} has subscripts for {len(terms)} operand(s), "
                         f"but {len(shapes)} were given")
    for part in terms + [rhs]:
        rest = part.replace("...", "", 1)
        bad = [c for c in rest if c not in _LETTERS]
        if bad:
            raise ValueError(f"einsum: invalid subscript {bad[0]!r} in {equation!r} - subscripts are letters "
                             "[a-zA-Z], with at most one '...' per operand")
    counts = {}
    for term in terms:
        for c in term.replace("...", ""):
            counts[c] = counts.get(c, 0) + 1
    free = [c for c in _LETTERS if c not in counts and c not in rhs]
    ellipsis_dims = []
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        named = len(term.replace("...", ""))
        if "..." in term and len(shape) >= named:
            ellipsis_dims.append(len(shape) - named)
        elif len(shape) != named:
            raise RuntimeError(f"einsum: operand {i} has {len(shape)} dimensions, but the equation gives it "
                               f"{named} subscript(s) ({term!r})")
        else:
            ellipsis_dims.append(0)
    width = max(ellipsis_dims, default=0)
    if width > len(free):
        raise ValueError(f"einsum: too many dimensions for the 52 subscript letters in {equation!r}")
    broadcast = "".join(free[:width])
    terms = [term.replace("...", broadcast[width - e:]) for term, e in zip(terms, ellipsis_dims)]
    if not arrow:
        rhs = broadcast + "".join(sorted(c for c, n in counts.items() if n == 1))
    else:
        rhs = rhs.replace("...", broadcast)
    for c in rhs:
        if rhs.count(c) > 1:
            raise ValueError(f"einsum: output subscript {c!r} appears more than once in {equation!r}")
        if not any(c in term for term in terms):
            raise ValueError(f"einsum: output subscript {c!r} does not appear in the operands of {equation!r}")
    sizes = {}
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        own = {}
        for c, n in zip(term, shape):
            if own.setdefault(c, n) != n:
                raise RuntimeError(f"einsum: subscript {c!r} is repeated in operand {i} for dimensions of sizes "
                                   f"{own[c]} and {n} - a repeated subscript takes a diagonal, which needs equal sizes")
            seen = sizes.get(c, n)
            if seen != n and 1 not in (seen, n):
                raise RuntimeError(f"einsum: operand {i} has size {n} for subscript {c!r}, which does not broadcast "
                                   f"with size {seen} elsewhere (shapes {[tuple(s) for s in shapes]})")
            sizes[c] = n if seen == 1 else seen
    return terms, rhs, sizes


def einsum(equation: str, *operands):
    """Sums of products of the operands' elements over the subscripts left out of the output,
    written in Einstein notation: einsum('ij,jk->ik', a, b) is a @ b.

    Args:
        equation: comma-separated subscripts (letters) per operand, '->' and the output's; without
            '->', the output is the letters used once, in alphabetical order. A letter repeated in
            one operand takes its diagonal; '...' stands for leading (broadcast) dims; dims that
            share a letter must have equal sizes or size 1 (broadcast).
        operands: tensors of one dtype (or one list of them).

    Returns:
        Tensor with one dim per output subscript. Each operand's gradient is itself an einsum, so
        higher derivatives work too.
    """
    if not isinstance(equation, str):
        raise TypeError("einsum: the sublist form einsum(a, [0, 1], b, [1, 2]) is not supported - pass an "
                        "equation string first, as einsum('ij,jk->ik', a, b)")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum: expected at least one operand")
    operands = [op if isinstance(op, Tensor) else Tensor(np.asarray(op)) for op in operands]
    dtypes = {op.dtype for op in operands}
    if len(dtypes) > 1:
        raise RuntimeError(f"einsum: expected all operands to have the same dtype, got "
                           f"{', '.join(str(op.dtype) for op in operands)} - convert them with .to(dtype)")
    terms, output, sizes = _parse_einsum(equation, [op.shape for op in operands])
    expanded = []
    for term, op in zip(terms, operands):
        shape = tuple(sizes[c] for c in term)
        expanded.append(expand(op, shape) if op.shape != shape else op)  # size-1 dims broadcast
    return Einsum.apply(*expanded, equation=",".join(terms) + "->" + output)


__all__ = ['addmm', 'bmm', 'dot', 'einsum', 'matmul', 'mm', 'mv', 'outer']
