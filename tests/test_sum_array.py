"""sum_array: np.sum done as BLAS matrix-vector products when the summed axes are a leading
block, a trailing block or both, of a C-contiguous float array (minigrad/ops/reduction.py).

Every reduction of the Sum primitive, softmax, log_softmax and layer_norm goes through it, so
the gradient tests of tests/test_ops.py run both paths; these tests pin the values and shapes
against np.sum on every kind of axes and layout, including the cases left to numpy.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad import nn
from minigrad.ops import reduction
from minigrad.ops.reduction import sum_array
from minigrad.testing import gradcheck, gradgradcheck


def _blas_calls(monkeypatch) -> list:
    """Record the length of every vector of ones made (sum_array's, handed to BLAS)."""
    calls = []
    ones = np.ones

    def recording_ones(length, dtype):
        calls.append(length)
        return ones(length, dtype)
    monkeypatch.setattr(reduction.np, "ones", recording_ones)
    return calls


@st.composite
def arrays_and_axes(draw):
    """A float array (size-1 dims included) and a sorted tuple of axes, or None, or an int."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5))
    x = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal(shape).astype(dtype)
    ndim = len(shape)
    kind = draw(st.sampled_from(["leading", "trailing", "both ends", "any", "none", "int"]))
    if kind == "none":
        return x, None
    if kind == "int":
        return x, draw(st.integers(-ndim, ndim - 1))
    count = draw(st.integers(1, ndim))
    if kind == "leading":
        return x, tuple(range(count))
    if kind == "trailing":
        return x, tuple(range(ndim - count, ndim))
    if kind == "both ends":
        lead = draw(st.integers(0, count))
        return x, tuple(sorted(set(range(lead)) | set(range(ndim - (count - lead), ndim))))
    return x, tuple(sorted(draw(st.sets(st.integers(0, ndim - 1), min_size=1))))


@given(arrays_and_axes(), st.booleans(), st.booleans())
def test_sum_array_matches_numpy(case, keepdims, transposed):
    x, axis = case
    if transposed:  # a non-contiguous layout goes to numpy
        x = x.T
    expected = np.sum(x, axis=axis, keepdims=keepdims)
    got = sum_array(x, axis, keepdims)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    tolerance = 1e-5 if x.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("shape, axis, vector", [
    ((16, 4, 64, 64), (3,), 64),           # softmax rows
    ((16, 64, 128), (2,), 128),            # layer-norm rows
    ((16, 64, 128), (1, 2), 64 * 128),     # a trailing block too long for one row: numpy
    ((1024, 512), (0,), 1024),             # a bias gradient
    ((16, 64, 128), (0, 1), 1024),         # a bias gradient of a 3-D activation
    ((64, 16, 28, 28), (0, 2, 3), (784, 64)),  # a conv bias gradient: the rows, then the images
    ((64, 16, 40, 40), (0, 2, 3), 1600),   # rows too long: numpy
])
def test_blocks_go_to_blas_and_long_rows_do_not(monkeypatch, shape, axis, vector):
    calls = _blas_calls(monkeypatch)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(sum_array(x, axis), np.sum(x, axis=axis), rtol=1e-5, atol=1e-3)
    vectors = list(vector) if isinstance(vector, tuple) else [vector]
    assert calls == ([] if vectors[0] > reduction._LONGEST_BLAS_ROW else vectors)


@pytest.mark.parametrize("x, axis", [
    (np.ones((4, 5, 6, 7)), (1, 3)),                    # axes that are not at the ends
    (np.ones((4, 5), np.float16), (1,)),                # no BLAS for float16
    (np.ones((4, 5), np.int64), (0,)),                  # nor for integers
    (np.ones((4, 5)), (0, 1)),                          # every axis: numpy's pairwise sum
    (np.ones((6, 5))[::2], (1,)),                       # a strided view
    (np.ones((0, 5)), (1,)),                            # nothing to sum
])
def test_other_cases_stay_with_numpy(monkeypatch, x, axis):
    calls = _blas_calls(monkeypatch)
    expected = np.sum(x, axis=axis)
    got = sum_array(x, axis)
    assert calls == []
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_special_values_pass_through():
    x = np.array([[1.0, np.inf, 2.0], [np.nan, 0.0, 1.0], [-np.inf, np.inf, 0.0]], np.float32)
    np.testing.assert_array_equal(sum_array(x, (1,)), np.sum(x, axis=1))
    np.testing.assert_array_equal(sum_array(x, (0,)), np.sum(x, axis=0))


def test_an_int_axis_may_be_negative_or_a_numpy_integer_and_is_checked():
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    for axis in (1, -1, np.int64(1), np.int64(-1), 0, -2):
        np.testing.assert_allclose(sum_array(x, axis), np.sum(x, axis=axis), rtol=1e-6)
    np.testing.assert_allclose(mg.softmax(mg.tensor(x), np.int64(1)).array.sum(1), 1, rtol=1e-6)
    with pytest.raises(np.exceptions.AxisError):
        sum_array(x, 2)


def test_softmax_and_layer_norm_use_it_and_keep_their_gradients(monkeypatch):
    x = mg.tensor(np.random.default_rng(1).standard_normal((8, 5, 7)), requires_grad=True)
    softmax_sum = lambda t: mg.softmax(t, -1).sum((0, 1))
    normed = lambda t: nn.functional.layer_norm(t, (7,)) * t
    for fn in (softmax_sum, normed):
        assert gradcheck(fn, (x,)) and gradgradcheck(fn, (x,))
    calls = _blas_calls(monkeypatch)
    mg.softmax(x, -1)                                  # the row sums
    assert calls == [7]
    calls.clear()
    (nn.functional.layer_norm(x, (7,)) * x).sum().backward()  # the VJP's row means
    assert calls.count(7) == 2
