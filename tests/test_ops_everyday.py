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


# ---- ordering: sort, argsort, topk -------------------------------------------------------

@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), elements=SMALL_INTS.map(float)),
       data=st.data())
def test_sort_and_argsort_are_stable_with_ties_both_ways(x, data):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    t = mg.tensor(x, dtype=mg.float64)
    ascending = np.argsort(x, axis=dim, kind="stable")
    descending = np.argsort(-x, axis=dim, kind="stable")  # equal elements in their original order
    np.testing.assert_array_equal(mg.argsort(t, dim).array, ascending)
    np.testing.assert_array_equal(t.argsort(dim, descending=True).array, descending)
    values, indices = t.sort(dim, descending=True)
    np.testing.assert_array_equal(indices.array, descending)
    np.testing.assert_array_equal(values.array, np.take_along_axis(x, descending, dim))
    assert indices.dtype == np.int64 and mg.argsort(t, dim, stable=True).dtype == np.int64


def test_sort_puts_nan_last_ascending_and_first_descending_and_takes_integers():
    x = mg.tensor([2.0, float("nan"), -1.0, 3.0])
    assert mg.sort(x).indices.tolist() == [2, 0, 3, 1]
    assert mg.sort(x, descending=True).indices.tolist() == [1, 3, 0, 2]
    result = mg.sort(mg.tensor([3, 1, 2]))
    assert result.values.tolist() == [1, 2, 3] and result.values.dtype == np.int64
    assert result._fields == ("values", "indices") and type(result).__name__ == "sort"
    scalar = mg.tensor(1.5)
    assert mg.sort(scalar).values.item() == 1.5 and mg.sort(scalar).indices.item() == 0
    assert mg.argsort(scalar).item() == 0


