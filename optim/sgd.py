"""SGD: stochastic gradient descent, with optional momentum, Nesterov momentum and weight decay."""
from __future__ import annotations

import numpy as np

from minigrad.tensor import _make

from .optimizer import Optimizer, _regularized_gradient


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's algorithm step for step.

    Each step, with g the gradient (negated if `maximize`):

        g <- g + weight_decay * p                        (if weight_decay != 0)
        b <- g on the first step, else momentum * b + (1 - dampening) * g
        g <- g + momentum * b if nesterov, else b        (if momentum != 0)
        p <- p - lr * g

    Args:
        params: tensors to optimize, or dicts defining parameter groups.
        lr: learning rate.
        momentum: momentum factor (0 = plain SGD).
        dampening: dampening of the momentum (how much of g enters b).
        weight_decay: L2 penalty factor added to the gradient.
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening = 0).
        maximize: ascend the objective instead of descending it.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        self._require(group, "momentum", group["momentum"] >= 0, "momentum value", "momentum >= 0")
        self._require(group, "weight_decay", group["weight_decay"] >= 0, "weight_decay value",
                      "weight_decay >= 0")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: Nesterov momentum requires a momentum > 0 and zero dampening, got "
                             f"momentum={group['momentum']!r}, dampening={group['dampening']!r}")

    def _update(self, group: dict) -> None:
        lr = float(group["lr"])
        momentum = float(group["momentum"])
        dampening = float(group["dampening"])
        weight_decay = float(group["weight_decay"])
        nesterov, maximize = group["nesterov"], group["maximize"]
        for p, g in self._params_with_grad(group):
            # d is the step direction; `owned` says whether d is our own scratch array
            # (so it may be changed in place) or someone else's (the grad, the buffer)
            d = _regularized_gradient(p, g, weight_decay, maximize)
            owned = d is not g
            if momentum != 0:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = _make(np.array(d, dtype=p.array.dtype, copy=True))
                    state["momentum_buffer"] = buf
                else:
                    b = buf.array
                    b *= momentum
                    if dampening != 0:
                        _add_scaled(b, 1 - dampening, d)
                    else:
                        b += d
                if nesterov:
                    if not owned:
                        d, owned = np.array(d, dtype=p.array.dtype, copy=True), True
                    _add_scaled(d, momentum, buf.array)
                else:
                    d, owned = buf.array, False
            with p._writing() as weight:
                if owned:
                    d *= lr
                    weight -= d
                else:
                    _add_scaled(weight, -lr, d)


# elements per block of `_add_scaled`'s scratch array: 128 KiB of float32, small next to any
# parameter worth chunking, and few enough blocks that the Python loop costs microseconds
_BLOCK = 32768


def _add_scaled(out: np.ndarray, alpha: float, x: np.ndarray) -> None:
    """out += alpha * x in place, through one small scratch array instead of a temporary of x's size.

    `out -= lr * buf` on a (512, 784) weight would allocate a second copy of
    the weight for `lr * buf` (PyTorch's `add_(buf, alpha=-lr)` allocates
    nothing); block by block the extra memory stays at `_BLOCK` elements.
    Each element is computed exactly as `out + alpha * x` would compute it.

    Args:
        out: the array updated in place, any shape.
        alpha: a Python float.
        x: an array of out's shape.
    """
    if out.size <= _BLOCK or x.shape != out.shape:
        out += alpha * x
        return
    if out.flags.c_contiguous and x.flags.c_contiguous:
        flat_out, flat_x = out.reshape(-1), x.reshape(-1)
    elif out.flags.f_contiguous and x.flags.f_contiguous:
        flat_out, flat_x = out.reshape(-1, order="F"), x.reshape(-1, order="F")
    else:  # mixed layouts: no flat view pairs the elements up
        out += alpha * x
        return
    scratch = np.empty(_BLOCK, dtype=np.result_type(x.dtype, alpha))
    for start in range(0, out.size, _BLOCK):
        stop = min(start + _BLOCK, out.size)
        part = scratch[:stop - start]
        np.multiply(flat_x[start:stop], alpha, out=part)
        flat_out[start:stop] += part
