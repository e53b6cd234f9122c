"""Convolution and pooling over images in NCHW layout.

conv2d and max_pool2d are fused primitives. conv2d is built on *im2col*:
`unfold` copies every kernel-sized window of the (padded) input into one
column of a (N, C * kh * kw, out_h * out_w) array, so that a convolution is
one BLAS matmul per image, and `fold` is its adjoint (it adds each column
back onto the window it came from). unfold and fold are primitives too, each
the other's VJP, so conv2d's VJP written with them is differentiable again.
Both work by one strided slice per kernel offset, as does max_pool2d.

Output size per spatial dim: out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1.
"""
from __future__ import annotations

import numpy as np

from ..function import Function
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

    def pad(self, x: np.ndarray, fill: float) -> np.ndarray:
        """x with `fill` around it (x itself without padding)."""
        (ph, pw) = self.padding
        if not (ph or pw):
            return x
        n, c, h, w = x.shape
        padded = np.full((n, c, h + 2 * ph, w + 2 * pw), fill, dtype=x.dtype)  # faster than np.pad
        padded[:, :, ph:ph + h, pw:pw + w] = x
        return padded

    def offsets(self, padded: bool):
        """Each kernel offset (i, j), the windows it falls in and the input elements it sees there.

        Yields (i, j, (oh, ow), (ih, iw)): kernel entry (i, j) multiplies `x[:, :, ih, iw]`
        in the windows `[:, :, oh, ow]` of the (N, C, out_h, out_w) grid. With padded=True
        x is the padded input and every window is included; otherwise x is the unpadded
        input and the windows where (i, j) lands in the padding are left out.
        """
        spans_h = [self._span(0, i, padded) for i in range(self.kernel[0])]
        spans_w = [self._span(1, j, padded) for j in range(self.kernel[1])]
        for i, (oh, ih) in enumerate(spans_h):
            for j, (ow, iw) in enumerate(spans_w):
                if oh is not None and ow is not None:
                    yield i, j, (oh, ow), (ih, iw)

    def _span(self, axis: int, k: int, padded: bool):
        """Windows o whose kernel entry k lands inside x (along `axis`), and those inputs, as slices."""
        out, stride = (self.out_h, self.out_w)[axis], self.stride[axis]
        pad = 0 if padded else self.padding[axis]
        size = self.input_shape[2 + axis] + 2 * (self.padding[axis] - pad)
        first = k * self.dilation[axis] - pad                   # position of entry k in window 0
        lo = max(0, -(first // stride))                          # first window with first + o * stride >= 0
        hi = min(out, (size - 1 - first) // stride + 1)          # past the last one with it <= size - 1
        if lo >= hi:
            return None, None
        return slice(lo, hi), slice(first + lo * stride, first + (hi - 1) * stride + 1, stride)


def _geometry(key) -> Geometry:
    shape, kernel, stride, padding, dilation = key
    return Geometry(shape, kernel, stride, padding, dilation, "conv2d")


def _unfold_array(x: np.ndarray, geometry: Geometry) -> np.ndarray:
    """im2col: (N, C, H, W) -> (N, C * kh * kw, out_h * out_w), PyTorch's F.unfold layout."""
    n, c = x.shape[:2]
    kh, kw = geometry.kernel
    # zeros where a window hangs over the padding; one strided slice copy per kernel offset
    # straight from the unpadded input: no padded copy and no 6-D transpose copy
    cols = np.zeros((n, c, kh, kw, geometry.out_h, geometry.out_w), dtype=x.dtype)
    for i, j, (oh, ow), (ih, iw) in geometry.offsets(padded=False):
        cols[:, :, i, j, oh, ow] = x[:, :, ih, iw]
    return cols.reshape(n, c * kh * kw, geometry.out_h * geometry.out_w)


def _fold_array(cols: np.ndarray, geometry: Geometry) -> np.ndarray:
    """col2im, the adjoint of `_unfold_array`: add every column back onto its window."""
    n, c, h, w = geometry.input_shape
    kh, kw = geometry.kernel
    blocks = cols.reshape(n, c, kh, kw, geometry.out_h, geometry.out_w)  # a view: no transpose needed
    # added straight into the unpadded result, which stays contiguous (no crop of a padded array)
    out = np.zeros((n, c, h, w), dtype=cols.dtype)
    for i, j, (oh, ow), (ih, iw) in geometry.offsets(padded=False):
        out[:, :, ih, iw] += blocks[:, :, i, j, oh, ow]
    return out


class Unfold(Function):
    """im2col: (N, C, H, W) -> (N, C * kh * kw, out_h * out_w). Its VJP is fold."""
    @staticmethod
    def forward(ctx, x, geometry):
        return _unfold_array(x, _geometry(geometry))

    @staticmethod
    def backward(ctx, grad):
        return Fold.apply(grad, geometry=ctx.attributes["geometry"])


class Fold(Function):
    """col2im: (N, C * kh * kw, out_h * out_w) -> (N, C, H, W), overlaps added. Its VJP is unfold."""
    @staticmethod
    def forward(ctx, cols, geometry):
        return _fold_array(cols, _geometry(geometry))

    @staticmethod
    def backward(ctx, grad):
        return Unfold.apply(grad, geometry=ctx.attributes["geometry"])


class Conv2d(Function):
    """Cross-correlation of x (N, C, H, W) with weight (O, C, kh, kw) -> (N, O, out_h, out_w).

    Forward: the flattened weight (O, C*kh*kw) times the unfolded input
    (N, C*kh*kw, L), one BLAS matmul per image, which lands directly in NCHW order.
    VJP: grad_weight = sum over images of grad @ unfold(x)^T; grad_x = fold(weight^T @ grad).
    """
    @staticmethod
    def forward(ctx, x, weight, geometry):
        ctx.save_for_backward(x, weight)
        g = _geometry(geometry)
        cols = _unfold_array(x, g)                                    # (N, C*kh*kw, L)
        out = np.matmul(weight.reshape(weight.shape[0], -1), cols)    # (N, O, L), contiguous
        return out.reshape(x.shape[0], -1, g.out_h, g.out_w)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        geometry = ctx.attributes["geometry"]
        n, out_channels = grad.shape[:2]
        rows = reshape(grad, (n, out_channels, -1))                       # (N, O, L)
        grad_x = grad_weight = None
        if ctx.parents[0] is not None:
            flat_weight = reshape(weight, (out_channels, -1))             # (O, C*kh*kw)
            grad_x = Fold.apply(matmul(permute(flat_weight, (1, 0)), rows), geometry=geometry)
        if ctx.parents[1] is not None:
            cols = Unfold.apply(x, geometry=geometry)                     # (N, C*kh*kw, L)
            grad_weight = reshape(matmul(rows, permute(cols, (0, 2, 1))).sum(0), weight.shape)
        return grad_x, grad_weight


class MaxPool2d(Function):
    """Largest value of each window: (N, C, H, W) -> (N, C, out_h, out_w); padding counts as -inf.

    The VJP sends each output's gradient to the input element that won its
    window (the first one, on ties; the first NaN, as argmax); overlapping
    windows add up.
    """
    @staticmethod
    def forward(ctx, x, geometry):
        g = _geometry(geometry)
        n, c, h, w = x.shape
        kh, kw = g.kernel
        (ph, pw), (dh, dw) = g.padding, g.dilation
        padded = g.pad(x, fill=-np.inf)
        # a running maximum over the kh*kw strided slices: elementwise ufuncs on large
        # arrays, much faster than argmax over a short trailing axis of a reshaped copy
        slices = ((i * kw + j, padded[:, :, rows, columns]) for i, j, _, (rows, columns) in g.offsets(padded=True))
        _, out = next(slices)
        out = out.copy()
        winner = np.zeros(out.shape, dtype=np.min_scalar_type(kh * kw - 1))   # kernel offset i * kw + j
        better, not_nan = np.empty(out.shape, dtype=bool), np.empty(out.shape, dtype=bool)
        for k, candidate in slices:
            # strictly larger (or a NaN), unless the maximum is already NaN: the first winner stays, as argmax
            np.less_equal(candidate, out, out=better)
            np.logical_not(better, out=better)
            better &= np.equal(out, out, out=not_nan)
            # k exceeds every earlier offset, so max() sets k exactly where better (np.where is ~10x slower)
            np.maximum(winner, better * winner.dtype.type(k), out=winner)
            np.maximum(out, candidate, out=out)
        # position of each winner in the unpadded input's H*W plane
        i, j = np.divmod(np.arange(kh * kw), kw)
        shifts = i * dh * w + j * dw
        corners = (np.arange(g.out_h)[:, None] * g.stride[0] - ph) * w + np.arange(g.out_w) * g.stride[1] - pw
        ctx.plane_indices = np.take(shifts, winner) + corners             # (N, C, OH, OW), index into H*W
        planes = (np.arange(n * c) * (h * w)).reshape(n, c, 1, 1)
        ctx.save_for_backward(ctx.plane_indices + planes)
        ctx.overlapping = g.stride[0] < (kh - 1) * dh + 1 or g.stride[1] < (kw - 1) * dw + 1
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
    cols = Unfold.apply(input, geometry=geometry.key())                 # (N, C*kh*kw, OH*OW)
    return reshape(cols, (n, c, kh * kw, geometry.out_h, geometry.out_w)).mean(2)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """PyTorch's F.unfold: (N, C, H, W) -> (N, C * kh * kw, L) with L = out_h * out_w."""
    _check_input(input, "unfold")
    geometry = Geometry(input.shape, kernel_size, stride, padding, dilation, "unfold")
    return Unfold.apply(input, geometry=geometry.key())