def test_sort_and_topk_send_the_gradient_to_the_chosen_elements_even_with_ties():
    x = mg.tensor([[1.0, 4.0, 4.0, 0.0]], dtype=mg.float64, requires_grad=True)
    values, indices = x.topk(2)
    assert values.tolist() == [[4.0, 4.0]] and indices.tolist() == [[1, 2]]  # the first of equal ones win
    (values * mg.tensor([[10.0, 1.0]], dtype=mg.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.array, [[0.0, 10.0, 1.0, 0.0]])
    x.grad = None
    values, _ = mg.sort(x, descending=True)
    (values * mg.tensor([[1.0, 2.0, 3.0, 4.0]], dtype=mg.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.array, [[3.0, 1.0, 2.0, 4.0]])


def test_topk_smallest_names_and_errors():
    x = mg.tensor([[5.0, 1.0, 3.0], [0.0, 2.0, -1.0]])
    result = mg.topk(x, 2, dim=1, largest=False)
    assert type(result).__name__ == "topk" and result._fields == ("values", "indices")
    assert result.values.tolist() == [[1.0, 3.0], [-1.0, 0.0]] and result.indices.tolist() == [[1, 2], [2, 0]]
    assert mg.topk(x, 1, 0).indices.tolist() == [[0, 1, 0]]
    assert mg.topk(x, 0).values.shape == (2, 0)
    with pytest.raises(RuntimeError, match=r"topk: k \(4\) is out of range for dimension -1 of size 3"):
        mg.topk(x, 4)
    with pytest.raises(IndexError, match="sort: dimension 2 is out of range"):
        mg.sort(x, 2)


def test_cumprod_gradient_with_zeros_is_the_product_of_the_others():
    x = mg.tensor([2.0, 0.0, 3.0, 0.0, 0.5], dtype=mg.float64, requires_grad=True)
    out = mg.cumprod(x, 0)
    np.testing.assert_array_equal(out.array, [2.0, 0.0, 0.0, 0.0, 0.0])
    out.sum().backward()
    # d/dx_k sum_i prod_{j<=i} x_j = sum_{i>=k} prod_{j<=i, j!=k} x_j
    expected = [sum(np.prod([x.array[j] for j in range(i + 1) if j != k]) for i in range(k, 5)) for k in range(5)]
    np.testing.assert_array_equal(x.grad.array, expected)
    assert np.isfinite(x.grad.array).all() and x.grad.array[1] == 2.0 + 6.0
    assert gradcheck(lambda t: mg.cumprod(t, -1), [mg.tensor([[0.0, 0.0, 2.0]], dtype=mg.float64, requires_grad=True)])
    assert mg.cumprod(mg.tensor([1, 2, 3]), 0).tolist() == [1, 2, 6]
    assert mg.tensor([1, 2, 3]).cumprod(0, dtype=mg.float64).dtype == np.float64
    assert mg.cumprod(mg.tensor(3.0), 0).item() == 3.0


# ---- reshaping and indexing: forms and options the table does not vary --------------------

def test_scatter_value_form_and_reduce_add_and_in_place_forms():
    index = mg.tensor([[0], [2], [1]])
    one_hot = mg.zeros(3, 4).scatter(1, index, 1.0)  # the number form, positionally
    np.testing.assert_array_equal(one_hot.array, np.eye(3, 4)[[0, 2, 1]])
    np.testing.assert_array_equal(mg.zeros(3, 4).scatter(1, index, value=2.0).array, 2 * np.eye(3, 4)[[0, 2, 1]])
    added = mg.ones(2, 3).scatter(1, mg.tensor([[0, 0], [2, 2]]), mg.ones(2, 2), reduce="add")
    np.testing.assert_array_equal(added.array, [[3, 1, 1], [1, 1, 3]])
    with pytest.raises(NotImplementedError, match="scatter: reduce='multiply' is not supported"):
        mg.ones(2, 3).scatter(1, index[:2], mg.ones(2, 1), reduce="multiply")
    x = mg.zeros(2, 3)
    assert x.scatter_(1, mg.tensor([[2], [0]]), 5.0) is x and x._version == 1
    np.testing.assert_array_equal(x.array, [[0, 0, 5], [5, 0, 0]])
    assert x.scatter_add_(0, mg.tensor([[1, 1, 1]]), mg.ones(1, 3)) is x
    np.testing.assert_array_equal(x.array, [[0, 0, 5], [6, 1, 1]])
    counts = mg.zeros(3, dtype=mg.int64).scatter_add_(0, mg.tensor([0, 2, 2, 2]), mg.ones(4, dtype=mg.int64))
    assert counts.tolist() == [1, 0, 3]


def test_in_place_scatter_records_gradients_for_input_and_src():
    leaf = mg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=mg.float64, requires_grad=True)
    src = mg.tensor([[10.0, 20.0], [30.0, 40.0]], dtype=mg.float64, requires_grad=True)
    y = leaf * 1
    y.scatter_(1, mg.tensor([[2, 0], [1, 1]]), src)  # row 1 writes position 1 twice
    y.scatter_add_(0, mg.tensor([[1, 0, 0]]), src[:1, :1].expand(1, 3))
    weights = mg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=mg.float64)
    (y * weights).sum().backward()
    # overwritten positions give input no gradient; each src element gets its target's gradient
    np.testing.assert_array_equal(leaf.grad.array, [[0, 2, 0], [4, 0, 6]])
    np.testing.assert_array_equal(src.grad.array, [[3 + 4 + 2 + 3, 1], [5, 5]])
    with pytest.raises(RuntimeError, match="scatter_: a leaf tensor that requires grad"):
        leaf.scatter_(1, mg.tensor([[0]]), 1.0)


def test_scatter_and_gather_refuse_bad_indices_with_the_op_named():
    x = mg.zeros(2, 3)
    with pytest.raises(IndexError, match="scatter: index 3 is out of bounds for dimension 1 with size 3"):
        x.scatter(1, mg.tensor([[3]]), 1.0)
    with pytest.raises(IndexError, match="gather: index -1 is out of bounds"):
        x.gather(1, mg.tensor([[-1]]))
    with pytest.raises(RuntimeError, match="gather: index shape \\(3, 1\\) is larger than input shape"):
        x.gather(1, mg.tensor([[0], [0], [0]]))
    with pytest.raises(RuntimeError, match="scatter_add: index has 1 dimensions and input 2"):
        x.scatter_add(1, mg.tensor([0]), mg.ones(1))
    with pytest.raises(RuntimeError, match="index shape \\(1, 2\\) is larger than src shape \\(1, 1\\)"):
        x.scatter(1, mg.tensor([[0, 1]]), mg.ones(1, 1))
    with pytest.raises(RuntimeError, match="scatter: expected src to have input's dtype float32"):
        x.scatter(1, mg.tensor([[0]]), mg.ones(1, 1, dtype=mg.float64))
    with pytest.raises(RuntimeError, match="scatter: expected an integer"):
        x.scatter(1, mg.tensor([[0.0]]), 1.0)


