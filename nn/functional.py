"""nn.functional: layers and losses as plain functions (torch.nn.functional's names and arguments).

Everything here is a composition of minigrad ops; none of it has backward
code. The fused primitives (conv2d, max_pool2d, softmax, log_softmax,
layer_norm) come from the engine; the rest is a few ops each.

    import minigrad.nn.functional as F
    loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
"""
from __future__ import annotations

import math
import warnings

import numpy as np

import minigrad as mg
from minigrad import ops
from minigrad.ops import conv as conv_ops
from minigrad.ops import neural
from minigrad.random import generator
from minigrad.tensor import Tensor, _make

# ---- activations ---------------------------------------------------------------------


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0) elementwise (gradient 0 at 0). `inplace` is accepted and ignored."""
    return ops.relu(input)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, else negative_slope * x (gradient negative_slope at 0, as PyTorch)."""
    return ops.where(input.array > 0, input, input * negative_slope)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else alpha * (exp(x) - 1)."""
    # exp of min(x, 0): the branch that where() discards must not overflow, or its 0 * inf gradient is nan
    negative = (ops.exp(ops.clamp(input, max=0.0)) - 1) * alpha
    return ops.where(input.array > 0, input, negative)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit: x * Phi(x).

    Args:
        approximate: 'none' uses erf exactly, 0.5 x (1 + erf(x / sqrt(2)));
            'tanh' uses 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
    """
    if approximate == "none":
        return input * (ops.erf(input * (1 / math.sqrt(2.0))) + 1) * 0.5
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2.0 / math.pi)
        return input * (ops.tanh(inner) + 1) * 0.5
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (also called swish)."""
    return input * ops.sigmoid(input)


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), stable for large |x|."""
    return ops.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    return ops.tanh(input)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, computed stably (threshold is accepted; the stable form needs none)."""
    return ops.softplus(input, beta, threshold)


def _softmax_dim(name: str, ndim: int) -> int:
    # PyTorch's legacy choice when dim is left out, with its warning
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. "
                  "Change the call to include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """exp(x) / sum(exp(x)) along dim (a fused, stable primitive). Shape unchanged."""
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim)
    return ops.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """log(softmax(x)) along dim, computed as x - logsumexp(x) (no overflow, no log(0))."""
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim)
    return ops.log_softmax(input, dim, dtype=dtype)


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x): no overflow and no log(0) for any x."""
    return ops.softplus(ops.neg(input)) * -1


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """x limited to [min_val, max_val]; the gradient is 1 strictly inside, 0 elsewhere (as PyTorch)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    inside = (input.array > min_val) & (input.array < max_val)
    # PyTorch's hardtanh_backward passes no gradient at the bounds themselves (clamp's would)
    return ops.where(inside, input, np.clip(input.array, min_val, max_val))


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6): hardtanh(x, 0, 6)."""
    return hardtanh(input, 0.0, 6.0)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x where x > 0, else weight * x, with one learned slope per channel (dim 1) or one shared slope.

    Args:
        input: (N, C, *) or (C,) ... ; weight: (1,) or (C,), C the size of dim 1 (dim 0 for a 1-D input).
    """
    count = weight.array.size
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: expected a 0-D or 1-D weight, got shape {tuple(weight.shape)}")
    if count != 1:
        channel_dim = 1 if input.ndim >= 2 else 0
        if input.ndim == 0 or input.shape[channel_dim] != count:
            raise RuntimeError(f"prelu: mismatch of parameter numbers and input channel size - weight has "
                               f"{count} slopes, input of shape {tuple(input.shape)} has "
                               f"{input.shape[channel_dim] if input.ndim else 0} channels")
        weight = ops.reshape(weight, (count,) + (1,) * (input.ndim - channel_dim - 1))
    else:
        weight = ops.reshape(weight, ())
    return ops.where(input.array > 0, input, input * weight)


# ---- linear, dropout, normalisation, embedding ---------------------------------------


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b.

    Args:
        input: (*, in_features).
        weight: (out_features, in_features), PyTorch's layout.
        bias: (out_features,) or None.

    Returns:
        (*, out_features). Leading dims are folded into one matrix, so a
        (B, T, in) input is one BLAS matmul forward and one per gradient.
    """
    if input.ndim == 0 or input.shape[-1] != weight.shape[-1]:
        raise RuntimeError(f"linear: input of shape {tuple(input.shape)} and weight of shape "
                           f"{tuple(weight.shape)} do not fit - expected the input's last dimension "
                           f"to be {weight.shape[-1]}")
    x = ops.reshape(input, (-1, input.shape[-1])) if input.ndim > 2 else input
    if bias is None:
        out = ops.matmul(x, weight.T)
    elif x.ndim == 1:  # addmm wants a matrix
        out = ops.matmul(x, weight.T) + bias
    else:  # one Addmm op: the product and the sum share one output array
        out = ops.addmm(bias, x, weight.T)
    return ops.reshape(out, input.shape[:-1] + (weight.shape[0],)) if input.ndim > 2 else out


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y_k = x1^T W_k x2 + b_k; weight (out, in1, in2), inputs (N, in1) and (N, in2)."""
    out = ops.matmul(ops.unsqueeze(ops.unsqueeze(input1, 1), 1), ops.unsqueeze(weight, 0))  # (N, out, 1, in2)
    out = ops.sum(ops.squeeze(out, 2) * ops.unsqueeze(input2, 1), -1)
    return out + bias if bias is not None else out


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout: zero elements with probability p, scale survivors by 1 / (1 - p).

    Identity when not training. The mask comes from minigrad's generator.
    """
    return ops.dropout(input, p, training)


