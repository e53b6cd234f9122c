"""torch.nn.modules.conv: the convolutions and their bases _ConvNd, _ConvTransposeNd."""
from .. import conv as _source
from ._reexport import reexport

reexport(globals(), _source, lambda name: "Conv" in name)
