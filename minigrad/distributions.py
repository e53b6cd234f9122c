"""Probability distributions with reparameterized sampling (`mg.distributions`, as torch.distributions)."""
from __future__ import annotations

import math

import numpy as np

from . import dtypes
from .random import generator
from .tensor import Tensor, _make
from .ops import log, exp, clamp, sigmoid, softplus, expand, squeeze, take_along_dim
from .ops.neural import softmax, log_softmax


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


def _clamped_probs(probs: Tensor) -> Tensor:
    """probs kept in [eps, 1 - eps] (eps of their dtype), so that their logs are finite (as PyTorch)."""
    eps = float(np.finfo(probs.dtype).eps)
    return clamp(probs, min=eps, max=1 - eps)


def _float_tensor(value, name: str, dist: str) -> Tensor:
    value = _as_tensor(value)
    if value.dtype.kind != "f":
        raise TypeError(f"{dist}: {name} must be a floating-point tensor, got dtype {value.dtype}")
    return value


def _one_of(probs, logits, dist: str) -> None:
    if (probs is None) == (logits is None):
        raise ValueError(f"{dist}: either `probs` or `logits` must be specified, but not both")


class Categorical:
    """Distribution over K classes {0, ..., K-1}, one per batch element (the last dim holds the classes).

    Args:
        probs: (*batch, K) non-negative weights (normalised to sum to 1 along the last dim), or
        logits: (*batch, K) unnormalised log-probabilities (normalised by log_softmax).

    Attributes:
        probs, logits: (*batch, K), normalised; both differentiable in the given parameter.
        batch_shape: the leading dims; event_shape is ().
    """

    def __init__(self, probs=None, logits=None, validate_args: bool | None = None):
        _one_of(probs, logits, "Categorical")
        given = _float_tensor(probs if probs is not None else logits, "probs" if probs is not None else "logits",
                              "Categorical")
        if given.ndim < 1:
            raise ValueError(f"Categorical: `{'probs' if probs is not None else 'logits'}` parameter must be at "
                             f"least one-dimensional, got shape {tuple(given.shape)}")
        if given.shape[-1] < 1:
            raise ValueError(f"Categorical: needs at least one class, got shape {tuple(given.shape)}")
        if probs is not None:
            if (given.array < 0).any() or not np.isfinite(given.array).all():
                raise ValueError("Categorical: probs must be finite and non-negative")
            if (given.array.sum(-1) <= 0).any():
                raise ValueError("Categorical: probs must have a positive sum along the last dim")
            self._probs, self._logits = given / given.sum(-1, keepdim=True), None
        else:
            self._probs, self._logits = None, log_softmax(given, -1)
        self.batch_shape = tuple(given.shape[:-1])
        self.event_shape = ()
        self._num_events = given.shape[-1]

    @property
    def probs(self) -> Tensor:
        return self._probs if self._probs is not None else softmax(self._logits, -1)

    @property
    def logits(self) -> Tensor:
        return self._logits if self._logits is not None else log(_clamped_probs(self._probs))

    @property
    def param_shape(self) -> tuple:
        return self.batch_shape + (self._num_events,)

    def sample(self, sample_shape=()) -> Tensor:
        """Class indices, int64 of shape sample_shape + batch_shape, drawn with minigrad's generator."""
        shape = tuple(sample_shape) + self.batch_shape
        probs = self.probs.array.astype(np.float64)
        cdf = np.cumsum(probs, -1)
        cdf /= cdf[..., -1:]                     # exact 1 at the end: every draw lands in some class
        u = generator().random(shape + (1,))
        # the first class whose cumulative probability exceeds u (a zero-probability class never does)
        return _make(np.minimum((u >= cdf).sum(-1), self._num_events - 1).astype(np.int64))

    def log_prob(self, value) -> Tensor:
        """log P(value) for class indices `value`, broadcast against batch_shape."""
        value = value.array if isinstance(value, Tensor) else np.asarray(value)
        if value.dtype.kind not in "iu" and not (value.dtype.kind == "f" and (value == np.round(value)).all()):
            raise ValueError(f"Categorical.log_prob: expected class indices, got dtype {value.dtype}")
        value = value.astype(np.int64)
        if value.size and (value.min() < 0 or value.max() >= self._num_events):
            raise ValueError(f"Categorical.log_prob: values must be in [0, {self._num_events}), got "
                             f"[{value.min()}, {value.max()}]")
        shape = np.broadcast_shapes(value.shape, self.batch_shape)
        logits = self.logits
        logits = expand(logits, shape + (self._num_events,))
        index = np.broadcast_to(value, shape)[..., None]
        return squeeze(take_along_dim(logits, index, -1), -1)

    def entropy(self) -> Tensor:
        """-sum_k p_k log p_k over the classes: batch_shape (a zero-probability class adds 0)."""
        logits = self.logits
        logits = clamp(logits, min=float(np.finfo(logits.dtype).min))
        return (logits * self.probs).sum(-1) * -1

    @property
    def mean(self) -> Tensor:
        return _make(np.full(self.batch_shape, np.nan, dtype=self.probs.dtype))

    def __repr__(self) -> str:
        return f"Categorical({'probs' if self._probs is not None else 'logits'}: {self.param_shape})"


