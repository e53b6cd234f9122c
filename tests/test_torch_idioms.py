"""Everyday PyTorch lines outside the model itself (issue 11): pinned memory, determinism, print
options, memory formats, legacy tensor types, bincount, nn.utils.rnn, grouped convolutions."""
import pickle

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.testing import gradcheck, gradgradcheck


# ---- frame: pin_memory, determinism, print options, memory formats ---------------------------
def test_pin_memory_is_self_and_never_pinned():
    x = mg.randn(4, 3)
    assert x.pin_memory() is x
    assert x.is_pinned() is False


def test_use_deterministic_algorithms_is_recorded():
    assert mg.are_deterministic_algorithms_enabled() is False
    try:
        mg.use_deterministic_algorithms(True, warn_only=True)
        assert mg.are_deterministic_algorithms_enabled() is True
        assert mg.is_deterministic_algorithms_warn_only_enabled() is True
    finally:
        mg.use_deterministic_algorithms(False)
    assert mg.are_deterministic_algorithms_enabled() is False
    assert mg.is_deterministic_algorithms_warn_only_enabled() is False


@pytest.fixture
def default_printing():
    yield
    mg.set_printoptions(profile="default")


def test_set_printoptions_precision_and_profile(default_printing):
    x = mg.tensor([1.23456, -2.5])
    assert repr(x) == "tensor([ 1.2346, -2.5   ])"
    mg.set_printoptions(precision=2)
    assert repr(x) == "tensor([ 1.23, -2.5 ])"
    mg.set_printoptions(sci_mode=True)
    assert "e+00" in repr(x)
    mg.set_printoptions(profile="default")
    assert repr(x) == "tensor([ 1.2346, -2.5   ])"
    with pytest.raises(ValueError, match="profile"):
        mg.set_printoptions(profile="long")


def test_set_printoptions_threshold_edgeitems_linewidth(default_printing):
    x = mg.arange(20)
    assert "..." not in repr(x)
    mg.set_printoptions(threshold=10, edgeitems=2)
    assert repr(x) == "tensor([ 0,  1, ..., 18, 19])"
    mg.set_printoptions(profile="full")
    assert "..." not in repr(mg.arange(5000))
    mg.set_printoptions(linewidth=30, threshold=float("inf"))
    assert max(len(line) for line in repr(x).splitlines()) <= 30
    assert mg.printing.get_printoptions()["threshold"] > 10 ** 9


def test_memory_formats_are_accepted_names_that_change_nothing():
    x = mg.randn(2, 3, 4, 5)
    for fmt in (mg.channels_last, mg.contiguous_format, mg.preserve_format, mg.channels_last_3d):
        assert isinstance(fmt, mg.memory_format)
        np.testing.assert_array_equal(x.contiguous(memory_format=fmt).numpy(), x.numpy())
        assert x.to(memory_format=fmt) is x
        y = x.to(mg.float64, memory_format=fmt)
        assert y.dtype == mg.float64
    model = nn.Conv2d(3, 4, 3)
    assert model.to(memory_format=mg.channels_last) is model
    assert model.weight.dtype == mg.float32
    assert repr(mg.channels_last) == "minigrad.channels_last"
    assert pickle.loads(pickle.dumps(mg.channels_last)) is mg.channels_last


# ---- legacy tensor types -------------------------------------------------------------------
LEGACY = [(mg.FloatTensor, mg.float32, "torch.FloatTensor"), (mg.DoubleTensor, mg.float64, "torch.DoubleTensor"),
          (mg.HalfTensor, mg.float16, "torch.HalfTensor"), (mg.LongTensor, mg.int64, "torch.LongTensor"),
          (mg.IntTensor, mg.int32, "torch.IntTensor"), (mg.ShortTensor, mg.int16, "torch.ShortTensor"),
          (mg.CharTensor, mg.int8, "torch.CharTensor"), (mg.ByteTensor, mg.uint8, "torch.ByteTensor"),
          (mg.BoolTensor, mg.bool, "torch.BoolTensor")]


