"""SGD: stochastic gradient descent, with optional momentum, Nesterov momentum and weight decay."""
from __future__ import annotations

import numpy as np

from minigrad.tensor import _make

from .optimizer import Optimizer


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
            d, owned = g, False
            if weight_decay != 0:
                d = np.multiply(p.data, weight_decay)
                if maximize:
                    d -= g
                else:
                    d += g
                owned = True
            elif maximize:
                d, owned = np.negative(g), True
            if momentum != 0:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = _make(np.array(d, dtype=p.data.dtype, copy=True))
                    state["momentum_buffer"] = buf
                else:
                    b = buf.data
                    b *= momentum
                    if dampening != 0:
                        b += (1 - dampening) * d
                    else:
                        b += d
                if nesterov:
                    if owned:
                        d += momentum * buf.data
                    else:
                        d, owned = np.add(d, momentum * buf.data), True
                else:
                    d, owned = buf.data, False
            if owned:
                d *= lr
                p.data -= d
            else:
                p.data -= lr * d
            p._bump_version()