def test_index_select_masked_select_and_narrow_options():
    x = mg.arange(12.0).reshape(3, 4)
    assert mg.index_select(x, 1, mg.tensor(2)).shape == (3, 1)  # a 0-d index selects one
    assert x.index_select(0, mg.tensor([], dtype=mg.int64)).shape == (0, 4)
    with pytest.raises(IndexError, match="index_select: index 3 is out of bounds for dimension 0 with size 3"):
        x.index_select(0, mg.tensor([0, 3]))
    with pytest.raises(IndexError, match="index_select: index must be a 1-D"):
        x.index_select(0, mg.tensor([[0]]))
    assert x.masked_select(x > 20).shape == (0,)
    with pytest.raises(RuntimeError, match="masked_select: expected a bool mask"):
        x.masked_select(mg.tensor([1, 0, 1, 0]))
    with pytest.raises(RuntimeError, match="masked_select: the mask of shape \\(3,\\) does not broadcast"):
        x.masked_select(mg.tensor([True, False, True]))
    view = x.narrow(0, 1, 2)
    view.mul_(0)  # narrow is a view, as in PyTorch
    assert x[1:].sum().item() == 0 and x[0].sum().item() == 6
    assert x.narrow(1, mg.tensor(-1), 1).shape == (3, 1)
    with pytest.raises(RuntimeError, match="narrow: start \\(3\\) \\+ length \\(2\\) exceeds dimension size \\(4\\)"):
        x.narrow(1, 3, 2)


def test_roll_repeat_interleave_and_flip_spellings():
    x = mg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    same = x.roll(3, 1)  # a full turn: equal values, but a new tensor, as in PyTorch
    np.testing.assert_array_equal(same.array, x.array)
    assert same is not x and not np.shares_memory(same.array, x.array)
    np.testing.assert_array_equal(mg.roll(x, -1).array, [[2, 3, 4], [5, 6, 1]])
    assert mg.roll(mg.tensor(2.0), 1).item() == 2.0
    with pytest.raises(RuntimeError, match="roll: shifts \\(1, 2\\) and dims \\(0,\\) must have the same length"):
        x.roll((1, 2), 0)
    assert mg.repeat_interleave(mg.tensor([2, 0, 3])).tolist() == [0, 0, 2, 2, 2]
    assert x.repeat_interleave(2).shape == (12,)
    assert x.repeat_interleave(mg.tensor([1, 0, 2]), dim=1).tolist() == [[1, 3, 3], [4, 6, 6]]
    with pytest.raises(RuntimeError, match="repeat_interleave: repeats must be one number or have shape \\(2,\\)"):
        x.repeat_interleave(mg.tensor([1, 2, 3]), dim=0)
    with pytest.raises(RuntimeError, match="repeats can not be negative"):
        x.repeat_interleave(-1)
    np.testing.assert_array_equal(x.flip(0, 1).array, x.array[::-1, ::-1])
    np.testing.assert_array_equal(x.flip([1]).array, x.array[:, ::-1])
    np.testing.assert_array_equal(mg.flip(x, 0).array, x.array[::-1])


def test_tril_and_triu_refuse_vectors_and_keep_integer_dtypes():
    with pytest.raises(RuntimeError, match="tril: input tensor must have at least 2 dimensions"):
        mg.tril(mg.ones(3))
    with pytest.raises(RuntimeError, match="triu: input tensor must have at least 2 dimensions"):
        mg.ones(3).triu()
    upper = mg.ones(3, 3, dtype=mg.int64).triu(1)
    assert upper.dtype == np.int64 and upper.tolist() == [[0, 1, 1], [0, 0, 1], [0, 0, 0]]


