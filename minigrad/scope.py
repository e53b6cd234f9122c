"""Which module call is running: `nn.Module.__call__` enters one, recorded ops remember it.

The graph drawing uses this to group ops into one box per module call (a
pooling module called twice gives two boxes), nested as the calls were.
A call keeps only the module's id (no reference), so no cycle is formed.
"""
from __future__ import annotations

import itertools
import threading


class ModuleCall:
    """One call of a module.

    Attributes:
        module_id: id of the module.
        parent: the call it was made in (a ModuleCall), or None at the top.
        sequence: when it started, counted over all calls: orders the calls of one module.
    """
    __slots__ = ("module_id", "parent", "sequence")

    def __init__(self, module_id: int, parent: "ModuleCall | None"):
        self.module_id, self.parent, self.sequence = module_id, parent, _next_sequence()


_next_sequence = itertools.count().__next__


class _State(threading.local):
    current = None  # the innermost ModuleCall running, or None


_state = _State()

