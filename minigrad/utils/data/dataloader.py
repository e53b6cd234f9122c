"""DataLoader: iterate over a dataset in (shuffled) batches, as `torch.utils.data.DataLoader`.

Its sampler gives the order of the indices (SequentialSampler, RandomSampler when
shuffling, or the one passed in), its batch sampler cuts them into batches.
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
from itertools import islice
from typing import Callable, Iterator

import numpy as np

from ...dtypes import as_array
from ...tensor import Tensor, _make
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler, _batch_count, _own_generator


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


def default_convert(data):
    """What a loader without batching (batch_size=None) yields: numpy arrays and scalars become
    tensors, inside tuples, lists and dicts too; everything else is kept as it is."""
    if isinstance(data, np.ndarray) and data.dtype.kind not in "OSUV":
        return _make(data)
    if isinstance(data, np.generic) and not isinstance(data, (np.str_, np.bytes_)):
        return _make(np.asarray(data))
    if isinstance(data, Mapping):
        return {key: default_convert(value) for key, value in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (tuple, list)):
        return type(data)(default_convert(d) for d in data)
    return data


def get_worker_info():
    """None: minigrad's DataLoader makes every batch in the main process (there are no workers)."""
    return None


class DataLoader:
    """Iterate over a dataset in batches, optionally reshuffled every epoch.

    Takes every argument `torch.utils.data.DataLoader` takes, with its defaults and its errors
    for arguments that exclude each other (`sampler` with `shuffle`; `batch_sampler` with
    `batch_size`, `shuffle`, `sampler` or `drop_last`; an IterableDataset with any of them).

    Args:
        dataset: a map-style dataset (`len(ds)` and `ds[i]`; `ds.get_batch(indices)` enables the
            fast path) or an IterableDataset (batches of consecutive samples).
        batch_size: samples per batch (the last batch may be smaller unless `drop_last`); None
            yields the samples one by one, unbatched (numpy arrays turned into tensors).
        shuffle: draw a new random order at the start of every epoch (a RandomSampler).
        sampler: the order of the indices (a Sampler or any iterable of indices).
        batch_sampler: yields whole lists of indices, one list per batch.
        num_workers: accepted for PyTorch code; minigrad has no worker processes. Every batch is
            made in the main process, in order, whatever the value; `get_worker_info()` is None.
        collate_fn: merges a list of samples into a batch (default: `default_collate`).
            Giving one turns the fast path off.
        pin_memory, pin_memory_device, timeout, multiprocessing_context, prefetch_factor,
        in_order: accepted and checked as PyTorch checks them, and otherwise without effect
            (there is no device memory to pin and no worker to wait for).
        drop_last: drop the last batch if it has fewer than `batch_size` samples.
        worker_init_fn: with num_workers > 0, called as `worker_init_fn(0)` in the main process
            when each epoch's iteration starts (only at the first one with persistent_workers),
            as PyTorch calls it in each new worker; never called with num_workers=0 (as PyTorch).
        generator: a `minigrad.Generator` for the shuffling order (PyTorch's generator=); a numpy
            Generator or an int seed are accepted too. Default: minigrad's default generator, so
            `mg.manual_seed(s)` makes the order repeatable.
        persistent_workers: see worker_init_fn; needs num_workers > 0, as in PyTorch.
        seed: (minigrad's own) an int: the loader makes its own generator from it once, so
            every epoch differs but the sequence of epochs is repeatable.

    Yields:
        Batches: for `(x, y)` samples, tuples `(x (B, ...), y (B, ...))` of tensors.

    Example:
        >>> loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
        >>> for xb, yb in loader:
        ...     loss = F.cross_entropy(model(xb), yb)
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None, sampler=None,
                 batch_sampler=None, num_workers: int = 0, collate_fn: Callable | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable | None = None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True, seed: int | None = None):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing. Let "
                             "num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor "
                             "to None.")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable, got {type(collate_fn).__name__}")
        if batch_size is not None and (isinstance(batch_size, bool) or
                                       not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
            raise ValueError(f"DataLoader: batch_size must be a positive int (or None for no batching), "
                             f"got {batch_size!r}")
        if isinstance(dataset, IterableDataset):
            for name, value in (("shuffle", shuffle), ("sampler", sampler), ("batch_sampler", batch_sampler)):
                if value not in (None, False):
                    raise ValueError(f"DataLoader with IterableDataset: expected unspecified {name} option, "
                                     f"but got {name}={value}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, "
                                 "sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive "
                             "with drop_last")
        # A seed makes one generator now (not one per epoch): epochs differ, runs repeat.
        generator = _own_generator(generator, "DataLoader", seed)

        self.dataset = dataset
        self.num_workers = int(num_workers)
        self.prefetch_factor = prefetch_factor
        self.pin_memory = bool(pin_memory)
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.persistent_workers = bool(persistent_workers)
        self.in_order = in_order
        self.generator = generator
        self.shuffle = shuffle
        if sampler is None and not isinstance(dataset, IterableDataset):
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and sampler is not None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.batch_size = None if batch_size is None else int(batch_size)
        self.drop_last = bool(drop_last)
        # the fast path stands in for default_collate only, so only when no collate_fn was given
        self._fast = collate_fn is None
        if collate_fn is None:
            collate_fn = default_collate if batch_sampler is not None or \
                (isinstance(dataset, IterableDataset) and batch_size is not None) else default_convert
        self.collate_fn = collate_fn
        self._workers_started = False

    def __len__(self) -> int:
        """The number of batches per epoch (samples, when batch_size is None)."""
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)
            return n if self.batch_size is None else _batch_count(n, self.batch_size, self.drop_last)
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    def __iter__(self) -> Iterator:
        if self.num_workers > 0 and self.worker_init_fn is not None and \
                not (self.persistent_workers and self._workers_started):
            self.worker_init_fn(0)
        self._workers_started = True
        if isinstance(self.dataset, IterableDataset):
            return self._stream()
        if self.batch_sampler is None:
            return (self.collate_fn(self.dataset[index]) for index in self.sampler)
        # The order is drawn here, when iteration starts, not lazily at the first batch.
        batches = None
        if type(self.batch_sampler).__iter__ is BatchSampler.__iter__:
            batches = self.batch_sampler._epoch_batches()
        return self._batches(iter(self.batch_sampler) if batches is None else batches)

    def _batches(self, index_batches) -> Iterator:
        get_batch = getattr(self.dataset, "get_batch", None) if self._fast else None
        for indices in index_batches:
            if get_batch is not None:
                array = np.asarray(indices)   # no copy when the batch sampler hands over an array
                batch = get_batch(array) if array.dtype.kind in "iu" and array.ndim == 1 else None
                if batch is not None:
                    yield _wrap(batch)
                    continue
                get_batch = None  # this dataset has no fast path: stop asking
            if isinstance(indices, np.ndarray):
                indices = indices.tolist()
            yield self.collate_fn([self.dataset[i] for i in indices])

    def _stream(self) -> Iterator:
        samples = iter(self.dataset)
        if self.batch_size is None:
            yield from (self.collate_fn(sample) for sample in samples)
            return
        while True:
            batch = list(islice(samples, self.batch_size))
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                return
            yield self.collate_fn(batch)

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last})")
