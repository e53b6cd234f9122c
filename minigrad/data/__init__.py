"""minigrad.data: datasets and batching, as `torch.utils.data` (plus a few datasets of our own).

    from minigrad.data import DataLoader, TensorDataset, MNIST, Digits
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    for xb, yb in loader:
        ...

- dataset.py: Dataset, TensorDataset, Subset, random_split
- loader.py: DataLoader, default_collate
- idx.py: read_idx / write_idx (the MNIST file format)
- vision.py: MNIST, FashionMNIST (IDX files, optional checked download), Digits (scikit-learn, offline)
- text.py: CharDataset (character-level language modelling)
- sequences.py: copy / reverse / sort / addition tasks and SequenceTask
"""
from .dataset import Dataset, TensorDataset, Subset, random_split
from .loader import DataLoader, default_collate
from .idx import read_idx, write_idx
from .vision import MNIST, FashionMNIST, Digits, ChecksumError, download_file, default_root
from .text import CharDataset, stdlib_text
from .sequences import (copy_task, reverse_task, sort_task, addition_task, SequenceTask,
                        PLUS, EQUALS, ADDITION_VOCAB_SIZE)

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "DataLoader", "default_collate",
           "read_idx", "write_idx", "MNIST", "FashionMNIST", "Digits", "ChecksumError", "download_file",
           "default_root", "CharDataset", "stdlib_text", "copy_task", "reverse_task", "sort_task",
           "addition_task", "SequenceTask", "PLUS", "EQUALS", "ADDITION_VOCAB_SIZE"]
