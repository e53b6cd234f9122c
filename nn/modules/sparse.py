"""torch.nn.modules.sparse: Embedding."""
from .. import sparse as _source
from ._reexport import reexport

reexport(globals(), _source)
