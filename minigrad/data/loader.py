"""DataLoader lives in minigrad.utils.data.dataloader (torch.utils.data's place); these are the same objects."""
from ..utils.data.dataloader import DataLoader, default_collate, default_convert  # noqa: F401
