"""minigrad.utils.data: datasets, samplers and DataLoader, as `torch.utils.data`.

    from minigrad.utils.data import DataLoader, TensorDataset, random_split
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)

- dataset.py: Dataset, IterableDataset, TensorDataset, Subset, ConcatDataset, ChainDataset,
  random_split
- sampler.py: Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler,
  WeightedRandomSampler, BatchSampler
- dataloader.py: DataLoader, default_collate, default_convert, get_worker_info

The datasets minigrad ships (MNIST, Digits, CharDataset, sequence tasks) are in `minigrad.data`,
which re-exports these very objects.
"""
from . import dataset, sampler, dataloader
from .dataset import (Dataset, IterableDataset, TensorDataset, Subset, ConcatDataset, ChainDataset,
                      random_split)
from .sampler import (Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler,
                      WeightedRandomSampler, BatchSampler)
from .dataloader import DataLoader, default_collate, default_convert, get_worker_info

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "ChainDataset",
           "random_split", "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler", "DataLoader", "default_collate", "default_convert",
           "get_worker_info"]
