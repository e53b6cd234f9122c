"""The dataset classes live in minigrad.utils.data.dataset (torch.utils.data's place); this module keeps
the old import path `minigrad.data.dataset` working, with the very same objects."""
from ..utils.data.dataset import (Dataset, IterableDataset, TensorDataset, Subset, ConcatDataset,  # noqa: F401
                                  ChainDataset, random_split)