def test_meshgrid_warns_without_indexing_and_takes_a_list():
    a, b = mg.tensor([1.0, 2.0, 3.0]), mg.tensor([4.0, 5.0])
    with pytest.warns(UserWarning, match="meshgrid: in an upcoming release"):
        x, y = mg.meshgrid(a, b)
    assert x.shape == y.shape == (3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, y = mg.meshgrid([a, b], indexing="xy")
    assert x.shape == (2, 3) and x.tolist()[1] == [1.0, 2.0, 3.0] and y.tolist()[1] == [5.0, 5.0, 5.0]
    with pytest.raises(ValueError, match="meshgrid: indexing must be 'ij' or 'xy'"):
        mg.meshgrid(a, b, indexing="ji")
    with pytest.raises(RuntimeError, match="meshgrid: expects 0-d or 1-d tensors"):
        mg.meshgrid(mg.ones(2, 2), indexing="ij")


# ---- einsum: forms and errors (values and gradients are in the table) ----------------------

def test_einsum_forms_dtype_and_own_memory():
    a, b = mg.randn(2, 3), mg.randn(3, 4)
    out = mg.einsum("ij,jk->ik", [a, b])  # operands as one list
    assert out.dtype == np.float32 and out.shape == (2, 4)
    np.testing.assert_allclose(out.array, a.array @ b.array, rtol=1e-5)
    transposed = mg.einsum("ij->ji", a)
    transposed.mul_(0)  # numpy gives a view here; ours is the op's own memory
    assert a.abs().sum().item() > 0
    np.testing.assert_allclose(mg.einsum("ii", mg.eye(3) * 2).item(), 6.0)


def test_einsum_errors_name_the_problem():
    a, b = mg.randn(2, 3), mg.randn(3, 4)
    with pytest.raises(ValueError, match="einsum: the equation 'ij,jk->ik' has subscripts for 2 operand"):
        mg.einsum("ij,jk->ik", a)
    with pytest.raises(RuntimeError, match="einsum: operand 1 has 2 dimensions, but the equation gives it 3"):
        mg.einsum("ij,jkl->ik", a, b)
    with pytest.raises(RuntimeError, match="einsum: operand 1 has size 4 for subscript 'j', which does not broadcast with size 3"):
        mg.einsum("ij,jk->ik", a, mg.randn(3, 4).T)
    with pytest.raises(ValueError, match="output subscript 'i' appears more than once"):
        mg.einsum("ij->ii", a)
    with pytest.raises(ValueError, match="output subscript 'z' does not appear"):
        mg.einsum("ij->iz", a)
    with pytest.raises(ValueError, match="invalid subscript '1'"):
        mg.einsum("i1->i", a)
    with pytest.raises(RuntimeError, match="subscript 'i' is repeated in operand 0 for dimensions of sizes 2 and 3"):
        mg.einsum("ii->i", a)
    with pytest.raises(RuntimeError, match="einsum: expected all operands to have the same dtype"):
        mg.einsum("ij,jk->ik", a, b.double())
    with pytest.raises(TypeError, match="sublist form"):
        mg.einsum(a, [0, 1], b, [1, 2])


# ---- nan_to_num and clamp_ -------------------------------------------------------------------

def test_nan_to_num_defaults_are_the_dtypes_extremes_and_the_gradient_skips_replaced_elements():
    for dtype in (np.float32, np.float64):
        x = mg.tensor([float("nan"), float("inf"), -float("inf"), 1.5], dtype=dtype)
        out = mg.nan_to_num(x)
        info = np.finfo(dtype)
        np.testing.assert_array_equal(out.array, np.array([0.0, info.max, info.min, 1.5], dtype=dtype))
        assert out.dtype == dtype
    x = mg.tensor([float("nan"), float("inf"), -float("inf"), 1.5], dtype=mg.float64, requires_grad=True)
    out = x.nan_to_num(nan=-1.0, posinf=9.0)
    assert out.tolist() == [-1.0, 9.0, np.finfo(np.float64).min, 1.5]
    (out * 3).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0, 3.0]
    ints = mg.tensor([1, 2])
    copy = ints.nan_to_num()
    assert copy.tolist() == [1, 2] and not np.shares_memory(copy.array, ints.array)


