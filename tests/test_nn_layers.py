"""Layers, losses, init, functional and utils of `nn`: forward against independent numpy formulas,
gradients against finite differences (float64), shapes, reprs and error messages."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
import minigrad.nn.functional as F
from minigrad.testing import gradcheck

RNG = np.random.default_rng(1234)


def t64(*shape, low=-1.0, high=1.0, requires_grad=True):
    """A float64 tensor of uniform values (tie-free with probability 1)."""
    return mg.tensor(RNG.uniform(low, high, shape), dtype=mg.float64, requires_grad=requires_grad)


def distinct64(*shape, gap=0.05, requires_grad=True):
    """float64 values that are pairwise at least `gap` apart (no ties for max-like ops), shuffled."""
    n = int(np.prod(shape))
    values = (RNG.permutation(n) - n / 2) * gap + RNG.uniform(0, gap / 10, n)
    return mg.tensor(values.reshape(shape), dtype=mg.float64, requires_grad=requires_grad)


def check_module(module, x, project=False):
    """gradcheck of module(x) w.r.t. x and every parameter (module cast to float64 first)."""
    module.double()
    params = [p for p in module.parameters() if p.requires_grad]
    projection = None
    if project:
        with mg.no_grad():
            shape = module(x).shape
        projection = mg.tensor(RNG.standard_normal(shape), dtype=mg.float64)

    def fn(x, *params):
        out = module(x)
        return (out * projection).sum() if projection is not None else out

    assert gradcheck(fn, [x] + params)


def graph_nodes(out):
    """Every node of the graph that made `out` (iteratively)."""
    seen, stack, nodes = set(), [out.grad_fn], []
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen or isinstance(node, mg.Tensor):
            continue
        seen.add(id(node))
        nodes.append(node)
        stack.extend(node.parents)
    return nodes


# ---- Linear, Identity, Flatten, Unflatten ---------------------------------------------

def test_linear_forward_matches_numpy_and_shapes():
    layer = nn.Linear(5, 3)
    assert layer.weight.shape == (3, 5) and layer.bias.shape == (3,)
    assert layer.weight.dtype == mg.float32
    x = mg.randn(4, 5)
    expected = x.array @ layer.weight.array.T + layer.bias.array
    out = layer(x)
    assert out.dtype == mg.float32 and out.shape == (4, 3)
    np.testing.assert_allclose(out.array, expected, rtol=1e-5, atol=1e-6)
    x3 = mg.randn(2, 7, 5)
    out3 = layer(x3)
    assert out3.shape == (2, 7, 3)
    np.testing.assert_allclose(out3.array, x3.array @ layer.weight.array.T + layer.bias.array, rtol=1e-5, atol=1e-6)
    assert layer(mg.randn(5)).shape == (3,)
    nobias = nn.Linear(5, 3, bias=False)
    assert nobias.bias is None and [n for n, _ in nobias.named_parameters()] == ["weight"]
    np.testing.assert_allclose(nobias(x).array, x.array @ nobias.weight.array.T, rtol=1e-5, atol=1e-6)


def test_linear_batched_input_is_one_matmul_forward_and_backward():
    layer = nn.Linear(6, 4)
    out = layer(mg.randn(3, 5, 6, requires_grad=True))
    names = [n.name for n in graph_nodes(out)]
    assert names.count("addmm") == 1 and "matmul" not in names and "add" not in names  # bias inside addmm
    out.sum().backward()
    assert layer.weight.grad.shape == (4, 6)


def test_linear_default_init_is_pytorch_uniform_bound_and_seeded():
    mg.manual_seed(7)
    a = nn.Linear(400, 300)
    mg.manual_seed(7)
    b = nn.Linear(400, 300)
    np.testing.assert_array_equal(a.weight.array, b.weight.array)
    np.testing.assert_array_equal(a.bias.array, b.bias.array)
    bound = 1 / math.sqrt(400)  # kaiming_uniform_(a=sqrt(5)) gives exactly 1/sqrt(fan_in)
    assert np.abs(a.weight.array).max() <= bound and np.abs(a.weight.array).max() > 0.95 * bound
    assert np.abs(a.bias.array).max() <= bound and np.abs(a.bias.array).max() > 0.9 * bound
    assert abs(a.weight.array.std() - bound / math.sqrt(3)) < 0.01 * bound


def test_linear_gradcheck_and_repr_and_errors():
    check_module(nn.Linear(3, 2), t64(4, 3))
    check_module(nn.Linear(3, 2), t64(2, 2, 3))
    assert repr(nn.Linear(2, 3)) == "Linear(in_features=2, out_features=3, bias=True)"
    assert repr(nn.Linear(2, 3, bias=False)) == "Linear(in_features=2, out_features=3, bias=False)"
    with pytest.raises(RuntimeError, match=r"Linear: expected input with last dimension 784 \(in_features\), "
                                           r"got shape \(32, 100\)"):
        nn.Linear(784, 10)(mg.randn(32, 100))
    with pytest.raises(RuntimeError, match=r"linear: input of shape \(2, 3\) and weight of shape \(4, 5\)"):
        F.linear(mg.randn(2, 3), mg.randn(4, 5))


def test_identity_flatten_unflatten():
    x = mg.randn(2, 3, 4, 5)
    assert nn.Identity(54, unused=1)(x) is x
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    np.testing.assert_array_equal(nn.Flatten()(x).array, x.array.reshape(2, 60))
    assert nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape == (2, 3, 20)
    assert nn.Unflatten(-1, (2, -1))(mg.randn(3, 8)).shape == (3, 2, 4)
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    assert repr(nn.Unflatten(1, (2, 5))) == "Unflatten(dim=1, unflattened_size=(2, 5))"
    with pytest.raises(RuntimeError, match=r"Unflatten: cannot unflatten dim 1 of size 7"):
        nn.Unflatten(1, (2, 3))(mg.randn(2, 7))
    xg = t64(2, 3, 2)
    assert gradcheck(lambda v: nn.Unflatten(1, (2, 3))(nn.Flatten()(v)), [xg])


def test_bilinear_matches_numpy_and_gradcheck():
    layer = nn.Bilinear(3, 2, 4)
    assert layer.weight.shape == (4, 3, 2) and layer.bias.shape == (4,)
    a, b = mg.randn(5, 3), mg.randn(5, 2)
    expected = np.einsum("ni,kij,nj->nk", a.array, layer.weight.array, b.array) + layer.bias.array
    np.testing.assert_allclose(layer(a, b).array, expected, rtol=1e-5, atol=1e-6)
    layer.double()
    assert gradcheck(lambda x, y, *ps: layer(x, y), [t64(2, 3), t64(2, 2)] + list(layer.parameters()))
    with pytest.raises(RuntimeError, match=r"Bilinear: expected inputs \(N, 3\) and \(N, 2\)"):
        layer(mg.randn(5, 2), mg.randn(5, 2))


# ---- convolution and pooling ----------------------------------------------------------

def naive_conv2d(x, w, b, stride, padding, dilation):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, oh, ow))
    for ni in range(n):
        for oi in range(o):
            for i in range(oh):
                for j in range(ow):
                    total = 0.0
                    for ci in range(c):
                        for p in range(kh):
                            for q in range(kw):
                                total += w[oi, ci, p, q] * xp[ni, ci, i * stride[0] + p * dilation[0],
                                                              j * stride[1] + q * dilation[1]]
                    out[ni, oi, i, j] = total + (b[oi] if b is not None else 0.0)
    return out


@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), ((1, 2), (2, 1), (2, 1))])
def test_conv2d_matches_naive_loops(stride, padding, dilation):
    conv = nn.Conv2d(2, 3, (3, 2), stride=stride, padding=padding, dilation=dilation)
    assert conv.weight.shape == (3, 2, 3, 2) and conv.bias.shape == (3,)
    x = mg.randn(2, 2, 7, 6)
    pair = lambda v: v if isinstance(v, tuple) else (v, v)
    expected = naive_conv2d(x.array.astype(np.float64), conv.weight.array.astype(np.float64),
                            conv.bias.array.astype(np.float64), pair(stride), pair(padding), pair(dilation))
    out = conv(x)
    assert out.dtype == mg.float32 and out.shape == expected.shape
    np.testing.assert_allclose(out.array, expected, rtol=1e-4, atol=1e-5)


def test_conv2d_unbatched_same_padding_and_gradcheck():
    conv = nn.Conv2d(2, 3, 3, padding="same", bias=False)
    x = mg.randn(2, 5, 5)
    out = conv(x)
    assert out.shape == (3, 5, 5)
    np.testing.assert_allclose(out.array, conv(x.unsqueeze(0)).array[0], rtol=1e-6)
    check_module(nn.Conv2d(2, 2, 2, stride=2, padding=1), t64(1, 2, 4, 3), project=True)
    check_module(nn.Conv2d(1, 2, 3, dilation=2), t64(2, 1, 5, 5), project=True)


def test_conv2d_errors_and_repr():
    conv = nn.Conv2d(3, 8, 3)
    with pytest.raises(RuntimeError, match=r"Conv2d: expected 3 input channels, got input of shape \(2, 4, 8, 8\)"):
        conv(mg.randn(2, 4, 8, 8))
    with pytest.raises(RuntimeError, match=r"Conv2d: expected a 3-D or 4-D input .* got shape \(3, 8\)"):
        conv(mg.randn(3, 8))
    with pytest.raises(RuntimeError, match=r"smaller than the kernel"):
        conv(mg.randn(1, 3, 2, 2))
    assert repr(conv) == "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))"
    assert repr(nn.Conv2d(1, 2, (3, 5), stride=2, padding=1, dilation=2, bias=False)) == \
        "Conv2d(1, 2, kernel_size=(3, 5), stride=(2, 2), padding=(1, 1), dilation=(2, 2), bias=False)"
    with pytest.raises(ValueError, match=r"in_channels \(4\) and out_channels \(6\) must be divisible by groups \(4\)"):
        nn.Conv2d(4, 6, 3, groups=4)   # groups themselves: tests/test_torch_idioms.py


def test_conv2d_default_init_bound():
    conv = nn.Conv2d(16, 8, 3)
    bound = 1 / math.sqrt(16 * 9)
    assert np.abs(conv.weight.array).max() <= bound and np.abs(conv.bias.array).max() <= bound
    assert np.abs(conv.weight.array).max() > 0.9 * bound


def test_conv1d_matches_naive_loops_and_gradcheck():
    conv = nn.Conv1d(2, 3, 3, stride=2, padding=1, dilation=1)
    assert conv.weight.shape == (3, 2, 3)
    x = mg.randn(2, 2, 9)
    expected = naive_conv2d(x.array[:, :, None, :].astype(np.float64), conv.weight.array[:, :, None, :].astype(np.float64),
                            conv.bias.array.astype(np.float64), (1, 2), (0, 1), (1, 1))[:, :, 0]
    out = conv(x)
    assert out.shape == (2, 3, 5)
    np.testing.assert_allclose(out.array, expected, rtol=1e-4, atol=1e-5)
    assert conv(mg.randn(2, 9)).shape == (3, 5)
    assert repr(conv) == "Conv1d(2, 3, kernel_size=(3,), stride=(2,), padding=(1,))"
    with pytest.raises(RuntimeError, match=r"Conv1d: expected 2 input channels, got input of shape \(1, 3, 9\)"):
        conv(mg.randn(1, 3, 9))
    check_module(nn.Conv1d(2, 2, 2, dilation=2), t64(2, 2, 5), project=True)


def naive_max_pool2d(x, k, s, p):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    out = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = xp[:, :, i * s:i * s + k, j * s:j * s + k].max(axis=(2, 3))
    return out


def naive_avg_pool2d(x, k, s, p):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    out = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = xp[:, :, i * s:i * s + k, j * s:j * s + k].mean(axis=(2, 3))
    return out


@pytest.mark.parametrize("k,s,p", [(2, 2, 0), (3, 1, 1), (3, 2, 1)])
def test_pool2d_match_naive_loops(k, s, p):
    x = mg.randn(2, 3, 7, 6)
    np.testing.assert_allclose(nn.MaxPool2d(k, s, p)(x).array, naive_max_pool2d(x.array, k, s, p), rtol=1e-6)
    np.testing.assert_allclose(nn.AvgPool2d(k, s, p)(x).array, naive_avg_pool2d(x.array, k, s, p),
                               rtol=1e-5, atol=1e-6)
    assert nn.MaxPool2d(k, s, p)(x).dtype == mg.float32


def test_pool_gradchecks_and_1d_wrappers():
    assert gradcheck(nn.MaxPool2d(3, 1, 1), [distinct64(1, 2, 4, 4)])   # overlapping windows
    assert gradcheck(nn.MaxPool2d(2), [distinct64(2, 1, 4, 4)])
    assert gradcheck(nn.AvgPool2d(3, 2, 1), [t64(1, 2, 5, 4)])
    x = mg.randn(2, 3, 9)
    np.testing.assert_allclose(nn.MaxPool1d(3, 2)(x).array,
                               naive_max_pool2d(x.array[:, :, None, :].repeat(3, 2), 3, 2, 0)[:, :, 0], rtol=1e-6)
    assert nn.MaxPool1d(2)(x).shape == (2, 3, 4)
    assert nn.AvgPool1d(3, 3)(x).shape == (2, 3, 3)
    np.testing.assert_allclose(nn.AvgPool1d(3, 3)(x).array, x.array.reshape(2, 3, 3, 3).mean(-1), rtol=1e-5)
    assert nn.MaxPool1d(2)(mg.randn(3, 8)).shape == (3, 4)
    assert gradcheck(nn.MaxPool1d(2, 1), [distinct64(1, 2, 5)])
    assert gradcheck(nn.AvgPool1d(2, 1, 1), [t64(1, 2, 5)])
    values, indices = nn.MaxPool2d(2, return_indices=True)(mg.tensor([[[[1., 5.], [7., 2.]]]]))
    assert values.item() == 7.0 and indices.dtype == mg.int64 and indices.item() == 2
    out = nn.AdaptiveAvgPool2d(1)(x.reshape(2, 3, 3, 3))
    np.testing.assert_allclose(out.array[..., 0, 0], x.array.reshape(2, 3, 9).mean(-1), rtol=1e-5)


def test_pool_errors_and_repr():
    with pytest.raises(RuntimeError, match=r"max_pool2d: expected a 3-D or 4-D input .* got shape \(4, 4\)"):
        nn.MaxPool2d(2)(mg.randn(4, 4))
    with pytest.raises(RuntimeError, match=r"max_pool1d: expected a 2-D or 3-D input .* got shape \(1, 1, 4, 4\)"):
        nn.MaxPool1d(2)(mg.randn(1, 1, 4, 4))
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    assert repr(nn.AvgPool2d(3, 1)) == "AvgPool2d(kernel_size=3, stride=1, padding=0)"


# ---- normalisation --------------------------------------------------------------------

def test_layer_norm_matches_numpy_and_gradcheck():
    ln = nn.LayerNorm(6)
    with mg.no_grad():
        ln.weight.normal_()
        ln.bias.normal_()
    x = mg.randn(3, 4, 6)
    mean = x.array.mean(-1, keepdims=True)
    var = x.array.var(-1, keepdims=True)
    expected = (x.array - mean) / np.sqrt(var + 1e-5) * ln.weight.array + ln.bias.array
    out = ln(x)
    assert out.dtype == mg.float32
    np.testing.assert_allclose(out.array, expected, rtol=1e-4, atol=1e-5)
    ln2 = nn.LayerNorm((2, 3), elementwise_affine=False)
    assert list(ln2.parameters()) == []
    x2 = mg.randn(4, 2, 3)
    flat = x2.array.reshape(4, 6)
    np.testing.assert_allclose(ln2(x2).array.reshape(4, 6),
                               (flat - flat.mean(1, keepdims=True)) / np.sqrt(flat.var(1, keepdims=True) + 1e-5),
                               rtol=1e-4, atol=1e-5)
    check_module(nn.LayerNorm(4), t64(3, 4))
    assert repr(nn.LayerNorm(10)) == "LayerNorm((10,), eps=1e-05, elementwise_affine=True)"
    # float16: the statistics add up in float32 (a float16 sum of squares of values ~40 overflows)
    half = mg.tensor(np.random.default_rng(0).normal(0, 40, (2, 64)).astype(np.float16))
    wide = half.array.astype(np.float64)
    expected = (wide - wide.mean(-1, keepdims=True)) / np.sqrt(wide.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(F.layer_norm(half, (64,)).array.astype(np.float64), expected, atol=2e-2)
    with pytest.raises(RuntimeError, match=r"LayerNorm: expected input with trailing shape \(6,\) "
                                           r"\(normalized_shape\), got shape \(3, 5\)"):
        ln(mg.randn(3, 5))


def numpy_batch_norm_train(x, weight, bias, eps):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(axes)
    var = x.var(axes)
    out = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * weight.reshape(shape) + bias.reshape(shape)
    n = x.size // x.shape[1]
    return out, mean, var * n / (n - 1)


@pytest.mark.parametrize("layer,shape", [(nn.BatchNorm1d, (6, 3)), (nn.BatchNorm1d, (4, 3, 5)),
                                         (nn.BatchNorm2d, (2, 3, 4, 5))])
def test_batch_norm_train_eval_and_running_stats(layer, shape):
    bn = layer(3, momentum=0.2)
    with mg.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.normal_()
    assert bn.running_mean.shape == (3,) and bn.num_batches_tracked.dtype == mg.int64
    running_mean, running_var = np.zeros(3), np.ones(3)
    for step in range(3):
        x = mg.randn(*shape) * 2 + 1
        expected, mean, unbiased = numpy_batch_norm_train(x.array.astype(np.float64), bn.weight.array,
                                                          bn.bias.array, bn.eps)
        out = bn(x)
        assert out.dtype == mg.float32
        np.testing.assert_allclose(out.array, expected, rtol=1e-4, atol=1e-4)
        running_mean = 0.8 * running_mean + 0.2 * mean
        running_var = 0.8 * running_var + 0.2 * unbiased
        np.testing.assert_allclose(bn.running_mean.array, running_mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(bn.running_var.array, running_var, rtol=1e-5, atol=1e-6)
        assert int(bn.num_batches_tracked.item()) == step + 1
    bn.eval()
    x = mg.randn(*shape)
    stat = (1, 3) + (1,) * (len(shape) - 2)
    expected = ((x.array - running_mean.reshape(stat)) / np.sqrt(running_var.reshape(stat) + bn.eps)
                * bn.weight.array.reshape(stat) + bn.bias.array.reshape(stat))
    before = bn.running_mean.array.copy()
    np.testing.assert_allclose(bn(x).array, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(bn.running_mean.array, before)
    assert int(bn.num_batches_tracked.item()) == 3


def test_batch_norm_momentum_none_and_no_running_stats():
    bn = nn.BatchNorm1d(2, momentum=None)
    xs = [mg.randn(5, 2) for _ in range(3)]
    for x in xs:
        bn(x)
    np.testing.assert_allclose(bn.running_mean.array, np.mean([x.array.mean(0) for x in xs], axis=0), rtol=1e-5,
                               atol=1e-6)
    free = nn.BatchNorm2d(2, track_running_stats=False, affine=False)
    assert list(free.state_dict()) == [] and free.running_mean is None
    free.eval()
    x = mg.randn(3, 2, 2, 2)
    expected, _, _ = numpy_batch_norm_train(x.array, np.ones(2), np.zeros(2), 1e-5)
    np.testing.assert_allclose(free(x).array, expected, rtol=1e-4, atol=1e-5)   # batch stats even in eval


def test_batch_norm_gradcheck_train_and_eval():
    bn = nn.BatchNorm1d(3)
    check_module(bn, t64(4, 3))
    bn2 = nn.BatchNorm2d(2)
    with mg.no_grad():
        bn2.running_mean.normal_()
        bn2.running_var.uniform_(0.5, 2)
    check_module(bn2.eval(), t64(2, 2, 2, 3), project=True)
    check_module(nn.BatchNorm2d(2).train(), t64(2, 2, 2, 2), project=True)


def test_batch_norm_errors_and_repr_and_keys():
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 2D or 3D input .* got 4D input of shape \(2, 3, 4, 4\)"):
        nn.BatchNorm1d(3)(mg.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 16 channels \(num_features\) in dim 1, got input "
                                         r"of shape \(2, 3, 4, 4\)"):
        nn.BatchNorm2d(16)(mg.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(mg.randn(1, 3))
    assert repr(nn.BatchNorm2d(4)) == "BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    assert list(nn.BatchNorm2d(4).state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                                    "num_batches_tracked"]


def test_group_norm_matches_numpy():
    gn = nn.GroupNorm(2, 4)
    x = mg.randn(3, 4, 2, 2)
    g = x.array.reshape(3, 2, -1)
    expected = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-5)).reshape(x.shape)
    np.testing.assert_allclose(gn(x).array, expected, rtol=1e-4, atol=1e-5)
    check_module(nn.GroupNorm(2, 4), t64(2, 4, 3), project=True)


# ---- dropout and noise ----------------------------------------------------------------

def test_dropout_train_eval_and_seed():
    drop = nn.Dropout(0.3)
    x = mg.ones(200, 100)
    mg.manual_seed(3)
    out = drop(x)
    zeros = (out.array == 0).mean()
    assert 0.27 < zeros < 0.33
    np.testing.assert_allclose(out.array[out.array != 0], 1 / 0.7, rtol=1e-6)
    mg.manual_seed(3)
    np.testing.assert_array_equal(drop(x).array, out.array)
    drop.eval()
    assert drop(x) is x
    assert repr(nn.Dropout(0.3)) == "Dropout(p=0.3, inplace=False)"
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)
    assert (nn.Dropout(1.0)(x).array == 0).all()


def test_dropout_gradient_is_the_mask():
    x = mg.ones(50, 20, requires_grad=True)
    out = F.dropout(x, 0.5, training=True)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.array, out.array)   # kept: 2 (both value and grad), dropped: 0


def test_channel_dropout_zeroes_whole_channels():
    mg.manual_seed(0)
    out = nn.Dropout2d(0.5)(mg.ones(8, 16, 3, 3))
    per_channel = out.array.reshape(8, 16, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    assert 0 < (per_channel == 0).all(-1).mean() < 1
    for shape in ((8, 16, 5), (16, 5)):   # Dropout1d: (N, C, L) and (C, L)
        per_channel = nn.Dropout1d(0.5)(mg.ones(*shape)).array
        assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
        assert 0 < (per_channel == 0).all(-1).mean() < 1
    with pytest.raises(RuntimeError, match=r"dropout1d: expected a 2-D or 3-D input, got shape \(2, 2, 2, 2\)"):
        F.dropout1d(mg.ones(2, 2, 2, 2))


def test_gaussian_noise_only_in_training():
    mg.manual_seed(0)
    noise = nn.GaussianNoise(0.5)
    x = mg.zeros(100, 100)
    out = noise(x)
    assert out.dtype == mg.float32 and 0.45 < out.array.std() < 0.55 and abs(out.array.mean()) < 0.02
    noise.eval()
    assert noise(x) is x
    assert repr(nn.GaussianNoise(0.5)) == "GaussianNoise(std=0.5)"
    xg = t64(3, 2)
    noise.train()
    (noise(xg) * 3).sum().backward()
    np.testing.assert_allclose(xg.grad.array, 3.0)


# ---- activations ----------------------------------------------------------------------

def _erf(x):
    return np.vectorize(math.erf)(x)


def sigmoid_np(x):
    return 1 / (1 + np.exp(-x))


ACTIVATIONS = [
    (nn.ReLU(), lambda x: np.maximum(x, 0)),
    (nn.LeakyReLU(0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    (nn.ELU(0.7), lambda x: np.where(x > 0, x, 0.7 * (np.exp(x) - 1))),
    (nn.GELU(), lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2)))),
    (nn.GELU("tanh"), lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
    (nn.SiLU(), lambda x: x * sigmoid_np(x)),
    (nn.Sigmoid(), sigmoid_np),
    (nn.Tanh(), np.tanh),
    (nn.Softplus(), lambda x: np.log1p(np.exp(x))),
    (nn.Softplus(beta=2.0), lambda x: np.log1p(np.exp(2 * x)) / 2),
    (nn.Softmax(dim=1), lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
    (nn.LogSoftmax(dim=-1), lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True))),
]


@pytest.mark.parametrize("module,formula", ACTIVATIONS, ids=lambda v: repr(v) if isinstance(v, nn.Module) else "")
def test_activation_forward_and_gradcheck(module, formula):
    x = mg.randn(4, 5) * 2
    out = module(x)
    assert out.dtype == mg.float32 and out.shape == x.shape
    np.testing.assert_allclose(out.array, formula(x.array.astype(np.float64)), rtol=1e-5, atol=1e-6)
    xg = distinct64(3, 4, gap=0.2)     # no element at a kink
    xg.array[np.abs(xg.array) < 0.05] += 0.1
    assert gradcheck(module, [xg])


def test_activation_reprs_and_extremes():
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert repr(nn.GELU()) == "GELU(approximate='none')"
    assert repr(nn.GELU(approximate="tanh")) == "GELU(approximate='tanh')"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"
    assert repr(nn.ELU()) == "ELU(alpha=1.0)"
    assert repr(nn.Softplus()) == "Softplus(beta=1.0, threshold=20.0)"
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh', got 'exact'"):
        nn.GELU("exact")
    big = mg.tensor([-1000.0, 1000.0], requires_grad=True)
    for fn in (F.elu, F.softplus, F.sigmoid, F.silu):
        out = fn(big)
        out.sum().backward()
        assert np.isfinite(out.array).all() and np.isfinite(big.grad.array).all(), fn.__name__
        big.grad = None
    np.testing.assert_allclose(F.leaky_relu(mg.tensor([-2.0, 3.0]), 0.2).array, [-0.4, 3.0])
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        implicit = F.softmax(mg.randn(2, 3))
    np.testing.assert_allclose(implicit.array.sum(1), 1.0, rtol=1e-6)   # dim 1 for 2-D, as PyTorch


# ---- embedding ------------------------------------------------------------------------

def test_embedding_lookup_padding_and_gradcheck():
    emb = nn.Embedding(10, 3, padding_idx=2)
    assert emb.weight.shape == (10, 3)
    np.testing.assert_array_equal(emb.weight.array[2], 0)
    idx = mg.tensor([[1, 2, 4], [2, 4, 9]])
    out = emb(idx)
    assert out.shape == (2, 3, 3) and out.dtype == mg.float32
    np.testing.assert_array_equal(out.array, emb.weight.array[idx.array])
    with mg.no_grad():
        emb.weight.array[2] = 5.0          # a padding row that is not zero still gets no gradient
    (emb(idx) ** 2).sum().backward()
    grad = emb.weight.grad.array
    np.testing.assert_array_equal(grad[2], 0)
    np.testing.assert_allclose(grad[4], 2 * 2 * emb.weight.array[4], rtol=1e-6)
    np.testing.assert_array_equal(grad[0], 0)
    emb64 = nn.Embedding(5, 2, padding_idx=-1).double()
    assert emb64.padding_idx == 4
    # the padding row's gradient is 0 by design (not the true derivative), so check without it
    assert gradcheck(lambda w: F.embedding(mg.tensor([[0, 3], [1, 1]]), w, 4), [emb64.weight])
    assert repr(emb) == "Embedding(10, 3, padding_idx=2)"


def test_embedding_default_init_errors_and_pretrained():
    mg.manual_seed(0)
    emb = nn.Embedding(1000, 50)
    assert abs(emb.weight.array.std() - 1) < 0.02 and abs(emb.weight.array.mean()) < 0.02
    with pytest.raises(IndexError, match="index 10 is out of range for an embedding of 10 rows"):
        nn.Embedding(10, 2)(mg.tensor([3, 10]))
    pre = nn.Embedding.from_pretrained(mg.eye(3))
    assert not pre.weight.requires_grad
    np.testing.assert_array_equal(pre(mg.tensor([2])).array, [[0, 0, 1]])


# ---- losses ---------------------------------------------------------------------------

def reduce_np(loss, reduction):
    return {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[reduction]


def log_softmax_np(x, axis):
    shifted = x - x.max(axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis, keepdims=True))


REGRESSION = [
    (F.mse_loss, nn.MSELoss, {}, lambda d: d ** 2),
    (F.l1_loss, nn.L1Loss, {}, np.abs),
    (F.smooth_l1_loss, nn.SmoothL1Loss, {"beta": 0.5},
     lambda d: np.where(np.abs(d) < 0.5, 0.5 * d ** 2 / 0.5, np.abs(d) - 0.25)),
    (F.huber_loss, nn.HuberLoss, {"delta": 0.5},
     lambda d: np.where(np.abs(d) < 0.5, 0.5 * d ** 2, 0.5 * (np.abs(d) - 0.25))),
]


@pytest.mark.parametrize("function,module,kwargs,formula", REGRESSION, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses(function, module, kwargs, formula, reduction):
    x, y = mg.randn(4, 3), mg.randn(4, 3)
    expected = reduce_np(formula(x.array.astype(np.float64) - y.array), reduction)
    out = function(x, y, reduction=reduction, **kwargs)
    assert out.dtype == mg.float32
    np.testing.assert_allclose(out.array, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(module(reduction=reduction, **kwargs)(x, y).array, expected, rtol=1e-5, atol=1e-6)
    xg, yg = distinct64(3, 2, gap=0.3), t64(3, 2, low=-0.1, high=0.1)
    xg.array += 0.15                     # |x| >= 0.15 > |y|: d = x - y stays away from l1's kink at 0
    assert gradcheck(lambda a, b: function(a, b, reduction=reduction, **kwargs), [xg, yg])


def test_loss_reduction_errors_and_legacy_arguments():
    x = mg.randn(3)
    for fn in (F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss, F.binary_cross_entropy_with_logits,
               F.kl_div):
        with pytest.raises(ValueError, match=r"'elementwise' is not a valid value for reduction"):
            fn(x, x, reduction="elementwise")
    with pytest.raises(ValueError, match=r"cross_entropy: 'avg' is not a valid value for reduction"):
        F.cross_entropy(mg.randn(2, 3), mg.tensor([0, 1]), reduction="avg")
    with pytest.raises(ValueError, match=r"'avg' is not a valid value"):
        nn.CrossEntropyLoss(reduction="avg")(mg.randn(2, 3), mg.tensor([0, 1]))
    y = mg.randn(3)
    assert F.mse_loss(x, y, size_average=False).item() == pytest.approx(((x.array - y.array) ** 2).sum(), rel=1e-5)
    assert F.mse_loss(x, y, reduce=False).shape == (3,)
    with pytest.warns(UserWarning, match="target size"):
        F.mse_loss(mg.randn(4, 1), mg.randn(4))


def numpy_cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean", smoothing=0.0):
    """Independent formula for class-index targets: logits (N, C, *) -> loss via the smoothed distribution."""
    c = logits.shape[1]
    logp = log_softmax_np(logits, 1)
    logp = np.moveaxis(logp, 1, -1).reshape(-1, c)
    t = target.reshape(-1)
    w = np.ones(c) if weight is None else weight
    losses, weights = [], []
    for row, cls in zip(logp, t):
        if cls == ignore_index:
            losses.append(0.0)
            weights.append(0.0)
            continue
        nll = -w[cls] * row[cls]
        smooth = -(w * row).sum()
        losses.append((1 - smoothing) * nll + smoothing / c * smooth)
        weights.append(w[cls])
    losses = np.array(losses)
    if reduction == "none":
        return losses.reshape(target.shape)
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / np.sum(weights)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_class_indices(reduction, smoothing, weighted):
    logits = mg.randn(6, 4) * 3
    target = mg.tensor([0, 3, 1, -100, 2, 3])
    weight = mg.tensor([0.5, 1.0, 2.0, 1.5]) if weighted else None
    expected = numpy_cross_entropy(logits.array.astype(np.float64), target.array,
                                   None if weight is None else weight.array.astype(np.float64),
                                   reduction=reduction, smoothing=smoothing)
    out = F.cross_entropy(logits, target, weight=weight, reduction=reduction, label_smoothing=smoothing)
    assert out.dtype == mg.float32
    np.testing.assert_allclose(out.array, expected, rtol=1e-5, atol=1e-6)
    module = nn.CrossEntropyLoss(weight=weight, reduction=reduction, label_smoothing=smoothing)
    np.testing.assert_allclose(module(logits, target).array, expected, rtol=1e-5, atol=1e-6)
    xg = t64(4, 3, low=-2, high=2)
    assert gradcheck(lambda x: F.cross_entropy(x, mg.tensor([2, -100, 0, 1]), weight=weight if weight is None
                                               else mg.tensor([0.5, 1.0, 2.0]), reduction=reduction,
                                               label_smoothing=smoothing), [xg])


def test_cross_entropy_without_smoothing_is_mean_negative_log_prob():
    logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    target = np.array([0, 1])
    logp = log_softmax_np(logits, 1)
    expected = -(logp[0, 0] + logp[1, 1]) / 2
    assert F.cross_entropy(mg.tensor(logits, dtype=mg.float64), mg.tensor(target)).item() == pytest.approx(expected)
    # smoothing 1.0 is the cross entropy against the uniform distribution
    assert F.cross_entropy(mg.tensor(logits, dtype=mg.float64), mg.tensor(target), label_smoothing=1.0).item() == \
        pytest.approx(-logp.mean(1).mean())


def test_cross_entropy_spatial_targets_and_unbatched():
    logits = mg.randn(2, 3, 4, 5)
    target = mg.randint(0, 3, (2, 4, 5))
    target.array[0, 0, :2] = -100
    expected = numpy_cross_entropy(logits.array.astype(np.float64), target.array, reduction="none", smoothing=0.1)
    out = F.cross_entropy(logits, target, reduction="none", label_smoothing=0.1)
    assert out.shape == (2, 4, 5)
    np.testing.assert_allclose(out.array, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(F.cross_entropy(logits, target, label_smoothing=0.1).item(),
                               expected.sum() / (target.array != -100).sum(), rtol=1e-5)
    single = F.cross_entropy(mg.tensor([1.0, 2.0, 0.5]), mg.tensor(1))
    assert single.shape == () and single.item() == pytest.approx(-log_softmax_np(np.array([1.0, 2.0, 0.5]), 0)[1],
                                                                  rel=1e-6)
    assert gradcheck(lambda x: F.cross_entropy(x, mg.tensor([[0, 2], [1, 1]]), label_smoothing=0.3),
                     [t64(2, 3, 2)])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_probability_targets(reduction):
    logits = mg.randn(5, 4)
    probs = mg.tensor(RNG.dirichlet(np.ones(4), 5), dtype=mg.float32)
    weight = np.array([1.0, 2.0, 0.5, 1.0])
    smoothing = 0.1
    q = probs.array.astype(np.float64) * (1 - smoothing) + smoothing / 4
    losses = -(q * weight * log_softmax_np(logits.array.astype(np.float64), 1)).sum(1)
    expected = reduce_np(losses, reduction)        # 'mean' divides by N, not by the weights
    out = F.cross_entropy(logits, probs, weight=mg.tensor(weight), reduction=reduction, label_smoothing=smoothing)
    np.testing.assert_allclose(out.array, expected, rtol=1e-5, atol=1e-6)
    xg = t64(3, 4)
    pg = t64(3, 4, low=0, high=1)
    assert gradcheck(lambda x, p: F.cross_entropy(x, p, reduction=reduction), [xg, pg])


def test_cross_entropy_refuses_out_of_range_targets():
    logits = mg.randn(3, 5)
    with pytest.raises(IndexError, match=r"target 5 is out of bounds .* \[0, 5\)"):
        F.cross_entropy(logits, mg.tensor([0, 5, 1]))
    with pytest.raises(IndexError, match=r"target -1 is out of bounds .* \[0, 5\)"):
        F.cross_entropy(logits, mg.tensor([0, -1, 1]))
    with pytest.raises(IndexError, match=r"nll_loss: target 7 is out of bounds"):
        F.nll_loss(logits, mg.tensor([0, 7, 1]))
    assert np.isfinite(F.cross_entropy(logits, mg.tensor([0, -1, 1]), ignore_index=-1).item())
    with pytest.raises(ValueError, match=r"expected input batch size \(3\) to match target batch size \(2\)"):
        F.cross_entropy(logits, mg.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"probability targets must have the input's shape"):
        F.cross_entropy(logits, mg.rand(3, 4))


def test_cross_entropy_is_stable_for_huge_logits():
    logits = mg.tensor([[1000.0, -1000.0, 0.0]], requires_grad=True)
    loss = F.cross_entropy(logits, mg.tensor([1]))
    loss.backward()
    assert loss.item() == pytest.approx(2000.0) and np.isfinite(logits.grad.array).all()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_weights_and_ignore_index(reduction):
    logp = F.log_softmax(mg.randn(5, 3), 1)
    target = mg.tensor([0, 2, 2, 1, 0])
    weight = np.array([1.0, 3.0, 0.5])
    picked = -logp.array[np.arange(5), target.array] * weight[target.array]
    picked[3] = 0.0
    counted = weight[target.array].sum() - weight[1]
    expected = {"mean": picked.sum() / counted, "sum": picked.sum(), "none": picked}[reduction]
    out = F.nll_loss(logp, target, weight=mg.tensor(weight), ignore_index=1, reduction=reduction)
    np.testing.assert_allclose(out.array, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(nn.NLLLoss(mg.tensor(weight), ignore_index=1, reduction=reduction)(logp, target).array,
                               expected, rtol=1e-5, atol=1e-6)
    assert gradcheck(lambda x: F.nll_loss(x, mg.tensor([1, 0, 2]), reduction=reduction), [t64(3, 3)])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy(reduction):
    p = mg.rand(4, 3) * 0.9 + 0.05
    y = mg.rand(4, 3)
    w = mg.rand(3)
    pd, yd = p.array.astype(np.float64), y.array.astype(np.float64)
    losses = -(yd * np.log(pd) + (1 - yd) * np.log(1 - pd)) * w.array
    np.testing.assert_allclose(F.binary_cross_entropy(p, y, weight=w, reduction=reduction).array,
                               reduce_np(losses, reduction), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(nn.BCELoss(weight=w, reduction=reduction)(p, y).array,
                               reduce_np(losses, reduction), rtol=1e-5, atol=1e-6)
    assert gradcheck(lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction),
                     [t64(3, 2, low=0.1, high=0.9), t64(3, 2, low=0, high=1)])


def test_binary_cross_entropy_clamps_log_at_minus_100():
    p = mg.tensor([0.0, 1.0, 0.0, 1.0], requires_grad=True)
    y = mg.tensor([1.0, 0.0, 0.0, 1.0])
    out = F.binary_cross_entropy(p, y, reduction="none")
    np.testing.assert_allclose(out.array, [100.0, 100.0, 0.0, 0.0])
    out.sum().backward()
    # a clamped log passes no gradient; the other term's does: -y/x at x = 1, (1 - y)/(1 - x) at x = 0
    np.testing.assert_array_equal(p.grad.array, [0.0, 0.0, 1.0, -1.0])
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(mg.tensor([1.5]), mg.tensor([1.0]))
    with pytest.raises(ValueError, match=r"target size \(2,\) that is different to the input size \(3,\)"):
        F.binary_cross_entropy(mg.rand(3), mg.rand(2))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_with_logits(reduction):
    x = mg.randn(4, 3) * 3
    y = mg.rand(4, 3)
    pos = mg.tensor([1.0, 2.0, 0.5])
    w = mg.rand(4, 1)
    xd, yd = x.array.astype(np.float64), y.array.astype(np.float64)
    p = sigmoid_np(xd)
    plain = -(yd * np.log(p) + (1 - yd) * np.log(1 - p)) * w.array
    weighted = -(pos.array * yd * np.log(p) + (1 - yd) * np.log(1 - p)) * w.array
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(x, y, w, reduction=reduction).array,
                               reduce_np(plain, reduction), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(nn.BCEWithLogitsLoss(w, reduction=reduction, pos_weight=pos)(x, y).array,
                               reduce_np(weighted, reduction), rtol=1e-5, atol=1e-5)
    assert gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction,
                                                                    pos_weight=mg.tensor([2.0, 0.5], dtype=mg.float64)),
                     [t64(3, 2, low=-3, high=3), t64(3, 2, low=0, high=1)])


def test_binary_cross_entropy_with_logits_is_stable_at_large_logits():
    x = mg.tensor([1000.0, -1000.0, 1000.0, -1000.0], requires_grad=True)
    y = mg.tensor([1.0, 0.0, 0.0, 1.0])
    out = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_allclose(out.array, [0.0, 0.0, 1000.0, 1000.0])
    out.sum().backward()
    np.testing.assert_allclose(x.grad.array, [0.0, 0.0, 1.0, -1.0])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    logq = F.log_softmax(mg.randn(4, 3), 1)
    p = F.softmax(mg.randn(4, 3), 1)
    p.array[0, 0] = 0.0                      # 0 log 0 counts as 0
    pd = p.array.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        pointwise = np.where(pd > 0, pd * (np.log(pd) - logq.array), 0.0)
    expected = pointwise.sum() / 4 if reduction == "batchmean" else reduce_np(pointwise, reduction)
    target = mg.tensor(np.log(pd)) if log_target else p
    out = F.kl_div(logq, target, reduction=reduction, log_target=log_target)
    np.testing.assert_allclose(out.array, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(nn.KLDivLoss(reduction=reduction, log_target=log_target)(logq, target).array,
                               expected, rtol=1e-5, atol=1e-6)
    xg, tg = t64(2, 3), t64(2, 3, low=0.1, high=1)
    assert gradcheck(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target), [xg, tg])


def test_poisson_nll_loss():
    x, y = mg.randn(3, 2), mg.rand(3, 2) * 4
    expected = (np.exp(x.array.astype(np.float64)) - y.array * x.array).mean()
    np.testing.assert_allclose(nn.PoissonNLLLoss()(x, y).item(), expected, rtol=1e-5)
    assert gradcheck(lambda a: F.poisson_nll_loss(a, mg.tensor([[1.0, 2.0]], dtype=mg.float64)), [t64(1, 2)])


def test_loss_module_weights_are_buffers():
    loss = nn.CrossEntropyLoss(weight=mg.ones(3))
    assert list(loss.state_dict()) == ["weight"]
    loss.double()
    assert loss.weight.dtype == mg.float64
    assert list(nn.BCEWithLogitsLoss(pos_weight=mg.ones(2)).state_dict()) == ["pos_weight"]
    assert repr(nn.MSELoss()) == "MSELoss()"


# ---- functional extras ----------------------------------------------------------------

def test_one_hot_pad_normalize_cosine():
    out = F.one_hot(mg.tensor([0, 2, 1]))
    assert out.dtype == mg.int64 and out.shape == (3, 3)
    np.testing.assert_array_equal(out.array, np.eye(3, dtype=np.int64)[[0, 2, 1]])
    assert F.one_hot(mg.tensor([[1], [0]]), num_classes=4).shape == (2, 1, 4)
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(mg.tensor([0, 4]), 4)
    with pytest.raises(RuntimeError, match="non-negative"):
        F.one_hot(mg.tensor([-1, 1]))
    padded = F.pad(mg.ones(2, 3), (1, 2))
    assert padded.shape == (2, 6) and padded.array[:, 0].sum() == 0
    x = mg.randn(4, 3)
    np.testing.assert_allclose(F.normalize(x).array, x.array / np.linalg.norm(x.array, axis=1, keepdims=True), rtol=1e-5)
    np.testing.assert_array_equal(F.normalize(mg.zeros(2, 3)).array, 0)
    a, b = mg.randn(5, 3), mg.randn(5, 3)
    expected = (a.array * b.array).sum(1) / np.linalg.norm(a.array, axis=1) / np.linalg.norm(b.array, axis=1)
    np.testing.assert_allclose(F.cosine_similarity(a, b).array, expected, rtol=1e-5)
    assert gradcheck(lambda u, v: F.cosine_similarity(u, v), [t64(3, 4), t64(3, 4)])
    assert gradcheck(lambda u: F.normalize(u, dim=0), [t64(3, 2)])


def test_batch_norm_functional_without_module():
    x = mg.randn(8, 3)
    rm, rv = mg.zeros(3), mg.ones(3)
    out = F.batch_norm(x, rm, rv, training=True, momentum=0.5)
    expected, mean, unbiased = numpy_batch_norm_train(x.array, np.ones(3), np.zeros(3), 1e-5)
    np.testing.assert_allclose(out.array, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(rm.array, 0.5 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv.array, 0.5 + 0.5 * unbiased, rtol=1e-5)


# ---- init -----------------------------------------------------------------------------

def test_init_gains_and_fans():
    assert nn.init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert nn.init.calculate_gain("conv2d") == 1.0
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        nn.init.calculate_gain("swish")
    assert nn.init._calculate_fan_in_and_fan_out(mg.empty(8, 3, 5, 5)) == (75, 200)
    assert nn.init._calculate_fan_in_and_fan_out(mg.empty(4, 6)) == (6, 4)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(mg.empty(5))


def test_init_distributions_and_in_place():
    mg.manual_seed(0)
    w = nn.Parameter(mg.empty(300, 200))       # a parameter that requires grad: init runs under no_grad
    assert nn.init.kaiming_uniform_(w, nonlinearity="relu") is w
    bound = math.sqrt(2) * math.sqrt(3 / 200)
    assert np.abs(w.array).max() <= bound and np.abs(w.array).max() > 0.98 * bound
    nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert abs(w.array.std() - math.sqrt(2 / 300)) < 0.03 * math.sqrt(2 / 300)
    nn.init.xavier_uniform_(w, gain=2.0)
    assert np.abs(w.array).max() <= 2 * math.sqrt(6 / 500)
    nn.init.xavier_normal_(w)
    assert abs(w.array.std() - math.sqrt(2 / 500)) < 0.03 * math.sqrt(2 / 500)
    nn.init.normal_(w, mean=1.0, std=0.01)
    assert abs(w.array.mean() - 1.0) < 1e-3
    nn.init.uniform_(w, -0.5, 0.5)
    assert w.array.min() >= -0.5 and w.array.max() <= 0.5
    nn.init.constant_(w, 0.3)
    np.testing.assert_allclose(w.array, 0.3, rtol=1e-6)
    nn.init.zeros_(w)
    assert (w.array == 0).all()
    nn.init.ones_(w)
    assert (w.array == 1).all() and w.dtype == mg.float32
    nn.init.trunc_normal_(w, std=1.0, a=-0.5, b=0.5)
    assert np.abs(w.array).max() <= 0.5
    mg.manual_seed(5)
    a = nn.init.normal_(mg.empty(4)).array.copy()
    mg.manual_seed(5)
    np.testing.assert_array_equal(nn.init.normal_(mg.empty(4)).array, a)


def test_orthogonal_init():
    for shape in [(4, 6), (6, 4), (3, 2, 2)]:
        w = nn.init.orthogonal_(mg.empty(*shape), gain=2.0)
        flat = w.array.reshape(shape[0], -1).astype(np.float64)
        small = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
        np.testing.assert_allclose(small, 4 * np.eye(small.shape[0]), atol=1e-5)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        nn.init.orthogonal_(mg.empty(3))


# ---- utils ----------------------------------------------------------------------------

def test_clip_grad_norm_and_value():
    a = nn.Parameter(mg.tensor([3.0, 0.0]))
    b = nn.Parameter(mg.tensor([[0.0, 4.0]]))
    a.grad, b.grad = mg.tensor([3.0, 0.0]), mg.tensor([[0.0, 4.0]])
    unused = nn.Parameter(mg.zeros(2))
    total = nn.utils.clip_grad_norm_([a, b, unused], max_norm=1.0)
    assert isinstance(total, mg.Tensor) and total.item() == pytest.approx(5.0)
    np.testing.assert_allclose(a.grad.array, [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(b.grad.array, [[0.0, 0.8]], rtol=1e-5)
    total = nn.utils.clip_grad_norm_([a, b], max_norm=10.0)
    assert total.item() == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(a.grad.array, [0.6, 0.0], rtol=1e-5)    # below max_norm: unchanged
    assert nn.utils.clip_grad_norm_(a, 0.1, norm_type="inf" if False else float("inf")).item() == pytest.approx(0.6)
    a.grad = mg.tensor([float("nan"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([a], 1.0, error_if_nonfinite=True)
    b.grad = mg.tensor([[-3.0, 0.5]])
    nn.utils.clip_grad_value_(b, 1.0)
    np.testing.assert_allclose(b.grad.array, [[-1.0, 0.5]])


def test_parameters_to_vector_round_trip():
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    vec = nn.utils.parameters_to_vector(model.parameters())
    assert vec.shape == (3 * 2 + 2 + 2 + 1,)
    weight = model[0].weight
    nn.utils.vector_to_parameters(vec * 0 + mg.arange(11).float(), model.parameters())
    assert model[0].weight is weight
    np.testing.assert_array_equal(model[0].weight.array.reshape(-1), np.arange(6))
    np.testing.assert_array_equal(model[1].bias.array, [10])
    with pytest.raises(ValueError, match="has 4 elements but the parameters need 11"):
        nn.utils.vector_to_parameters(mg.zeros(4), model.parameters())
