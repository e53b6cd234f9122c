"""DataLoader lives in minigrad.utils.data.dataloader (torch.utils.data's place); this module keeps
the old import path `minigrad.data.loader` working, with the very same objects."""
from ..utils.data.dataloader import DataLoader, default_collate, default_convert  # noqa: F401
