"""The dataset classes live in minigrad.utils.data.dataset (torch.utils.data's place); these are the same objects."""
from ..utils.data.dataset import (Dataset, IterableDataset, TensorDataset, Subset, ConcatDataset,  # noqa: F401
                                  ChainDataset, random_split, resolve_generator)
