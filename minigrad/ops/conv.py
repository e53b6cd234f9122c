"""Convolution and pooling over images in NCHW layout.

conv2d and max_pool2d are fused primitives. conv2d is built on *im2col*: the
kernel-sized windows of a few images at a time are copied into the columns of
an array (one strided slice copy per kernel offset), so that a convolution is
BLAS matmuls; *col2im* adds columns back onto their windows. conv2d's VJPs are
two more primitives of the same kind, conv_transpose2d (col2im of weight^T @
grad) and conv2d_weight (grad @ columns^T), and the VJPs of all three are made
of the three, so a convolution is differentiable again and again. `unfold` and
`fold` (PyTorch's F.unfold and its adjoint) are primitives too, each the
other's VJP. max_pool2d is a running maximum over one strided slice per kernel
offset; its VJP finds each window's winner again instead of keeping indices.

Output size per spatial dim: out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1.
"""
from __future__ import annotations

import functools

import numpy as np

from ..function import Function
from ..tensor import _make
from .shape import cat, reshape


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
        self._offsets = {}  # offsets(padded), made once

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

    def offsets(self, padded: bool) -> list:
        """Each kernel offset (i, j), the windows it falls in and the input elements it sees there.

        A list of (i, j, (oh, ow), (ih, iw)): kernel entry (i, j) multiplies `x[:, :, ih, iw]`
        in the windows `[:, :, oh, ow]` of the (N, C, out_h, out_w) grid. With padded=True
        x is the padded input and every window is included; otherwise x is the unpadded
        input and the windows where (i, j) lands in the padding are left out.
        """
        if padded not in self._offsets:
            spans_h = [self._span(0, i, padded) for i in range(self.kernel[0])]
            spans_w = [self._span(1, j, padded) for j in range(self.kernel[1])]
            self._offsets[padded] = [(i, j, (oh, ow), (ih, iw))
                                     for i, (oh, ih) in enumerate(spans_h)
                                     for j, (ow, iw) in enumerate(spans_w)
                                     if oh is not None and ow is not None]
        return self._offsets[padded]

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


@functools.lru_cache(maxsize=256)
def _geometry(key) -> Geometry:
    """The Geometry of a primitive's `geometry` setting (one object per setting: its offsets are reused)."""
    shape, kernel, stride, padding, dilation = key
    return Geometry(shape, kernel, stride, padding, dilation, "conv2d")


def _unfold_into(cols: np.ndarray, x: np.ndarray, geometry: Geometry) -> None:
    """im2col: copy every window of x (N, C, H, W) into cols (N, C, kh, kw, out_h, out_w).

    cols may be a view of any memory layout. Entries of windows that hang over
    the padding are not written: cols must hold zeros there.
    """
    # one strided slice copy per kernel offset, straight from the unpadded input (no padded copy)
    for i, j, (oh, ow), (ih, iw) in geometry.offsets(padded=False):
        cols[:, :, i, j, oh, ow] = x[:, :, ih, iw]


def _fold_into(x: np.ndarray, cols: np.ndarray, geometry: Geometry) -> None:
    """col2im, the adjoint of `_unfold_into`: add every window of cols back onto x, in place."""
    for i, j, (oh, ow), (ih, iw) in geometry.offsets(padded=False):
        window = x[:, :, ih, iw]
        np.add(window, cols[:, :, i, j, oh, ow], out=window)


def _unfold_array(x: np.ndarray, geometry: Geometry) -> np.ndarray:
    """im2col: (N, C, H, W) -> (N, C * kh * kw, out_h * out_w), PyTorch's F.unfold layout."""
    n, c = x.shape[:2]
    kh, kw = geometry.kernel
    cols = np.zeros((n, c, kh, kw, geometry.out_h, geometry.out_w), dtype=x.dtype)
    _unfold_into(cols, x, geometry)
    return cols.reshape(n, c * kh * kw, geometry.out_h * geometry.out_w)


def _fold_array(cols: np.ndarray, geometry: Geometry) -> np.ndarray:
    """col2im: (N, C * kh * kw, out_h * out_w) -> (N, C, H, W), overlapping windows added."""
    n, c = geometry.input_shape[:2]
    kh, kw = geometry.kernel
    out = np.zeros(geometry.input_shape, dtype=cols.dtype)
    _fold_into(out, cols.reshape(n, c, kh, kw, geometry.out_h, geometry.out_w), geometry)
    return out


