"""Adadelta: steps sized by the ratio of running RMS of past updates to running RMS of gradients."""
from __future__ import annotations

import numpy as np

from minigrad.tensor import _make

from .optimizer import Optimizer, _regularized_gradient


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012), PyTorch's algorithm step for step.

    Each step, with g the gradient (negated if `maximize`):

        g <- g + weight_decay * p                        (if weight_decay != 0)
        v <- rho * v + (1 - rho) * g * g                 ('square_avg')
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u <- rho * u + (1 - rho) * delta * delta         ('acc_delta')
        p <- p - lr * delta

    Args:
        params: tensors to optimize, or dicts defining parameter groups.
        lr: coefficient that scales delta before it is applied.
        rho: decay rate of the running averages of squared gradients and updates.
        eps: added inside both square roots for numerical stability.
        weight_decay: L2 penalty factor added to the gradient.
        maximize: ascend the objective instead of descending it.
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0,
                 *, maximize: bool = False):
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        self._require(group, "rho", 0.0 <= group["rho"] <= 1.0, "rho value", "0 <= rho <= 1")
        self._require(group, "eps", group["eps"] >= 0, "epsilon value", "eps >= 0")
        self._require(group, "weight_decay", group["weight_decay"] >= 0, "weight_decay value",
                      "weight_decay >= 0")

    def _update(self, group: dict) -> None:
        lr = float(group["lr"])
        rho = float(group["rho"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        maximize = group["maximize"]
        for p, g in self._params_with_grad(group):
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["square_avg"] = _make(np.zeros_like(p.array))
                state["acc_delta"] = _make(np.zeros_like(p.array))
            state["step"] += 1
            g = _regularized_gradient(p, g, weight_decay, maximize)

            v, u = state["square_avg"].array, state["acc_delta"].array
            v *= rho
            scratch = np.multiply(g, g, dtype=p.array.dtype)
            scratch *= 1 - rho
            v += scratch
            std = np.add(v, eps, out=scratch)
            np.sqrt(std, out=std)
            delta = np.add(u, eps)
            np.sqrt(delta, out=delta)
            delta /= std
            delta *= g
            u *= rho
            np.multiply(delta, delta, out=scratch)
            scratch *= 1 - rho
            u += scratch
            delta *= lr
            with p._writing() as weight:
                weight -= delta
