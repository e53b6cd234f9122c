"""Datasets: collections of samples, as in `torch.utils.data.dataset`.

A map-style dataset answers `len(ds)` and `ds[i]`; an `IterableDataset` answers
`iter(ds)`. A dataset that keeps its samples in whole arrays may also answer
`ds.get_batch(indices)` with a whole batch at once (one fancy-indexing per array
instead of a Python loop over samples); the `DataLoader` uses that fast path
when it can.
"""
from __future__ import annotations

import abc
import bisect
import math
import warnings
from typing import Generic, Iterable, Sequence, TypeVar

import numpy as np

from ... import random as _random
from ...dtypes import as_array
from ...tensor import Tensor, _make

T_co = TypeVar("T_co", covariant=True)


def resolve_generator(generator=None, seed: int | None = None, where: str = "data") -> np.random.Generator:
    """The numpy Generator to draw from: the given one, a new one from `seed`, or minigrad's.

    Args:
        generator: a `minigrad.Generator`, a `numpy.random.Generator`, an int seed, or None.
        seed: an int seed (only when `generator` is None).
        where: the caller's name, for error messages.

    Returns:
        The numpy Generator behind `generator`, `np.random.default_rng(seed)`, or
        `minigrad.random.generator()` (the one `mg.manual_seed` seeds) when neither is given.
    """
    if generator is not None and seed is not None:
        raise ValueError(f"{where}: pass either generator= or seed=, not both")
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        seed, generator = int(generator), None
    if generator is not None:
        if not isinstance(generator, (_random.Generator, np.random.Generator)):
            raise TypeError(f"{where}: generator must be a minigrad.Generator, a numpy.random.Generator "
                            f"or an int seed, got {type(generator).__name__}")
        return _random.generator(generator)
    if seed is not None:
        return np.random.default_rng(int(seed))
    return _random.generator()


class Dataset(Generic[T_co], metaclass=abc.ABCMeta):
    """A map-style dataset: subclasses define `__getitem__(index)` and (usually) `__len__()`.

    Optionally, `get_batch(indices)` returns the samples at `indices` already
    stacked (numpy arrays, or a tuple of them, with the batch on axis 0), which
    lets the `DataLoader` skip the per-sample loop. The default returns None,
    meaning "fetch the samples one by one". `ds1 + ds2` is a `ConcatDataset`.
    """

    @abc.abstractmethod
    def __getitem__(self, index: int):
        """The sample at `index` (0 <= index < len(self))."""

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])

    def get_batch(self, indices: np.ndarray):
        """Samples at `indices` (int64 array, shape (B,)) stacked into arrays, or None if unsupported."""
        return None


class IterableDataset(Dataset[T_co]):
    """A dataset that is a stream: subclasses define `__iter__()`, yielding samples.

    The `DataLoader` batches consecutive samples (no sampler, no shuffle). `ds1 + ds2`
    is a `ChainDataset`.
    """

    @abc.abstractmethod
    def __iter__(self):
        """Yield the samples, one at a time."""

    def __getitem__(self, index):
        raise TypeError(f"{type(self).__name__} is an IterableDataset: iterate over it, it has no "
                        f"samples by index")

    def __add__(self, other: "Dataset") -> "ChainDataset":
        return ChainDataset([self, other])


def _as_array(value, where: str, position: int) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.array
    try:
        return np.asarray(as_array(value))  # Python floats -> float32, ints -> int64, arrays kept
    except (TypeError, ValueError) as error:
        raise TypeError(f"{where}: argument {position} ({type(value).__name__}) cannot be turned into "
                        f"an array: {error}") from None


