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

from minigrad._missing import missing as _missing  # noqa: E402


def __getattr__(name: str):
    # only names not found above: say plainly that minigrad lacks them (README: where it differs)
    raise _missing("optim.", name)
