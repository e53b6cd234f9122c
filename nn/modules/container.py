"""torch.nn.modules.container: Sequential, ModuleList, ModuleDict, ParameterList."""
from .. import containers as _source
from ._reexport import reexport

reexport(globals(), _source)