def test_nan_to_num_and_clamp_in_place():
    x = mg.tensor([float("nan"), 2.0, float("inf")])
    assert x.nan_to_num_(posinf=7.0) is x and x.tolist() == [0.0, 2.0, 7.0] and x._version == 1
    leaf = mg.tensor([-2.0, 0.5, 3.0], dtype=mg.float64, requires_grad=True)
    y = leaf * 2
    assert y.clamp_(-1.0, 2.0) is y
    assert y.tolist() == [-1.0, 1.0, 2.0]
    y.sum().backward()
    assert leaf.grad.tolist() == [0.0, 2.0, 0.0]  # only the element inside the bounds passes
    z = mg.tensor([-2.0, 0.5, 3.0])
    z.clamp_(min=mg.tensor([-1.0, 1.0, 0.0]))
    assert z.tolist() == [-1.0, 1.0, 3.0]
    z.clip_(max=0.0)
    assert z.tolist() == [-1.0, 0.0, 0.0]
    with pytest.raises(RuntimeError, match="clamp_: a leaf tensor that requires grad"):
        leaf.clamp_(0.0, 1.0)


# ---- movedim, swapdims, unflatten, select, diagonal, diag -----------------------------

def test_movedim_unflatten_select_diagonal_and_diag_pytorch_examples():
    t = mg.randn(3, 2, 1)
    assert mg.movedim(t, 1, 0).shape == (2, 3, 1)
    assert mg.movedim(t, (1, 2), (0, 1)).shape == (2, 1, 3)
    assert t.moveaxis(-1, 0).shape == (1, 3, 2)
    assert mg.swapdims(t, 0, 2).shape == (1, 2, 3)
    a = mg.randn(3, 4, 1)
    assert a.unflatten(1, (2, 2)).shape == (3, 2, 2, 1)
    assert mg.unflatten(a, 1, (-1, 2)).shape == (3, 2, 2, 1)
    assert mg.randn(5, 12, 3).unflatten(-2, (2, 2, 3, 1, 1)).shape == (5, 2, 2, 3, 1, 1, 3)
    m = mg.arange(9.0).reshape(3, 3)
    assert mg.select(m, 0, 1).tolist() == [3.0, 4.0, 5.0] and m.select(1, -1).tolist() == [2.0, 5.0, 8.0]
    assert mg.diagonal(m).tolist() == [0.0, 4.0, 8.0] and m.diagonal(1).tolist() == [1.0, 5.0]
    assert m.diagonal(-1).tolist() == [3.0, 7.0] and m.diagonal(3).shape == (0,)
    assert mg.diagonal(mg.randn(2, 5, 4, 2), offset=-1, dim1=1, dim2=2).shape == (2, 2, 4)
    v = mg.tensor([0.5950, -0.0872, 2.3298])
    np.testing.assert_array_equal(mg.diag(v).numpy(), np.diag(v.numpy()))
    np.testing.assert_array_equal(v.diag(1).numpy(), np.diag(v.numpy(), 1))
    assert mg.diag(v, 1).shape == (4, 4) and mg.diag(v).dtype == mg.float32
    assert mg.diag(m, -1).tolist() == [3.0, 7.0]


def test_diagonal_of_a_3d_tensor_over_dims_0_and_2_with_negative_offsets():
    a = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
    x = mg.tensor(a, requires_grad=True)
    for offset in range(-3, 5):
        out = mg.diagonal(x, offset, 0, 2)
        np.testing.assert_array_equal(out.detach().numpy(), np.diagonal(a, offset, 0, 2))
        np.testing.assert_array_equal(x.diagonal(offset, -1, 0).detach().numpy(), np.diagonal(a, offset, 2, 0))
    assert mg.diagonal(x, -1, 0, 2).shape == (3, 1)  # the diagonal is the LAST dim
    mg.diagonal(x, -1, 0, 2).sum().backward()
    expected = np.zeros_like(a)
    expected[1, :, 0] = 1.0  # element (i - offset, :, i) for i = 0
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    assert gradcheck(lambda t: mg.diagonal(t, -1, 2, 0), [mg.tensor(a + 0.5, requires_grad=True)])


