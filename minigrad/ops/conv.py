"""Convolution and pooling over images in NCHW layout.

conv2d and max_pool2d are fused primitives. Both are built on *im2col*:
`unfold` copies every kernel-sized window of the (padded) input into one
row of a matrix, so that a convolution is a single BLAS matmul, and `fold`
is its adjoint (it adds each row back onto the window it came from).
unfold and fold are primitives too, each the other's VJP, so conv2d's VJP
written with them is differentiable again.

Output size per spatial dim: out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..function import Function
from ..tensor import Tensor
from .linalg import matmul
from .shape import reshape, permute, index_add


def _pair(value, name: str, op: str) -> tuple:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return tuple(int(v) for v in pair)


def output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


class Geometry:
    """Kernel, stride, padding and dilation of a 2-D window op, and the sizes they give."""

    def __init__(self, input_shape, kernel, stride, padding, dilation, op):
        self.kernel = _pair(kernel, "kernel_size", op)
        self.stride = _pair(stride, "stride", op)
        self.padding = _pair(padding, "padding", op)
        self.dilation = _pair(dilation, "dilation", op)
        if min(self.kernel) < 1 or min(self.stride) < 1 or min(self.dilation) < 1 or min(self.padding) < 0:
            raise ValueError(f"{op}: kernel_size {self.kernel}, stride {self.stride} and dilation "
                             f"{self.dilation} must be positive and padding {self.padding} non-negative")
        self.input_shape = tuple(input_shape)
        n, c, h, w = input_shape
        self.out_h = output_size(h, self.kernel[0], self.stride[0], self.padding[0], self.dilation[0])
        self.out_w = output_size(w, self.kernel[1], self.stride[1], self.padding[1], self.dilation[1])
        if self.out_h < 1 or self.out_w < 1:
            raise RuntimeError(f"{op}: input of spatial size {(h, w)} (padding {self.padding}) is smaller than "
                               f"the kernel {self.kernel} with dilation {self.dilation}: output would be "
                               f"{(self.out_h, self.out_w)}")

    def key(self) -> tuple:
        return (self.input_shape, self.kernel, self.stride, self.padding, self.dilation)

    def windows(self, x: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Strided view of every window: (N, C, out_h, out_w, kh, kw); no copy beyond the padding."""
        (ph, pw), (sh, sw), (dh, dw), (kh, kw) = self.padding, self.stride, self.dilation, self.kernel
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
        span = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
        view = sliding_window_view(x, span, axis=(2, 3))
        return view[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :self.out_h, :self.out_w]


def _geometry(key) -> Geometry:
    shape, kernel, stride, padding, dilation = key
    return Geometry(shape, kernel, stride, padding, dilation, "conv2d")


def _unfold_array(x: np.ndarray, geometry: Geometry) -> np.ndarray:
    """im2col: (N, C, H, W) -> (N * out_h * out_w, C * kh * kw), rows ordered (n, oh, ow)."""
    windows = geometry.windows(x)                     # (N, C, OH, OW, KH, KW) view
    n, c = x.shape[:2]
    kh, kw = geometry.kernel
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * geometry.out_h * geometry.out_w, c * kh * kw)


def _fold_array(cols: np.ndarray, geometry: Geometry) -> np.ndarray:
    """col2im, the adjoint of `_unfold_array`: add every row back onto its window."""
    n, c, h, w = geometry.input_shape
    (ph, pw), (sh, sw), (dh, dw), (kh, kw) = geometry.padding, geometry.stride, geometry.dilation, geometry.kernel
    oh, ow = geometry.out_h, geometry.out_w
    blocks = cols.reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)  # (N, C, KH, KW, OH, OW)
    out = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh, j * dw: j * dw + sw * (ow - 1) + 1: sw] += blocks[:, :, i, j]
    return out[:, :, ph: ph + h, pw: pw + w]


class Unfold(Function):
    """im2col: (N, C, H, W) -> (N * out_h * out_w, C * kh * kw). Its VJP is fold."""
    @staticmethod
    def forward(ctx, x, geometry):
        return _unfold_array(x, _geometry(geometry))

    @staticmethod
    def backward(ctx, grad):
        return Fold.apply(grad, geometry=ctx.attributes["geometry"])


