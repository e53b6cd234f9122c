"""nn: layers, losses and initialisation built from minigrad's ops (torch.nn-style).

No layer here has backward code: every gradient comes from the engine.
"""
import minigrad as _minigrad

from .parameter import Parameter
from .module import Module
from .containers import Sequential, ModuleList, ModuleDict, ParameterList

_minigrad._alias_submodules()
