"""minigrad.utils: as `torch.utils` - its `data` package (datasets, samplers, DataLoader)."""
from . import data

__all__ = ["data"]
