"""Which module is running: `nn.Module.__call__` enters a scope, recorded ops remember it.

The graph drawing uses this to group ops into one cluster per submodule.
Nodes keep only the module's id (no reference), so no cycle is formed.
"""
from __future__ import annotations

import threading


class _State(threading.local):
    current = None  # id of the innermost module being called, or None


_state = _State()

