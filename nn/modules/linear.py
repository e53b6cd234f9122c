"""torch.nn.modules.linear: Identity, Linear, Bilinear (the same classes as minigrad.nn's)."""
from .. import linear as _source
from ._reexport import reexport

reexport(globals(), _source)