def _bce(logits: Tensor, target) -> Tensor:
    """binary cross entropy of logits x against target y: softplus(x) - x y.

    As F.binary_cross_entropy_with_logits: one smooth primitive, so the gradient is
    sigmoid(x) - y everywhere (max(x, 0) + log(1 + exp(-|x|)) has kinks at x = 0 that gave -y).
    """
    return softplus(logits) - logits * target


class Bernoulli:
    """Distribution over {0, 1} with P(1) = probs (elementwise; the parameter's shape is batch_shape).

    Args:
        probs: P(1) in [0, 1], or
        logits: log(P(1) / P(0)) (probs = sigmoid(logits)).
    """

    def __init__(self, probs=None, logits=None, validate_args: bool | None = None):
        _one_of(probs, logits, "Bernoulli")
        if probs is not None:
            probs = _float_tensor(probs, "probs", "Bernoulli")
            if ((probs.array < 0) | (probs.array > 1) | np.isnan(probs.array)).any():
                raise ValueError("Bernoulli: probs must be in [0, 1]")
            self._probs, self._logits = probs, None
        else:
            self._probs, self._logits = None, _float_tensor(logits, "logits", "Bernoulli")
        self.batch_shape = tuple((probs if probs is not None else self._logits).shape)
        self.event_shape = ()

    @property
    def probs(self) -> Tensor:
        return self._probs if self._probs is not None else sigmoid(self._logits)

    @property
    def logits(self) -> Tensor:
        if self._logits is not None:
            return self._logits
        p = _clamped_probs(self._probs)
        return log(p) - log(1 - p)

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def variance(self) -> Tensor:
        probs = self.probs
        return probs * (1 - probs)

    def sample(self, sample_shape=()) -> Tensor:
        """0.0 / 1.0 values (the parameter's dtype) of shape sample_shape + batch_shape, no gradient."""
        probs = self.probs.array
        shape = tuple(sample_shape) + self.batch_shape
        return _make((generator().random(shape) < probs).astype(probs.dtype))

    def log_prob(self, value) -> Tensor:
        """value log p + (1 - value) log(1 - p), computed from the logits (stable), broadcast."""
        logits = self.logits
        value = _as_tensor(value)
        if value.dtype.kind != "f":
            value = _make(value.array.astype(logits.dtype))
        return _bce(logits, value) * -1

    def entropy(self) -> Tensor:
        """-(p log p + (1 - p) log(1 - p)), elementwise."""
        return _bce(self.logits, self.probs)

    def __repr__(self) -> str:
        return f"Bernoulli({'probs' if self._probs is not None else 'logits'}: {self.batch_shape})"


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
