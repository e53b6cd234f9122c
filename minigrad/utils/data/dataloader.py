"""DataLoader: iterate over a dataset in (shuffled) batches, as `torch.utils.data.DataLoader`.

Two ways to make a batch:

- fast path: when no `collate_fn` is given and the dataset answers
  `get_batch(indices)` (TensorDataset, MNIST, Digits, CharDataset, Subsets of
  them), every array is fancy-indexed once with the batch's indices;
- otherwise the samples are fetched one by one and merged by `collate_fn`
  (`default_collate` unless given).
"""
from __future__ import annotations

from collections.abc import Mapping
from numbers import Number
from typing import Callable, Iterator

import numpy as np

from ..dtypes import as_array
from ..tensor import Tensor, _make
from .dataset import resolve_generator


def _stack(values: list) -> Tensor:
    arrays = [v.array if isinstance(v, Tensor) else as_array(v) for v in values]
    try:
        return _make(np.stack(arrays))
    except ValueError:
        shapes = sorted({np.shape(a) for a in arrays})
        raise ValueError(f"default_collate: cannot stack samples of shapes {shapes} into a batch - every "
                         f"sample must have the same shape (pass collate_fn= to pad or batch them yourself)"
                         ) from None


def default_collate(samples: list):
    """Merge a list of samples into a batch, keeping the samples' structure.

    Tensors and arrays of one shape (S...) become one tensor (B, S...), keeping their
    dtype; Python ints become an int64 tensor (B,), floats float32, bools bool (numpy
    scalars keep their dtype); tuples and lists become a tuple with each position
    collated, dicts a dict; strings stay a list.

    Args:
        samples: a non-empty list of B samples of the same structure.

    Returns:
        The batch, e.g. `(images (B, 1, 28, 28) float32, labels (B,) int64)`.
    """
    if not samples:
        raise ValueError("default_collate: got no samples")
    first = samples[0]
    if isinstance(first, (Tensor, np.ndarray, np.generic, Number)):
        return _stack(samples)
    if isinstance(first, (str, bytes)):
        return list(samples)
    if isinstance(first, Mapping):
        return {key: default_collate([s[key] for s in samples]) for key in first}
    if isinstance(first, (tuple, list)):
        sizes = {len(s) for s in samples}
        if len(sizes) > 1:
            raise ValueError(f"default_collate: samples have different lengths {sorted(sizes)} - every "
                             f"sample must have the same number of fields")
        columns = [default_collate(list(column)) for column in zip(*samples)]
        if hasattr(first, "_fields"):  # a namedtuple keeps its type and field names
            return type(first)(*columns)
        return tuple(columns)
    raise TypeError(f"default_collate: cannot batch samples of type {type(first).__name__} - expected "
                    f"tensors, arrays, numbers, strings, or tuples/lists/dicts of them (or pass collate_fn=)")


def _wrap(batch):
    """Turn the arrays of a `get_batch` result into tensors, keeping the structure."""
    if isinstance(batch, np.ndarray):
        return _make(batch)
    if isinstance(batch, Tensor):
        return batch
    if isinstance(batch, Mapping):
        return {key: _wrap(value) for key, value in batch.items()}
    if isinstance(batch, (tuple, list)):
        return tuple(_wrap(value) for value in batch)
    return batch


class DataLoader:
    """Iterate over a dataset in batches, optionally reshuffled every epoch.

    Args:
        dataset: a dataset (`len(ds)` and `ds[i]`; `ds.get_batch(indices)` enables the fast path).
        batch_size: samples per batch (the last batch may be smaller unless `drop_last`).
        shuffle: draw a new random order at the start of every epoch.
        drop_last: drop the last batch if it has fewer than `batch_size` samples.
        generator: a numpy Generator (or int seed) to shuffle with. Default: minigrad's
            generator, so `mg.manual_seed(s)` makes the order repeatable.
        seed: alternatively, an int: the loader makes its own Generator from it once,
            so every epoch differs but the sequence of epochs is repeatable.
        collate_fn: merges a list of samples into a batch (default: `default_collate`).
            Giving one turns the fast path off.

    Yields:
        Batches: for `(x, y)` samples, tuples `(x (B, ...), y (B, ...))` of tensors.

    Example:
        >>> loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
        >>> for xb, yb in loader:
        ...     loss = F.cross_entropy(model(xb), yb)
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 generator=None, seed: int | None = None, collate_fn: Callable | None = None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable, got {type(collate_fn).__name__}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        # A seed makes one generator now (not one per epoch): epochs differ, runs repeat.
        self.generator = None if generator is None and seed is None else \
            resolve_generator(generator, seed, where="DataLoader")

    def __len__(self) -> int:
        """The number of batches per epoch."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n, dtype=np.int64)
        generator = self.generator if self.generator is not None else resolve_generator()
        return generator.permutation(n).astype(np.int64, copy=False)

    def __iter__(self) -> Iterator:
        # The order is drawn here, when iteration starts, not lazily at the first batch.
        return self._batches(self._order())

    def _batches(self, order: np.ndarray) -> Iterator:
        get_batch = getattr(self.dataset, "get_batch", None) if self.collate_fn is None else None
        collate = self.collate_fn or default_collate
        for start in range(0, len(order), self.batch_size):
            indices = order[start:start + self.batch_size]
            if self.drop_last and len(indices) < self.batch_size:
                return
            if get_batch is not None:
                batch = get_batch(indices)
                if batch is not None:
                    yield _wrap(batch)
                    continue
                get_batch = None  # this dataset has no fast path: stop asking
            yield collate([self.dataset[int(i)] for i in indices])

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, {len(self)} batches)")