class Unfold(Function):
    """im2col: (N, C, H, W) -> (N, C * kh * kw, out_h * out_w). Its VJP is fold."""
    @staticmethod
    def forward(ctx, x, *, geometry):
        return _unfold_array(x, _geometry(geometry))

    @staticmethod
    def backward(ctx, grad):
        return Fold.apply(grad, geometry=ctx.attributes["geometry"])


class Fold(Function):
    """col2im: (N, C * kh * kw, out_h * out_w) -> (N, C, H, W), overlaps added. Its VJP is unfold."""
    @staticmethod
    def forward(ctx, cols, *, geometry):
        return _fold_array(cols, _geometry(geometry))

    @staticmethod
    def backward(ctx, grad):
        return Unfold.apply(grad, geometry=ctx.attributes["geometry"])


# ---- convolution: three primitives, each one's VJP made of the three -----------------------
#
# For y = conv2d(x, w) the VJPs are two more convolutions, and so are theirs:
#     grad_x = conv_transpose2d(grad_y, w)     grad_w = conv2d_weight(x, grad_y)
# Conv2d, ConvTranspose2d and Conv2dWeight are therefore the only primitives a
# convolution and all its derivatives need. Each works through the batch a few
# images at a time: the columns (9x an image for a 3x3 kernel) never exist for
# the whole batch, so they stay in cache and add little to a step's peak memory.

_CHUNK_BYTES = 2 ** 21  # work arrays of about this many bytes per chunk of images


