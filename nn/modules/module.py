"""torch.nn.modules.module: Module, the base class of every layer."""
from .. import module as _source
from ._reexport import reexport

reexport(globals(), _source)
