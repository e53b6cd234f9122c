"""torch.nn.modules.pooling: max, average and adaptive pooling."""
from .. import conv as _source
from ._reexport import reexport

reexport(globals(), _source, lambda name: "Pool" in name)
