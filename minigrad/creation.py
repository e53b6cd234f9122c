"""Making tensors: from data, filled, ranges and random (float32 unless asked otherwise)."""
from __future__ import annotations

import numpy as np

from . import dtypes
from .random import generator as rng
from .tensor import Tensor, _check_device, _make


def _shape(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    try:
        shape = tuple(int(s) for s in size)
    except TypeError:
        raise TypeError(f"size must be ints or one tuple of ints, got {size!r}") from None
    if any(s < 0 for s in shape):
        raise RuntimeError(f"negative dimension in size {shape}")
    return shape


def _on_cpu(device, op: str) -> None:
    """Refuse any device but the CPU (a device= that is ignored would hide a porting mistake)."""
    if device is not None:
        _check_device(device, op)


def _finish(data: np.ndarray, requires_grad: bool) -> Tensor:
    t = _make(data)
    if requires_grad:
        t.requires_grad = True  # checks the dtype
    return t


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of `data` (nested lists, numbers, arrays or a tensor).

    Python floats become float32, ints int64, bools bool; numpy arrays keep
    their dtype unless `dtype` is given.
    """
    _on_cpu(device, "tensor")
    if isinstance(data, Tensor):
        data = data.array
    elif isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in data):
        data = [d.array if isinstance(d, Tensor) else d for d in data]
    return _finish(np.array(dtypes.as_array(data, dtype), copy=True), requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like `tensor`, but shares memory with a numpy array (or tensor) when it can."""
    _on_cpu(device, "as_tensor")
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtypes.to_dtype(dtype)):
        return data
    if isinstance(data, Tensor):
        data = data.array
    return _make(dtypes.as_array(data, dtype))


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with `array` (its dtype kept)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray, got {type(array).__name__}")
    return _make(array)


def tensor_from_array(array) -> Tensor:
    return _make(np.asarray(array))


