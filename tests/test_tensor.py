"""The Tensor API: creation and dtypes, properties, conversions, PyTorch's type promotion,
indexing, reductions with indices, randomness, and the error messages users see."""
from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg


# ---- creation and dtypes ------------------------------------------------------------------

def test_python_floats_make_float32_ints_int64_bools_bool():
    assert mg.tensor(1.5).dtype == mg.float32
    assert mg.tensor([1.0, 2.0]).dtype == mg.float32
    assert mg.tensor([1, 2.5]).dtype == mg.float32
    assert mg.tensor(3).dtype == mg.int64
    assert mg.tensor([[1, 2], [3, 4]]).dtype == mg.int64
    assert mg.tensor([True, False]).dtype == mg.bool


def test_numpy_arrays_keep_their_dtype():
    assert mg.tensor(np.ones(3)).dtype == mg.float64
    assert mg.tensor(np.ones(3, dtype=np.float32)).dtype == mg.float32
    assert mg.tensor(np.arange(3, dtype=np.int32)).dtype == mg.int32
    assert mg.tensor(np.float64(2.0)).dtype == mg.float64
    assert mg.tensor(np.ones(3), dtype=mg.float32).dtype == mg.float32
    assert mg.float32 == np.float32 and mg.float64 == np.dtype("float64")


def test_tensor_copies_but_from_numpy_and_as_tensor_share_memory():
    array = np.zeros(3)
    copied, shared, also_shared = mg.tensor(array), mg.from_numpy(array), mg.as_tensor(array)
    array[0] = 7
    assert copied.array[0] == 0
    assert shared.array[0] == 7 and also_shared.array[0] == 7


def test_uninitialised_constructor_takes_a_shape():
    t = mg.Tensor(3, 4)
    assert t.shape == (3, 4) and t.dtype == mg.float32
    np.testing.assert_array_equal(mg.Tensor((2, 5)).array, [2.0, 5.0])  # a tuple is data, as torch.Tensor
    assert mg.Tensor(3).shape == (3,)
    np.testing.assert_array_equal(mg.Tensor([1.0, 2.0]).array, [1.0, 2.0])


def test_factories_shapes_dtypes_and_values():
    assert mg.zeros(2, 3).shape == (2, 3) and mg.zeros(2, 3).dtype == mg.float32
    assert mg.zeros((2, 3)).shape == (2, 3)
    assert (mg.ones(4).array == 1).all()
    assert mg.full((2,), 7).dtype == mg.int64 and mg.full((2,), 7.0).dtype == mg.float32
    assert mg.empty(0, 3).shape == (0, 3)
    np.testing.assert_array_equal(mg.arange(5).array, np.arange(5))
    assert mg.arange(5).dtype == mg.int64 and mg.arange(0.0, 1.0, 0.25).dtype == mg.float32
    np.testing.assert_allclose(mg.linspace(0, 1, 5).array, np.linspace(0, 1, 5))
    np.testing.assert_array_equal(mg.eye(3).array, np.eye(3))
    assert mg.eye(2, 3).shape == (2, 3)
    assert mg.rand(3, 2).dtype == mg.float32 and ((0 <= mg.rand(100).array) & (mg.rand(100).array < 1)).all()
    assert mg.randn(2, 2, dtype=mg.float64).dtype == mg.float64
    r = mg.randint(0, 3, (100,))
    assert r.dtype == mg.int64 and set(np.unique(r.array)) <= {0, 1, 2}
    like = mg.zeros(2, 3, dtype=mg.float64)
    for made in (mg.zeros_like(like), mg.ones_like(like), mg.full_like(like, 2.0), mg.empty_like(like),
                 mg.rand_like(like), mg.randn_like(like)):
        assert made.shape == (2, 3) and made.dtype == mg.float64
    assert mg.ones(3, requires_grad=True).requires_grad


