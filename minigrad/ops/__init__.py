"""Every differentiable operation, by family. Each file holds its primitives (forward and VJP side
by side) followed by the public functions built on them."""
from .elementwise import *  # noqa: F401,F403
from .elementwise import abs, pow, round  # names that shadow builtins are exported on purpose
from .reduction import *  # noqa: F401,F403
from .reduction import sum, max, min, all, any
from .shape import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .conv import conv2d, max_pool2d, avg_pool2d, unfold  # noqa: F401
from .neural import softmax, log_softmax, layer_norm, dropout, embedding  # noqa: F401
