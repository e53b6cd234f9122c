"""One random generator for the whole library, so that `manual_seed` makes runs repeatable.

Initialisation, dropout masks, sampling and DataLoader shuffling all draw from
`generator()`. Each thread has its own generator, so threads never disturb each
other's streams. `manual_seed` seeds the calling thread's generator; a thread
that never calls it starts from `initial_seed()` (the seed last given to
`manual_seed` in any thread), so two such threads draw the same numbers - a
thread that wants its own repeatable stream calls `manual_seed` itself.
"""
from __future__ import annotations

import threading

import numpy as np


class _State(threading.local):
    generator: np.random.Generator | None = None


_state = _State()
_initial_seed = int(np.random.SeedSequence().entropy % (2**63))


def manual_seed(seed: int) -> np.random.Generator:
    """Seed minigrad's random generator in this thread.

    Args:
        seed: any non-negative integer.

    Returns:
        The new numpy Generator (also reachable through `generator()`).
    """
    global _initial_seed
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"manual_seed: seed must be non-negative, got {seed}")
    _initial_seed = seed
    _state.generator = np.random.default_rng(seed)
    return _state.generator


seed = manual_seed


def initial_seed() -> int:
    """The seed last given to `manual_seed` (or the random one chosen at import)."""
    return _initial_seed


def generator() -> np.random.Generator:
    """The numpy Generator every random operation of minigrad uses in this thread."""
    if _state.generator is None:
        _state.generator = np.random.default_rng(_initial_seed)
    return _state.generator


def get_rng_state() -> dict:
    """The generator's state, to restore with `set_rng_state`."""
    return generator().bit_generator.state


def set_rng_state(state: dict) -> None:
    generator().bit_generator.state = state