def _drop_channels(input: Tensor, p: float, training: bool, mask_shape: tuple) -> Tensor:
    """input times a (mask_shape) keep-mask scaled by 1 / (1 - p): whole channels dropped together."""
    if not training or p == 0.0:
        return input
    keep = generator().random(mask_shape) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    return input * (keep * scale).astype(input.dtype)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, L) or (C, L) with probability p."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout1d: dropout probability has to be between 0 and 1, but got {p}")
    if input.ndim not in (2, 3):
        raise RuntimeError(f"dropout1d: expected a 2-D or 3-D input, got shape {tuple(input.shape)}")
    return _drop_channels(input, p, training, input.shape[:-1] + (1,))


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels (dim 1) of (N, C, H, W) with probability p, scaling the rest by 1 / (1 - p).

    As PyTorch: the mask is (N, C, 1, ...) for any input of 2 or more dims. A 2-D
    (N, C) input therefore loses single elements and a 3-D one is read as (N, C, L);
    both warn (UserWarning), as PyTorch does.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout2d: dropout probability has to be between 0 and 1, but got {p}")
    if input.ndim < 2:
        raise RuntimeError(f"dropout2d: expected an input of at least 2 dims (N, C, ...), got shape "
                           f"{tuple(input.shape)}")
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and will "
                      "result in an error in a future release. To retain the behavior and silence this warning, "
                      "please use dropout instead. Note that dropout2d exists to provide channel-wise dropout on "
                      "inputs with 2 spatial dimensions, a channel dimension, and an optional batch dimension "
                      "(i.e. 3D or 4D inputs).", UserWarning, stacklevel=2)
    elif input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel "
                      "dim. This behavior will change in a future release to interpret the input as one "
                      "without a batch dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise "
                      "dropout behavior, please switch to using dropout1d instead.", UserWarning, stacklevel=2)
    return _drop_channels(input, p, training, input.shape[:2] + (1,) * (input.ndim - 2))


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing `normalized_shape` dims (biased variance), then weight * y + bias."""
    return ops.layer_norm(input, normalized_shape, weight, bias, eps)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over every dim but the channel dim 1.

    Training (or no running stats): normalise with the batch mean and the
    *biased* batch variance, and update the running stats in place with the
    *unbiased* variance: running = (1 - momentum) * running + momentum * batch.
    Evaluation: normalise with the running stats.

    Args:
        input: (N, C) or (N, C, *).
        running_mean, running_var: (C,) buffers or None.
        weight, bias: (C,) or None.

    Returns:
        Tensor shaped like input.
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of at least 2 dims (N, C, *), got shape "
                         f"{tuple(input.shape)}")
    channels = input.shape[1]
    stat_shape = (1, channels) + (1,) * (input.ndim - 2)
    axes = (0,) + tuple(range(2, input.ndim))
    if training or running_mean is None or running_var is None:
        count = input.array.size // channels
        if training and count <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got "
                             f"input of shape {tuple(input.shape)}")
        mean = ops.mean(input, axes, keepdim=True)
        centered = input - mean
        var = ops.mean(centered * centered, axes, keepdim=True)
        if training and running_mean is not None and running_var is not None:
            unbiased = var.array.reshape(channels) * (count / max(count - 1, 1))
            with running_mean._writing() as statistic:
                statistic *= 1 - momentum
                statistic += momentum * mean.array.reshape(channels)
            with running_var._writing() as statistic:
                statistic *= 1 - momentum
                statistic += momentum * unbiased
        out = centered * ops.rsqrt(var + eps)
        if weight is not None:
            out = out * ops.reshape(weight, stat_shape)
        if bias is not None:
            out = out + ops.reshape(bias, stat_shape)
        return out
    # evaluation: one scale and one shift per channel
    scale = _make((1.0 / np.sqrt(running_var.array + eps)).astype(input.dtype, copy=False))
    if weight is not None:
        scale = scale * weight
    shift = running_mean.detach() * scale * -1
    if bias is not None:
        shift = shift + bias
    return input * ops.reshape(scale, stat_shape) + ops.reshape(shift, stat_shape)


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm=None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of weight (num_embeddings, dim) picked by the integer tensor input (*) -> (*, dim).

    The row at padding_idx receives no gradient.
    """
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported")
    return ops.embedding(input, weight, padding_idx)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """(*,) class indices -> (*, num_classes) int64 one-hot rows (num_classes=-1: max + 1)."""
    indices = tensor.array if isinstance(tensor, Tensor) else np.asarray(tensor)
    if indices.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot: is only applicable to index tensors, got dtype {indices.dtype}")
    if indices.size and indices.min() < 0:
        raise RuntimeError(f"one_hot: class values must be non-negative, got {indices.min()}")
    if num_classes == -1:
        if not indices.size:
            raise RuntimeError("one_hot: can not infer the total number of classes from an empty tensor - "
                               "pass num_classes")
        num_classes = int(indices.max()) + 1
    elif num_classes < -1:
        raise RuntimeError(f"one_hot: num_classes should be positive or -1 (infer), got {num_classes}")
    if indices.size and indices.max() >= num_classes:
        raise RuntimeError(f"one_hot: class values must be smaller than num_classes ({num_classes}), "
                           f"got {indices.max()}")
    # a comparison, not a scatter into zeros: numpy work mg.compile's tracer records (and onnx exports)
    return _make((indices[..., None] == np.arange(num_classes)).astype(np.int64))


