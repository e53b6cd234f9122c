"""minigrad.data: the datasets minigrad ships, and (re-exported) `torch.utils.data`'s classes.

    from minigrad.data import DataLoader, TensorDataset, MNIST, Digits
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    for xb, yb in loader:
        ...

- Dataset, TensorDataset, Subset, random_split, DataLoader, samplers...: the very objects of
  `minigrad.utils.data` (which is where they are defined), re-exported here
- idx.py: read_idx / write_idx (the MNIST file format)
- vision.py: MNIST, FashionMNIST (IDX files, optional checked download), Digits (scikit-learn, offline)
- text.py: CharDataset (character-level language modelling)
- sequences.py: copy / reverse / sort / addition tasks and SequenceTask
"""
from ..utils.data import (Dataset, IterableDataset, TensorDataset, Subset, ConcatDataset, ChainDataset,
                         random_split, Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler,
                         WeightedRandomSampler, BatchSampler, DataLoader, default_collate, default_convert,
                         get_worker_info)
from .idx import read_idx, write_idx
from .vision import MNIST, FashionMNIST, Digits, ChecksumError, download_file, default_root
from .text import CharDataset, stdlib_text
from .sequences import (copy_task, reverse_task, sort_task, addition_task, SequenceTask,
                        PLUS, EQUALS, ADDITION_VOCAB_SIZE)

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "ChainDataset",
           "random_split", "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler", "DataLoader", "default_collate", "default_convert",
           "get_worker_info",
           "read_idx", "write_idx", "MNIST", "FashionMNIST", "Digits", "ChecksumError", "download_file",
           "default_root", "CharDataset", "stdlib_text", "copy_task", "reverse_task", "sort_task",
           "addition_task", "SequenceTask", "PLUS", "EQUALS", "ADDITION_VOCAB_SIZE"]
