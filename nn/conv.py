"""Convolution and pooling layers: Conv2d, Conv1d, ConvTranspose2d, ConvTranspose1d, Unfold, Fold,
MaxPool2d, AvgPool2d, MaxPool1d, AvgPool1d, AdaptiveAvgPool2d.

The 2-D layers call the engine's fused conv2d / max_pool2d primitives; the
1-D ones view (N, C, L) as (N, C, 1, L) and call the same primitives.
"""
from __future__ import annotations

import minigrad as mg
from minigrad.tensor import Tensor

from . import functional as F
from .linear import reset_weight_and_bias
from .module import Module
from .parameter import Parameter


def _tuple(value, n: int, name: str, layer: str) -> tuple:
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ValueError(f"{layer}: {name} must be an int or a {n}-tuple, got {value!r}")
        return tuple(int(v) for v in value)
    return (int(value),) * n


class _ConvNd(Module):
    """What every convolution layer has, under PyTorch's names (and, as there, the base of the
    transposed ones): channels, kernel geometry, groups, its weight and bias, the input check and
    the repr. A transposed convolution's weight is laid out as the one of the convolution it
    transposes: (C_in, C_out / groups, *kernel)."""

    _dims = 0
    _layout = ""
    _transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__()
        name, n = type(self).__name__, self._dims
        if padding_mode != "zeros":
            raise NotImplementedError(f"{name}: padding_mode={padding_mode!r} is not supported, only 'zeros'")
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ValueError(f"{name}: padding {padding!r} is not one of 'same', 'valid' (or an int / tuple)")
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                             f"divisible by groups ({groups})")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _tuple(kernel_size, n, "kernel_size", name)
        self.stride = _tuple(stride, n, "stride", name)
        self.padding = padding if isinstance(padding, str) else _tuple(padding, n, "padding", name)
        self.dilation = _tuple(dilation, n, "dilation", name)
        self.output_padding = (0,) * n  # a transposed convolution sets its own
        self.groups = groups
        self.padding_mode = padding_mode
        channels = ((in_channels, out_channels // groups) if self._transposed
                    else (out_channels, in_channels // groups))
        self.weight = Parameter(mg.empty(*channels, *self.kernel_size, dtype=dtype))
        if bias:
            self.bias = Parameter(mg.empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # fan_in from the weight's dim 1: C_in / groups (transposed: C_out / groups) * prod(kernel_size)
        reset_weight_and_bias(self.weight, self.bias)

    def _check(self, input: Tensor) -> None:
        name = type(self).__name__
        if input.ndim not in (self._dims + 1, self._dims + 2):
            raise RuntimeError(f"{name}: expected a {self._dims + 1}-D or {self._dims + 2}-D input {self._layout}, "
                               f"got shape {tuple(input.shape)}")
        channels = input.shape[-self._dims - 1]
        if channels != self.in_channels:
            raise RuntimeError(f"{name}: expected {self.in_channels} input channels, got input of shape "
                               f"{tuple(input.shape)} ({channels} channels)")

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._dims:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._dims:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation, as PyTorch).

    Args:
        in_channels, out_channels: C_in and C_out.
        kernel_size, stride, padding, dilation: int or (h, w); padding may be 'same' or 'valid'.
        groups: C_in and C_out split into this many independent groups (C_in: depthwise).
        bias: learn a (C_out,) bias.

    Shapes:
        input (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out),
        H_out = (H + 2 padding - dilation (kh - 1) - 1) // stride + 1.
        weight (C_out, C_in / groups, kh, kw), bias (C_out,).
    """

    _dims = 2
    _layout = "(C, H, W) or (N, C, H, W)"

    def forward(self, input: Tensor) -> Tensor:
        self._check(input)
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv1d(_ConvNd):
    """1-D convolution over sequences; arguments as Conv2d with ints.

    Shapes:
        input (N, C_in, L) or (C_in, L) -> (N, C_out, L_out); weight (C_out, C_in / groups, k), bias (C_out,).
    """

    _dims = 1
    _layout = "(C, L) or (N, C, L)"

    def forward(self, input: Tensor) -> Tensor:
        self._check(input)
        return F.conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class _MaxPoolNd(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool2d(_MaxPoolNd):
    """Max over kernel-sized windows of (N, C, H, W) or (C, H, W); stride defaults to kernel_size.

    Ties send the gradient to the first maximal element; padding counts as -inf.
    """

    def forward(self, input: Tensor):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)


class MaxPool1d(_MaxPoolNd):
    """Max over windows of (N, C, L) or (C, L); stride defaults to kernel_size."""

    def forward(self, input: Tensor):
        return F.max_pool1d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)


class AvgPool2d(Module):
    """Mean over kernel-sized windows of (N, C, H, W) or (C, H, W); padding counts as zeros."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(Module):
    """Mean over windows of (N, C, L) or (C, L); padding counts as zeros."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        super().__init__()
        self.kernel_size = _tuple(kernel_size, 1, "kernel_size", "AvgPool1d")
        self.stride = _tuple(stride if stride is not None else kernel_size, 1, "stride", "AvgPool1d")
        self.padding = _tuple(padding, 1, "padding", "AvgPool1d")
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to output_size (only sizes dividing the input evenly, e.g. 1 for global pooling)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _ConvTransposeNd(_ConvNd):
    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype=None):
        name = type(self).__name__
        if padding_mode != "zeros":
            raise ValueError(f'{name}: only "zeros" padding mode is supported, got padding_mode={padding_mode!r}')
        # a tuple before _ConvNd sees it: 'same' and 'valid' are a convolution's, not a transposed one's
        super().__init__(in_channels, out_channels, kernel_size, stride, _tuple(padding, self._dims, "padding", name),
                         dilation, groups, bias, padding_mode, device, dtype)
        self.output_padding = _tuple(output_padding, self._dims, "output_padding", name)

    def _output_padding(self, input: Tensor, output_size) -> tuple:
        """output_padding that gives `output_size` (PyTorch's forward(input, output_size))."""
        if output_size is None:
            return self.output_padding
        name, n = type(self).__name__, self._dims
        output_size = tuple(int(v) for v in output_size)
        if len(output_size) == n + 2 or (len(output_size) == n + 1 and input.ndim == n + 1):
            output_size = output_size[-n:]
        if len(output_size) != n:
            raise ValueError(f"{name}: output_size must have {n} or {n + 2} elements, got {output_size}")
        padding = []
        for i in range(n):
            smallest = ((input.shape[-n + i] - 1) * self.stride[i] - 2 * self.padding[i]
                        + self.dilation[i] * (self.kernel_size[i] - 1) + 1)
            largest = smallest + self.stride[i] - 1
            if not smallest <= output_size[i] <= largest:
                raise ValueError(f"{name}: requested an output size of {output_size}, but valid sizes range from "
                                 f"{smallest} to {largest} in dim {i} (for an input of shape "
                                 f"{tuple(input.shape)})")
            padding.append(output_size[i] - smallest)
        return tuple(padding)


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution: the adjoint of Conv2d in its input (upsampling by `stride`).

    Args:
        in_channels, out_channels: C_in and C_out.
        kernel_size, stride, padding, output_padding, dilation: int or (h, w).
        groups: C_in and C_out split into this many independent groups.
        bias: learn a (C_out,) bias.

    Shapes:
        input (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out),
        H_out = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1.
        weight (C_in, C_out / groups, kh, kw), bias (C_out,). Kernel 4, stride 2, padding 1
        (DCGAN's generator) doubles H and W.
    """

    _dims = 2
    _layout = "(C, H, W) or (N, C, H, W)"

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        self._check(input)
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input, output_size), self.groups, self.dilation)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution; arguments as ConvTranspose2d with ints.

    Shapes:
        input (N, C_in, L) or (C_in, L) -> (N, C_out, L_out),
        L_out = (L - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1;
        weight (C_in, C_out / groups, k), bias (C_out,).
    """

    _dims = 1
    _layout = "(C, L) or (N, C, L)"

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        self._check(input)
        return F.conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input, output_size), self.groups, self.dilation)


class Unfold(Module):
    """Sliding local blocks: (N, C, H, W) -> (N, C * kh * kw, L) (F.unfold)."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Tensor) -> Tensor:
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
                f"stride={self.stride}")


class Fold(Module):
    """Blocks back into an image, overlaps added: (N, C * kh * kw, L) -> (N, C, *output_size) (F.fold)."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Tensor) -> Tensor:
        return F.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")
