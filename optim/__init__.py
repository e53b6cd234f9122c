"""optim: optimizers and learning-rate schedules (torch.optim-style)."""
from .optimizer import Optimizer
from .sgd import SGD
from .rmsprop import RMSprop
from .adam import Adam, AdamW
from .adagrad import Adagrad
from .adadelta import Adadelta
from .lbfgs import LBFGS
from .early_stopping import EarlyStopping
from . import lr_scheduler

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "LBFGS", "EarlyStopping", "lr_scheduler"]
