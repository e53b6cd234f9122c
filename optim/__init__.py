"""optim: optimizers and learning-rate schedules (torch.optim-style)."""
from .optimizer import Optimizer
from .sgd import SGD
from .rmsprop import RMSprop
from .adam import Adam, AdamW
from .early_stopping import EarlyStopping
from . import lr_scheduler

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "EarlyStopping", "lr_scheduler"]
