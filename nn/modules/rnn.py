"""torch.nn.modules.rnn: the recurrent layers and cells."""
from .. import rnn as _source
from ._reexport import reexport

reexport(globals(), _source)
