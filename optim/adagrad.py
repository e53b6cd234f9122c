"""Adagrad: per-coordinate learning rates from the sum of all past squared gradients."""
from __future__ import annotations

import numpy as np

from minigrad.tensor import _make

from .optimizer import Optimizer, _regularized_gradient


class Adagrad(Optimizer):
    """Adagrad, PyTorch's algorithm step for step (dense gradients).

    Each step t (from 1), with g the gradient (negated if `maximize`):

        g <- g + weight_decay * p                        (if weight_decay != 0)
        clr = lr / (1 + (t - 1) * lr_decay)
        s <- s + g * g                                   (s starts at initial_accumulator_value)
        p <- p - clr * g / (sqrt(s) + eps)

    As in PyTorch, the state ('step' and 'sum') of every parameter is made
    when the optimizer is built, so the state dict holds it from the start.

    Args:
        params: tensors to optimize, or dicts defining parameter groups.
        lr: learning rate.
        lr_decay: learning rate decay (the rate at step t is lr / (1 + (t - 1) * lr_decay)).
        weight_decay: L2 penalty factor added to the gradient.
        initial_accumulator_value: starting value of the sum of squared gradients.
        eps: added to the denominator for numerical stability.
        maximize: ascend the objective instead of descending it.
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, *, maximize: bool = False):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        self._require(group, "lr_decay", group["lr_decay"] >= 0, "lr_decay value", "lr_decay >= 0")
        self._require(group, "weight_decay", group["weight_decay"] >= 0, "weight_decay value",
                      "weight_decay >= 0")
        self._require(group, "initial_accumulator_value", group["initial_accumulator_value"] >= 0,
                      "initial_accumulator_value value", "initial_accumulator_value >= 0")
        self._require(group, "eps", group["eps"] >= 0, "epsilon value", "eps >= 0")

    def _init_state(self, p, group: dict) -> None:
        state = self.state[p]
        state["step"] = 0
        state["sum"] = _make(np.full_like(p.array, group["initial_accumulator_value"]))

    def _update(self, group: dict) -> None:
        lr = float(group["lr"])
        lr_decay = float(group["lr_decay"])
        weight_decay = float(group["weight_decay"])
        eps = float(group["eps"])
        maximize = group["maximize"]
        for p, g in self._params_with_grad(group):
            state = self.state[p]
            if not state:  # a parameter added with add_param_group after construction
                self._init_state(p, group)
            state["step"] += 1
            t = state["step"]
            g = _regularized_gradient(p, g, weight_decay, maximize)
            clr = lr / (1 + (t - 1) * lr_decay)

            s = state["sum"].array
            scratch = np.multiply(g, g, dtype=p.array.dtype)
            s += scratch
            std = np.sqrt(s, out=scratch)
            std += eps
            np.divide(g, std, out=scratch)
            scratch *= clr
            with p._writing() as weight:
                weight -= scratch
