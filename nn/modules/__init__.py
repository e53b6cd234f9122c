"""minigrad.nn.modules: PyTorch's module paths (`torch.nn.modules.linear.Linear`,
`torch.nn.modules.loss._Loss`, ...) for programs that import classes from there.

Each submodule re-exports the very classes of minigrad.nn (the same objects, so isinstance and
subclassing behave as in PyTorch); nothing is defined twice.
"""
from . import (activation, batchnorm, container, conv, dropout, flatten, fold, linear, loss,  # noqa: F401
               module, normalization, pooling, rnn, sparse, transformer)
from .module import Module  # noqa: F401
from .activation import *  # noqa: F401,F403
from .batchnorm import *  # noqa: F401,F403
from .container import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .flatten import *  # noqa: F401,F403
from .fold import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .sparse import *  # noqa: F401,F403
from .transformer import *  # noqa: F401,F403
