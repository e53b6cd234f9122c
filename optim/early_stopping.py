"""EarlyStopping: stop training when a validation metric has not improved for `patience` epochs."""
from __future__ import annotations

import math

import numpy as np

from minigrad.tensor import Tensor


class EarlyStopping:
    """Patience-based early stopping that can keep the best weights seen.

    Call `step(metric, model)` once per epoch with the validation metric; it
    returns True when training should stop, i.e. after `patience` epochs in a
    row without an improvement larger than `min_delta`. Then `restore(model)`
    puts the best weights back.

        stopper = optim.EarlyStopping(patience=5, mode='max')
        for epoch in range(100):
            train_one_epoch()
            if stopper.step(validation_accuracy(), model):
                break
        stopper.restore(model)

    Args:
        patience: number of epochs without improvement tolerated (>= 1).
        mode: 'min' (the metric should go down, e.g. a loss) or 'max' (e.g. an accuracy).
        min_delta: the smallest change that counts as an improvement (>= 0).

    Attributes:
        best: the best metric seen (None before the first step).
        best_epoch: index (0-based, counting `step` calls) of the epoch that gave `best`.
        counter: epochs since the last improvement.
        epoch: number of `step` calls so far.
        best_state: copy of the best weights (name -> numpy array), or None.
    """

    def __init__(self, patience: int = 5, mode: str = "min", min_delta: float = 0.0):
        if int(patience) != patience or patience < 1:
            raise ValueError(f"EarlyStopping: invalid patience {patience!r} - expected an integer >= 1")
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: unknown mode {mode!r} - expected 'min' or 'max'")
        if not min_delta >= 0:
            raise ValueError(f"EarlyStopping: invalid min_delta {min_delta!r} - expected min_delta >= 0")
        self.patience = int(patience)
        self.mode = mode
        self.min_delta = float(min_delta)
        self.best = None
        self.best_epoch = None
        self.counter = 0
        self.epoch = 0
        self.best_state = None

    def is_better(self, metric: float) -> bool:
        """Whether `metric` improves on the best value by more than `min_delta`."""
        if math.isnan(metric):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return metric < self.best - self.min_delta
        return metric > self.best + self.min_delta

    def step(self, metric, model=None) -> bool:
        """Record one epoch's metric; keep the model's weights if it is the best so far.

        Args:
            metric: the validation metric (a number or a one-element tensor).
                NaN never counts as an improvement.
            model: optional object with `state_dict()` (e.g. an nn.Module);
                its weights are copied when the metric improves.

        Returns:
            True if training should stop (no improvement for `patience` epochs).
        """
        metric = float(metric)
        if self.is_better(metric):
            self.best = metric
            self.best_epoch = self.epoch
            self.counter = 0
            if model is not None:
                self.best_state = _copy_state(model.state_dict())
        else:
            self.counter += 1
        self.epoch += 1
        return self.counter >= self.patience

    @property
    def should_stop(self) -> bool:
        """True once `patience` epochs in a row have passed without improvement."""
        return self.counter >= self.patience

    def restore(self, model) -> None:
        """Load the best weights kept by `step` back into `model` (with `model.load_state_dict`).

        Args:
            model: the model given to `step` (same parameter names and shapes).
        """
        if self.best_state is None:
            raise RuntimeError("EarlyStopping: no weights to restore - pass the model to step(metric, model) "
                               "so the best weights are kept")
        model.load_state_dict(self.best_state)


def _copy_state(state: dict) -> dict:
    """name -> numpy array copies of a state dict's tensors (so later training does not change them)."""
    return {name: (value.array.copy() if isinstance(value, Tensor) else np.array(value, copy=True))
            for name, value in state.items()}
