"""torch.nn.modules.fold: Fold and Unfold."""
from .. import conv as _source
from ._reexport import reexport

reexport(globals(), _source, lambda name: name in ("Fold", "Unfold"))