@pytest.mark.parametrize("k", [-3, -1, 0, 1, 2])
def test_diag_round_trip_and_gradient(k):
    v = mg.tensor([1.5, -2.0, 3.0, float("inf")], dtype=mg.float64, requires_grad=True)
    matrix = mg.diag(v, k)
    assert matrix.shape == (4 + abs(k),) * 2
    np.testing.assert_array_equal(matrix.detach().numpy(), np.diag(v.detach().numpy(), k))  # inf only on the diagonal
    np.testing.assert_array_equal(mg.diag(matrix, k).detach().numpy(), v.detach().numpy())
    (matrix * mg.arange(float((4 + abs(k)) ** 2), dtype=mg.float64).reshape(matrix.shape)).sum().backward()
    np.testing.assert_array_equal(v.grad.numpy(), np.diag(np.arange((4 + abs(k)) ** 2.0).reshape(matrix.shape), k))
    assert mg.diag(mg.tensor([1, 2]), k).dtype == mg.int64


def test_movedim_unflatten_select_diagonal_and_diag_refuse_bad_arguments_naming_the_op():
    x = mg.randn(2, 3, 4)
    with pytest.raises(IndexError, match="movedim: dimension 3"):
        mg.movedim(x, 3, 0)
    with pytest.raises(RuntimeError, match="movedim: .*same number"):
        mg.movedim(x, (0, 1), 2)
    with pytest.raises(RuntimeError, match="movedim: repeated dim"):
        mg.movedim(x, (0, -3), (1, 2))
    with pytest.raises(IndexError, match="transpose: dimension 5 is out of range"):
        x.swapdims(0, 5)
    with pytest.raises(RuntimeError, match=r"unflatten: sizes \[2, 2\] .* size 3 of dimension 1"):
        x.unflatten(1, (2, 2))
    with pytest.raises(RuntimeError, match=r"unflatten: sizes \[-1, -1\] .*at most one -1"):
        x.unflatten(1, (-1, -1))
    with pytest.raises(IndexError, match="unflatten: dimension -4"):
        x.unflatten(-4, (2, 1))
    with pytest.raises(IndexError, match=r"select: index 3 is out of range for dimension 1 of size 3"):
        x.select(1, 3)
    with pytest.raises(IndexError, match=r"select: index -4 is out of range for dimension -2 of size 3"):
        mg.select(x, -2, -4)
    with pytest.raises(IndexError, match="select: dimension 3"):
        x.select(3, 0)
    with pytest.raises(IndexError, match="select: .*0-dim"):
        mg.tensor(1.0).select(0, 0)
    with pytest.raises(RuntimeError, match="diagonal: dim1 .* must be different"):
        x.diagonal(0, 1, -2)
    with pytest.raises(IndexError, match="diagonal: dimension"):
        mg.diagonal(mg.randn(3))
    with pytest.raises(RuntimeError, match=r"diag: expected a 1-D or 2-D tensor, got shape \(2, 3, 4\)"):
        mg.diag(x)
    with pytest.raises(RuntimeError, match=r"diag: expected a 1-D or 2-D tensor, got shape \(\)"):
        mg.diag(mg.tensor(1.0))


def test_movedim_and_swapdims_aliases_are_the_same_functions_and_methods():
    assert mg.moveaxis is mg.movedim and mg.swapdims is mg.transpose and mg.swapaxes is mg.transpose
    assert mg.Tensor.moveaxis is mg.Tensor.movedim and mg.Tensor.swapdims is mg.Tensor.transpose
    x = mg.randn(2, 3, 4)
    np.testing.assert_array_equal(x.moveaxis(0, -1).numpy(), np.moveaxis(x.numpy(), 0, -1))
    assert np.shares_memory(x.movedim(0, -1).array, x.array) and np.shares_memory(x.select(1, 2).array, x.array)  # views