def test_randperm_and_manual_seed_make_runs_repeatable():
    mg.manual_seed(123)
    first = (mg.randperm(10).array, mg.randn(4).array, mg.rand(2).array, mg.randint(0, 9, (5,)).array)
    mg.manual_seed(123)
    second = (mg.randperm(10).array, mg.randn(4).array, mg.rand(2).array, mg.randint(0, 9, (5,)).array)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert sorted(first[0].tolist()) == list(range(10)) and first[0].dtype == np.int64
    mg.manual_seed(124)
    assert not np.array_equal(mg.randn(4).array, first[1])


# ---- properties -----------------------------------------------------------------------------

def test_shape_properties():
    x = mg.zeros(2, 3, 4)
    assert x.shape == (2, 3, 4) and x.size() == (2, 3, 4)
    assert x.size(1) == 3 and x.size(-1) == 4
    assert x.dim() == 3 and x.ndim == 3 and x.numel() == 24 and len(x) == 2
    assert mg.zeros(2, 3).T.shape == (3, 2)
    assert x.T.shape == (4, 3, 2)
    with pytest.raises(IndexError, match="dimension 3"):
        x.size(3)


def test_item_numpy_and_tolist():
    assert mg.tensor(2.5).item() == 2.5 and isinstance(mg.tensor(3).item(), int)
    assert mg.tensor([[4.0]]).item() == 4.0
    with pytest.raises(ValueError, match="one-element"):
        mg.tensor([1.0, 2.0]).item()
    x = mg.tensor([1.0, 2.0])
    x.numpy()[0] = 9.0  # shared memory, as in PyTorch
    assert x.array[0] == 9.0
    assert mg.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    with pytest.raises(RuntimeError, match="detach"):
        mg.tensor([1.0], requires_grad=True).numpy()


def test_detach_shares_memory_and_clone_copies():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None
    d.array[0] = 5.0
    assert x.array[0] == 5.0
    c = x.clone()
    assert c.requires_grad and c.grad_fn is not None
    c.array[1] = -1.0
    assert x.array[1] == 2.0


def test_contiguous():
    x = mg.arange(6).reshape(2, 3)
    assert x.contiguous() is x
    t = x.T
    assert not t.is_contiguous()
    c = t.contiguous()
    assert c.is_contiguous()
    np.testing.assert_array_equal(c.array, x.array.T)


def test_dtype_conversions():
    x = mg.tensor([1.7, -2.2])
    assert x.to(mg.float64).dtype == mg.float64
    assert x.to(dtype=mg.float64).dtype == mg.float64
    assert x.double().dtype == mg.float64 and x.double().float().dtype == mg.float32
    np.testing.assert_array_equal(x.long().array, [1, -2])
    assert x.long().dtype == mg.int64 and x.int().dtype == mg.int32 and x.half().dtype == mg.float16
    assert x.float() is x and x.to("cpu") is x and x.to(mg.float32) is x
    assert x.to(mg.zeros(1, dtype=mg.float64)).dtype == mg.float64
    assert x.bool().dtype == mg.bool


def test_repr_shows_values_dtype_and_grad_fn():
    x = mg.tensor([1.5, -2.0], requires_grad=True)
    assert "1.5" in repr(x) and "requires_grad=True" in repr(x)
    y = x * 2
    assert "3." in repr(y) and "grad_fn=<Mul>" in repr(y)
    assert "dtype=float64" in repr(mg.tensor([1.0], dtype=mg.float64))
    assert repr(mg.tensor([1, 2])) == "tensor([1, 2])"


# ---- comparisons and mixing with Python and numpy -----------------------------------------

def test_comparisons_give_bool_tensors_without_grad():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result in (x > 2, x >= 2, x < 2, x <= 2, x == 2, x != 2, x > mg.tensor([0.0, 5.0, 1.0])):
        assert result.dtype == mg.bool and not result.requires_grad and result.grad_fn is None
    np.testing.assert_array_equal((x > 1.5).array, [False, True, True])
    np.testing.assert_array_equal((x == mg.tensor([1.0, 0.0, 3.0])).array, [True, False, True])


def test_python_scalars_do_not_widen_tensors():
    x = mg.tensor([1.0, 2.0])
    for result in (x * 2.5, 2.5 * x, x / 3, 3 / x, x + 1, 1 - x, x ** 2, 2 ** x, x * np.float64(2.0),
                   mg.maximum(x, mg.tensor(0.0, dtype=mg.float64)), x * mg.tensor(2.0, dtype=mg.float64)):
        assert result.dtype == mg.float32, result


