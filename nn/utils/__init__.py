"""torch.nn.utils: gradient clipping, flat parameter vectors (clip_grad.py) and padding
sequences into a batch (rnn.py, as `nn.utils.rnn.pad_sequence`)."""
from . import rnn
from .clip_grad import *  # noqa: F401,F403
from .clip_grad import __all__ as _clip_grad_all

__all__ = [*_clip_grad_all, "rnn"]