def _pad_source(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """For each position of a padded dim, the input position it copies (mode reflect/replicate/circular)."""
    j = np.arange(-before, size + after)
    if mode == "replicate":
        return np.clip(j, 0, size - 1)
    if mode == "circular":
        return j % size
    j = np.abs(j)                                       # reflect about 0 ...
    return np.where(j > size - 1, 2 * (size - 1) - j, j)  # ... and about size - 1


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last len(pad) // 2 dims; `pad` lists (before, after) pairs from the LAST dim backwards.

    Args:
        mode: 'constant' (fill with value, default 0), 'reflect' (mirror without repeating the
            edge: pad < size), 'replicate' (repeat the edge) or 'circular' (wrap around: pad <= size).
            The last three pad 1 to 3 trailing dims of an input with one or two more dims
            than that (e.g. (N, C, H, W) or (C, H, W) for a 4-tuple), as PyTorch.

    Returns:
        A new tensor; every mode is differentiable (the copies' gradients add up).
    """
    if mode == "constant":
        return ops.pad(input, pad, mode, 0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"pad: mode {mode!r} is not one of 'constant', 'reflect', 'replicate', "
                                  "'circular'")
    if value is not None and value != 0:
        raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument")
    pad = tuple(int(p) for p in pad)
    dims = len(pad) // 2
    if len(pad) % 2 or dims not in (1, 2, 3) or input.ndim not in (dims + 1, dims + 2):
        raise NotImplementedError(f"pad: {mode} padding of {len(pad)} values needs an even length of 2, 4 or 6 "
                                  f"and an input of {len(pad) // 2 + 1} or {len(pad) // 2 + 2} dims, got shape "
                                  f"{tuple(input.shape)}")
    if min(pad) < 0:
        raise NotImplementedError(f"pad: negative padding {pad} is not supported for mode {mode!r}")
    out = input
    for i in range(dims):
        axis, (before, after) = input.ndim - 1 - i, pad[2 * i:2 * i + 2]
        if not (before or after):
            continue
        size = input.shape[axis]
        if mode == "reflect" and (before >= size or after >= size):
            raise ValueError(f"pad: padding ({before}, {after}) should be less than the dimension {axis} of the "
                             f"input (size {size}) in reflect mode, input shape {tuple(input.shape)}")
        if mode == "circular" and (before > size or after > size):
            raise ValueError(f"pad: padding ({before}, {after}) should be at most the dimension {axis} of the "
                             f"input (size {size}) in circular mode, input shape {tuple(input.shape)}")
        if size == 0:
            raise RuntimeError(f"pad: {mode} padding of an empty dimension {axis} (input shape "
                               f"{tuple(input.shape)})")
        out = ops.getitem(out, (slice(None),) * axis + (_pad_source(size, before, after, mode),))
    return out if out is not input else ops.clone(input)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """input / max(||input||_p, eps) along dim."""
    norm = ops.norm(input, p, dim, keepdim=True)
    return input / ops.clamp(norm, min=eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps)) along dim (inputs broadcast)."""
    n1 = ops.clamp(ops.norm(x1, 2, dim), min=eps)
    n2 = ops.clamp(ops.norm(x2, 2, dim), min=eps)
    return ops.sum(x1 * x2, dim) / (n1 * n2)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p along the last dim."""
    return ops.norm(x1 - x2 + eps, p, -1, keepdim=keepdim)


# ---- convolution and pooling ---------------------------------------------------------


def _single(value, name: str, op: str) -> int:
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise TypeError(f"{op}: {name} must be an int or a 1-tuple, got {value!r}")
        value = value[0]
    return int(value)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """2-D cross-correlation (N, C_in, H, W) * (C_out, C_in, kh, kw) -> (N, C_out, H_out, W_out).

    H_out = (H + 2 padding - dilation (kh - 1) - 1) // stride + 1. An unbatched
    (C_in, H, W) input gives an unbatched output.
    """
    if input.ndim == 3:
        return ops.squeeze(conv2d(ops.unsqueeze(input, 0), weight, bias, stride, padding, dilation, groups), 0)
    return ops.conv2d(input, weight, bias, stride, padding, dilation, groups)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """1-D cross-correlation (N, C_in, L) * (C_out, C_in, k) -> (N, C_out, L_out), via conv2d on (N, C, 1, L)."""
    if input.ndim == 2:
        return ops.squeeze(conv1d(ops.unsqueeze(input, 0), weight, bias, stride, padding, dilation, groups), 0)
    if input.ndim != 3:
        raise RuntimeError(f"conv1d: expected a 3-D input (N, C, L), got shape {tuple(input.shape)}")
    if weight.ndim != 3:
        raise RuntimeError(f"conv1d: expected a 3-D weight (C_out, C_in, k), got shape {tuple(weight.shape)}")
    if not isinstance(padding, str):
        padding = (0, _single(padding, "padding", "conv1d"))
    out = ops.conv2d(ops.unsqueeze(input, 2), ops.unsqueeze(weight, 2), bias,
                     (1, _single(stride, "stride", "conv1d")), padding,
                     (1, _single(dilation, "dilation", "conv1d")), groups)
    return ops.squeeze(out, 2)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """2-D transposed convolution, the adjoint of conv2d in its input (a "deconvolution").

    Args:
        input: (N, C_in, H, W) or (C_in, H, W).
        weight: (C_in, C_out / groups, kh, kw), PyTorch's layout (the conv2d weight it transposes).
        bias: (C_out,) or None.
        stride, padding, output_padding, dilation: int or (h, w); output_padding < stride
            adds rows/columns at the bottom/right (it picks one of the sizes that stride
            makes ambiguous).

    Returns:
        (N, C_out, H_out, W_out), H_out = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1.
    """
    if input.ndim == 3:
        return ops.squeeze(conv_transpose2d(ops.unsqueeze(input, 0), weight, bias, stride, padding, output_padding,
                                            groups, dilation), 0)
    if input.ndim != 4:
        raise RuntimeError(f"conv_transpose2d: expected a 3-D or 4-D input (N, C_in, H, W), got shape "
                           f"{tuple(input.shape)}")
    if weight.ndim != 4:
        raise RuntimeError(f"conv_transpose2d: expected a 4-D weight (C_in, C_out / groups, kh, kw), got shape "
                           f"{tuple(weight.shape)}")
    if groups < 1 or input.shape[1] != weight.shape[0] or weight.shape[0] % groups:
        raise RuntimeError(f"conv_transpose2d: input of shape {tuple(input.shape)} ({input.shape[1]} channels) "
                           f"does not fit the weight of shape {tuple(weight.shape)} with groups={groups} - "
                           f"expected {weight.shape[0]} input channels, divisible by groups")
    if input.dtype != weight.dtype:
        raise RuntimeError(f"conv_transpose2d: input dtype {input.dtype} and weight dtype {weight.dtype} differ")
    out_channels = weight.shape[1] * groups
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise RuntimeError(f"conv_transpose2d: bias of shape {tuple(bias.shape)} does not fit {out_channels} "
                           f"output channels")
    op = "conv_transpose2d"
    stride, padding = conv_ops._pair(stride, "stride", op), conv_ops._pair(padding, "padding", op)
    output_padding = conv_ops._pair(output_padding, "output_padding", op)
    dilation = conv_ops._pair(dilation, "dilation", op)
    kernel = weight.shape[2:]
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0 or min(output_padding) < 0:
        raise ValueError(f"{op}: stride {stride} and dilation {dilation} must be positive, padding {padding} "
                         f"and output_padding {output_padding} non-negative")
    for s, d, o in zip(stride, dilation, output_padding):
        if o >= max(s, d):
            raise ValueError(f"{op}: output padding must be smaller than either stride or dilation, got "
                             f"output_padding={output_padding}, stride={stride}, dilation={dilation}")
        if o >= s:
            raise NotImplementedError(f"{op}: output_padding {output_padding} of at least the stride {stride} "
                                      "is not supported")
    size = tuple((n - 1) * s - 2 * p + d * (k - 1) + o + 1
                 for n, s, p, d, k, o in zip(input.shape[2:], stride, padding, dilation, kernel, output_padding))
    if min(size) < 1:
        raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} with kernel {tuple(kernel)}, stride {stride} "
                           f"and padding {padding} gives an output of size {size}, which is too small")
    per_in, per_out = weight.shape[0] // groups, weight.shape[1]
    # conv2d's input VJP: its geometry is that of the conv2d mapping our output back onto our input,
    # one group's at a time (the same for every group)
    geometry = conv_ops.Geometry((input.shape[0], per_out) + size, kernel, stride, padding, dilation, op).key()
    parts = []
    for g in range(groups):
        x = input if groups == 1 else input[:, g * per_in:(g + 1) * per_in]
        w = weight if groups == 1 else weight[g * per_in:(g + 1) * per_in]
        parts.append(conv_ops.ConvTranspose2d.apply(x, w, geometry=geometry))
    out = parts[0] if groups == 1 else ops.cat(parts, 1)
    return out + ops.reshape(bias, (1, out_channels, 1, 1)) if bias is not None else out


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """1-D transposed convolution (N, C_in, L) -> (N, C_out, L_out), weight (C_in, C_out / groups, k).

    L_out = (L - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1; via conv_transpose2d
    on (N, C, 1, L).
    """
    if input.ndim not in (2, 3):
        raise RuntimeError(f"conv_transpose1d: expected a 2-D or 3-D input (N, C_in, L), got shape "
                           f"{tuple(input.shape)}")
    if weight.ndim != 3:
        raise RuntimeError(f"conv_transpose1d: expected a 3-D weight (C_in, C_out / groups, k), got shape "
                           f"{tuple(weight.shape)}")
    op = "conv_transpose1d"
    out = conv_transpose2d(ops.unsqueeze(input, -2), ops.unsqueeze(weight, 2), bias,
                           (1, _single(stride, "stride", op)), (0, _single(padding, "padding", op)),
                           (0, _single(output_padding, "output_padding", op)), groups,
                           (1, _single(dilation, "dilation", op)))
    return ops.squeeze(out, -2)


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sliding local blocks (im2col): (N, C, H, W) -> (N, C * kh * kw, L), L the number of blocks.

    Row c * kh * kw + i * kw + j holds kernel entry (i, j) of channel c; column l is block l
    in row-major order of the (out_h, out_w) grid. A (C, H, W) input gives (C * kh * kw, L).
    """
    if input.ndim == 3:
        return ops.squeeze(unfold(ops.unsqueeze(input, 0), kernel_size, dilation, padding, stride), 0)
    if input.ndim != 4:
        raise RuntimeError(f"unfold: expected a 3-D or 4-D input (N, C, H, W), got shape {tuple(input.shape)}")
    return ops.unfold(input, kernel_size, dilation, padding, stride)


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Blocks back into an image (col2im), overlaps added: (N, C * kh * kw, L) -> (N, C, *output_size).

    The adjoint of unfold (not its inverse: an element in k blocks comes back k times).
    A 2-D (C * kh * kw, L) input gives (C, H, W).
    """
    if input.ndim == 2:
        return ops.squeeze(fold(ops.unsqueeze(input, 0), output_size, kernel_size, dilation, padding, stride), 0)
    if input.ndim != 3:
        raise RuntimeError(f"fold: expected a 2-D or 3-D input (N, C * kh * kw, L), got shape {tuple(input.shape)}")
    size = conv_ops._pair(output_size, "output_size", "fold")
    kernel = conv_ops._pair(kernel_size, "kernel_size", "fold")
    blocks = kernel[0] * kernel[1]
    if input.shape[1] % blocks:
        raise RuntimeError(f"fold: expected size of input's dimension 1 ({input.shape[1]}) to be divisible by the "
                           f"product of kernel_size {kernel} ({blocks}), input shape {tuple(input.shape)}")
    geometry = conv_ops.Geometry((input.shape[0], input.shape[1] // blocks) + size, kernel, stride, padding,
                                 dilation, "fold")
    if input.shape[2] != geometry.out_h * geometry.out_w:
        raise RuntimeError(f"fold: given output_size={size}, kernel_size={kernel}, dilation={geometry.dilation}, "
                           f"padding={geometry.padding}, stride={geometry.stride}, expected size of input's "
                           f"dimension 2 to match the calculated number of sliding blocks "
                           f"{geometry.out_h} * {geometry.out_w} = {geometry.out_h * geometry.out_w}, but got "
                           f"{input.shape[2]} (input shape {tuple(input.shape)})")
    return conv_ops.Fold.apply(input, geometry=geometry.key())


def _pool_input(input: Tensor, spatial: int, op: str) -> Tensor:
    if input.ndim not in (spatial + 1, spatial + 2):
        names = "(N, C, H, W) or (C, H, W)" if spatial == 2 else "(N, C, L) or (C, L)"
        raise RuntimeError(f"{op}: expected a {spatial + 1}-D or {spatial + 2}-D input {names}, got shape "
                           f"{tuple(input.shape)}")
    return input


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Max over each window of (N, C, H, W) (or (C, H, W)); stride defaults to kernel_size."""
    _pool_input(input, 2, "max_pool2d")
    if input.ndim == 3:
        out = max_pool2d(ops.unsqueeze(input, 0), kernel_size, stride, padding, dilation, ceil_mode, return_indices)
        if return_indices:
            return ops.squeeze(out[0], 0), ops.squeeze(out[1], 0)
        return ops.squeeze(out, 0)
    return ops.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None) -> Tensor:
    """Mean over each window of (N, C, H, W) (or (C, H, W)); padding counts as zeros."""
    _pool_input(input, 2, "avg_pool2d")
    if divisor_override is not None:
        raise NotImplementedError("avg_pool2d: divisor_override is not supported")
    if input.ndim == 3:
        return ops.squeeze(avg_pool2d(ops.unsqueeze(input, 0), kernel_size, stride, padding, ceil_mode,
                                      count_include_pad), 0)
    return ops.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad)


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Max over each window of (N, C, L) (or (C, L)), via max_pool2d on (N, C, 1, L)."""
    _pool_input(input, 1, "max_pool1d")
    k = _single(kernel_size, "kernel_size", "max_pool1d")
    s = k if stride is None else _single(stride, "stride", "max_pool1d")
    out = max_pool2d(ops.unsqueeze(input, -2), (1, k), (1, s), (0, _single(padding, "padding", "max_pool1d")),
                     (1, _single(dilation, "dilation", "max_pool1d")), ceil_mode, return_indices)
    if return_indices:
        return ops.squeeze(out[0], -2), ops.squeeze(out[1], -2)
    return ops.squeeze(out, -2)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over each window of (N, C, L) (or (C, L)), via avg_pool2d on (N, C, 1, L)."""
    _pool_input(input, 1, "avg_pool1d")
    k = _single(kernel_size, "kernel_size", "avg_pool1d")
    s = k if stride is None else _single(stride, "stride", "avg_pool1d")
    out = avg_pool2d(ops.unsqueeze(input, -2), (1, k), (1, s), (0, _single(padding, "padding", "avg_pool1d")),
                     ceil_mode, count_include_pad)
    return ops.squeeze(out, -2)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed output size; only sizes that divide the input evenly (and 1)."""
    _pool_input(input, 2, "adaptive_avg_pool2d")
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    h, w = input.shape[-2:]
    oh, ow = oh or h, ow or w
    if h % oh or w % ow:
        raise NotImplementedError(f"adaptive_avg_pool2d: input size {(h, w)} must be a multiple of the "
                                  f"output size {(oh, ow)}")
    lead = input.shape[:-2]
    blocks = ops.reshape(input, lead + (oh, h // oh, ow, w // ow))
    return ops.mean(blocks, (-3, -1))


# ---- resampling ----------------------------------------------------------------------

_INTERPOLATE_MODES = {"nearest": (1, 2), "nearest-exact": (1, 2), "linear": (1,), "bilinear": (2,)}


def _source_ratio(in_size: int, out_size: int, scale, dtype: np.dtype):
    """Input positions per output position, in `dtype`: 1 / scale_factor if one was given, else in / out."""
    if scale is not None and scale > 0:
        return dtype.type(1.0 / scale)
    return dtype.type(in_size) / dtype.type(out_size)


def _nearest_source(in_size: int, out_size: int, scale, exact: bool) -> np.ndarray:
    """PyTorch's nearest index: floor(dst * s) (or floor((dst + 0.5) * s) for nearest-exact), s in float32.

    s = 1 / scale_factor when a scale factor was given, else in_size / out_size.
    """
    if not exact and out_size == in_size:
        return np.arange(out_size)
    if not exact and out_size == 2 * in_size:  # PyTorch's shortcuts, taken before any scale_factor
        return np.arange(out_size) // 2
    ratio = _source_ratio(in_size, out_size, scale, np.dtype(np.float32))
    dst = np.arange(out_size, dtype=np.float32) + (np.float32(0.5) if exact else np.float32(0))
    return np.minimum(np.floor(dst * ratio).astype(np.int64), in_size - 1)


def _linear_weights(in_size: int, out_size: int, scale, align_corners: bool, dtype):
    """The two source indices and their weights of each output position (PyTorch's linear formulas).

    align_corners=True: src = dst * (in - 1) / (out - 1); False: src = max((dst + 0.5) s - 0.5, 0)
    with s = 1 / scale_factor if given, else in / out. Then i0 = floor(src), i1 = min(i0 + 1, in - 1),
    weights 1 - (src - i0) and src - i0.
    """
    dtype = np.dtype(dtype) if np.dtype(dtype).kind == "f" else np.dtype(np.float32)
    if align_corners:
        ratio = dtype.type(in_size - 1) / dtype.type(out_size - 1) if out_size > 1 else dtype.type(0)
        src = np.arange(out_size, dtype=dtype) * ratio
    else:
        ratio = _source_ratio(in_size, out_size, scale, dtype)
        src = np.maximum((np.arange(out_size, dtype=dtype) + dtype.type(0.5)) * ratio - dtype.type(0.5),
                         dtype.type(0))
    i0 = np.minimum(src.astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    lam1 = (src - i0).astype(dtype)
    return i0, i1, (1 - lam1).astype(dtype), lam1


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False) -> Tensor:
    """Resize the spatial dims of (N, C, L) or (N, C, H, W).

    Args:
        size: output spatial size (int or tuple), or
        scale_factor: multiplier (float or tuple); the output size is floor(size * scale_factor).
        mode: 'nearest' (PyTorch's: floor(dst * in / out)), 'nearest-exact',
            'linear' (3-D input) or 'bilinear' (4-D input).
        align_corners: linear modes only (default False). True maps the corner pixels' centres
            onto each other; False treats pixels as areas (half-pixel offsets).
        recompute_scale_factor: True computes the coordinates from the output size instead of
            the given scale_factor.

    Returns:
        (N, C, *out_size), differentiable (built from gathers: each output's gradient goes back
        to the one or two inputs it was taken from along each dim).
    """
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    if mode not in _INTERPOLATE_MODES and mode not in ("bicubic", "trilinear", "area"):
        raise ValueError(f"interpolate: mode {mode!r} is not one of 'nearest', 'nearest-exact', 'linear', "
                         "'bilinear'")
    if mode in ("bicubic", "trilinear", "area"):
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported")
    if input.ndim not in (3, 4):
        raise NotImplementedError(f"interpolate: input must be 3-D (N, C, L) or 4-D (N, C, H, W), got shape "
                                  f"{tuple(input.shape)}")
    spatial = input.ndim - 2
    if spatial not in _INTERPOLATE_MODES[mode]:
        raise NotImplementedError(f"interpolate: got {input.ndim}D input, but {mode} mode needs "
                                  f"{_INTERPOLATE_MODES[mode][0] + 2}D input")
    if mode.startswith("nearest"):
        if align_corners is not None:
            raise ValueError("interpolate: align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    else:
        align_corners = bool(align_corners)
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: only one of size or scale_factor should be defined" if size is not None
                         else "interpolate: either size or scale_factor should be defined")
    in_sizes = input.shape[2:]
    if size is not None:
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * spatial
        if len(sizes) != spatial:
            raise ValueError(f"interpolate: input of shape {tuple(input.shape)} has {spatial} spatial dims, "
                             f"but size {size!r} has {len(sizes)}")
        sizes = tuple(int(n) for n in sizes)
        scales = (None,) * spatial
    else:
        scales = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * spatial
        if len(scales) != spatial:
            raise ValueError(f"interpolate: input of shape {tuple(input.shape)} has {spatial} spatial dims, "
                             f"but scale_factor {scale_factor!r} has {len(scales)}")
        scales = tuple(float(f) for f in scales)
        sizes = tuple(math.floor(float(n) * f) for n, f in zip(in_sizes, scales))
        if recompute_scale_factor:
            scales = (None,) * spatial
    if min(sizes) < 1:
        raise ValueError(f"interpolate: input of shape {tuple(input.shape)} would give an output of spatial "
                         f"size {sizes}; every output size must be positive")
    if min(in_sizes) < 1:
        raise ValueError(f"interpolate: input of shape {tuple(input.shape)} has an empty spatial dim")
    out = input
    for i, (n_in, n_out, scale) in enumerate(zip(in_sizes, sizes, scales)):
        axis = 2 + i
        lead = (slice(None),) * axis
        if mode.startswith("nearest"):
            source = _nearest_source(n_in, n_out, scale, mode == "nearest-exact")
            if not np.array_equal(source, np.arange(n_in)):
                out = ops.getitem(out, lead + (source,))
            continue
        i0, i1, lam0, lam1 = _linear_weights(n_in, n_out, scale, align_corners, input.dtype)
        shape = (n_out,) + (1,) * (input.ndim - axis - 1)
        out = (ops.getitem(out, lead + (i0,)) * lam0.reshape(shape)
               + ops.getitem(out, lead + (i1,)) * lam1.reshape(shape))
    return out if out is not input else ops.clone(input)


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None) -> Tensor:
    """interpolate (PyTorch's deprecated name)."""
    return interpolate(input, size, scale_factor, mode, align_corners)


# ---- losses --------------------------------------------------------------------------


def _reduction(size_average, reduce, reduction: str) -> str:
    # PyTorch's deprecated size_average / reduce arguments, translated the way it does
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "none" if not reduce else ("mean" if size_average else "sum")


def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return ops.mean(loss)
    if reduction == "sum":
        return ops.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction - expected 'none', 'mean' or 'sum'")


def _check_reduction(reduction: str, op: str, extra: tuple = ()) -> None:
    if reduction not in ("none", "mean", "sum") + extra:
        valid = ", ".join(repr(r) for r in ("none", "mean", "sum") + extra)
        raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction - expected one of {valid}")


def _same_size(input: Tensor, target, op: str) -> None:
    if tuple(np.shape(target)) != tuple(input.shape):
        warnings.warn(f"{op}: using a target size {tuple(np.shape(target))} that is different to the input "
                      f"size {tuple(input.shape)}. This will likely lead to incorrect results due to "
                      "broadcasting. Please ensure they have the same size.", stacklevel=3)


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
             weight=None) -> Tensor:
    """Mean squared error: (input - target)^2, reduced. Shapes broadcast (with PyTorch's warning)."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "mse_loss")
    _same_size(input, target, "mse_loss")
    diff = input - target
    loss = diff * diff
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "mse_loss")


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
            weight=None) -> Tensor:
    """Mean absolute error: |input - target|, reduced (gradient 0 where they are equal)."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "l1_loss")
    _same_size(input, target, "l1_loss")
    loss = ops.abs(input - target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "l1_loss")


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); beta=0 is l1_loss."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    _same_size(input, target, "smooth_l1_loss")
    diff = input - target
    absolute = ops.abs(diff)
    if beta == 0:
        return _reduce(absolute, reduction, "smooth_l1_loss")
    loss = ops.where(absolute.array < beta, diff * diff * (0.5 / beta), absolute - 0.5 * beta)
    return _reduce(loss, reduction, "smooth_l1_loss")


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight=None) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta) (d = input - target)."""
    _check_reduction(reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    _same_size(input, target, "huber_loss")
    diff = input - target
    absolute = ops.abs(diff)
    loss = ops.where(absolute.array < delta, diff * diff * 0.5, (absolute - 0.5 * delta) * delta)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "huber_loss")


def _class_dim_shapes(input: Tensor, target_shape: tuple, op: str) -> None:
    """Class-index targets: input (N, C, d1, ...) needs target (N, d1, ...); input (C,) needs target ()."""
    expected = (input.shape[:1] + input.shape[2:]) if input.ndim >= 2 else ()
    if tuple(target_shape) != expected:
        if input.ndim >= 2 and len(target_shape) >= 1 and target_shape[0] != input.shape[0]:
            raise ValueError(f"{op}: expected input batch size ({input.shape[0]}) to match target batch size "
                             f"({target_shape[0]}) - input shape {tuple(input.shape)}, target shape "
                             f"{tuple(target_shape)}")
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} (N, C, d1, ...) needs class-index targets "
                         f"of shape {expected} (N, d1, ...), got {tuple(target_shape)}")


def _check_classes(target: np.ndarray, classes: int, ignore_index: int, op: str) -> np.ndarray:
    """Refuse class indices outside [0, C) (other than ignore_index); returns the 'counted' mask."""
    valid = target != ignore_index
    bad = valid & ((target < 0) | (target >= classes))
    if bad.any():
        value = int(target[bad].flat[0])
        raise IndexError(f"{op}: target {value} is out of bounds - expected class indices in [0, {classes}) "
                         f"for an input with {classes} classes (or ignore_index={ignore_index})")
    return valid


def _weight_array(weight, classes: int, dtype, op: str):
    if weight is None:
        return None
    array = weight.array if isinstance(weight, Tensor) else np.asarray(weight)
    if array.shape != (classes,):
        raise ValueError(f"{op}: weight of shape {array.shape} does not fit {classes} classes - "
                         f"expected shape ({classes},)")
    return array.astype(dtype, copy=False)


def _picked_log_probs(log_probs: Tensor, target: np.ndarray, valid: np.ndarray) -> Tensor:
    """log_probs[n, target[n, ...], ...] as a tensor shaped like target; ignored entries pick class 0."""
    safe = np.where(valid, target, 0).astype(np.int64)
    if log_probs.ndim == 1:
        return log_probs[int(safe)]
    if log_probs.ndim == 2:
        return log_probs[np.arange(log_probs.shape[0]), safe]
    return ops.squeeze(ops.take_along_dim(log_probs, np.expand_dims(safe, 1), 1), 1)


def nll_loss(input: Tensor, target: Tensor, weight=None, size_average=None, ignore_index: int = -100,
             reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices: -weight[t] * input[n, t].

    Args:
        input: log-probabilities (N, C) or (N, C, d1, ...) or (C,).
        target: int class indices (N,) or (N, d1, ...) or (); values in [0, C) or ignore_index.
        weight: (C,) per-class weights, or None.
        reduction: 'mean' divides by the sum of the counted targets' weights.

    Returns:
        A scalar, or a tensor shaped like target for reduction='none' (0 where ignored).
    """
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "nll_loss")
    target = target.array if isinstance(target, Tensor) else np.asarray(target)
    if target.dtype.kind not in "iu":
        raise RuntimeError(f"nll_loss: expected integer class-index targets, got dtype {target.dtype}")
    if input.ndim < 1:
        raise ValueError(f"nll_loss: expected an input with a class dimension, got shape {tuple(input.shape)}")
    _class_dim_shapes(input, target.shape, "nll_loss")
    classes = input.shape[1] if input.ndim >= 2 else input.shape[0]
    valid = _check_classes(target, classes, ignore_index, "nll_loss")
    w = _weight_array(weight, classes, input.dtype, "nll_loss")
    return _nll(input, target, valid, _target_weights(target, valid, w, input.dtype), reduction)


