"""Which module is running: `nn.Module.__call__` enters a scope, recorded ops remember it.

The graph drawing uses this to group ops into one cluster per submodule.
Nodes keep only the module's id (no reference), so no cycle is formed.
"""
from __future__ import annotations

import threading


class _State(threading.local):
    current = None  # id of the innermost module being called, or None


_state = _State()


class module_scope:
    """Context manager: ops recorded inside belong to the module with this id."""
    __slots__ = ("module_id", "previous")

    def __init__(self, module_id: int):
        self.module_id = module_id

    def __enter__(self):
        self.previous = _state.current
        _state.current = self.module_id

    def __exit__(self, *exc):
        _state.current = self.previous
        return False