def test_integer_tensors_promote_the_pytorch_way():
    i = mg.arange(4)
    assert (i + 1).dtype == mg.int64 and (i * 2).dtype == mg.int64
    assert (i * 2.5).dtype == mg.float32       # numpy would give float64
    assert (i / 2).dtype == mg.float32         # true division of ints is a float
    np.testing.assert_allclose((i / 2).array, [0.0, 0.5, 1.0, 1.5])
    assert (mg.ones(4) + i).dtype == mg.float32  # float32 with int64 is float32
    assert (mg.ones(4, dtype=mg.float64) * i).dtype == mg.float64
    assert (mg.tensor([True, False]) + 1).dtype == mg.int64
    assert (i // 2).dtype == mg.int64


def test_where_of_numbers_and_tensors_promotes_the_pytorch_way():
    c = mg.tensor([True, False])
    assert mg.where(c, 1.0, 0.0).dtype == mg.float32
    assert mg.where(c, 1, 0).dtype == mg.int64
    assert mg.where(c, mg.ones(2), 0.0).dtype == mg.float32
    assert mg.where(c, mg.arange(2), 0.5).dtype == mg.float32
    np.testing.assert_array_equal(mg.where(c, mg.arange(2), 0.5).array, [0.0, 0.5])


def test_numpy_arrays_mix_with_tensors():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    out = x * np.array([3.0, 4.0], dtype=np.float32)
    assert isinstance(out, mg.Tensor) and out.dtype == mg.float32 and out.requires_grad
    rout = np.array([3.0, 4.0], dtype=np.float32) * x   # numpy defers to the tensor
    assert isinstance(rout, mg.Tensor)
    np.testing.assert_allclose(rout.array, [3.0, 8.0])
    (out + rout).sum().backward()
    np.testing.assert_allclose(x.grad.array, [6.0, 8.0])


def test_gradient_reaches_a_float64_scalar_tensor_mixed_with_float32():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    s = mg.tensor(3.0, dtype=mg.float64, requires_grad=True)
    out = (x * s).sum()
    assert out.dtype == mg.float32
    out.backward()
    assert s.grad.dtype == mg.float64 and s.grad.item() == 3.0
    assert x.grad.dtype == mg.float32


# ---- reductions ---------------------------------------------------------------------------

def test_max_and_min_with_dim_return_values_and_indices():
    x = mg.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]], requires_grad=True)
    result = x.max(1)
    values, indices = result
    np.testing.assert_array_equal(result.values.array, [5.0, 7.0])
    np.testing.assert_array_equal(result.indices.array, [1, 0])
    assert indices.dtype == mg.int64 and values is result.values
    kept = x.max(dim=0, keepdim=True)
    assert kept.values.shape == (1, 3) and kept.indices.shape == (1, 3)
    low = x.min(-1)
    np.testing.assert_array_equal(low.values.array, [1.0, 0.0])
    np.testing.assert_array_equal(low.indices.array, [0, 1])
    result.values.sum().backward()
    np.testing.assert_array_equal(x.grad.array, [[0, 1, 0], [1, 0, 0]])
    assert x.max().item() == 7.0 and mg.max(x, mg.zeros(2, 3)).shape == (2, 3)


@pytest.mark.parametrize("kwargs,ddof", [({}, 1), ({"unbiased": True}, 1), ({"unbiased": False}, 0),
                                         ({"correction": 0}, 0), ({"correction": 2}, 2)])
