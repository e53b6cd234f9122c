"""Probability distributions with reparameterized sampling (`mg.distributions`, as torch.distributions)."""
from __future__ import annotations

import math

import numpy as np

from . import dtypes
from .random import generator
from .tensor import Tensor, _make
from .ops import log, exp


def _as_tensor(value) -> Tensor:
    return value if isinstance(value, Tensor) else _make(dtypes.as_array(value, dtypes.default_float))


class Normal:
    """Normal distribution N(loc, scale^2); loc and scale broadcast together.

    Args:
        loc: mean (tensor or number).
        scale: standard deviation, > 0 (tensor or number).
    """

    def __init__(self, loc, scale, validate_args: bool | None = None):
        self.loc = _as_tensor(loc)
        self.scale = _as_tensor(scale)
        if (self.scale.array <= 0).any():
            raise ValueError(f"Normal: scale must be positive, got minimum {self.scale.array.min()}")
        self.batch_shape = np.broadcast_shapes(self.loc.shape, self.scale.shape)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def stddev(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        return self.scale * self.scale

    def _noise(self, sample_shape) -> Tensor:
        shape = tuple(sample_shape) + tuple(self.batch_shape)
        dtype = self.loc.dtype if self.loc.dtype.kind == "f" else dtypes.default_float
        return _make(generator().standard_normal(shape).astype(dtype))

    def rsample(self, sample_shape=()) -> Tensor:
        """Differentiable sample loc + scale * eps, eps ~ N(0, 1): shape sample_shape + batch_shape."""
        return self.loc + self.scale * self._noise(sample_shape)

    def sample(self, sample_shape=()) -> Tensor:
        """A sample that does not carry gradients."""
        return self.rsample(sample_shape).detach()

    def log_prob(self, value) -> Tensor:
        """log density at value: -(value - loc)^2 / (2 scale^2) - log(scale) - log(sqrt(2 pi))."""
        value = _as_tensor(value)
        return -((value - self.loc) ** 2) / (2 * self.variance) - log(self.scale) - 0.5 * math.log(2 * math.pi)

    def entropy(self) -> Tensor:
        return 0.5 + 0.5 * math.log(2 * math.pi) + log(self.scale)

    def __repr__(self) -> str:
        return f"Normal(loc: {self.loc.shape}, scale: {self.scale.shape})"


def kl_divergence(p: Normal, q: Normal) -> Tensor:
    """KL(p || q) for two Normals, elementwise:
    log(q.scale / p.scale) + (p.scale^2 + (p.loc - q.loc)^2) / (2 q.scale^2) - 1/2.
    """
    if not (isinstance(p, Normal) and isinstance(q, Normal)):
        raise NotImplementedError(f"kl_divergence: only Normal vs Normal is implemented, got "
                                  f"{type(p).__name__} and {type(q).__name__}")
    variance_ratio = (p.scale / q.scale) ** 2
    mean_term = ((p.loc - q.loc) / q.scale) ** 2
    return 0.5 * (variance_ratio + mean_term - 1 - log(variance_ratio))
