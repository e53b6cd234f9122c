"""The everyday ops outside the differentiable table (tests/test_ops.py holds their gradient checks):
comparisons, ordering indices, scatter/index forms and options, in-place spellings, errors."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad.testing import broadcastable_shapes, gradcheck

SMALL_INTS = st.integers(-3, 3)


# ---- comparisons ----------------------------------------------------------------------

COMPARISONS = [("eq", np.equal), ("ne", np.not_equal), ("lt", np.less), ("le", np.less_equal),
               ("gt", np.greater), ("ge", np.greater_equal)]


@pytest.mark.parametrize("name, reference", COMPARISONS)
@given(shapes=broadcastable_shapes(2, max_dims=3), data=st.data())
def test_comparison_functions_match_numpy_and_the_methods(name, reference, shapes, data):
    # small integers as floats: equal values are common, so == and <= are really exercised
    a = data.draw(hnp.arrays(np.float64, shapes[0], elements=SMALL_INTS.map(float)))
    b = data.draw(hnp.arrays(np.float64, shapes[1], elements=SMALL_INTS.map(float)))
    x, y = mg.tensor(a, requires_grad=True), mg.tensor(b)
    out = getattr(mg, name)(x, y)
    np.testing.assert_array_equal(out.array, reference(a.astype(np.float32), b.astype(np.float32)))
    assert out.dtype == np.bool_ and not out.requires_grad
    np.testing.assert_array_equal(getattr(x, name)(y).array, out.array)
    np.testing.assert_array_equal(getattr(mg, name)(x, 1.0).array, reference(a, 1.0))  # a number


def test_comparison_aliases_and_a_non_tensor_input_is_refused():
    x, y = mg.tensor([1.0, 2.0, 3.0]), mg.tensor([2.0, 2.0, 2.0])
    assert mg.greater(x, y).tolist() == [False, False, True]
    assert mg.less_equal(x, y).tolist() == [True, True, False]
    assert mg.not_equal(x, y).tolist() == [True, False, True]
    with pytest.raises(TypeError, match="eq: argument 'input' must be a Tensor"):
        mg.eq([1.0], y)


def test_equal_needs_the_same_shape_and_values():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert mg.equal(x, x.clone()) is True
    assert x.equal(mg.tensor([[1.0, 2.0], [3.0, 4.0]])) is True
    assert mg.equal(x, mg.tensor([[1.0, 2.0], [3.0, 5.0]])) is False
    assert mg.equal(x, x.reshape(4)) is False  # same values, other shape
    assert mg.equal(x, x[:1]) is False  # would broadcast, but equal does not broadcast
    nan = mg.tensor([float("nan")])
    assert mg.equal(nan, nan) is False  # nan is not equal to itself, as in PyTorch
    assert mg.equal(mg.tensor([1, 2]), mg.tensor([1, 2])) is True


@given(a=hnp.arrays(np.float64, (5,), elements=st.floats(-2, 2)),
       noise=hnp.arrays(np.float64, (5,), elements=st.floats(-1e-3, 1e-3)),
       rtol=st.sampled_from([1e-5, 1e-3, 0.0]), atol=st.sampled_from([1e-8, 1e-4, 0.0]))
def test_isclose_and_allclose_use_pytorchs_formula(a, noise, rtol, atol):
    b = a + noise
    x, y = mg.tensor(a, dtype=mg.float64), mg.tensor(b, dtype=mg.float64)
    expected = np.abs(a - b) <= atol + rtol * np.abs(b)
    np.testing.assert_array_equal(mg.isclose(x, y, rtol=rtol, atol=atol).array, expected)
    np.testing.assert_array_equal(x.isclose(y, rtol, atol).array, expected)
    assert mg.allclose(x, y, rtol=rtol, atol=atol) is bool(expected.all())
    assert x.allclose(y, rtol, atol) is bool(expected.all())


def test_isclose_defaults_infinities_and_nan():
    x = mg.tensor([1.0, 1.0, float("inf"), float("-inf"), float("nan"), 1e-9], dtype=mg.float64)
    y = mg.tensor([1.0 + 2e-5, 1.0 + 5e-6, float("inf"), float("inf"), float("nan"), 0.0], dtype=mg.float64)
    # defaults rtol=1e-05, atol=1e-08: 2e-5 apart is not close, 5e-6 is; 1e-9 is close to 0 by atol
    assert mg.isclose(x, y).tolist() == [False, True, True, False, False, True]
    assert mg.isclose(x, y, equal_nan=True).tolist() == [False, True, True, False, True, True]
    assert mg.allclose(x[1:3], y[1:3]) is True
    assert mg.allclose(x, y) is False
    with pytest.raises(RuntimeError, match="isclose: expected both inputs to have the same dtype"):
        mg.isclose(mg.tensor([1.0]), mg.tensor([1.0], dtype=mg.float64))
