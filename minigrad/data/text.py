"""Character-level language modelling: windows of a text, each target shifted by one character."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Sequence

import numpy as np

from ..tensor import Tensor, _make
from ..utils.data.dataset import Dataset

# Large, pure-Python standard-library modules whose source is the default corpus.
# Sorted, so the text is the same on every run of one Python version.
STDLIB_MODULES = ("argparse", "dataclasses", "difflib", "enum", "functools", "inspect",
                  "shutil", "subprocess", "textwrap", "threading", "typing")


def stdlib_text(modules: Sequence[str] = STDLIB_MODULES) -> str:
    """The source code of some standard-library modules, concatenated in the given order.

    Args:
        modules: module names; those without a readable .py source are skipped.

    Returns:
        The text (about 0.8 MB for the default modules; its exact content depends on the
        Python version, but not on anything else).
    """
    parts = []
    for name in modules:
        spec = importlib.util.find_spec(name)
        origin = getattr(spec, "origin", None)
        if origin and origin.endswith(".py") and Path(origin).is_file():
            parts.append(Path(origin).read_text(encoding="utf-8"))
    if not parts:
        raise RuntimeError(f"stdlib_text: none of the modules {list(modules)} has a readable .py source - "
                           f"pass text= or path= to CharDataset")
    return "\n".join(parts)


class CharDataset(Dataset):
    """Every window of `seq_len` characters of a text, with the next character as target.

    Sample `i` starts at character `i * stride`: `x = ids[s : s + seq_len]` and
    `y = ids[s + 1 : s + seq_len + 1]`, both int64 tensors (seq_len,), so
    `y[t]` is the character that follows `x[t]`.

    Args:
        text: the text to model. Default (with `path` also None): the source of some
            standard-library modules (`stdlib_text()`).
        path: alternatively, a UTF-8 text file to read.
        seq_len: characters per sample.
        stride: characters between the starts of consecutive samples (1: every window;
            `seq_len`: non-overlapping windows).

    Attributes:
        text: the text. vocab: its sorted distinct characters. stoi / itos: char <-> id.
        data: the whole text as ids, int64 (len(text),).

    Example:
        >>> ds = CharDataset("hello world", seq_len=4)
        >>> ds.decode(ds[0][0]), ds.decode(ds[0][1])
        ('hell', 'ello')
    """

    def __init__(self, text: str | None = None, path=None, seq_len: int = 64, stride: int = 1):
        if text is not None and path is not None:
            raise ValueError("CharDataset: pass text= or path=, not both")
        if path is not None:
            text = Path(path).read_text(encoding="utf-8")
        elif text is None:
            text = stdlib_text()
        if seq_len < 1 or stride < 1:
            raise ValueError(f"CharDataset: seq_len and stride must be >= 1, got {seq_len} and {stride}")
        if len(text) < seq_len + 1:
            raise ValueError(f"CharDataset: the text has {len(text)} characters, too few for one sample "
                             f"of seq_len={seq_len} (needs seq_len + 1 = {seq_len + 1})")
        self.text = text
        self.seq_len = int(seq_len)
        self.stride = int(stride)
        self.vocab = sorted(set(text))
        self.stoi = {ch: i for i, ch in enumerate(self.vocab)}
        self.itos = {i: ch for i, ch in enumerate(self.vocab)}
        self.data = self.encode(text)
        self._offsets = np.arange(self.seq_len, dtype=np.int64)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> np.ndarray:
        """Characters -> ids, int64 (len(text),). Raises KeyError for a character not in `vocab`."""
        try:
            return np.fromiter((self.stoi[ch] for ch in text), dtype=np.int64, count=len(text))
        except KeyError as error:
            raise KeyError(f"CharDataset.encode: character {error.args[0]!r} is not in the vocabulary "
                           f"({self.vocab_size} characters of the training text)") from None

    def decode(self, ids) -> str:
        """Ids (a tensor, array or list, any shape, read in C order) -> the string."""
        if isinstance(ids, Tensor):
            ids = ids.array
        return "".join(self.itos[int(i)] for i in np.asarray(ids).reshape(-1))

    def __len__(self) -> int:
        return (len(self.data) - self.seq_len - 1) // self.stride + 1

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"CharDataset: index {index} is out of range for {len(self)} samples")
        start = (index % len(self)) * self.stride
        return (_make(self.data[start:start + self.seq_len].copy()),
                _make(self.data[start + 1:start + self.seq_len + 1].copy()))

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        positions = (np.asarray(indices, dtype=np.int64) * self.stride)[:, None] + self._offsets
        return self.data[positions], self.data[positions + 1]

    def __repr__(self) -> str:
        return (f"CharDataset({len(self.text)} characters, vocab_size={self.vocab_size}, "
                f"seq_len={self.seq_len}, {len(self)} samples)")
