"""minigrad: a small, readable, fast autograd framework on numpy, used like a small PyTorch.

    import minigrad as mg
    x = mg.randn(3, requires_grad=True)
    (x * x).sum().backward()
    x.grad  # 2 * x
"""
from __future__ import annotations

import gc as _gc

from .dtypes import (float16, half, float32, float64, double, int8, uint8, int16, short,
                     int32, int64, long, bool)
from .dtypes import float, int  # noqa: F401  (PyTorch spells mg.float, mg.int)
from .dtypes import bfloat16, finfo, iinfo, get_default_dtype, set_default_dtype, is_floating_point
from .tensor import Tensor, is_tensor
from .device import device  # noqa: E402  (the class, as torch.device; the module stays in sys.modules)
from .grad_mode import (no_grad, enable_grad, set_grad_enabled, is_grad_enabled, inference_mode,
                        is_inference_mode_enabled)
from .random import (manual_seed, seed, initial_seed, get_rng_state, set_rng_state, Generator,
                     default_generator)
from .ops import *  # noqa: F401,F403
from .ops import abs, pow, round, sum, max, min, all, any  # noqa: F401
from .creation import (tensor, as_tensor, from_numpy, zeros, ones, full, empty, zeros_like,
                       ones_like, full_like, empty_like, arange, linspace, eye, rand, randn,
                       randint, randperm, rand_like, randn_like, normal, bernoulli, multinomial)
from . import autograd
from .autograd import grad  # noqa: F401  (mg.grad, as torch.autograd.grad)
from .function import Function as _PrimitiveFunction  # noqa: F401


from . import distributions  # noqa: E402
from . import data  # noqa: E402
from . import utils  # noqa: E402  (torch.utils.data)
from .serialization import save, load  # noqa: E402
# the frame around the model: what PyTorch programs ask about devices, precision and threads
from . import cuda, accelerator, amp, backends, distributed  # noqa: E402
from .amp import autocast, GradScaler  # noqa: E402
from .runtime import (set_num_threads, get_num_threads, set_num_interop_threads,  # noqa: E402
                      get_num_interop_threads, set_float32_matmul_precision,
                      get_float32_matmul_precision, use_deterministic_algorithms,
                      are_deterministic_algorithms_enabled,
                      is_deterministic_algorithms_warn_only_enabled, memory_format,
                      contiguous_format, channels_last, channels_last_3d, preserve_format)
from .printing import set_printoptions  # noqa: E402
from .legacy import *  # noqa: E402,F401,F403  (mg.FloatTensor, ... : PyTorch's legacy tensor types)

__version__ = "0.1.0"

# A recorded graph is many small objects and, by design, no reference cycles. With CPython's
# default first-generation threshold (700) the cycle collector rescans them so often that
# building a 100 000-op graph takes 3x longer; a larger threshold keeps collection rare while
# graphs are built. Only a threshold still at the interpreter's default is changed.
if _gc.get_threshold()[0] == 700:
    _gc.set_threshold(10_000, *_gc.get_threshold()[1:])

# glibc gives large freed blocks back to the kernel, so every training step would page-fault its
# activations in again; malloc keeps them for reuse instead (allocator.py: numbers, how to opt out)
from .allocator import keep_freed_memory as _keep_freed_memory  # noqa: E402

_keep_freed_memory()


from . import nn, optim  # noqa: E402  (built on everything above)
# built on the engine and on nn: capture and replay, drawing, the summary, ONNX export
from .capture import compile  # noqa: E402  (capture and replay, as torch.compile)
from . import viz  # noqa: E402
from .summary import summary  # noqa: E402
from . import onnx  # noqa: E402  (torch.onnx.export; the onnx package is imported only when exporting)

from ._missing import missing as _missing  # noqa: E402


def __getattr__(name: str):
    # only names not found above: say plainly that minigrad lacks them (README: where it differs)
    raise _missing("", name)
