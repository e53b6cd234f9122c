"""Random generators, as PyTorch's: one default generator, and `Generator` objects of your own.

Initialisation, dropout masks, sampling and DataLoader shuffling all draw from
`generator(g)`: the numpy Generator behind `g` when a `minigrad.Generator` is
given (`mg.rand(3, generator=g)`), else the default one. Each thread has its
own default generator, so threads never disturb each other's streams.
`manual_seed` seeds the calling thread's default generator; a thread that never
calls it starts from `initial_seed()` (the seed last given to `manual_seed` in
any thread), so two such threads draw the same numbers - a thread that wants its
own repeatable stream calls `manual_seed` itself.

A generator's state (`get_rng_state()`, `Generator.get_state()`) is a uint8
tensor of 37 bytes, as PyTorch's is a uint8 tensor: numpy's PCG64 state (128-bit
state and increment) and its buffered 32-bit half-draw.
"""
from __future__ import annotations

import threading

import numpy as np

# PyTorch's default seed for a new torch.Generator(): a fresh Generator is repeatable, not random.
_GENERATOR_DEFAULT_SEED = 67280421310721
_STATE_BYTES = 37  # 16 state + 16 increment + 1 has_uint32 + 4 uinteger


class _State(threading.local):
    generator: np.random.Generator | None = None


def _fresh_seed() -> int:
    """A non-deterministic seed from the operating system's entropy (as torch.seed())."""
    return int(np.random.SeedSequence().entropy % (2**63))


_state = _State()
_initial_seed = _fresh_seed()


def _check_seed(seed, where: str) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{where}: seed must be an int, got {type(seed).__name__}")
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"{where}: seed must be non-negative, got {seed}")
    return seed


def _pack_state(rng: np.random.Generator):
    """The bit generator's state as a uint8 tensor of _STATE_BYTES bytes."""
    from .tensor import _make  # tensor.py imports this module: a real cycle

    state = rng.bit_generator.state
    if state["bit_generator"] != "PCG64":
        raise RuntimeError(f"get_state: expected a PCG64 bit generator, got {state['bit_generator']}")
    raw = (state["state"]["state"].to_bytes(16, "little") + state["state"]["inc"].to_bytes(16, "little")
           + bytes([state["has_uint32"]]) + int(state["uinteger"]).to_bytes(4, "little"))
    return _make(np.frombuffer(raw, dtype=np.uint8).copy())


def _unpack_state(rng: np.random.Generator, new_state, where: str) -> None:
    if isinstance(new_state, dict):  # numpy's own form (what minigrad returned before)
        rng.bit_generator.state = new_state
        return
    array = getattr(new_state, "array", new_state)
    if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.shape != (_STATE_BYTES,):
        shape = getattr(array, "shape", None)
        raise TypeError(f"{where}: expected the uint8 tensor of shape ({_STATE_BYTES},) that get_state / "
                        f"get_rng_state returns, got {type(new_state).__name__} "
                        f"{getattr(array, 'dtype', '')} {shape}")
    raw = array.tobytes()
    rng.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": int.from_bytes(raw[:16], "little"), "inc": int.from_bytes(raw[16:32], "little")},
        "has_uint32": raw[32], "uinteger": int.from_bytes(raw[33:37], "little")}


def manual_seed(seed: int):
    """Seed minigrad's default random generator in this thread.

    Args:
        seed: any non-negative integer.

    Returns:
        `default_generator` (as PyTorch returns its default generator).
    """
    global _initial_seed
    seed = _check_seed(seed, "manual_seed")
    _initial_seed = seed
    _state.generator = np.random.default_rng(seed)
    return default_generator


def seed() -> int:
    """Seed the default generator with a non-deterministic seed, and return that seed."""
    new_seed = _fresh_seed()
    manual_seed(new_seed)
    return new_seed


def initial_seed() -> int:
    """The seed last given to `manual_seed` (or the random one chosen at import)."""
    return _initial_seed


def _default() -> np.random.Generator:
    if _state.generator is None:
        _state.generator = np.random.default_rng(_initial_seed)
    return _state.generator


def get_rng_state():
    """The default generator's state (uint8 tensor of shape (37,)), to restore with `set_rng_state`."""
    return _pack_state(_default())


def set_rng_state(new_state) -> None:
    """Restore the default generator to a state from `get_rng_state()`: the same numbers follow."""
    _unpack_state(_default(), new_state, "set_rng_state")


class Generator:
    """A random generator of one's own, as `torch.Generator`: its stream is independent of
    `manual_seed` and of every other generator.

    Pass it as `generator=` to the random factories (`mg.rand`, `mg.randint`, `mg.randperm`,
    `mg.multinomial`...), to `Tensor.uniform_` / `normal_`, and to samplers, `random_split`
    and `DataLoader`.

    Args:
        device: 'cpu' only.

    Example:
        >>> g = mg.Generator().manual_seed(42)
        >>> mg.rand(3, generator=g)   # the same three numbers after every manual_seed(42)
    """

    def __init__(self, device="cpu"):
        name = str(device)
        if name.split(":")[0] != "cpu":
            raise RuntimeError(f"Generator: minigrad runs on the CPU only, got device {name!r}")
        self._seed = _GENERATOR_DEFAULT_SEED
        self._rng = np.random.default_rng(self._seed)

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def numpy_generator(self) -> np.random.Generator:
        """The numpy Generator this generator draws from."""
        return self._rng

    def manual_seed(self, seed: int) -> "Generator":
        """Seed this generator; returns it, so `g = mg.Generator().manual_seed(0)` reads as in PyTorch."""
        self._seed = _check_seed(seed, "Generator.manual_seed")
        self._rng = np.random.default_rng(self._seed)
        return self

    def seed(self) -> int:
        """Seed with a non-deterministic seed and return it."""
        new_seed = _fresh_seed()
        self.manual_seed(new_seed)
        return new_seed

    def initial_seed(self) -> int:
        """The seed last given to `manual_seed` (67280421310721 for a new Generator, as PyTorch)."""
        return self._seed

    def get_state(self):
        """This generator's state (uint8 tensor of shape (37,))."""
        return _pack_state(self.numpy_generator)

    def set_state(self, new_state) -> "Generator":
        """Restore a state from `get_state()`; returns self."""
        _unpack_state(self.numpy_generator, new_state, "Generator.set_state")
        return self

    def __repr__(self) -> str:
        return f"<minigrad.Generator device='cpu' initial_seed={self.initial_seed()}>"


class _DefaultGenerator(Generator):
    """`default_generator`: the thread's default stream seen as a Generator (as torch.default_generator)."""

    def __init__(self):  # no stream of its own
        pass

    @property
    def numpy_generator(self) -> np.random.Generator:
        return _default()

    def manual_seed(self, seed: int) -> "Generator":
        return manual_seed(seed)

    def seed(self) -> int:
        return seed()

    def initial_seed(self) -> int:
        return initial_seed()


default_generator = _DefaultGenerator()


def generator(g=None) -> np.random.Generator:
    """The numpy Generator a random operation draws from.

    Args:
        g: a `minigrad.Generator` (its own stream), a numpy Generator (used as is), or None
            (this thread's default generator, the one `manual_seed` seeds).
    """
    if g is None:
        return _default()
    if isinstance(g, Generator):
        return g.numpy_generator
    if isinstance(g, np.random.Generator):
        return g
    raise TypeError(f"generator: expected a minigrad.Generator (or None), got {type(g).__name__}")
