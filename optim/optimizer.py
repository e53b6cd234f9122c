"""Optimizer: the base class every optimizer shares (param groups, state, zero_grad, state dicts).

An optimizer holds `param_groups`, a list of dicts: each has 'params' (a list
of leaf tensors) and its own copy of every hyper-parameter ('lr', ...), so
layers can be trained at different rates and a scheduler can change
`param_groups[i]['lr']` between steps. `state[p]` holds what the update rule
remembers about parameter `p` (momentum buffers, step counts).

Subclasses write `step()` on numpy arrays, in place, with no graph recorded.
"""
from __future__ import annotations

from collections import defaultdict
from itertools import chain

import numpy as np

from minigrad import grad_mode
from minigrad.tensor import Tensor, _make


class Optimizer:
    """Base class of all optimizers.

    Args:
        params: an iterable of tensors, or of dicts each holding 'params' (an
            iterable of tensors) and per-group options overriding `defaults`.
        defaults: the default value of every hyper-parameter.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self._check_group(self.defaults)
        self.state = defaultdict(dict)
        self.param_groups = []
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params should be an iterable of Tensors or dicts, but got a Tensor "
                            "- wrap it in a list: [tensor]")
        if isinstance(params, dict):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            params = [{"params": params}]  # add_param_group explains why a set is refused
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list - expected at least one tensor "
                             "(did the model have no parameters?)")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own options (missing ones come from `defaults`).

        Useful for fine-tuning: unfreeze layers and add them to the optimizer
        as training goes on.

        Args:
            param_group: dict with 'params' (a tensor or an iterable of tensors)
                and any hyper-parameters to override.
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a param group must be a dict, got {type(param_group).__name__}")
        params = param_group.get("params")
        if params is None:
            raise ValueError(f"{name}: the param group has no 'params' entry - expected "
                             "{'params': [tensors], ...}")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: parameters must be given in an ordered collection (list, tuple, "
                            "generator) - the order of a set changes between runs, which would scramble "
                            "the state dict")
        params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, but parameter {i} is a "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor (parameter {i}, shape {p.shape}, "
                                 f"made by {type(p.grad_fn).__name__}) - optimize the leaf it was "
                                 "computed from, or .detach().requires_grad_() it")
            if p.array.dtype.kind != "f":
                raise TypeError(f"{name}: parameter {i} has dtype {p.array.dtype} - only floating-point "
                                "tensors can be optimized")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter group contains the same tensor twice - it would be "
                             "updated twice per step")
        group = dict(param_group)
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def _check_group(self, group: dict) -> None:
        """Raise a clear ValueError if a hyper-parameter of `group` is out of range."""
        self._require(group, "lr", group.get("lr", 0) >= 0, "learning rate", "lr >= 0")

    def _require(self, group: dict, key: str, ok, what: str, expected: str) -> None:
        if not ok:
            raise ValueError(f"{type(self).__name__}: invalid {what} {group[key]!r} - expected {expected}")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized tensors.

        Args:
            set_to_none: set `.grad` to None (the default: frees memory, and
                the next backward writes instead of adding); if False, fill
                the existing gradients with zeros.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif p.grad.grad_fn is not None or not p.grad.array.flags.writeable:
                    p.grad = _make(np.zeros_like(p.grad.array))
                else:
                    with p.grad._writing() as grad:
                        grad.fill(0)

    def step(self, closure=None):
        """Update every parameter that has a gradient, group by group.

        Args:
            closure: optional function that re-evaluates the model and returns
                the loss (it is called with gradients enabled).

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with grad_mode.enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._update(group)
        return loss

    def _update(self, group: dict) -> None:
        """Update the params of one group in place (each optimizer's rule)."""
        raise NotImplementedError(f"{type(self).__name__}: _update() is not implemented")

    # ---- helpers for subclasses -----------------------------------------------------
    def _params_with_grad(self, group: dict):
        """(param, gradient array) for every param of `group` whose .grad is set."""
        for p in group["params"]:
            g = self._grad_array(p)
            if g is not None:
                yield p, g

    def _grad_array(self, p: Tensor):
        """The array of p's .grad (None if unset), refused if its shape is not p's."""
        grad = p.grad
        if grad is None:
            return None
        g = grad.array
        if g.shape != p.array.shape:
            raise RuntimeError(f"{type(self).__name__}: a parameter of shape {p.array.shape} has a "
                               f".grad of shape {g.shape} - expected the same shape")
        return g

    # ---- state dicts ----------------------------------------------------------------
    def state_dict(self) -> dict:
        """The optimizer's state and options, with parameters replaced by their index.

        Returns:
            {'state': {index: {name: Tensor or number}}, 'param_groups':
            [{option: value, ..., 'params': [index, ...]}]}, PyTorch's layout.
            Parameters are numbered in order across groups. Tensors are
            copies, so later steps do not change a saved state dict.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, values in self.state.items():
            if id(p) in index and values:
                state[index[id(p)]] = {key: (_make(value.array.copy()) if isinstance(value, Tensor) else value)
                                       for key, value in values.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore options and state saved by `state_dict()` (from an optimizer over same-shaped params).

        Arrays and tensors are copied and cast to each parameter's dtype;
        'step' counts become ints.

        Args:
            state_dict: a dict as returned by `state_dict()`; its arrays may be
                numpy arrays or Tensors.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            keys = list(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError(f"{name}: load_state_dict expects a dict with 'state' and 'param_groups', "
                             f"got {keys}")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}: the loaded state dict has {len(saved_groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}: parameter group {i} of the loaded state dict has "
                                 f"{len(saved['params'])} parameters, this optimizer's has {len(group['params'])}")
        params_by_index = {int(index): p for index, p in zip(
            chain.from_iterable(g["params"] for g in saved_groups),
            chain.from_iterable(g["params"] for g in self.param_groups))}

        state = defaultdict(dict)
        for index, values in state_dict["state"].items():
            p = params_by_index.get(int(index))
            if p is None:
                raise ValueError(f"{name}: the loaded state dict has state for parameter {index}, "
                                 "which is in none of its param groups")
            state[p] = {key: self._load_value(p, int(index), key, value) for key, value in values.items()}

        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            new_group = {key: _plain(value) for key, value in saved.items() if key != "params"}
            new_group["params"] = group["params"]
            new_groups.append(new_group)
        for group in new_groups:
            self._check_group(group)
        self.state = state
        self.param_groups = new_groups

    def _load_value(self, p: Tensor, index: int, key: str, value):
        if key == "step":
            return int(value.item() if isinstance(value, (Tensor, np.ndarray)) else value)
        if value is None or isinstance(value, (bool, int, float)):
            return value
        array = value.array if isinstance(value, Tensor) else np.asarray(value)
        if array.shape != p.array.shape:
            raise ValueError(f"{type(self).__name__}: state '{key}' of parameter {index} has shape "
                             f"{array.shape}, but the parameter has shape {p.array.shape}")
        return _make(array.astype(p.array.dtype, copy=True))

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        lines.append(")")
        return "\n".join(lines)


def _regularized_gradient(p: Tensor, g: np.ndarray, weight_decay: float, maximize: bool) -> np.ndarray:
    """The gradient an update rule follows: g, negated if `maximize`, plus the L2 term weight_decay * p.

    Returns g itself when neither applies (the caller must not write to it);
    otherwise one new array holding what `(-g if maximize else g) + weight_decay * p`
    holds, with no temporary per term.
    """
    if weight_decay == 0:
        return np.negative(g) if maximize else g
    direction = np.multiply(p.array, weight_decay)
    if direction.dtype != g.dtype:  # a .grad of another dtype than its parameter: promote as `g + ...` would
        direction = direction.astype(np.result_type(direction, g), copy=False)
    if maximize:
        direction -= g
    else:
        direction += g
    return direction


def _plain(value):
    """A numpy scalar or array (as read back from an .npz file) as a Python number or list."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    return value