def _target_weights(target: np.ndarray, valid: np.ndarray, w, dtype) -> np.ndarray:
    """Each target's class weight (1 without weights), 0 where ignored, shaped like target.

    Made by numpy calls and ops, which mg.compile records and replays when the targets change.
    The weights are picked by an op: numpy does not let an index array (np.take's, or an
    indexing's) tell the tracer about the call, so it would keep the first call's pick.
    """
    if w is None:
        return valid.astype(dtype)
    picked = ops.getitem(_make(w), np.where(valid, target, 0).astype(np.int64))
    return ops.where(valid, picked, np.zeros((), dtype)).array


def _weighted_mean(total: Tensor, factors: np.ndarray) -> Tensor:
    """total / factors.sum(), the mean over counted targets. With every target ignored (a count
    of 0) the value is nan as in PyTorch, but the gradient is 0, not 0 * inf = nan."""
    count = np.reshape(np.add.reduce(factors, axis=None), ())  # 0-d array, not numpy scalar: the fast division
    if count == 0:  # (a guard under mg.compile: a batch with no counted target runs eagerly)
        return total * 0 + np.full((), np.nan, total.dtype)
    return total / count


def _nll(log_probs: Tensor, target: np.ndarray, valid: np.ndarray, factors: np.ndarray, reduction: str) -> Tensor:
    """The negative log-likelihood of the targets, each weighted by its factor (_target_weights)."""
    picked = _picked_log_probs(log_probs, target, valid)
    loss = picked * -factors
    if reduction == "none":
        return loss
    total = ops.sum(loss)
    if reduction == "sum":
        return total
    return _weighted_mean(total, factors)


