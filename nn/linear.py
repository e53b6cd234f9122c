"""Linear layers and shape helpers: Linear, Bilinear, Identity, Flatten, Unflatten."""
from __future__ import annotations

import math

import minigrad as mg
from minigrad import ops
from minigrad.tensor import Tensor

from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter



def reset_weight_and_bias(weight, bias) -> None:
    """PyTorch's default for Linear and Conv layers: kaiming_uniform_(a=sqrt(5)) for the weight,
    which is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same range for the bias."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)

class Identity(Module):
    """Returns its input unchanged (arguments are accepted and ignored, as PyTorch)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """y = x W^T + b.

    Args:
        in_features: size of each input sample's last dim.
        out_features: size of each output sample's last dim.
        bias: learn an additive bias.
        dtype: parameter dtype (float32 by default).

    Shapes:
        input (*, in_features) -> output (*, out_features).
        weight (out_features, in_features), bias (out_features,): PyTorch's layout.

    Initialisation (PyTorch's): weight ~ kaiming_uniform_(a=sqrt(5)), i.e.
    U(-1/sqrt(in), 1/sqrt(in)); bias ~ U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(mg.empty(out_features, in_features, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(mg.empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_weight_and_bias(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim == 0 or input.shape[-1] != self.in_features:
            raise RuntimeError(f"Linear: expected input with last dimension {self.in_features} (in_features), "
                               f"got shape {tuple(input.shape)}")
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Bilinear(Module):
    """y_k = x1^T W_k x2 + b_k: weight (out, in1, in2), bias (out,); inputs (N, in1), (N, in2) -> (N, out)."""

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        self.weight = Parameter(mg.empty(out_features, in1_features, in2_features, dtype=dtype))
        if bias:
            self.bias = Parameter(mg.empty(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        if input1.ndim != 2 or input2.ndim != 2 or input1.shape[1] != self.in1_features \
                or input2.shape[1] != self.in2_features or input1.shape[0] != input2.shape[0]:
            raise RuntimeError(f"Bilinear: expected inputs (N, {self.in1_features}) and (N, {self.in2_features}), "
                               f"got shapes {tuple(input1.shape)} and {tuple(input2.shape)}")
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class Flatten(Module):
    """Flattens dims start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) by default. A view."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return ops.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Splits dim `dim` into `unflattened_size`: Unflatten(1, (C, H, W)) maps (N, C*H*W) -> (N, C, H, W)."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        dim = self.dim % input.ndim if -input.ndim <= self.dim < input.ndim else None
        if dim is None:
            raise IndexError(f"Unflatten: dim {self.dim} is out of range for an input of shape {tuple(input.shape)}")
        size = self.unflattened_size
        known = math.prod(s for s in size if s != -1)
        if (-1 not in size and known != input.shape[dim]) or (-1 in size and input.shape[dim] % max(known, 1)):
            raise RuntimeError(f"Unflatten: cannot unflatten dim {self.dim} of size {input.shape[dim]} (input "
                               f"shape {tuple(input.shape)}) into {size}")
        return ops.reshape(input, input.shape[:dim] + size + input.shape[dim + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
