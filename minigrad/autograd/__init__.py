"""`mg.autograd`: backward(), grad(), custom Functions and anomaly detection."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import function as _function
from ..anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from ..engine import run_backward
from ..grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from ..tensor import Tensor, _make

__all__ = ["Function", "backward", "grad", "detect_anomaly", "set_detect_anomaly",
           "is_anomaly_enabled", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]


class Function(_function.Function):
    """Base class for your own differentiable operation, as `torch.autograd.Function`.

    Write `forward(ctx, *inputs)` on tensors (it runs without recording) and
    `backward(ctx, grad)` returning one gradient per input (None where there
    is none); keep what backward needs with `ctx.save_for_backward(...)` and
    read it back from `ctx.saved_tensors`. Call it as `MyOp.apply(x, ...)`.
    """

    forward_on_tensors = True


def _seed_gradients(outputs, grad_outputs, op: str):
    grads = []
    for index, (out, grad) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(out, Tensor):
            raise TypeError(f"{op}: outputs must be tensors, got {type(out).__name__}")
        if not out._requires_grad:
            raise RuntimeError(f"{op}: output {index} (shape {out.shape}) does not require grad and has "
                               "no grad_fn - did you compute it under no_grad, or from tensors that "
                               "do not require grad?")
        if grad is None:
            if out.array.size != 1:
                raise RuntimeError(f"{op}: grad can be implicitly created only for scalar outputs, "
                                   f"output {index} has shape {out.shape} - pass a gradient of that shape")
            grad = _make(np.ones(out.shape, dtype=out.dtype))
        else:
            if not isinstance(grad, Tensor):
                grad = _make(np.asarray(grad, dtype=out.dtype))
            if grad.shape != out.shape:
                raise RuntimeError(f"{op}: gradient has shape {grad.shape} but output {index} has shape "
                                   f"{out.shape} - they must match")
        grads.append(grad)
    return grads


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def backward(tensors, grad_tensors=None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
    """Accumulate d(tensors)/d(leaf) into every leaf's `.grad`. See `Tensor.backward`."""
    outputs = _as_list(tensors)
    grads = _as_list(grad_tensors) if grad_tensors is not None else [None] * len(outputs)
    if retain_graph is None:
        retain_graph = create_graph
    seeds = _seed_gradients(outputs, grads, "backward")
    run_backward(outputs, seeds, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """Gradients of `outputs` with respect to `inputs`, returned instead of stored in `.grad`.

    Args:
        outputs: tensor or sequence of tensors to differentiate.
        inputs: tensor or sequence of tensors to differentiate with respect to.
        grad_outputs: d(something)/d(outputs), one per output (None for scalar outputs).
        retain_graph: keep the graph for another backward (defaults to create_graph).
        create_graph: record the computation, for higher-order derivatives.
        allow_unused: return None for an input the outputs do not depend on,
            instead of raising.

    Returns:
        Tuple with one gradient per input, each shaped like its input.
    """
    outputs = _as_list(outputs)
    inputs = _as_list(inputs)
    grads = _as_list(grad_outputs) if grad_outputs is not None else [None] * len(outputs)
    for index, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t._requires_grad:
            raise RuntimeError(f"grad: input {index} does not require grad - mark it with requires_grad=True")
    if retain_graph is None:
        retain_graph = create_graph
    seeds = _seed_gradients(outputs, grads, "grad")
    result = run_backward(outputs, seeds, retain_graph, create_graph, inputs=inputs)
    for index, g in enumerate(result):
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: input {index} (shape {inputs[index].shape}) was not used to compute "
                               "the outputs - pass allow_unused=True to get None for it")
    return result


from . import functional  # noqa: E402  (uses grad, above)
