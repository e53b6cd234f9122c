"""RMSprop: divide the gradient by a running root mean square of recent gradients."""
from __future__ import annotations

import numpy as np

from minigrad.tensor import _make

from .optimizer import Optimizer, _regularized_gradient


class RMSprop(Optimizer):
    """RMSprop, PyTorch's algorithm step for step (eps is added after the square root).

    Each step, with g the gradient (negated if `maximize`):

        g <- g + weight_decay * p                        (if weight_decay != 0)
        v <- alpha * v + (1 - alpha) * g * g
        a <- a + (1 - alpha) * (g - a);  s = sqrt(v - a * a) + eps   (if centered)
        s = sqrt(v) + eps                                (otherwise)
        b <- momentum * b + g / s;  p <- p - lr * b      (if momentum > 0, b starts at 0)
        p <- p - lr * g / s                              (otherwise)

    Args:
        params: tensors to optimize, or dicts defining parameter groups.
        lr: learning rate.
        alpha: smoothing constant of the squared-gradient average.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty factor added to the gradient.
        momentum: momentum factor.
        centered: normalize by an estimate of the gradient's variance instead
            of its second moment.
        maximize: ascend the objective instead of descending it.
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, *,
                 maximize: bool = False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        self._require(group, "eps", group["eps"] >= 0, "epsilon value", "eps >= 0")
        self._require(group, "momentum", group["momentum"] >= 0, "momentum value", "momentum >= 0")
        self._require(group, "weight_decay", group["weight_decay"] >= 0, "weight_decay value",
                      "weight_decay >= 0")
        self._require(group, "alpha", group["alpha"] >= 0, "alpha value", "alpha >= 0")

    def _update(self, group: dict) -> None:
        lr = float(group["lr"])
        alpha = float(group["alpha"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        momentum = float(group["momentum"])
        centered, maximize = group["centered"], group["maximize"]
        for p, g in self._params_with_grad(group):
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["square_avg"] = _make(np.zeros_like(p.array))
            if momentum > 0 and "momentum_buffer" not in state:
                state["momentum_buffer"] = _make(np.zeros_like(p.array))
            if centered and "grad_avg" not in state:
                state["grad_avg"] = _make(np.zeros_like(p.array))
            state["step"] += 1
            g = _regularized_gradient(p, g, weight_decay, maximize)

            v = state["square_avg"].array
            v *= alpha
            scratch = np.multiply(g, g, dtype=p.array.dtype)
            scratch *= 1 - alpha
            v += scratch
            if centered:
                a = state["grad_avg"].array
                np.subtract(g, a, out=scratch)
                scratch *= 1 - alpha
                a += scratch
                np.multiply(a, a, out=scratch)
                np.subtract(v, scratch, out=scratch)
                np.sqrt(scratch, out=scratch)
            else:
                np.sqrt(v, out=scratch)
            scratch += eps
            np.divide(g, scratch, out=scratch)  # g / s
            if momentum > 0:
                b = state["momentum_buffer"].array
                b *= momentum
                b += scratch
                np.multiply(b, lr, out=scratch)
            else:
                scratch *= lr
            with p._writing() as weight:
                weight -= scratch