@pytest.mark.parametrize("kind, dtype, name", LEGACY, ids=[row[2] for row in LEGACY])
def test_legacy_type_constructs_tests_and_casts(kind, dtype, name):
    data = kind([1, 0, 2])
    assert type(data) is mg.Tensor and data.dtype == dtype and data.shape == (3,)
    np.testing.assert_array_equal(data.numpy(), np.array([1, 0, 2]).astype(dtype))
    empty = kind(3, 4)
    assert empty.shape == (3, 4) and empty.dtype == dtype
    assert kind().shape == (0,) and kind().dtype == dtype
    assert isinstance(data, kind) and not isinstance(np.zeros(3, dtype), kind)
    others = [other for other, other_dtype, _ in LEGACY if other_dtype != dtype]
    assert not any(isinstance(data, other) for other in others)
    assert data.type() == name
    x = mg.tensor([1.75, -2.0, 0.0])
    for spelling in (kind, name, name.replace("torch.", "")):
        cast = x.type(spelling)
        assert cast.dtype == dtype
        np.testing.assert_array_equal(cast.numpy(), x.numpy().astype(dtype))


def test_legacy_types_details():
    assert mg.LongTensor([1.9, -1.9]).tolist() == [1, -1]   # cast truncates, as PyTorch
    assert mg.FloatTensor(mg.tensor([1, 2])).dtype == mg.float32
    assert mg.FloatTensor([1.0], device="cpu").dtype == mg.float32
    with pytest.raises(RuntimeError):
        mg.FloatTensor([1.0], device="cuda")
    with pytest.raises(TypeError, match="CPU"):
        mg.randn(2).type("torch.cuda.FloatTensor")
    assert not isinstance(mg.FloatTensor, mg.Tensor) and not issubclass(mg.FloatTensor, mg.Tensor)
    assert repr(mg.FloatTensor) == "<class 'minigrad.FloatTensor'>"
    assert mg.FloatTensor.dtype == mg.float32


def test_type_cast_is_differentiable():
    x = mg.randn(3, dtype=mg.float64, requires_grad=True)
    assert gradcheck(lambda t: t.type(mg.DoubleTensor) * t, (x,))
    y = x.type(mg.FloatTensor)
    y.sum().backward()
    assert x.grad.dtype == mg.float64 and np.allclose(x.grad.numpy(), 1.0)


# ---- bincount ----------------------------------------------------------------------------------
@pytest.mark.parametrize("values, minlength", [([0, 1, 1, 3], 0), ([2, 2, 2], 5), ([], 0), ([], 3), ([7], 2)])
def test_bincount_counts_as_numpy(values, minlength):
    x = mg.tensor(values, dtype=mg.int64)
    want = np.bincount(np.array(values, dtype=np.int64), minlength=minlength)
    for got in (mg.bincount(x, minlength=minlength), x.bincount(minlength=minlength)):
        assert got.dtype == mg.int64
        np.testing.assert_array_equal(got.numpy(), want)


def test_bincount_weights_dtype_and_values():
    x = mg.tensor([0, 1, 1, 3])
    w = [0.5, 1.0, 2.0, -3.0]
    got = x.bincount(mg.tensor(w), minlength=6)
    assert got.dtype == mg.float32
    np.testing.assert_allclose(got.numpy(), np.bincount([0, 1, 1, 3], w, minlength=6))
    # any weights but float32 count in float64, as PyTorch on the CPU
    assert x.bincount(mg.tensor([1, 2, 3, 4])).dtype == mg.float64
    assert x.bincount(mg.tensor(w, dtype=mg.float64)).dtype == mg.float64
    assert x.bincount(mg.tensor(w, dtype=mg.float16)).dtype == mg.float64


def test_bincount_gradient_in_weights():
    x = mg.tensor([0, 2, 2, 4, 0, 1])
    w = mg.randn(6, dtype=mg.float64, requires_grad=True)
    assert gradcheck(lambda weights: mg.bincount(x, weights, minlength=7), (w,))
    assert gradgradcheck(lambda weights: mg.bincount(x, weights) ** 2, (w,))