@pytest.mark.parametrize("dim", [None, 0, -1, (0, 2)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_var_and_std_match_numpy(kwargs, ddof, dim, keepdim):
    data = np.random.default_rng(0).standard_normal((3, 4, 5))
    x = mg.tensor(data)
    np.testing.assert_allclose(x.var(dim, keepdim=keepdim, **kwargs).array,
                               np.var(data, axis=dim, ddof=ddof, keepdims=keepdim), rtol=1e-12)
    np.testing.assert_allclose(mg.std(x, dim, keepdim=keepdim, **kwargs).array,
                               np.std(data, axis=dim, ddof=ddof, keepdims=keepdim), rtol=1e-12)


def test_var_of_single_element_with_correction_is_nan_like_pytorch():
    assert np.isnan(mg.tensor([2.0]).var().item())
    assert mg.tensor([2.0]).var(unbiased=False).item() == 0.0


def test_argmax_all_any():
    x = mg.tensor([[1.0, 5.0], [7.0, 0.0]])
    assert mg.argmax(x).item() == 2 and x.argmax().dtype == mg.int64
    np.testing.assert_array_equal(x.argmax(1).array, [1, 0])
    np.testing.assert_array_equal(x.argmax(0, keepdim=True).array, [[1, 0]])
    np.testing.assert_array_equal(x.argmin(dim=1).array, [0, 1])
    b = mg.tensor([[True, False], [True, True]])
    assert not b.all().item() and b.any().item()
    np.testing.assert_array_equal(b.all(1).array, [False, True])
    np.testing.assert_array_equal(mg.any(b, 0).array, [True, True])
    assert b.all().dtype == mg.bool


def test_sum_of_ints_and_bools_and_mean_of_ints():
    assert mg.tensor([1, 2, 3]).sum().item() == 6 and mg.tensor([1, 2, 3]).sum().dtype == mg.int64
    assert mg.tensor([True, True, False]).sum().item() == 2
    with pytest.raises(RuntimeError, match="mean"):
        mg.tensor([1, 2]).mean()


# ---- indexing -----------------------------------------------------------------------------

def test_indexing_forms_match_numpy():
    data = np.arange(24.0).reshape(2, 3, 4)
    x = mg.tensor(data)
    forms = [0, -1, (1, 2), (slice(None), 1), (Ellipsis, 2), (Ellipsis, None), (None, 0),
             (slice(None, None, -1),), (0, slice(3, 0, -2)), (slice(1, None), slice(None, None, 2), -1),
             np.array([1, 1, 0]), (slice(None), np.array([0, 2, 2])), (np.array([0, 1]), np.array([2, 0])),
             data > 10, (data > 10)[:, 0, 0], (data > 10)[:, :, 0], [1, 0]]
    for index in forms:
        np.testing.assert_array_equal(x[index].array, data[np.asarray(index) if isinstance(index, list) else index])
    np.testing.assert_array_equal(x[mg.tensor([1, 0])].array, data[[1, 0]])
    np.testing.assert_array_equal(x[mg.tensor(1)].array, data[1])
    np.testing.assert_array_equal(x[mg.tensor(data > 10)].array, data[data > 10])
    np.testing.assert_array_equal(x[0, mg.tensor([True, False, True])].array, data[0, [True, False, True]])


def test_an_index_tuple_of_a_tuple_subclass_sums_repeated_positions():
    Index = __import__("collections").namedtuple("Index", "rows cols")
    x = mg.zeros(2, 3, requires_grad=True)
    x[Index(np.array([0, 0]), np.array([1, 1]))].sum().backward()
    np.testing.assert_array_equal(x.grad.array, [[0, 2, 0], [0, 0, 0]])


def test_basic_indexing_is_a_view_and_setitem_writes_through():
    x = mg.zeros(3, 4)
    row = x[1]
    row[2] = 5.0
    assert x.array[1, 2] == 5.0
    x[0, :] = mg.tensor([1.0, 2.0, 3.0, 4.0])
    x[x > 4] = -1.0
    np.testing.assert_array_equal(x.array[:2], [[1, 2, 3, 4], [0, 0, -1, 0]])



def test_a_view_of_a_tensor_without_grad_changed_in_place_by_a_recorded_op():
    # PyTorch gives the view's base (and its other views) the new history; here they would have
    # none and silently give x no gradient (x.grad None; PyTorch: [2, 2, 2]): they are refused
    x, w = mg.tensor([1.0, 2.0, 3.0], requires_grad=True), mg.tensor([2.0, 2.0, 2.0, 2.0], requires_grad=True)
    y = mg.zeros(4)
    y[1:].copy_(x)                                   # through a view: y itself records nothing
    with pytest.raises(RuntimeError, match="no history"):
        (y * w).sum()
    y = mg.zeros(4)
    v = y.view(2, 2)
    y.add_(mg.cat([x, x[:1]]))                       # the base: its earlier view records nothing
    with pytest.raises(RuntimeError, match="no history"):
        v.sum() * w
    # writing through the tensor itself keeps working, and a detach()ed one is a constant
    y = mg.zeros(4)
    d = y.detach()
    y[1:] += x                                       # a view's add_, then setitem into y
    ((y + d) * w).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 2.0, 4.0, 6.0])

