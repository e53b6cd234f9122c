"""minigrad.utils: as `torch.utils` - its `data` package (datasets, samplers, DataLoader) and
`checkpoint` (accepted, runs the block without recomputation)."""
from . import checkpoint, data

__all__ = ["checkpoint", "data"]