@pytest.mark.parametrize("call, message", [
    (lambda: mg.bincount(mg.tensor([[1, 2]])), "1-D"),
    (lambda: mg.bincount(mg.tensor([1.0, 2.0])), "integers"),
    (lambda: mg.bincount(mg.tensor([1, -2])), "non-negative"),
    (lambda: mg.bincount(mg.tensor([1, 2]), minlength=-1), "minlength"),
    (lambda: mg.bincount(mg.tensor([1, 2]), mg.tensor([1.0])), "weights"),
])
def test_bincount_errors(call, message):
    with pytest.raises(RuntimeError, match=message):
        call()


# ---- nn.utils as a package; nn.utils.rnn.pad_sequence --------------------------------------------
def test_nn_utils_names_stay_importable():
    from minigrad.nn.utils import (clip_grad_norm_, clip_grad_value_, parameters_to_vector,  # noqa: F401
                                   vector_to_parameters)
    from minigrad.nn.utils.rnn import pad_sequence
    assert nn.utils.rnn.pad_sequence is pad_sequence and nn.utils.clip_grad_norm_ is clip_grad_norm_


def _numpy_pad(arrays, batch_first, value, side):
    longest = max(len(a) for a in arrays)
    out = np.full((len(arrays), longest, *arrays[0].shape[1:]), value, dtype=arrays[0].dtype)
    for i, a in enumerate(arrays):
        if side == "right":
            out[i, :len(a)] = a
        else:
            out[i, longest - len(a):] = a
    return out if batch_first else np.swapaxes(out, 0, 1)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("trailing", [(), (3,), (2, 2)])
def test_pad_sequence_matches_numpy(batch_first, side, trailing):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((n, *trailing)).astype(np.float32) for n in (2, 5, 1, 5)]
    got = nn.utils.rnn.pad_sequence([mg.tensor(a) for a in arrays], batch_first=batch_first,
                                    padding_value=-7.0, padding_side=side)
    want = _numpy_pad(arrays, batch_first, -7.0, side)
    assert got.shape == want.shape and got.dtype == mg.float32
    np.testing.assert_array_equal(got.numpy(), want)


def test_pad_sequence_ints_and_gradients():
    from minigrad.nn.utils.rnn import pad_sequence
    ints = pad_sequence([mg.tensor([1, 2, 3]), mg.tensor([4])], batch_first=True, padding_value=-1)
    assert ints.dtype == mg.int64 and ints.tolist() == [[1, 2, 3], [4, -1, -1]]
    a = mg.randn(3, 2, dtype=mg.float64, requires_grad=True)
    b = mg.randn(1, 2, dtype=mg.float64, requires_grad=True)
    assert gradcheck(lambda x, y: pad_sequence([x, y], padding_side="left"), (a, b))
    assert gradgradcheck(lambda x, y: pad_sequence([x, y], batch_first=True) ** 2, (a, b))


def test_pad_sequence_errors():
    from minigrad.nn.utils.rnn import pad_sequence
    with pytest.raises(RuntimeError, match="same trailing shape"):
        pad_sequence([mg.ones(2, 3), mg.ones(2, 4)])
    with pytest.raises(ValueError, match="padding_side"):
        pad_sequence([mg.ones(2)], padding_side="middle")
    with pytest.raises(RuntimeError, match="empty"):
        pad_sequence([])


# ---- grouped and depthwise convolutions ----------------------------------------------------------
def _numpy_grouped_conv2d(x, w, b, stride, padding, dilation, groups):
    """Direct loop over every output element: an independent reference for conv2d with groups."""
    n, c_in, h, width = x.shape
    c_out, per_in, kh, kw = w.shape
    per_out = c_out // groups
    x = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    h_out = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    w_out = (width + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, c_out, h_out, w_out))
    for o in range(c_out):
        g = o // per_out
        for i in range(h_out):
            for j in range(w_out):
                rows = i * stride[0] + dilation[0] * np.arange(kh)
                cols = j * stride[1] + dilation[1] * np.arange(kw)
                patch = x[:, g * per_in:(g + 1) * per_in][:, :, rows][:, :, :, cols]
                out[:, o, i, j] = (patch * w[o]).sum(axis=(1, 2, 3)) + (b[o] if b is not None else 0)
    return out


