"""The one message for a name minigrad does not have (module-level `__getattr__` of minigrad,
minigrad.nn, minigrad.nn.functional, minigrad.optim, minigrad.cuda, minigrad.distributed).

PyTorch names that minigrad lacks raise AttributeError saying so plainly, rather than Python's
near-miss suggestion ("did you mean ...?"), which points at an unrelated function. Names that
programs do call but that need hardware or processes minigrad has not (`cuda.current_device`,
`distributed.all_reduce`) exist, and `refusals` makes them raise a RuntimeError saying why.
"""
from __future__ import annotations

README_SECTION = "Where minigrad differs from PyTorch"


class _NothingNear:
    """The error's `obj`: Python offers "did you mean ...?" from dir(obj), and this has nothing.

    The owning module is not given as `obj`, because its near-miss (`divid` -> `divide`) would
    send a user to an unrelated function."""

    def __dir__(self):
        return []


_NOTHING_NEAR = _NothingNear()


def missing(prefix: str, name: str) -> AttributeError:
    """The AttributeError for `prefix + name` (prefix like 'nn.functional.' or '')."""
    if name.startswith("__") and name.endswith("__"):
        # probes by Python's own machinery (copy, pickle, inspect): the plain error, cheaply
        return AttributeError(name)
    return AttributeError(f"minigrad has no `{prefix}{name}` - see \"{README_SECTION}\" in "
                          f"minigrad's README.md for what minigrad leaves out and what to use instead",
                          name=name, obj=_NOTHING_NEAR)


def refusals(prefix: str, why: str, names) -> dict:
    """Functions named `names` that raise RuntimeError(f"{prefix}{name}: {why}") when called,
    for a module to add to its namespace: `globals().update(refusals("cuda.", "...", names))`."""
    def refusal(name: str):
        def refuse(*args, **kwargs):
            raise RuntimeError(f"{prefix}{name}: {why}")
        refuse.__name__ = refuse.__qualname__ = name
        return refuse
    return {name: refusal(name) for name in names}
