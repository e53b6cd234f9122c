"""torch.nn.modules.transformer: the transformer layers."""
from .. import transformer as _source
from ._reexport import reexport

reexport(globals(), _source)
