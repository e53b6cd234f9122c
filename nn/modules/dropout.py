"""torch.nn.modules.dropout: the dropout layers and their base _DropoutNd."""
from .. import dropout as _source
from ._reexport import reexport

reexport(globals(), _source)
