"""torch.nn.modules.activation: the activation layers (and MultiheadAttention, which PyTorch keeps here)."""
from .. import activation as _source
from ._reexport import reexport

reexport(globals(), _source)

from ..attention import MultiheadAttention  # noqa: E402  (PyTorch defines it in activation.py)

__all__.append("MultiheadAttention")
