"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""
from __future__ import annotations

import math

import numpy as np

from minigrad.tensor import _make

from .optimizer import Optimizer, _regularized_gradient


class Adam(Optimizer):
    """Adam, PyTorch's single-tensor algorithm step for step.

    Each step t (from 1), with g the gradient (negated if `maximize`):

        p <- p * (1 - lr * weight_decay)                 (decoupled, as AdamW)
        g <- g + weight_decay * p                        (otherwise, if weight_decay != 0)
        m <- m + (1 - beta1) * (g - m)                   (= beta1 m + (1 - beta1) g)
        v <- beta2 * v + (1 - beta2) * g * g
        v_max <- max(v_max, v); use v_max for v          (if amsgrad)
        p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Args:
        params: tensors to optimize, or dicts defining parameter groups.
        lr: learning rate.
        betas: decay rates (beta1, beta2) of the first and second moment averages.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty factor (added to the gradient unless decoupled).
        amsgrad: use the running maximum of the second moment (AMSGrad).
        maximize: ascend the objective instead of descending it.
        decoupled_weight_decay: shrink the weights directly (AdamW) instead of
            adding weight_decay * p to the gradient.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        name = type(self).__name__
        self._require(group, "eps", group["eps"] >= 0, "epsilon value", "eps >= 0")
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: invalid betas {betas!r} - expected a pair (beta1, beta2)")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: invalid beta parameter at index {i}: {beta!r} - "
                                 f"expected 0 <= betas[{i}] < 1")
        self._require(group, "weight_decay", group["weight_decay"] >= 0, "weight_decay value",
                      "weight_decay >= 0")

    def _update(self, group: dict) -> None:
        lr = float(group["lr"])
        beta1, beta2 = float(group["betas"][0]), float(group["betas"][1])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        amsgrad, maximize = group["amsgrad"], group["maximize"]
        decoupled = group["decoupled_weight_decay"]
        for p, g in self._params_with_grad(group):
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["exp_avg"] = _make(np.zeros_like(p.array))
                state["exp_avg_sq"] = _make(np.zeros_like(p.array))
            if amsgrad and "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = _make(np.zeros_like(p.array))
            state["step"] += 1
            t = state["step"]
            if decoupled and weight_decay != 0:
                with p._writing() as weight:
                    weight *= 1 - lr * weight_decay
            g = _regularized_gradient(p, g, 0.0 if decoupled else weight_decay, maximize)
            m, v = state["exp_avg"].array, state["exp_avg_sq"].array
            scratch = np.subtract(g, m, dtype=p.array.dtype)
            scratch *= 1 - beta1
            m += scratch
            v *= beta2
            np.multiply(g, g, out=scratch)
            scratch *= 1 - beta2
            v += scratch

            step_size = lr / (1 - beta1 ** t)
            bias_correction2_sqrt = math.sqrt(1 - beta2 ** t)
            if amsgrad:
                v_max = state["max_exp_avg_sq"].array
                np.maximum(v_max, v, out=v_max)
                v = v_max
            denom = np.sqrt(v, out=scratch)
            denom /= bias_correction2_sqrt
            denom += eps
            np.divide(m, denom, out=scratch)
            scratch *= step_size
            with p._writing() as weight:
                weight -= scratch


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p <- p * (1 - lr * weight_decay) each step.

    Same arguments as `Adam`, but weight_decay defaults to 1e-2 and is applied
    to the weights directly, not added to the gradient.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize, decoupled_weight_decay=True)
