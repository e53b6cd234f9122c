"""Normalisation layers: LayerNorm, BatchNorm1d, BatchNorm2d, GroupNorm."""
from __future__ import annotations

import minigrad as mg
from minigrad import ops
from minigrad.tensor import Tensor

from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter


class LayerNorm(Module):
    """Normalise each sample over its trailing `normalized_shape` dims, then scale and shift.

    y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance.

    Args:
        normalized_shape: int or tuple: the trailing shape to normalise over.
        eps: added to the variance.
        elementwise_affine: learn weight (ones) and bias (zeros) of shape normalized_shape.
        bias: learn the bias (when elementwise_affine).

    Shapes:
        input (*, *normalized_shape) -> output of the same shape.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(mg.empty(*self.normalized_shape, dtype=dtype))
            if bias:
                self.bias = Parameter(mg.empty(*self.normalized_shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        k = len(self.normalized_shape)
        if input.ndim < k or tuple(input.shape[input.ndim - k:]) != self.normalized_shape:
            raise RuntimeError(f"LayerNorm: expected input with trailing shape {self.normalized_shape} "
                               f"(normalized_shape), got shape {tuple(input.shape)}")
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class _BatchNorm(Module):
    """Shared body of BatchNorm1d and BatchNorm2d (PyTorch's _BatchNorm)."""

    _input_ranks: tuple = ()
    _layout: str = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(mg.empty(num_features, dtype=dtype))
            self.bias = Parameter(mg.empty(num_features, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", mg.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", mg.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", mg.tensor(0, dtype=mg.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        name = type(self).__name__
        if input.ndim not in self._input_ranks:
            ranks = " or ".join(f"{r}D" for r in self._input_ranks)
            raise ValueError(f"{name}: expected {ranks} input {self._layout}, got {input.ndim}D input of shape "
                             f"{tuple(input.shape)}")
        if input.shape[1] != self.num_features:
            raise ValueError(f"{name}: expected {self.num_features} channels (num_features) in dim 1, got input "
                             f"of shape {tuple(input.shape)}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            with self.num_batches_tracked._writing() as count:
                count += 1
            if self.momentum is None:
                # cumulative moving average: every batch counts the same
                factor = 1.0 / float(self.num_batches_tracked.array)
        use_batch_stats = self.training or self.running_mean is None
        return F.batch_norm(input,
                            self.running_mean if not self.training or self.track_running_stats else None,
                            self.running_var if not self.training or self.track_running_stats else None,
                            self.weight, self.bias, use_batch_stats, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L), per channel C.

    Training: normalise with the batch mean and biased variance over N (and L);
    update running_mean/running_var with momentum (the unbiased variance).
    Evaluation: normalise with the running statistics.

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: weight of the new batch in the running stats (None: cumulative average).
        affine: learn weight (ones) and bias (zeros) of shape (C,).
        track_running_stats: keep running_mean, running_var and num_batches_tracked buffers;
            without them batch statistics are used in evaluation too.
    """

    _input_ranks = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W), per channel C; arguments as BatchNorm1d."""

    _input_ranks = (4,)
    _layout = "(N, C, H, W)"


class GroupNorm(Module):
    """Normalise (N, C, *) over groups of C // num_groups channels (and all spatial dims), then a per-channel affine.

    Args:
        num_groups: how many groups the C channels are split into (must divide C).
        num_channels: C.
        eps: added to the variance.
        affine: learn weight (ones) and bias (zeros) of shape (C,).
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device=None, dtype=None):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        if affine:
            self.weight = Parameter(mg.ones(num_channels, dtype=dtype))
            self.bias = Parameter(mg.zeros(num_channels, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: expected input (N, {self.num_channels}, *), got shape {tuple(input.shape)}")
        n = input.shape[0]
        grouped = ops.reshape(input, (n, self.num_groups, -1))
        out = ops.reshape(F.layer_norm(grouped, grouped.shape[-1:], eps=self.eps), input.shape)
        if self.affine:
            shape = (1, self.num_channels) + (1,) * (input.ndim - 2)
            out = out * ops.reshape(self.weight, shape) + ops.reshape(self.bias, shape)
        return out

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
