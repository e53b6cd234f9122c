"""Regularising noise layers: Dropout, Dropout1d, Dropout2d and GaussianNoise. Active only in training."""
from __future__ import annotations

from minigrad.random import generator
from minigrad.tensor import Tensor

from . import functional as F
from .module import Module


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero each element with probability p during training and scale the rest by 1 / (1 - p).

    In evaluation mode (`model.eval()`) it is the identity. Masks come from
    minigrad's generator, so `mg.manual_seed` makes them repeatable.

    Args:
        p: probability of zeroing an element.
        inplace: accepted for PyTorch compatibility; the result is always a new tensor.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training)


class Dropout1d(_DropoutNd):
    """Zero whole channels of (N, C, L) with probability p during training (scaled by 1 / (1 - p))."""

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout1d(input, self.p, self.training)


class Dropout2d(_DropoutNd):
    """Zero whole channels of (N, C, H, W) with probability p during training (scaled by 1 / (1 - p))."""

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout2d(input, self.p, self.training)


class GaussianNoise(Module):
    """Add N(0, std^2) noise to the input during training (a denoising-autoencoder corruption).

    Not a PyTorch layer. Identity in evaluation mode or when std == 0; the noise
    is a constant, so the gradient with respect to the input is the identity.

    Args:
        std: standard deviation of the noise.
    """

    def __init__(self, std: float = 0.1):
        super().__init__()
        if std < 0:
            raise ValueError(f"GaussianNoise: std must be non-negative, got {std}")
        self.std = std

    def forward(self, input: Tensor) -> Tensor:
        if not self.training or self.std == 0:
            return input
        noise = generator().standard_normal(input.shape, dtype=input.dtype if input.dtype.kind == "f" and
                                            input.dtype.itemsize >= 4 else "float64")
        return input + (noise * self.std).astype(input.dtype, copy=False)

    def extra_repr(self) -> str:
        return f"std={self.std}"