def cross_entropy(input: Tensor, target: Tensor, weight=None, size_average=None, ignore_index: int = -100,
                  reduce=None, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy of logits, computed with log_softmax (stable for any logits).

    Args:
        input: logits (N, C), (N, C, d1, ...) or (C,).
        target: class indices (N,), (N, d1, ...) or () with values in [0, C) or
            ignore_index; or class probabilities shaped like input (float).
        weight: (C,) per-class weights, or None.
        ignore_index: class-index targets equal to it contribute nothing.
        reduction: 'mean', 'sum' or 'none'. 'mean' with class indices divides by
            the sum of the counted targets' weights (their number without weights);
            with probabilities it divides by the number of samples N * d1 * ...
        label_smoothing: in [0, 1]; the target becomes (1 - s) * target + s / C.

    Returns:
        A scalar, or a tensor shaped like input without its class dim for 'none'.
    """
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    if input.ndim < 1:
        raise ValueError(f"cross_entropy: expected logits with a class dimension, got shape {tuple(input.shape)}")
    class_dim = 1 if input.ndim >= 2 else 0
    classes = input.shape[class_dim]
    log_probs = ops.log_softmax(input, class_dim)
    w = _weight_array(weight, classes, input.dtype, "cross_entropy")
    w_shape = (classes,) + (1,) * (input.ndim - class_dim - 1)
    target_data = target.array if isinstance(target, Tensor) else np.asarray(target)

    if target_data.dtype.kind == "f":
        # class probabilities (soft targets)
        if tuple(target_data.shape) != tuple(input.shape):
            raise ValueError(f"cross_entropy: probability targets must have the input's shape "
                             f"{tuple(input.shape)}, got {tuple(target_data.shape)}")
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / classes
        terms = log_probs * target
        if w is not None:
            terms = terms * w.reshape(w_shape)
        loss = ops.sum(terms, class_dim) * -1
        if reduction == "mean":
            return ops.sum(loss) / max(input.array.size // classes, 1) if input.ndim >= 2 else loss
        return _reduce(loss, reduction, "cross_entropy")

    if target_data.dtype.kind not in "iu":
        raise RuntimeError(f"cross_entropy: expected integer class indices or float probabilities as target, "
                           f"got dtype {target_data.dtype}")
    _class_dim_shapes(input, target_data.shape, "cross_entropy")
    valid = _check_classes(target_data, classes, ignore_index, "cross_entropy")
    factors = _target_weights(target_data, valid, w, input.dtype)
    nll = _nll(log_probs, target_data, valid, factors, reduction)
    if label_smoothing == 0:
        return nll
    # PyTorch's smoothing term: -sum_c w_c log p_c per sample, zero where ignored, normalised like nll
    terms = log_probs * w.reshape(w_shape) if w is not None else log_probs
    smooth = ops.sum(terms, class_dim) * -valid.astype(input.dtype)
    if reduction == "mean":
        smooth = _weighted_mean(ops.sum(smooth), factors)
    elif reduction == "sum":
        smooth = ops.sum(smooth)
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / classes)


def binary_cross_entropy(input: Tensor, target: Tensor, weight=None, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """-w (y log x + (1 - y) log(1 - x)), with each log clamped at -100 as PyTorch does.

    Args:
        input: probabilities in [0, 1], any shape.
        target: same shape as input, values in [0, 1].
        weight: broadcastable to input, or None.
    """
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "binary_cross_entropy")
    if tuple(np.shape(target)) != tuple(input.shape):
        raise ValueError(f"binary_cross_entropy: using a target size {tuple(np.shape(target))} that is different "
                         f"to the input size {tuple(input.shape)} - please ensure they have the same size")
    if input.array.size and (input.array.min() < 0 or input.array.max() > 1):
        raise RuntimeError(f"binary_cross_entropy: all elements of input should be between 0 and 1, got values in "
                           f"[{input.array.min()}, {input.array.max()}] - use binary_cross_entropy_with_logits "
                           "for logits")
    loss = neural.binary_cross_entropy(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight=None, size_average=None,
                                     reduce=None, reduction: str = "mean", pos_weight=None) -> Tensor:
    """BCE of sigmoid(input), computed stably as softplus(x) - x y.

    softplus is one smooth primitive (its VJP is sigmoid), so the gradient is
    sigmoid(x) - y everywhere; the textbook max(x, 0) - x y + log(1 + exp(-|x|))
    has two kinks at x = 0 whose subgradients do not cancel (it gave -y there).

    Args:
        input: logits, any shape.
        target: same shape as input, values in [0, 1].
        weight: broadcastable to input, or None.
        pos_weight: weight of the positive term, broadcastable to input (e.g. (C,)), or None:
            loss = (1 - y) x + (1 + (pos_weight - 1) y) softplus(-x).
    """
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    if tuple(np.shape(target)) != tuple(input.shape):
        raise ValueError(f"binary_cross_entropy_with_logits: target size {tuple(np.shape(target))} must be the "
                         f"same as input size {tuple(input.shape)}")
    if pos_weight is None:
        loss = ops.softplus(input) - input * target
    else:
        log_weight = (pos_weight - 1) * target + 1
        loss = (1 - target) * input + log_weight * ops.softplus(ops.neg(input))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """KL(target || exp(input)) pointwise: target (log target - input), with 0 log 0 = 0.

    Args:
        input: log-probabilities.
        target: probabilities (or log-probabilities with log_target=True), same shape.
        reduction: 'batchmean' (sum / batch size: the true KL divergence), 'sum',
            'mean' (over every element, as PyTorch; no warning) or 'none'.
    """
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "kl_div", ("batchmean",))
    if log_target:
        if not isinstance(target, Tensor):
            target = _make(np.asarray(target, dtype=input.dtype))
        finite = target.array > -np.inf
        if finite.all():
            loss = ops.exp(target) * (target - input)
        else:
            # a zero probability (log target -inf) contributes 0, as it does without log_target
            # (PyTorch gives nan here); the -inf is replaced first so no gradient is 0 * inf
            safe = ops.where(finite, target, 0.0)
            loss = ops.where(finite, ops.exp(safe) * (safe - input), 0.0)
    else:
        loss = _xlogy_self(target) - target * input
    if reduction == "batchmean":
        total = ops.sum(loss)
        return total / input.shape[0] if input.ndim > 0 else total
    return _reduce(loss, reduction, "kl_div")


def _xlogy_self(t) -> Tensor:
    """t log t, with 0 log 0 = 0 (and a zero gradient there)."""
    if not isinstance(t, Tensor):
        t = _make(np.asarray(t))
    positive = t.array > 0
    if positive.all():
        return t * ops.log(t)
    safe = ops.where(positive, t, 1.0)
    return ops.where(positive, t * ops.log(safe), 0.0)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average=None, eps: float = 1e-8, reduce=None, reduction: str = "mean") -> Tensor:
    """Poisson negative log-likelihood: exp(input) - target input (log_input), or input - target log(input + eps)."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "poisson_nll_loss")
    if full:
        raise NotImplementedError("poisson_nll_loss: full=True (the Stirling term) is not supported")
    loss = ops.exp(input) - target * input if log_input else input - target * ops.log(input + eps)
    return _reduce(loss, reduction, "poisson_nll_loss")


# attention is written in nn/attention.py (which uses this module); imported last so both load in either order

from minigrad._missing import missing as _missing  # noqa: E402


# ---- attention -----------------------------------------------------------------------------

def _attend(query: Tensor, key: Tensor, value: Tensor, blocked=None, bias=None, dropout_p: float = 0.0,
            scale: float | None = None, need_weights: bool = False):
    """softmax(q k^T * scale + bias, -inf where blocked) -> dropout -> @ v.

    Args:
        query (*, L, E), key (*, S, E), value (*, S, Ev).
        blocked: bool numpy array broadcastable to (*, L, S), True = may not attend; or None.
        bias: float tensor/array broadcastable to (*, L, S) added to the scores; or None.

    Returns:
        (output (*, L, Ev), weights (*, L, S) after dropout, or None unless need_weights).
    """
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    # scaling q (L x E) costs less than scaling the scores (L x S) when E < S, and is the same math
    scores = mg.matmul(query * scale, mg.transpose(key, -2, -1))
    if bias is not None:
        if bias.dtype != scores.dtype and not bias.requires_grad:
            bias = bias.to(scores.dtype)
        scores = scores + bias
    if blocked is not None:
        scores = mg.masked_fill(scores, blocked, -math.inf)
    weights = mg.softmax(scores, -1)
    if dropout_p > 0.0:
        weights = mg.dropout(weights, dropout_p, True)
    return mg.matmul(weights, value), (weights if need_weights else None)


def _causal_blocked(length: int, source_length: int) -> np.ndarray:
    """(L, S) bool: True above the diagonal (position i may not see j > i)."""
    return np.triu(np.ones((length, source_length), dtype=bool), 1)


def _mask_array(mask, name: str, op: str):
    """Split a mask into (bool numpy array, None) or (None, float tensor)."""
    if isinstance(mask, Tensor):
        data = mask.array
    else:
        data = np.asarray(mask)
        mask = None
    if data.dtype == np.bool_:
        return data, None
    if data.dtype.kind != "f":
        raise TypeError(f"{op}: only bool and floating types of {name} are supported, got {data.dtype}")
    return None, (mask if mask is not None else mg.from_numpy(data))


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask=None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None) -> Tensor:
    """softmax(Q K^T * scale + mask) V, with PyTorch's semantics.

    Args:
        query: (*, L, E).
        key: (*, S, E).
        value: (*, S, Ev).
        attn_mask: broadcastable to (*, L, S). bool: True = this position MAY be attended
            (PyTorch's sdpa convention); float: added to the scores (-inf blocks).
        dropout_p: dropout on the attention weights; applied whenever > 0 (pass 0.0 in eval,
            as PyTorch: this function does not know about training mode).
        is_causal: block j > i (the upper triangle); cannot be combined with attn_mask.
        scale: factor on Q K^T; 1 / sqrt(E) if None.

    Returns:
        (*, L, Ev).
    """
    op = "scaled_dot_product_attention"
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor) or t.ndim < 2:
            raise RuntimeError(f"{op}: {name} must be a tensor with at least 2 dims (*, length, features), "
                               f"got {getattr(t, 'shape', type(t).__name__)}")
    if query.shape[-1] != key.shape[-1]:
        raise RuntimeError(f"{op}: query of shape {tuple(query.shape)} and key of shape {tuple(key.shape)} "
                           f"must have the same last dimension ({query.shape[-1]} != {key.shape[-1]})")
    if key.shape[-2] != value.shape[-2]:
        raise RuntimeError(f"{op}: key of shape {tuple(key.shape)} and value of shape {tuple(value.shape)} "
                           f"must have the same length (dim -2: {key.shape[-2]} != {value.shape[-2]})")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{op}: dropout_p must be in [0, 1], got {dropout_p}")
    blocked = bias = None
    length, source_length = query.shape[-2], key.shape[-2]
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError(f"{op}: pass either attn_mask or is_causal=True, not both")
        blocked = _causal_blocked(length, source_length)
    elif attn_mask is not None:
        allowed, bias = _mask_array(attn_mask, "attn_mask", op)
        if allowed is not None:
            blocked = ~allowed
        shape = (allowed if allowed is not None else bias).shape
        try:
            np.broadcast_shapes(shape, query.shape[:-1] + (source_length,))
        except ValueError:
            raise RuntimeError(f"{op}: attn_mask of shape {tuple(shape)} does not broadcast to the scores' "
                               f"shape {query.shape[:-1] + (source_length,)}") from None
    out, _ = _attend(query, key, value, blocked, bias, dropout_p, scale)
    return out


def __getattr__(name: str):
    # only names not found above: say plainly that minigrad lacks them (README: where it differs)
    raise _missing("nn.functional.", name)
