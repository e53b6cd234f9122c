"""Synthetic sequence tasks for recurrent networks and transformers: copy, reverse, sort, add.

Each task function returns `(inputs, targets)` as int64 numpy arrays. Tokens
`0 .. vocab_size - 1` are data; the copy, reverse and sort tasks reserve id
`vocab_size` as a separator (used by `SequenceTask(..., causal=True)`). The
addition task writes numbers as decimal digits (ids 0-9, most significant
first, zero-padded) with `PLUS` (10) between the two operands and `EQUALS`
(11) as its separator.

With `seed` given (an int or a numpy Generator) the data does not depend on
minigrad's global random state; with `seed=None` it is drawn from
`minigrad.random.generator()` (repeatable after `mg.manual_seed`).
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor, _make
from ..utils.data.dataset import Dataset, resolve_generator

PLUS = 10
EQUALS = 11
ADDITION_VOCAB_SIZE = 12


def _check(where: str, num_samples: int, seq_len: int, vocab_size: int) -> None:
    if num_samples < 1 or seq_len < 1 or vocab_size < 2:
        raise ValueError(f"{where}: need num_samples >= 1, seq_len >= 1 and vocab_size >= 2, got "
                         f"{num_samples}, {seq_len} and {vocab_size}")


def _tokens(where, num_samples, seq_len, vocab_size, seed) -> np.ndarray:
    _check(where, num_samples, seq_len, vocab_size)
    generator = resolve_generator(seed, where=where)
    return generator.integers(0, vocab_size, size=(num_samples, seq_len), dtype=np.int64)


def copy_task(num_samples: int, seq_len: int = 8, vocab_size: int = 10, seed=None):
    """Repeat the input: `targets == inputs`.

    Args:
        num_samples: number of sequences N.
        seq_len: tokens per sequence L.
        vocab_size: data tokens are drawn uniformly from 0 .. vocab_size - 1.
        seed: int or numpy Generator (None: minigrad's generator).

    Returns:
        `(inputs, targets)`, int64 arrays (N, L) and (N, L).
    """
    inputs = _tokens("copy_task", num_samples, seq_len, vocab_size, seed)
    return inputs, inputs.copy()


def reverse_task(num_samples: int, seq_len: int = 8, vocab_size: int = 10, seed=None):
    """Reverse the input: `targets[n] == inputs[n][::-1]`.

    Args and returns as `copy_task`: int64 arrays (N, L) and (N, L).
    """
    inputs = _tokens("reverse_task", num_samples, seq_len, vocab_size, seed)
    return inputs, inputs[:, ::-1].copy()


def sort_task(num_samples: int, seq_len: int = 8, vocab_size: int = 10, seed=None):
    """Sort the input ascending (tokens may repeat): `targets[n] == sorted(inputs[n])`.

    Args and returns as `copy_task`: int64 arrays (N, L) and (N, L).
    """
    inputs = _tokens("sort_task", num_samples, seq_len, vocab_size, seed)
    return inputs, np.sort(inputs, axis=1)


def digits_of(numbers: np.ndarray, width: int) -> np.ndarray:
    """Decimal digits of non-negative ints, most significant first, zero-padded: (N,) -> (N, width)."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (np.asarray(numbers, dtype=np.int64)[:, None] // powers) % 10


def addition_task(num_samples: int, digits: int = 3, seed=None):
    """Add two numbers of up to `digits` decimal digits: "a + b" -> the digits of a + b.

    Example with digits=3: 57 + 968 is the input `0 5 7 PLUS 9 6 8` and the target
    `1 0 2 5`.

    Args:
        num_samples: number of problems N.
        digits: digits per operand D (1..18); operands are uniform in [0, 10**D).
        seed: int or numpy Generator (None: minigrad's generator).

    Returns:
        `(inputs, targets)`, int64 arrays (N, 2D + 1) of ids 0-10 and (N, D + 1) of digits.
    """
    if num_samples < 1 or not 1 <= digits <= 18:
        raise ValueError(f"addition_task: need num_samples >= 1 and 1 <= digits <= 18 (int64), got "
                         f"{num_samples} and {digits}")
    generator = resolve_generator(seed, where="addition_task")
    a, b = generator.integers(0, 10 ** digits, size=(2, num_samples), dtype=np.int64)
    plus = np.full((num_samples, 1), PLUS, dtype=np.int64)
    inputs = np.concatenate([digits_of(a, digits), plus, digits_of(b, digits)], axis=1)
    return inputs, digits_of(a + b, digits + 1)


_TASKS = {"copy": copy_task, "reverse": reverse_task, "sort": sort_task, "addition": addition_task}


class SequenceTask(Dataset):
    """A synthetic task as a dataset, for an encoder (seq2seq) or a causal (GPT-style) model.

    - `causal=False`: samples are `(inputs[n], targets[n])`, shapes (L_in,) and (L_out,).
    - `causal=True`: the task is written as one sequence `inputs SEP targets` and the
      model predicts each next token: `x = seq[:-1]`, `y = seq[1:]`, both
      (L_in + L_out,), with `y` set to `ignore_index` where it would predict part of the
      question (the first L_in positions), so only the answer is scored by
      `F.cross_entropy(..., ignore_index=-100)`.

    Args:
        task: "copy", "reverse", "sort" or "addition".
        num_samples: number of samples N.
        seed: int or numpy Generator (None: minigrad's generator).
        causal: the format, see above.
        ignore_index: the target id of unscored positions when causal.
        **options: the task's own options: `seq_len`, `vocab_size` (copy, reverse, sort)
            or `digits` (addition).

    Attributes:
        inputs, targets: the task's arrays (see the task functions).
        sep: the separator id (`vocab_size` option, or `EQUALS` for addition).
        vocab_size: number of token ids, separator included (size an embedding with it).
        x, y: the samples' arrays, int64 (N, ...).

    Example:
        >>> ds = SequenceTask("reverse", 10_000, seq_len=6, seed=0)
        >>> x, y = ds[0]   # int64 tensors (6,), y is x reversed
    """

    def __init__(self, task: str, num_samples: int, seed=None, causal: bool = False,
                 ignore_index: int = -100, **options):
        if task not in _TASKS:
            raise ValueError(f"SequenceTask: unknown task {task!r} - expected one of {sorted(_TASKS)}")
        self.task = task
        self.causal = bool(causal)
        self.inputs, self.targets = _TASKS[task](num_samples, seed=seed, **options)
        if task == "addition":
            self.sep, self.vocab_size = EQUALS, ADDITION_VOCAB_SIZE
        else:
            self.sep = options.get("vocab_size", 10)
            self.vocab_size = self.sep + 1
        if not self.causal:
            self.x, self.y = self.inputs, self.targets
        else:
            n, length = self.inputs.shape
            sep = np.full((n, 1), self.sep, dtype=np.int64)
            sequence = np.concatenate([self.inputs, sep, self.targets], axis=1)
            self.x = sequence[:, :-1].copy()
            self.y = sequence[:, 1:].copy()
            self.y[:, :length] = ignore_index

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return _make(self.x[index].copy()), _make(self.y[index].copy())

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.x[indices], self.y[indices]

    def __repr__(self) -> str:
        return (f"SequenceTask({self.task!r}, {len(self)} samples, x {self.x.shape[1:]}, "
                f"y {self.y.shape[1:]}, vocab_size={self.vocab_size}, causal={self.causal})")