class Fold(Function):
    """col2im: (N * out_h * out_w, C * kh * kw) -> (N, C, H, W), overlaps added. Its VJP is unfold."""
    @staticmethod
    def forward(ctx, cols, geometry):
        return _fold_array(cols, _geometry(geometry))

    @staticmethod
    def backward(ctx, grad):
        return Unfold.apply(grad, geometry=ctx.attributes["geometry"])


class Conv2d(Function):
    """Cross-correlation of x (N, C, H, W) with weight (O, C, kh, kw) -> (N, O, out_h, out_w).

    Forward: one matmul of the unfolded input with the flattened weight.
    VJP: grad_weight = grad^T @ unfold(x); grad_x = fold(grad @ weight).
    """
    @staticmethod
    def forward(ctx, x, weight, geometry):
        ctx.save_for_backward(x, weight)
        g = _geometry(geometry)
        cols = _unfold_array(x, g)
        out = cols @ weight.reshape(weight.shape[0], -1).T           # (N*OH*OW, O)
        n = x.shape[0]
        return np.ascontiguousarray(out.reshape(n, g.out_h, g.out_w, -1).transpose(0, 3, 1, 2))

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        geometry = ctx.attributes["geometry"]
        out_channels = weight.shape[0]
        rows = reshape(permute(grad, (0, 2, 3, 1)), (-1, out_channels))   # (N*OH*OW, O)
        grad_x = grad_weight = None
        if ctx.parents[0] is not None:
            grad_x = Fold.apply(matmul(rows, reshape(weight, (out_channels, -1))), geometry=geometry)
        if ctx.parents[1] is not None:
            cols = Unfold.apply(x, geometry=geometry)
            grad_weight = reshape(matmul(permute(rows, (1, 0)), cols), weight.shape)
        return grad_x, grad_weight


