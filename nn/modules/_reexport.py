"""Fill a PyTorch-named module (`nn.modules.linear`, ...) with the very classes minigrad defines."""
from __future__ import annotations

import inspect


def reexport(namespace: dict, source, keep=lambda name: True) -> None:
    """Put into `namespace` every class defined in module `source` whose name passes `keep`
    (underscore bases like _Loss included: programs subclass them), and set `__all__`."""
    names = [name for name, value in vars(source).items()
             if inspect.isclass(value) and value.__module__ == source.__name__ and keep(name)]
    namespace.update({name: getattr(source, name) for name in names})
    namespace["__all__"] = [name for name in names if not name.startswith("_")]