def _filled(fill, size, dtype, requires_grad):
    dtype = dtypes.to_dtype(dtype) or dtypes.default_float
    return _finish(np.full(_shape(size), fill, dtype=dtype), requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Tensor of zeros of shape `size`."""
    _on_cpu(device, "zeros")
    return _filled(0, size, dtype, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Tensor of ones of shape `size`."""
    _on_cpu(device, "ones")
    return _filled(1, size, dtype, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Tensor of shape `size` filled with `fill_value`."""
    _on_cpu(device, "full")
    if dtype is None and isinstance(fill_value, bool):
        dtype = dtypes.bool
    elif dtype is None and isinstance(fill_value, int):
        dtype = dtypes.int64
    return _filled(fill_value, (size,), dtype, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uninitialised tensor of shape `size`."""
    _on_cpu(device, "empty")
    dtype = dtypes.to_dtype(dtype) or dtypes.default_float
    return _finish(np.empty(_shape(size), dtype=dtype), requires_grad)


def _like(fill, input, dtype, requires_grad):
    dtype = dtypes.to_dtype(dtype) or input.dtype
    return _finish(np.full(input.shape, fill, dtype=dtype), requires_grad)


def zeros_like(input, dtype=None, requires_grad: bool = False, *, device=None) -> Tensor:
    _on_cpu(device, "zeros_like")
    return _like(0, input, dtype, requires_grad)


def ones_like(input, dtype=None, requires_grad: bool = False, *, device=None) -> Tensor:
    _on_cpu(device, "ones_like")
    return _like(1, input, dtype, requires_grad)


def full_like(input, fill_value, dtype=None, requires_grad: bool = False, *, device=None) -> Tensor:
    _on_cpu(device, "full_like")
    return _like(fill_value, input, dtype, requires_grad)


def empty_like(input, dtype=None, requires_grad: bool = False, *, device=None) -> Tensor:
    _on_cpu(device, "empty_like")
    return _finish(np.empty(input.shape, dtype=dtypes.to_dtype(dtype) or input.dtype), requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Values from start (default 0) up to but excluding end, every `step`.

    int64 when all of start, end and step are ints, else float32.
    """
    _on_cpu(device, "arange")
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = dtypes.int64 if all(isinstance(v, (int, np.integer)) for v in (start, end, step)) \
            else dtypes.default_float
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    return _finish(np.arange(start, end, step).astype(dtypes.to_dtype(dtype)), requires_grad)


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """`steps` evenly spaced values from start to end, both included."""
    _on_cpu(device, "linspace")
    dtype = dtypes.to_dtype(dtype) or dtypes.default_float
    return _finish(np.linspace(start, end, int(steps)).astype(dtype), requires_grad)


def eye(n: int, m: int | None = None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Identity matrix of shape (n, m) (m defaults to n)."""
    _on_cpu(device, "eye")
    dtype = dtypes.to_dtype(dtype) or dtypes.default_float
    return _finish(np.eye(n, m, dtype=dtype), requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) of shape `size`, from `generator` (default: minigrad's)."""
    _on_cpu(device, "rand")
    dtype = dtypes.to_dtype(dtype) or dtypes.default_float
    return _finish(rng(generator).random(_shape(size), dtype=np.float64).astype(dtype), requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples of shape `size`, from `generator` (default: minigrad's)."""
    _on_cpu(device, "randn")
    dtype = dtypes.to_dtype(dtype) or dtypes.default_float
    return _finish(rng(generator).standard_normal(_shape(size)).astype(dtype), requires_grad)


def randint(low=0, high=None, size=None, *, generator=None, dtype=None, device=None,
            requires_grad: bool = False) -> Tensor:
    """Integers drawn uniformly from [low, high), int64 unless `dtype` says otherwise.

    As PyTorch, both `randint(high, size)` and `randint(low, high, size)`; `size` is a tuple.
    """
    _on_cpu(device, "randint")
    if size is None and isinstance(high, (tuple, list)):  # randint(high, size)
        low, high, size = 0, low, high
    if high is None:  # randint(high, size=...)
        low, high = 0, low
    if size is None:
        raise TypeError(f"randint: size is required (a tuple), as in randint({low}, {high}, (3,))")
    if high <= low:
        raise RuntimeError(f"randint: high ({high}) must be greater than low ({low})")
    size = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
    dtype = dtypes.to_dtype(dtype) or dtypes.int64
    return _finish(rng(generator).integers(low, high, size).astype(dtype), requires_grad)


def randperm(n: int, *, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A random permutation of 0..n-1 (int64)."""
    _on_cpu(device, "randperm")
    dtype = dtypes.to_dtype(dtype) or dtypes.int64
    return _finish(rng(generator).permutation(int(n)).astype(dtype), requires_grad)


def rand_like(input, *, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return rand(*input.shape, generator=generator, dtype=dtype or input.dtype, device=device,
                requires_grad=requires_grad)


def randn_like(input, *, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return randn(*input.shape, generator=generator, dtype=dtype or input.dtype, device=device,
                 requires_grad=requires_grad)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Reparameterized normal samples mean + std * eps (eps ~ N(0, 1)): differentiable in mean and std.

    Args:
        mean, std: tensors or numbers (broadcast together), or numbers with `size`.
        generator: draw eps from this `minigrad.Generator` (default: minigrad's).

    Returns:
        Tensor of the broadcast shape (or `size`).
    """
    _on_cpu(device, "normal")
    mean_t = mean if isinstance(mean, Tensor) else None
    std_t = std if isinstance(std, Tensor) else None
    shape = size if size is not None else np.broadcast_shapes(np.shape(getattr(mean, "array", mean)),
                                                             np.shape(getattr(std, "array", std)))
    reference = mean_t if mean_t is not None else std_t
    dtype = dtypes.to_dtype(dtype) or (reference.dtype if reference is not None else dtypes.default_float)
    eps = _make(rng(generator).standard_normal(tuple(shape)).astype(dtype))
    out = mean + std * eps
    if reference is None:  # plain numbers: a leaf of the asked dtype
        return _finish(out.array.astype(dtype, copy=False), requires_grad)
    return out


def bernoulli(input, p=None, *, generator=None) -> Tensor:
    """1 with probability `input` (elementwise; or `p` for every element), else 0; no gradient."""
    probs = input.array if isinstance(input, Tensor) else np.asarray(input)
    chance = probs if p is None else float(p)
    return _make((rng(generator).random(probs.shape) < chance).astype(probs.dtype))


def multinomial(input, num_samples: int, replacement: bool = False, *, generator=None) -> Tensor:
    """Indices sampled from the rows of `input` (non-negative weights), int64."""
    probs = input.array if isinstance(input, Tensor) else np.asarray(input)
    rows = probs.reshape(-1, probs.shape[-1]).astype(np.float64)
    if not replacement and num_samples > rows.shape[1]:
        raise RuntimeError(f"multinomial: cannot sample num_samples={num_samples} > {rows.shape[1]} "
                           f"categories without replacement")
    rows = rows / rows.sum(axis=1, keepdims=True)
    draw = rng(generator)
    picks = np.stack([draw.choice(rows.shape[1], num_samples, replace=replacement, p=row) for row in rows])
    return _make(picks.reshape(probs.shape[:-1] + (num_samples,)).astype(np.int64))
