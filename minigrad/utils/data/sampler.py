"""Samplers: the order in which a DataLoader visits a dataset's indices, as `torch.utils.data.sampler`.

A sampler is an iterable of indices (`BatchSampler`: of lists of indices).
Random samplers draw from their `generator` (a `minigrad.Generator`) when given,
else from minigrad's default generator, when iteration starts, so every epoch
has a new order and `mg.manual_seed` makes the epochs repeat.

The samplers below also hand the DataLoader a whole epoch of indices at once
(`_epoch()`, an int64 array), which the DataLoader slices into batches without
a Python loop over indices; iterating them yields the same indices as ints.
"""
from __future__ import annotations

from typing import Generic, Iterable, Iterator, Sequence, TypeVar

import numpy as np

from ... import random as _random
from .dataset import resolve_generator

T_co = TypeVar("T_co", covariant=True)


def _own_generator(generator, where: str, seed: int | None = None):
    """Keep a Generator (or None) as given (its state moves on every epoch); an int seed, given
    as `generator` or `seed`, becomes one now."""
    if seed is None and (generator is None or isinstance(generator, (_random.Generator, np.random.Generator))):
        return generator
    return resolve_generator(generator, seed, where=where)


def _positive_int(value, name: str):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} should be a positive integer value, but got {name}={value!r}")
    return int(value)


def _batch_count(n: int, batch_size: int, drop_last: bool) -> int:
    """How many batches `n` items make: the last, short one counts unless `drop_last`."""
    return n // batch_size if drop_last else -(-n // batch_size)


def _boolean(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} should be a boolean value, but got {name}={value!r}")
    return bool(value)


class Sampler(Generic[T_co]):
    """Base class: subclasses define `__iter__` (the indices) and, when they know it, `__len__`."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class _EpochSampler(Sampler[int]):
    """A sampler that can draw a whole epoch as one int64 array."""

    def _epoch(self) -> np.ndarray:
        raise NotImplementedError

    def __iter__(self) -> Iterator[int]:
        return iter(self._epoch().tolist())


class SequentialSampler(_EpochSampler):
    """0, 1, ..., len(data_source) - 1, in order."""

    def __init__(self, data_source):
        self.data_source = data_source

    def _epoch(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(_EpochSampler):
    """Indices of `data_source` in random order.

    Args:
        data_source: the dataset (only its length is used).
        replacement: draw `num_samples` indices independently (with repeats) instead of
            permuting.
        num_samples: how many indices per epoch (default len(data_source)). Without
            replacement and more than len(data_source), whole permutations follow each other.
        generator: a `minigrad.Generator` to draw from (default: minigrad's).
    """

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None,
                 generator=None):
        self.data_source = data_source
        self.replacement = _boolean(replacement, "replacement")
        self._num_samples = num_samples
        self.generator = _own_generator(generator, "RandomSampler")
        _positive_int(self.num_samples, "num_samples")  # an empty dataset too, as in PyTorch
        if len(data_source) == 0:
            raise ValueError("RandomSampler: the dataset is empty - there is nothing to draw samples from")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def _epoch(self) -> np.ndarray:
        n, k = len(self.data_source), self.num_samples
        rng = resolve_generator(self.generator, where="RandomSampler")
        if self.replacement:
            return rng.integers(0, n, k, dtype=np.int64)
        parts = [rng.permutation(n) for _ in range(k // n)]
        if k % n:
            parts.append(rng.permutation(n)[:k % n])
        return np.concatenate(parts).astype(np.int64, copy=False)

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(_EpochSampler):
    """The given indices, in a new random order every epoch (without replacement).

    Args:
        indices: a sequence of indices into the dataset.
        generator: a `minigrad.Generator` to draw from (default: minigrad's).
    """

    def __init__(self, indices: Sequence[int], generator=None):
        self.indices = indices
        self._array = np.asarray(indices, dtype=np.int64).reshape(-1)
        self.generator = _own_generator(generator, "SubsetRandomSampler")

    def _epoch(self) -> np.ndarray:
        rng = resolve_generator(self.generator, where="SubsetRandomSampler")
        return self._array[rng.permutation(len(self._array))]

    def __len__(self) -> int:
        return len(self._array)


class WeightedRandomSampler(_EpochSampler):
    """`num_samples` indices in [0, len(weights)), index i drawn with probability proportional to weights[i].

    Args:
        weights: a 1-D sequence (or tensor) of non-negative weights, not necessarily summing to 1.
        num_samples: how many indices per epoch.
        replacement: draw with replacement (default), else each index at most once.
        generator: a `minigrad.Generator` to draw from (default: minigrad's).
    """

    def __init__(self, weights, num_samples: int, replacement: bool = True, generator=None):
        self.num_samples = _positive_int(num_samples, "num_samples")
        self.replacement = _boolean(replacement, "replacement")
        weights = np.asarray(getattr(weights, "array", weights), dtype=np.float64)
        if weights.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape {weights.shape}")
        if (weights < 0).any() or not np.isfinite(weights).all() or weights.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative and not all zero")
        if not replacement and num_samples > np.count_nonzero(weights):
            raise ValueError(f"WeightedRandomSampler: cannot draw num_samples={num_samples} without "
                             f"replacement from {np.count_nonzero(weights)} non-zero weights")
        self.weights = weights
        self.generator = _own_generator(generator, "WeightedRandomSampler")

    def _epoch(self) -> np.ndarray:
        rng = resolve_generator(self.generator, where="WeightedRandomSampler")
        return rng.choice(len(self.weights), self.num_samples, replace=self.replacement,
                          p=self.weights / self.weights.sum()).astype(np.int64, copy=False)

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler[list]):
    """Group the indices of another sampler into lists of `batch_size`.

    Args:
        sampler: a sampler or any iterable of indices.
        batch_size: indices per batch.
        drop_last: drop the last batch if it has fewer than `batch_size` indices.

    Example:
        >>> list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=False))
        [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    """

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool):
        self.sampler = sampler
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.drop_last = _boolean(drop_last, "drop_last")

    def _epoch_batches(self):
        """Batches as int64 arrays, cut from one array when the sampler draws whole epochs, else None."""
        own_iter = type(self.sampler).__iter__ is _EpochSampler.__iter__  # not overridden by a subclass
        if not isinstance(self.sampler, _EpochSampler) or not own_iter:
            return None
        order = self.sampler._epoch()
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        return (order[i:i + self.batch_size] for i in range(0, stop, self.batch_size))

    def __iter__(self) -> Iterator[list]:
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        return _batch_count(len(self.sampler), self.batch_size, self.drop_last)
