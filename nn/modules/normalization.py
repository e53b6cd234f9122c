"""torch.nn.modules.normalization: LayerNorm, GroupNorm and the other non-batch normalizations."""
from .. import normalization as _source
from ._reexport import reexport

reexport(globals(), _source, lambda name: "BatchNorm" not in name)
