"""Makes `torch` mean `minigrad` in this interpreter, generically, for the PyTorch-program tests.

tests/test_torch_programs.py puts this folder first on PYTHONPATH of the subprocess that runs a
program, so Python imports this file at startup. A meta path finder then answers every import
of `torch` or `torch.X.Y` with the module object `minigrad.X.Y` itself: `import torch.nn.functional
as F` gives `minigrad.nn.functional`, the same object, not a copy or a wrapper.

Nothing here names a torch feature. A module minigrad lacks fails to import with minigrad's own
name in the error (`No module named 'minigrad.utils'`), so the programs find gaps instead of
hiding them.

Being named sitecustomize, this file takes the place of any other sitecustomize the interpreter
would have loaded (the project's virtual environment has none).
"""
import importlib
import importlib.abc
import importlib.util
import sys

_ALIAS = "torch"
_TARGET = "minigrad"


def _target_name(fullname):
    """`torch.nn.functional` -> `minigrad.nn.functional`; None for a name outside `torch`."""
    if fullname == _ALIAS:
        return _TARGET
    if fullname.startswith(_ALIAS + "."):
        return _TARGET + fullname[len(_ALIAS):]
    return None


class _AliasLoader(importlib.abc.Loader):
    """Loads `torch.X` by importing `minigrad.X` and handing back that very module."""

    def __init__(self, target):
        self.target = target

    def create_module(self, spec):
        # sys.modules[spec.name] becomes this very object
        module = importlib.import_module(self.target)
        self.own_spec = module.__spec__
        return module

    def exec_module(self, module):
        # Already executed when minigrad imported it. The import system has just stamped the
        # alias's spec onto it; give back minigrad's, so the module is unchanged by aliasing.
        module.__spec__ = self.own_spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        name = _target_name(fullname)
        if name is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(name), is_package=True)


def install():
    """Put the finder first, so an installed PyTorch could never answer instead of minigrad."""
    if not any(isinstance(finder, _AliasFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())


install()
