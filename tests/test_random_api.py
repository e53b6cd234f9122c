"""PyTorch's random API: Generator objects, generator= on the factories and fill methods, rng state."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.random import generator


def draws(g):
    """One of everything that takes generator=, as plain arrays."""
    return [mg.rand(3, generator=g).array, mg.randn(2, 2, generator=g).array,
            mg.randint(0, 100, (4,), generator=g).array, mg.randperm(8, generator=g).array,
            mg.multinomial(mg.tensor([0.1, 0.2, 0.7]), 5, replacement=True, generator=g).array,
            mg.bernoulli(mg.full((6,), 0.5), generator=g).array,
            mg.normal(mg.zeros(3), mg.ones(3), generator=g).array,
            mg.rand_like(mg.zeros(2), generator=g).array, mg.randn_like(mg.zeros(2), generator=g).array,
            mg.empty(3).uniform_(-1, 1, generator=g).array, mg.empty(3).normal_(2, 3, generator=g).array,
            mg.empty(3).exponential_(2.0, generator=g).array, mg.empty(4).bernoulli_(0.5, generator=g).array,
            mg.empty(4, dtype=mg.int64).random_(0, 10, generator=g).array]


def test_a_seeded_generator_repeats_and_ignores_the_global_seed():
    mg.manual_seed(0)
    first = draws(mg.Generator().manual_seed(123))
    mg.manual_seed(99)
    mg.randn(10)
    second = draws(mg.Generator().manual_seed(123))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    other = draws(mg.Generator().manual_seed(124))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_a_generator_leaves_the_global_stream_alone():
    mg.manual_seed(5)
    expected = mg.randn(4).array.copy()
    mg.manual_seed(5)
    draws(mg.Generator().manual_seed(1))
    np.testing.assert_array_equal(mg.randn(4).array, expected)


def test_generator_default_seed_manual_seed_returns_self_and_initial_seed():
    g = mg.Generator()
    assert g.initial_seed() == 67280421310721  # PyTorch's default: a new Generator is repeatable
    np.testing.assert_array_equal(mg.rand(3, generator=g).array, mg.rand(3, generator=mg.Generator()).array)
    assert g.manual_seed(7) is g and g.initial_seed() == 7
    assert g.device == "cpu" and mg.Generator(device="cpu").initial_seed() == 67280421310721
    with pytest.raises(RuntimeError, match="CPU only"):
        mg.Generator(device="cuda")
    with pytest.raises(ValueError, match="non-negative"):
        g.manual_seed(-3)


def test_generator_seed_is_nondeterministic_and_returned():
    g = mg.Generator()
    s1, s2 = g.seed(), g.seed()
    assert s1 != s2 and g.initial_seed() == s2
    np.testing.assert_array_equal(mg.rand(2, generator=g).array,
                                  mg.rand(2, generator=mg.Generator().manual_seed(s2)).array)


def test_generator_state_round_trip():
    g = mg.Generator().manual_seed(3)
    mg.randn(1, generator=g)  # a standard_normal leaves nothing buffered; a 32-bit draw below does
    mg.randint(0, 5, (3,), dtype=mg.int32, generator=g)
    state = g.get_state()
    assert state.dtype == mg.uint8 and state.shape == (37,)
    after = mg.rand(5, generator=g).array
    assert g.set_state(state) is g
    np.testing.assert_array_equal(mg.rand(5, generator=g).array, after)
    other = mg.Generator().set_state(state)  # a state moves between generators
    np.testing.assert_array_equal(mg.rand(5, generator=other).array, after)
    with pytest.raises(TypeError, match=r"uint8 tensor of shape \(37,\)"):
        g.set_state(mg.zeros(37))


def test_global_rng_state_round_trip_and_seed():
    mg.manual_seed(2)
    state = mg.get_rng_state()
    assert state.dtype == mg.uint8 and state.shape == (37,)
    first = mg.rand(4).array.copy()
    mg.set_rng_state(state)
    np.testing.assert_array_equal(mg.rand(4).array, first)
    mg.set_rng_state(mg.get_rng_state().clone())
    with pytest.raises(TypeError, match="set_rng_state"):
        mg.set_rng_state([1, 2, 3])
    s = mg.seed()
    assert isinstance(s, int) and mg.initial_seed() == s and mg.seed() != s


def test_seed_then_manual_seed_with_the_returned_seed_replays():
    s = mg.seed()
    first = mg.rand(5).array.copy()
    mg.manual_seed(s)
    np.testing.assert_array_equal(mg.rand(5).array, first)


def test_default_generator_is_the_global_stream():
    assert mg.manual_seed(4) is mg.default_generator
    expected = mg.rand(3).array.copy()
    mg.default_generator.manual_seed(4)
    np.testing.assert_array_equal(mg.rand(3, generator=mg.default_generator).array, expected)
    assert mg.default_generator.initial_seed() == 4 == mg.initial_seed()
    assert generator(mg.default_generator) is generator()


def test_generator_helper_accepts_minigrad_and_numpy_generators_only():
    g = mg.Generator()
    assert generator(g) is g.numpy_generator
    rng = np.random.default_rng(0)
    assert generator(rng) is rng
    with pytest.raises(TypeError, match="expected a minigrad.Generator"):
        mg.rand(2, generator=3)


def test_randint_overloads_and_dtype():
    g = mg.Generator().manual_seed(0)
    a = mg.randint(5, (100,), generator=g)
    assert a.dtype == mg.int64 and a.shape == (100,) and a.array.min() >= 0 and a.array.max() <= 4
    assert set(a.tolist()) == {0, 1, 2, 3, 4}
    b = mg.randint(3, 6, (2, 50))
    assert b.shape == (2, 50) and b.array.min() == 3 and b.array.max() == 5
    assert mg.randint(high=4, size=(7,)).shape == (7,)
    assert mg.randint(4, size=(2, 3)).array.max() < 4
    assert mg.randint(0, 9, (3,), dtype=mg.int32).dtype == mg.int32
    # the two spellings draw the same numbers from the same state
    np.testing.assert_array_equal(mg.randint(7, (5,), generator=mg.Generator().manual_seed(1)).array,
                                  mg.randint(0, 7, (5,), generator=mg.Generator().manual_seed(1)).array)
    with pytest.raises(TypeError, match="size is required"):
        mg.randint(3, 10)
    with pytest.raises(RuntimeError, match=r"high \(2\) must be greater than low \(5\)"):
        mg.randint(5, 2, (3,))


def test_fill_methods_distributions():
    g = mg.Generator().manual_seed(0)
    e = mg.empty(20000).exponential_(4.0, generator=g).array
    assert e.min() >= 0 and abs(e.mean() - 0.25) < 0.01  # mean 1 / lambda
    b = mg.empty(20000).bernoulli_(0.2, generator=g).array
    assert set(np.unique(b)) == {0.0, 1.0} and abs(b.mean() - 0.2) < 0.02
    r = mg.empty(1000, dtype=mg.int64).random_(3, generator=g).array
    assert set(np.unique(r)) == {0, 1, 2}
    r = mg.empty(1000, dtype=mg.int64).random_(5, 8, generator=g).array
    assert set(np.unique(r)) == {5, 6, 7}
    f = mg.empty(1000).random_(generator=g).array
    assert f.min() >= 0 and f.max() <= 2 ** 24 and np.all(f == np.round(f))


def test_multinomial_without_replacement_refuses_too_many():
    with pytest.raises(RuntimeError, match="cannot sample num_samples=4 > 3"):
        mg.multinomial(mg.ones(3), 4)
    picks = mg.multinomial(mg.ones(2, 5), 5, generator=mg.Generator().manual_seed(0)).array
    assert all(sorted(row) == list(range(5)) for row in picks)


def test_bernoulli_with_a_scalar_p_and_normal_with_size():
    g = mg.Generator().manual_seed(0)
    x = mg.bernoulli(mg.zeros(10000), 0.3, generator=g).array
    assert abs(x.mean() - 0.3) < 0.02
    n = mg.normal(2.0, 3.0, (20000,), generator=g)
    assert n.dtype == mg.float32 and abs(n.array.mean() - 2.0) < 0.1 and abs(n.array.std() - 3.0) < 0.1
    assert mg.normal(0.0, 1.0, (3,), dtype=mg.float64).dtype == mg.float64


def test_init_functions_take_a_minigrad_generator():
    from minigrad import nn
    for fill in (nn.init.uniform_, nn.init.normal_, nn.init.trunc_normal_, nn.init.orthogonal_,
                 nn.init.xavier_uniform_, nn.init.kaiming_normal_):
        a = fill(mg.empty(4, 5), generator=mg.Generator().manual_seed(3))
        mg.manual_seed(99)  # the global stream must not matter
        b = fill(mg.empty(4, 5), generator=mg.Generator().manual_seed(3))
        assert np.array_equal(a.numpy(), b.numpy()), fill.__name__
        c = fill(mg.empty(4, 5), generator=mg.Generator().manual_seed(4))
        assert not np.array_equal(a.numpy(), c.numpy()), fill.__name__
