"""torch.autograd.functional: whole Jacobians and Hessians of a function, composed from `grad`.

    J = jacobian(lambda x: x ** 2, x)          # (3, 3) for x of shape (3,)
    H = hessian(lambda x: (x ** 3).sum(), x)   # (3, 3)

One backward pass per output element (PyTorch's reverse mode without `vectorize`); Hessians
differentiate the Jacobian again, so every op used must have a double backward (all minigrad
ops do).
"""
from __future__ import annotations

import numpy as np

from .. import grad_mode, ops
from ..creation import zeros_like
from ..tensor import Tensor
from . import grad

__all__ = ["vjp", "jacobian", "hessian"]


def _as_tuple(value, name: str, op: str):
    """(tuple of tensors, whether value was a tuple)."""
    is_tuple = isinstance(value, (tuple, list))
    values = tuple(value) if is_tuple else (value,)
    for index, v in enumerate(values):
        if not isinstance(v, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor or a tuple of Tensors, but {name} {index} is "
                            f"a {type(v).__name__}")
    return values, is_tuple


def _prepare_inputs(inputs, create_graph: bool, op: str):
    """Inputs that require grad: views of the originals when the result is to be differentiated
    again (the graph then reaches back to them), else detached copies."""
    inputs, is_tuple = _as_tuple(inputs, "inputs", op)
    prepared = []
    for index, x in enumerate(inputs):
        if x.dtype.kind != "f":
            raise RuntimeError(f"{op}: input {index} is {x.dtype}; only floating-point inputs can be "
                               "differentiated")
        if create_graph and x.requires_grad:
            prepared.append(ops.view(x, x.shape))
        else:
            prepared.append(x.detach().requires_grad_(True))
    return tuple(prepared), is_tuple


def _rows(output: Tensor, inputs: tuple, create_graph: bool, strict: bool, op: str) -> list:
    """For each input, d(output)/d(input) shaped output.shape + input.shape."""
    per_input = [[] for _ in inputs]
    flat = ops.reshape(output, (-1,))
    size = flat.shape[0]
    for k in range(size):
        if flat.requires_grad:
            grads = grad(flat[k], inputs, retain_graph=True, create_graph=create_graph, allow_unused=True)
        else:
            grads = (None,) * len(inputs)
        for index, (x, g) in enumerate(zip(inputs, grads)):
            if g is None:
                if strict:
                    raise RuntimeError(f"{op}: output element {k} does not depend on input {index} "
                                       "(strict=True)")
                g = zeros_like(x)
            per_input[index].append(g)
    result = []
    for x, rows in zip(inputs, per_input):
        if rows:
            block = ops.reshape(ops.stack(rows, 0), tuple(output.shape) + tuple(x.shape))
        else:
            block = Tensor(np.zeros(tuple(output.shape) + tuple(x.shape), dtype=x.dtype))
        result.append(block if create_graph else block.detach())
    return result


def jacobian(func, inputs, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
             strategy: str = "reverse-mode"):
    """The Jacobian of `func` at `inputs`.

    Args:
        func: takes the inputs (unpacked) and returns a Tensor or a tuple of Tensors.
        inputs: a Tensor or a tuple of Tensors (floating point).
        create_graph: make the result differentiable (for Hessians and gradient penalties).
        strict: raise if an output does not depend on an input (else that block is zeros).
        vectorize, strategy: PyTorch's speed options; only reverse mode is computed.

    Returns:
        One Tensor of shape output.shape + input.shape when both are single Tensors; a tuple
        over inputs if inputs is a tuple; a tuple over outputs (of those) if func returns a tuple.
    """
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(f"jacobian: strategy must be 'reverse-mode' or 'forward-mode', got {strategy!r}")
    with grad_mode.enable_grad():
        inputs, inputs_tuple = _prepare_inputs(inputs, create_graph, "jacobian")
        outputs, outputs_tuple = _as_tuple(func(*inputs), "outputs of func", "jacobian")
        blocks = [_rows(out, inputs, create_graph, strict, "jacobian") for out in outputs]
    blocks = [tuple(row) if inputs_tuple else row[0] for row in blocks]
    return tuple(blocks) if outputs_tuple else blocks[0]


def hessian(func, inputs, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
            outer_jacobian_strategy: str = "reverse-mode"):
    """The Hessian of a scalar `func` at `inputs`: the Jacobian of its gradient.

    Returns:
        input.shape + input.shape for a single Tensor input; for a tuple of inputs, a tuple of
        tuples, block [i][j] shaped inputs[i].shape + inputs[j].shape.
    """
    inputs_tuple = isinstance(inputs, (tuple, list))

    def gradient(*xs):
        result = jacobian(func, xs, create_graph=True, strict=strict)
        if not isinstance(result, tuple) or any(block.numel() != x.numel() for block, x in zip(result, xs)):
            raise RuntimeError("hessian: func must return a single-element Tensor")
        return tuple(ops.reshape(block, tuple(x.shape)) for block, x in zip(result, xs))

    result = jacobian(gradient, tuple(inputs) if inputs_tuple else (inputs,), create_graph=create_graph,
                      strict=strict)
    return result if inputs_tuple else result[0][0]


def vjp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T J): the outputs and the vector-Jacobian product, as PyTorch.

    v is shaped like the output (may be None for a single-element output)."""
    with grad_mode.enable_grad():
        prepared, inputs_tuple = _prepare_inputs(inputs, create_graph, "vjp")
        outputs, outputs_tuple = _as_tuple(func(*prepared), "outputs of func", "vjp")
        vs = (None,) * len(outputs) if v is None else _as_tuple(v, "v", "vjp")[0]
        grads = grad(list(outputs), list(prepared), grad_outputs=list(vs), create_graph=create_graph,
                     allow_unused=True)
    grads = tuple(zeros_like(x) if g is None else (g if create_graph else g.detach())
                  for g, x in zip(grads, prepared))
    outputs = tuple(o if create_graph else o.detach() for o in outputs)
    return (outputs if outputs_tuple else outputs[0]), (grads if inputs_tuple else grads[0])
