"""nn: layers, losses and initialisation built from minigrad's ops (torch.nn-style)."""
import minigrad as _minigrad

_minigrad._alias_submodules()