def _image_chunks(n: int, bytes_per_image: int, share: float = 1.0) -> list:
    """Slices of the batch, as equal as possible, each with at most `share` * _CHUNK_BYTES of work arrays."""
    count = -(-n * bytes_per_image // int(share * _CHUNK_BYTES))   # ceil
    size = max(1, -(-n // max(1, count)))
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def _images_last(shape: tuple, dtype, zeros: bool = False) -> np.ndarray:
    """A new array seen as `shape` (batch axis first) but with the batch axis innermost in memory.

    A kernel offset's slice of such an array runs along whole rows of images at
    once (out_w * N contiguous numbers instead of out_w), which makes the slice
    adds of col2im several times faster.
    """
    return _images_first((np.zeros if zeros else np.empty)(shape[1:] + shape[:1], dtype=dtype), shape)


def _images_first(memory: np.ndarray, shape: tuple) -> np.ndarray:
    """`memory`, laid out with the batch axis last, seen as the batch-first `shape` (a view)."""
    return np.moveaxis(memory.reshape(shape[1:] + shape[:1]), -1, 0)


def _memory(images_last: np.ndarray) -> np.ndarray:
    """The contiguous array behind an `_images_last` view (batch axis last)."""
    return np.moveaxis(images_last, 0, -1)


class Conv2d(Function):
    """Cross-correlation of x (N, C, H, W) with weight (O, C, kh, kw), plus bias (O,) -> (N, O, out_h, out_w).

    Forward: im2col of a few images, (B, C*kh*kw, L), then the flattened weight
    (O, C*kh*kw) times each image's columns: one BLAS matmul per image, which
    lands straight in NCHW order. VJP: conv_transpose2d and conv2d_weight.
    """
    @staticmethod
    def forward(ctx, x, weight, bias, *, geometry):
        ctx.save_for_backward(x, weight)
        g = _geometry(geometry)
        n, c = x.shape[:2]
        kh, kw = g.kernel
        flat_weight = weight.reshape(weight.shape[0], -1)                  # (O, C*kh*kw)
        out = np.empty((n, weight.shape[0], g.out_h * g.out_w), dtype=x.dtype)
        for part in _image_chunks(n, c * kh * kw * g.out_h * g.out_w * x.itemsize):
            cols = np.zeros((part.stop - part.start, c, kh, kw, g.out_h, g.out_w), dtype=x.dtype)
            _unfold_into(cols, x[part], g)
            np.matmul(flat_weight, cols.reshape(len(cols), flat_weight.shape[1], -1), out=out[part])
        if bias is not None:
            out += bias.reshape(-1, 1)
        return out.reshape(n, weight.shape[0], g.out_h, g.out_w)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        geometry = ctx.attributes["geometry"]
        grad_x = grad_weight = grad_bias = None
        if ctx.parents[0] is not None:
            grad_x = ConvTranspose2d.apply(grad, weight, geometry=geometry)
        if ctx.parents[1] is not None:
            grad_weight = Conv2dWeight.apply(x, grad, geometry=geometry)
        if ctx.parents[2] is not None:
            grad_bias = grad.sum((0, 2, 3))
        return grad_x, grad_weight, grad_bias


class ConvTranspose2d(Function):
    """The adjoint of conv2d in its input: grad (N, O, out_h, out_w), weight (O, C, kh, kw) -> (N, C, H, W).

    col2im(weight^T @ grad): each output position sends weight-weighted copies
    of its value back onto the window it came from. VJP: conv2d of the incoming
    gradient for `grad`, conv2d_weight for `weight`.
    """
    @staticmethod
    def forward(ctx, grad, weight, *, geometry):
        ctx.save_for_backward(grad, weight)
        g = _geometry(geometry)
        n, c, h, w = g.input_shape
        o, kh, kw = weight.shape[0], *g.kernel
        flat_weight_t = weight.reshape(o, -1).T                             # (C*kh*kw, O)
        out = np.empty(g.input_shape, dtype=grad.dtype)
        for part in _image_chunks(n, c * kh * kw * g.out_h * g.out_w * grad.itemsize):
            size = part.stop - part.start
            # images innermost: the matmul then gives columns whose kernel-offset slices are long rows
            rows = _images_last((size, o, g.out_h, g.out_w), grad.dtype)
            rows[...] = grad[part]
            cols = np.matmul(flat_weight_t, _memory(rows).reshape(o, -1))    # (C*kh*kw, L * size)
            image = _images_last((size, c, h, w), grad.dtype, zeros=True)
            _fold_into(image, _images_first(cols, (size, c, kh, kw, g.out_h, g.out_w)), g)
            out[part] = image
        return out

    @staticmethod
    def backward(ctx, grad_image):
        grad, weight = ctx.saved_tensors
        geometry = ctx.attributes["geometry"]
        grad_grad = grad_weight = None
        if ctx.parents[0] is not None:
            grad_grad = Conv2d.apply(grad_image, weight, None, geometry=geometry)
        if ctx.parents[1] is not None:
            grad_weight = Conv2dWeight.apply(grad_image, grad, geometry=geometry)
        return grad_grad, grad_weight


class Conv2dWeight(Function):
    """The gradient of conv2d in its weight: x (N, C, H, W), grad (N, O, out_h, out_w) -> (O, C, kh, kw).

    The sum over images and positions of grad times the window it saw: with
    the columns of B images side by side, (C*kh*kw, B*L), and grad likewise,
    (O, B*L), one matmul per chunk of images. VJP: conv_transpose2d for x,
    conv2d for `grad`.
    """
    @staticmethod
    def forward(ctx, x, grad, *, geometry):
        ctx.save_for_backward(x, grad)
        g = _geometry(geometry)
        n, c = x.shape[:2]
        o, kh, kw = grad.shape[1], *g.kernel
        length = g.out_h * g.out_w
        grad_weight_t = np.zeros((c * kh * kw, o), dtype=x.dtype)
        # a long, thin matmul: fastest while both its operands stay in cache, so smaller chunks
        for part in _image_chunks(n, (c * kh * kw + o) * length * x.itemsize, share=0.25):
            size = part.stop - part.start
            cols = np.zeros((c, kh, kw, size, g.out_h, g.out_w), dtype=x.dtype)
            _unfold_into(cols.transpose(3, 0, 1, 2, 4, 5), x[part], g)
            rows = np.ascontiguousarray(grad[part].reshape(size, o, length).transpose(1, 0, 2))  # (O, B, L)
            grad_weight_t += cols.reshape(c * kh * kw, -1) @ rows.reshape(o, -1).T
        return np.ascontiguousarray(grad_weight_t.T).reshape(o, c, kh, kw)

    @staticmethod
    def backward(ctx, grad_weight):
        x, grad = ctx.saved_tensors
        geometry = ctx.attributes["geometry"]
        grad_x = grad_grad = None
        if ctx.parents[0] is not None:
            grad_x = ConvTranspose2d.apply(grad, grad_weight, geometry=geometry)
        if ctx.parents[1] is not None:
            grad_grad = Conv2d.apply(x, grad_weight, None, geometry=geometry)
        return grad_x, grad_grad


class MaxPool2d(Function):
    """Largest value of each window: (N, C, H, W) -> (N, C, out_h, out_w); padding counts as -inf.

    The VJP sends each output's gradient to the input element that won its
    window (the first one, on ties; the first NaN, as argmax); overlapping
    windows add up. Forward keeps only which kernel offset won each window
    (a uint8 per output for kernels up to 16x16), not the input or the output,
    so either may then change in place.
    """
    @staticmethod
    def forward(ctx, x, *, geometry):
        out, winner = _max_and_winner(x, _geometry(geometry))
        ctx.save_for_backward(winner)
        return out

    @staticmethod
    def backward(ctx, grad):
        winner, = ctx.saved_tensors
        return MaxPool2dBackward.apply(grad, winner, geometry=ctx.attributes["geometry"])


def _max_and_winner(x: np.ndarray, geometry: Geometry):
    """Each window's maximum, and the index i * kw + j of the kernel offset that holds it first."""
    padded = geometry.pad(x, fill=-np.inf)
    candidates = [padded[:, :, rows, columns] for _, _, _, (rows, columns) in geometry.offsets(padded=True)]
    # a running maximum over the kh*kw strided slices: elementwise ufuncs on large arrays
    out, previous = candidates[0].copy(), np.empty(candidates[0].shape, dtype=x.dtype)
    winner = np.zeros(out.shape, dtype=np.min_scalar_type(len(candidates) - 1))
    better = np.empty(out.shape, dtype=bool)
    for k, candidate in enumerate(candidates[1:], 1):
        out, previous = previous, out
        np.maximum(previous, candidate, out=out)       # NaN wins, as in PyTorch
        np.greater(out, previous, out=better)          # grew: strictly larger, a tie stays with the earlier offset
        # k exceeds every earlier offset, so max() sets k exactly where better (np.where is ~10x slower)
        np.maximum(winner, better * winner.dtype.type(k), out=winner)
    nan_windows = np.isnan(out)
    if nan_windows.any():  # a NaN is greater than nothing: its window's first NaN wins, as argmax
        for k, candidate in reversed(list(enumerate(candidates))):
            winner[nan_windows & np.isnan(candidate)] = k
    return out, winner


def _overlapping(geometry: Geometry) -> bool:
    """Do some windows share input elements (stride smaller than the dilated kernel)?"""
    return any(s < (k - 1) * d + 1 for s, k, d in zip(geometry.stride, geometry.kernel, geometry.dilation))


class MaxPool2dBackward(Function):
    """max_pool2d's VJP: grad (N, C, out_h, out_w) sent to each window's winner -> (N, C, H, W).

    `winner` (N, C, out_h, out_w), from the forward, holds the winning kernel
    offset of each window; it is a constant. Its VJP is MaxPool2dPick.
    """
    @staticmethod
    def forward(ctx, grad, winner, *, geometry):
        ctx.save_for_backward(winner)
        g = _geometry(geometry)
        n, c, h, w = g.input_shape
        (ph, pw), overlapping = g.padding, _overlapping(g)
        result = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=grad.dtype)
        for k, (_, _, _, (rows, columns)) in enumerate(g.offsets(padded=True)):
            window = result[:, :, rows, columns]
            if overlapping:
                np.add(window, grad * (winner == k), out=window)
            else:  # every element is in one window at most: a plain write
                np.multiply(grad, winner == k, out=window)
        return np.ascontiguousarray(result[:, :, ph:ph + h, pw:pw + w])

    @staticmethod
    def backward(ctx, grad_image):
        winner, = ctx.saved_tensors
        return MaxPool2dPick.apply(grad_image, winner, geometry=ctx.attributes["geometry"]), None


class MaxPool2dPick(Function):
    """The value of `image` (N, C, H, W) at each window's winner -> (N, C, out_h, out_w).

    The adjoint of MaxPool2dBackward (the derivative of max_pool2d along
    `image`); `winner` is a constant. Its VJP is MaxPool2dBackward.
    """
    @staticmethod
    def forward(ctx, image, winner, *, geometry):
        ctx.save_for_backward(winner)
        g = _geometry(geometry)
        padded = g.pad(image, fill=0)
        picked = np.zeros(winner.shape, dtype=image.dtype)
        for k, (_, _, _, (rows, columns)) in enumerate(g.offsets(padded=True)):
            picked += padded[:, :, rows, columns] * (winner == k)
        return picked

    @staticmethod
    def backward(ctx, grad):
        winner, = ctx.saved_tensors
        return MaxPool2dBackward.apply(grad, winner, geometry=ctx.attributes["geometry"]), None


def _plane_indices(winner: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Each window's winner as an index into its (unpadded) H*W plane: int64 (N, C, out_h, out_w)."""
    w = geometry.input_shape[3]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = geometry.kernel, geometry.stride, geometry.padding, geometry.dilation
    i, j = np.divmod(np.arange(kh * kw), kw)
    corners = (np.arange(geometry.out_h)[:, None] * sh - ph) * w + np.arange(geometry.out_w) * sw - pw
    return np.take(i * dh * w + j * dw, winner) + corners


def _check_input(x, op: str) -> None:
    if x.ndim != 4:
        raise RuntimeError(f"{op}: expected a 4-D input (N, C, H, W), got shape {tuple(x.shape)} - "
                           "add a batch dimension with x.unsqueeze(0) for a single image")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """2-D convolution (cross-correlation) as in PyTorch.

    Args:
        input: (N, C_in, H, W).
        weight: (C_out, C_in / groups, kh, kw).
        bias: (C_out,) or None.
        stride, padding, dilation: int or (h, w) pair; padding may be 'same' or 'valid'.
        groups: split C_in and C_out into this many groups; output group g sees only input
            group g (groups = C_in: depthwise).

    Returns:
        (N, C_out, H_out, W_out) with H_out = (H + 2p - d(kh - 1) - 1) // s + 1.
    """
    _check_input(input, "conv2d")
    if weight.ndim != 4:
        raise RuntimeError(f"conv2d: expected a 4-D weight (C_out, C_in / groups, kh, kw), got shape "
                           f"{tuple(weight.shape)}")
    groups = int(groups)
    if groups < 1 or weight.shape[0] % groups:
        raise RuntimeError(f"conv2d: groups must be a positive divisor of the weight's C_out "
                           f"({weight.shape[0]}, weight shape {tuple(weight.shape)}), got groups={groups}")
    if input.shape[1] != weight.shape[1] * groups:
        raise RuntimeError(f"conv2d: input has {input.shape[1]} channels (shape {tuple(input.shape)}) but the "
                           f"weight expects {weight.shape[1] * groups} (weight shape {tuple(weight.shape)}, "
                           f"groups={groups})")
    if input.dtype != weight.dtype:
        raise RuntimeError(f"conv2d: input dtype {input.dtype} and weight dtype {weight.dtype} differ - "
                           "convert the input with .float() (or the model with .double())")
    if bias is not None and (tuple(bias.shape) != (weight.shape[0],) or bias.dtype != weight.dtype):
        raise RuntimeError(f"conv2d: bias of shape {tuple(bias.shape)} and dtype {bias.dtype} does not fit "
                           f"the weight {tuple(weight.shape)} ({weight.dtype}) - expected shape "
                           f"({weight.shape[0]},) and dtype {weight.dtype}")
    if isinstance(padding, str):
        padding = _named_padding(padding, weight.shape[2:], dilation, stride)
    if groups > 1:
        # one convolution per group on its slice of channels, concatenated: gradients (and
        # double backward) come from the slices and the cat; a group's cost is 1/groups^2 of
        # a full convolution, so the loop costs groups calls of a small one
        per_in, per_out = weight.shape[1], weight.shape[0] // groups
        parts = [conv2d(input[:, g * per_in:(g + 1) * per_in], weight[g * per_out:(g + 1) * per_out],
                        None if bias is None else bias[g * per_out:(g + 1) * per_out],
                        stride, padding, dilation)
                 for g in range(groups)]
        return cat(parts, 1)
    geometry = Geometry(input.shape, weight.shape[2:], stride, padding, dilation, "conv2d")
    return Conv2d.apply(input, weight, bias, geometry=geometry.key())


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
        _, winner = _max_and_winner(input.array, geometry)  # again: return_indices is rare
        return out, _make(_plane_indices(winner, geometry))
    return out


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