class MaxPool2d(Function):
    """Largest value of each window: (N, C, H, W) -> (N, C, out_h, out_w); padding counts as -inf.

    The VJP sends each output's gradient to the input element that won its
    window (the first one, on ties); overlapping windows add up.
    """
    @staticmethod
    def forward(ctx, x, geometry):
        g = _geometry(geometry)
        n, c, h, w = x.shape
        kh, kw = g.kernel
        windows = g.windows(x, fill=-np.inf).reshape(n, c, g.out_h, g.out_w, kh * kw)
        winner = windows.argmax(axis=-1)
        out = np.take_along_axis(windows, winner[..., None], axis=-1)[..., 0]
        # position of each winner in the unpadded input, as (row, column)
        rows = (np.arange(g.out_h)[:, None] * g.stride[0] - g.padding[0]) + (winner // kw) * g.dilation[0]
        cols = (np.arange(g.out_w)[None, :] * g.stride[1] - g.padding[1]) + (winner % kw) * g.dilation[1]
        ctx.plane_indices = rows * w + cols                       # (N, C, OH, OW), index into H*W
        planes = (np.arange(n * c) * (h * w)).reshape(n, c, 1, 1)
        ctx.save_for_backward(ctx.plane_indices + planes)
        ctx.overlapping = g.stride[0] < (kh - 1) * g.dilation[0] + 1 or g.stride[1] < (kw - 1) * g.dilation[1] + 1
        return out

    @staticmethod
    def backward(ctx, grad):
        flat_indices, = ctx.saved_tensors
        shape = ctx.shapes[0]
        size = int(np.prod(shape))
        scattered = index_add(reshape(grad, (-1,)), (size,), (flat_indices.data.reshape(-1),),
                              unique=not ctx.overlapping)
        return reshape(scattered, shape)


def _check_input(x, op: str) -> None:
    if x.ndim != 4:
        raise RuntimeError(f"{op}: expected a 4-D input (N, C, H, W), got shape {tuple(x.shape)} - "
                           "add a batch dimension with x.unsqueeze(0) for a single image")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """2-D convolution (cross-correlation) as in PyTorch.

    Args:
        input: (N, C_in, H, W).
        weight: (C_out, C_in, kh, kw).
        bias: (C_out,) or None.
        stride, padding, dilation: int or (h, w) pair; padding may be 'same' or 'valid'.

    Returns:
        (N, C_out, H_out, W_out) with H_out = (H + 2p - d(kh - 1) - 1) // s + 1.
    """
    _check_input(input, "conv2d")
    if groups != 1:
        raise NotImplementedError(f"conv2d: groups={groups} is not supported, only groups=1")
    if weight.ndim != 4:
        raise RuntimeError(f"conv2d: expected a 4-D weight (C_out, C_in, kh, kw), got shape {tuple(weight.shape)}")
    if input.shape[1] != weight.shape[1]:
        raise RuntimeError(f"conv2d: input has {input.shape[1]} channels (shape {tuple(input.shape)}) but the "
                           f"weight expects {weight.shape[1]} (weight shape {tuple(weight.shape)})")
    if input.dtype != weight.dtype:
        raise RuntimeError(f"conv2d: input dtype {input.dtype} and weight dtype {weight.dtype} differ - "
                           "convert the input with .float() (or the model with .double())")
    if isinstance(padding, str):
        padding = _named_padding(padding, weight.shape[2:], dilation, stride)
    geometry = Geometry(input.shape, weight.shape[2:], stride, padding, dilation, "conv2d")
    out = Conv2d.apply(input, weight, geometry=geometry.key())
    if bias is not None:
        out = out + reshape(bias, (1, -1, 1, 1))
    return out


def _named_padding(padding: str, kernel, dilation, stride):
    if padding == "valid":
        return 0
    if padding == "same":
        if _pair(stride, "stride", "conv2d") != (1, 1):
            raise ValueError("conv2d: padding='same' needs stride 1")
        d = _pair(dilation, "dilation", "conv2d")
        total = [di * (k - 1) for di, k in zip(d, kernel)]
        if any(t % 2 for t in total):
            raise NotImplementedError("conv2d: padding='same' with an even kernel is not supported")
        return tuple(t // 2 for t in total)
    raise ValueError(f"conv2d: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Max pooling over kernel-sized windows.

    Args:
        input: (N, C, H, W).
        kernel_size, stride (default kernel_size), padding, dilation: int or (h, w).
        return_indices: also return each maximum's index into its H*W plane.

    Returns:
        (N, C, H_out, W_out), and the indices (int64, same shape) if asked.
    """
    _check_input(input, "max_pool2d")
    if ceil_mode:
        raise NotImplementedError("max_pool2d: ceil_mode=True is not supported")
    geometry = Geometry(input.shape, kernel_size, stride if stride is not None else kernel_size,
                        padding, dilation, "max_pool2d")
    if max(geometry.padding[0] * 2 > geometry.kernel[0], geometry.padding[1] * 2 > geometry.kernel[1]):
        raise RuntimeError(f"max_pool2d: padding {geometry.padding} should be at most half of the "
                           f"kernel size {geometry.kernel}")
    out = MaxPool2d.apply(input, geometry=geometry.key())
    if return_indices:
        from ..tensor import _make
        node = out._node
        indices = node.plane_indices if node is not None else _pool_indices(input, geometry)
        return out, _make(indices.astype(np.int64))
    return out


def _pool_indices(input, geometry):
    ctx = MaxPool2d.__new__(MaxPool2d)
    MaxPool2d.forward(ctx, input.data, geometry.key())
    return ctx.plane_indices


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True):
    """Average pooling (padding counts as zeros, as PyTorch's default count_include_pad=True).

    Args:
        input: (N, C, H, W).

    Returns:
        (N, C, H_out, W_out).
    """
    _check_input(input, "avg_pool2d")
    if ceil_mode or not count_include_pad:
        raise NotImplementedError("avg_pool2d: only ceil_mode=False and count_include_pad=True are supported")
    geometry = Geometry(input.shape, kernel_size, stride if stride is not None else kernel_size,
                        padding, 1, "avg_pool2d")
    n, c = input.shape[:2]
    kh, kw = geometry.kernel
    cols = Unfold.apply(input, geometry=geometry.key())                       # (N*OH*OW, C*kh*kw)
    means = reshape(cols, (n, geometry.out_h, geometry.out_w, c, kh * kw)).mean(-1)
    return permute(means, (0, 3, 1, 2))


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """PyTorch's F.unfold: (N, C, H, W) -> (N, C * kh * kw, L) with L = out_h * out_w."""
    _check_input(input, "unfold")
    geometry = Geometry(input.shape, kernel_size, stride, padding, dilation, "unfold")
    n, c = input.shape[:2]
    cols = Unfold.apply(input, geometry=geometry.key())
    return permute(reshape(cols, (n, geometry.out_h * geometry.out_w, -1)), (0, 2, 1))
