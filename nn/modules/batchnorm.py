"""torch.nn.modules.batchnorm: batch normalization and its base _BatchNorm."""
from .. import normalization as _source
from ._reexport import reexport

reexport(globals(), _source, lambda name: "BatchNorm" in name)