@pytest.mark.parametrize("c_in, c_out, groups, stride, padding, dilation, bias", [
    (4, 6, 2, (1, 1), (0, 0), (1, 1), True),
    (6, 6, 3, (2, 1), (1, 2), (1, 1), False),
    (4, 4, 4, (1, 1), (1, 1), (1, 1), True),      # depthwise
    (3, 6, 3, (1, 2), (2, 0), (2, 1), True),      # depthwise with a channel multiplier of 2
    (4, 8, 1, (1, 1), (1, 1), (1, 1), True),      # groups=1 still the one primitive
])
def test_grouped_conv2d_matches_reference(c_in, c_out, groups, stride, padding, dilation, bias):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, c_in, 6, 7))
    w = rng.standard_normal((c_out, c_in // groups, 3, 2))
    b = rng.standard_normal(c_out) if bias else None
    got = mg.nn.functional.conv2d(mg.tensor(x), mg.tensor(w), None if b is None else mg.tensor(b),
                                  stride, padding, dilation, groups)
    want = _numpy_grouped_conv2d(x, w, b, stride, padding, dilation, groups)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("groups, c_out", [(2, 4), (4, 4)])
def test_grouped_conv2d_gradients(groups, c_out):
    rng = np.random.default_rng(2)
    x = mg.tensor(rng.standard_normal((2, 4, 5, 5)), requires_grad=True)
    w = mg.tensor(rng.standard_normal((c_out, 4 // groups, 3, 3)), requires_grad=True)
    b = mg.tensor(rng.standard_normal(c_out), requires_grad=True)

    def f(x, w, b):
        return mg.nn.functional.conv2d(x, w, b, stride=2, padding=1, groups=groups)
    assert gradcheck(f, (x, w, b))
    assert gradgradcheck(f, (x, w, b))


def test_grouped_layers():
    model = nn.Conv2d(4, 6, 3, groups=2, padding="same")
    assert model.weight.shape == (6, 2, 3, 3) and "groups=2" in repr(model)
    # fan_in = C_in / groups * kh * kw, as PyTorch: the bias bound is 1 / sqrt(18)
    assert np.abs(model.bias.detach().numpy()).max() <= 1 / np.sqrt(18)
    x = mg.randn(2, 4, 5, 5)
    want = _numpy_grouped_conv2d(x.numpy().astype(np.float64), model.weight.detach().numpy().astype(np.float64),
                                 model.bias.detach().numpy().astype(np.float64), (1, 1), (1, 1), (1, 1), 2)
    np.testing.assert_allclose(model(x).detach().numpy(), want, rtol=1e-4, atol=1e-5)
    depthwise = nn.Conv1d(4, 8, 3, groups=4, padding=1)
    assert depthwise.weight.shape == (8, 1, 3)
    seq = mg.randn(3, 4, 9)
    want = _numpy_grouped_conv2d(seq.numpy()[:, :, None].astype(np.float64),
                                 depthwise.weight.detach().numpy()[:, :, None].astype(np.float64),
                                 depthwise.bias.detach().numpy().astype(np.float64), (1, 1), (0, 1), (1, 1), 4)
    np.testing.assert_allclose(depthwise(seq).detach().numpy(), want[:, :, 0], rtol=1e-4, atol=1e-5)
    assert depthwise(mg.randn(4, 9)).shape == (8, 9)   # unbatched


def test_grouped_conv_errors():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv1d(3, 6, 3, groups=2)
    with pytest.raises(RuntimeError, match="expects 4"):
        mg.nn.functional.conv2d(mg.randn(1, 6, 5, 5), mg.randn(4, 2, 3, 3), groups=2)
    with pytest.raises(RuntimeError, match="groups must be"):
        mg.nn.functional.conv2d(mg.randn(1, 6, 5, 5), mg.randn(4, 2, 3, 3), groups=3)


# ---- utils.checkpoint, autograd.functional ---------------------------------------------------------
def test_checkpoint_runs_the_block_with_its_gradients():
    from minigrad.utils.checkpoint import checkpoint, checkpoint_sequential
    block = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    x = mg.randn(5, 3, requires_grad=True)
    plain = block(x).sum()
    gx, = mg.grad(plain, x)
    for out in (checkpoint(block, x, use_reentrant=False), checkpoint_sequential(block, 2, x),
                checkpoint_sequential(list(block), 1, x, use_reentrant=True)):
        np.testing.assert_allclose(out.sum().item(), plain.item(), rtol=1e-6)
        np.testing.assert_allclose(mg.grad(out.sum(), x)[0].numpy(), gx.numpy(), rtol=1e-6)
    assert checkpoint(lambda a, scale: a * scale, x, scale=2.0, use_reentrant=False).shape == (5, 3)
    assert mg.utils.checkpoint.checkpoint is checkpoint


def test_jacobian_single_and_tuples():
    from minigrad.autograd.functional import jacobian
    rng = np.random.default_rng(3)
    a = rng.standard_normal((2, 3))
    x = mg.tensor(rng.standard_normal(3))
    np.testing.assert_allclose(jacobian(lambda v: mg.tensor(a) @ v, x).numpy(), a)
    np.testing.assert_allclose(mg.autograd.functional.jacobian(lambda v: v ** 2, x).numpy(),
                               np.diag(2 * x.numpy()))
    m = mg.tensor(rng.standard_normal((2, 2)))
    y = mg.tensor(rng.standard_normal(2))
    jm, jy = jacobian(lambda m, y: m @ y, (m, y))
    assert jm.shape == (2, 2, 2) and jy.shape == (2, 2)
    want_m = np.zeros((2, 2, 2))
    for i in range(2):
        want_m[i, i] = y.numpy()
    np.testing.assert_allclose(jm.numpy(), want_m)
    np.testing.assert_allclose(jy.numpy(), m.numpy())
    (j1,), (j2,) = jacobian(lambda v: (v.sum(), v * 3), (x,))
    assert j1.shape == (3,) and j2.shape == (3, 3)
    np.testing.assert_allclose(j2.numpy(), 3 * np.eye(3))
    unused = jacobian(lambda v, w: v * 2, (x, y))
    assert np.all(unused[1].numpy() == 0) and unused[1].shape == (3, 2)
    with pytest.raises(RuntimeError, match="strict"):
        jacobian(lambda v, w: v * 2, (x, y), strict=True)
    assert not jacobian(lambda v: v ** 2, x).requires_grad


def test_jacobian_create_graph_is_differentiable():
    from minigrad.autograd.functional import jacobian
    x = mg.randn(3, dtype=mg.float64, requires_grad=True)
    assert gradcheck(lambda v: jacobian(lambda u: mg.sin(u) * u.sum(), v, create_graph=True), (x,))


def test_hessian_quadratic_form_and_tuples():
    from minigrad.autograd.functional import hessian
    rng = np.random.default_rng(4)
    a = mg.tensor(rng.standard_normal((3, 3)))
    x = mg.tensor(rng.standard_normal(3))
    h = hessian(lambda v: v @ a @ v, x)
    np.testing.assert_allclose(h.numpy(), a.numpy() + a.numpy().T, rtol=1e-10)
    np.testing.assert_allclose(hessian(lambda v: (v ** 3).sum(), x).numpy(), np.diag(6 * x.numpy()))
    y = mg.tensor(rng.standard_normal(2))
    blocks = hessian(lambda v, w: (v.sum() * w ** 2).sum(), (x, y))
    assert [[b.shape for b in row] for row in blocks] == [[(3, 3), (3, 2)], [(2, 3), (2, 2)]]
    np.testing.assert_allclose(blocks[0][1].numpy(), np.tile(2 * y.numpy(), (3, 1)))
    np.testing.assert_allclose(blocks[1][1].numpy(), np.diag([2 * x.numpy().sum()] * 2))
    with pytest.raises(RuntimeError, match="single-element"):
        hessian(lambda v: v * 2, x)


def test_vjp():
    from minigrad.autograd.functional import vjp
    x = mg.randn(3, dtype=mg.float64)
    v = mg.randn(3, dtype=mg.float64)
    out, g = vjp(lambda u: u ** 2, x, v)
    np.testing.assert_allclose(out.numpy(), x.numpy() ** 2)
    np.testing.assert_allclose(g.numpy(), 2 * x.numpy() * v.numpy())
