"""torch.nn.modules.flatten: Flatten and Unflatten."""
from .. import linear as _source
from ._reexport import reexport

reexport(globals(), _source, lambda name: "latten" in name)
