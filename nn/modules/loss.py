"""torch.nn.modules.loss: the losses and their bases _Loss and _WeightedLoss."""
from .. import loss as _source
from ._reexport import reexport

reexport(globals(), _source)