def test_out_of_range_index_names_index_and_size():
    x = mg.tensor([[1.0, 2.0, 3.0]])
    with pytest.raises(IndexError, match=r"index 5 .*size 3"):
        x[0, 5]
    with pytest.raises(IndexError, match=r"index -4 .*size 3"):
        x[0, -4]
    with pytest.raises(IndexError, match=r"index 2 .*size 1"):
        x[2]
    with pytest.raises(IndexError, match=r"index 7 .*size 3"):
        x[0, mg.tensor([0, 7])]


def test_index_tensor_must_be_integer_or_bool():
    with pytest.raises(IndexError, match="long, int or bool"):
        mg.zeros(3)[mg.tensor([0.0, 1.0])]


# ---- requires_grad rules and user errors --------------------------------------------------

INTEGER_ERROR = r"only floating-point tensors can require gradients.*int64"


def test_integer_tensor_cannot_require_grad_at_creation():
    with pytest.raises(RuntimeError, match=INTEGER_ERROR):
        mg.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match=INTEGER_ERROR):
        mg.zeros(2, dtype=mg.int64, requires_grad=True)


def test_integer_tensor_cannot_require_grad_by_method_or_attribute():
    t = mg.tensor([1, 2])
    with pytest.raises(RuntimeError, match=INTEGER_ERROR):
        t.requires_grad_()
    with pytest.raises(RuntimeError, match=INTEGER_ERROR):
        t.requires_grad = True
    assert not t.requires_grad
    t.requires_grad = False  # turning it off is always fine
    f = mg.tensor([1.0]).requires_grad_()
    assert f.requires_grad and f.is_leaf


def test_non_leaf_requires_grad_cannot_be_turned_off():
    y = mg.tensor([1.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="detach"):
        y.requires_grad = False


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps"])
def test_other_devices_are_refused_with_a_cpu_message(device):
    x = mg.tensor([1.0])
    with pytest.raises(RuntimeError, match="CPU"):
        x.to(device)
    with pytest.raises(RuntimeError, match="CPU"):
        mg.tensor([1.0], device=device)
    assert x.device == "cpu" and not x.is_cuda


def test_cuda_method_is_refused():
    with pytest.raises(RuntimeError, match="CPU"):
        mg.tensor([1.0]).cuda()


def test_matmul_shape_mismatch_message():
    with pytest.raises(RuntimeError, match=r"^matmul: shapes \(2, 3\) and \(4, 5\) are not aligned \(3 != 4\)$"):
        mg.ones(2, 3) @ mg.ones(4, 5)
    with pytest.raises(RuntimeError, match=r"matmul: shapes \(3,\) and \(4,\) are not aligned \(3 != 4\)"):
        mg.matmul(mg.ones(3), mg.ones(4))


def test_conv2d_channel_mismatch_message_names_both_counts():
    with pytest.raises(RuntimeError, match=r"conv2d: input has 3 channels.*weight expects 4"):
        mg.conv2d(mg.ones(1, 3, 5, 5), mg.ones(2, 4, 3, 3))


def test_broadcast_mismatch_is_an_error():
    with pytest.raises(ValueError):
        mg.ones(2, 3) + mg.ones(4)


def test_bool_of_multi_element_tensor_is_ambiguous():
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(mg.tensor([1.0, 2.0]))
    assert bool(mg.tensor([1.0]))