class TensorDataset(Dataset):
    """Samples are the rows of one or more tensors (or arrays) with the same first dimension.

    `ds[i]` is the tuple `(t0[i], t1[i], ...)`; batches are made by indexing every
    tensor with the whole index array at once.

    Args:
        *tensors: Tensors, numpy arrays or nested lists, each of shape (N, ...). Arrays
            keep their dtype; Python floats become float32 and ints int64. Tensors and
            arrays are shared, not copied.

    Example:
        >>> ds = TensorDataset(mg.randn(100, 3), mg.arange(100))
        >>> x, y = ds[0]          # x: shape (3,), y: shape ()
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: needs at least one tensor")
        arrays = [_as_array(t, "TensorDataset", i) for i, t in enumerate(tensors)]
        for i, array in enumerate(arrays):
            if array.ndim == 0:
                raise ValueError(f"TensorDataset: argument {i} is a scalar (shape ()) - every tensor "
                                 f"needs a first dimension that indexes the samples")
        sizes = [array.shape[0] for array in arrays]
        if len(set(sizes)) > 1:
            shapes = ", ".join(str(tuple(a.shape)) for a in arrays)
            raise ValueError(f"TensorDataset: tensors must have the same first dimension (the number "
                             f"of samples), got shapes {shapes}")
        self.tensors = tuple(t if isinstance(t, Tensor) else _make(a) for t, a in zip(tensors, arrays))

    def __getitem__(self, index: int) -> tuple:
        return tuple(_make(np.asarray(t.array[index])) for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].array.shape[0]

    def get_batch(self, indices: np.ndarray) -> tuple:
        return tuple(t.array[indices] for t in self.tensors)

    def __repr__(self) -> str:
        shapes = ", ".join(str(tuple(t.shape)) for t in self.tensors)
        return f"TensorDataset({shapes})"


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order.

    Args:
        dataset: any dataset.
        indices: a sequence of ints in [0, len(dataset)); stored as an int64 array.
    """

    def __init__(self, dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(self.indices):
            n = len(dataset)
            low, high = int(self.indices.min()), int(self.indices.max())
            if low < 0 or high >= n:
                bad = low if low < 0 else high
                raise IndexError(f"Subset: index {bad} is out of range for a dataset of {n} samples")

    def __getitem__(self, index: int):
        return self.dataset[int(self.indices[index])]

    def __len__(self) -> int:
        return len(self.indices)

    def get_batch(self, indices: np.ndarray):
        get_batch = getattr(self.dataset, "get_batch", None)
        return None if get_batch is None else get_batch(self.indices[indices])

    def __repr__(self) -> str:
        return f"Subset({self.dataset!r}, {len(self)} samples)"


class ConcatDataset(Dataset[T_co]):
    """The samples of several map-style datasets, one after the other.

    Args:
        datasets: a non-empty iterable of datasets (not IterableDatasets).

    Attributes:
        cumulative_sizes: the running totals of the datasets' lengths.
    """

    def __init__(self, datasets: Iterable[Dataset]):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset (use ChainDataset)")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int):
        if index < 0:
            if -index > len(self):
                raise IndexError(f"ConcatDataset: index {index} is out of range for {len(self)} samples")
            index += len(self)
        if index >= len(self):
            raise IndexError(f"ConcatDataset: index {index} is out of range for {len(self)} samples")
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which > 0 else 0
        return self.datasets[which][index - start]

    def __repr__(self) -> str:
        return f"ConcatDataset({len(self.datasets)} datasets, {len(self)} samples)"


class ChainDataset(IterableDataset):
    """Several IterableDatasets streamed one after the other."""

    def __init__(self, datasets: Iterable[Dataset]):
        self.datasets = list(datasets)

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError(f"ChainDataset only supports IterableDataset, got {type(d).__name__}")
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)


def _split_lengths(n: int, lengths: Sequence) -> list[int]:
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths is empty")
    if all(isinstance(l, (int, np.integer)) and not isinstance(l, bool) for l in lengths):
        counts = [int(l) for l in lengths]
        if any(c < 0 for c in counts):
            raise ValueError(f"random_split: lengths must be non-negative, got {counts}")
        if sum(counts) != n:
            raise ValueError(f"random_split: lengths {counts} sum to {sum(counts)}, but the dataset has "
                             f"{n} samples - give counts summing to {n} or fractions summing to 1")
        return counts
    fractions = [float(l) for l in lengths]
    if any(not 0.0 <= f <= 1.0 for f in fractions) or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise ValueError(f"random_split: fractions {fractions} must each be in [0, 1] and sum to 1 "
                         f"(they sum to {sum(fractions):g})")
    # As PyTorch: floor each share, then hand the leftover samples out one each, round-robin.
    counts = [math.floor(n * f) for f in fractions]
    for i in range(n - sum(counts)):
        counts[i % len(counts)] += 1
    for i, count in enumerate(counts):
        if count == 0:
            warnings.warn(f"random_split: length of split at index {i} is 0 - this subset is empty",
                          stacklevel=3)
    return counts


def random_split(dataset, lengths: Sequence, generator=None) -> list[Subset]:
    """Split a dataset into non-overlapping random subsets.

    Args:
        dataset: the dataset to split (N samples).
        lengths: ints summing to N, or fractions summing to 1 (each share is floored
            and the leftover samples go one each to the first subsets, as in PyTorch).
        generator: a `minigrad.Generator` (or a numpy Generator, or an int seed) for the
            permutation; None draws from minigrad's default generator (repeatable after
            `mg.manual_seed`).

    Returns:
        A list of `Subset`s, one per length, together covering every sample once.

    Example:
        >>> train, val = random_split(ds, [0.9, 0.1], generator=mg.Generator().manual_seed(0))
    """
    n = len(dataset)
    counts = _split_lengths(n, lengths)
    permutation = resolve_generator(generator, where="random_split").permutation(n)
    bounds = np.cumsum([0] + counts)
    return [Subset(dataset, permutation[start:stop]) for start, stop in zip(bounds[:-1], bounds[1:])]
