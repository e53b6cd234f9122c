"""The layers, functions and distributions everyday PyTorch programs use: interpolate/Upsample,
unfold/fold, pad modes, transposed convolutions, logsigmoid/hardtanh/relu6/prelu, Categorical and
Bernoulli, one_hot and dropout2d. Forward values against numpy loops written from the formulas,
gradients (and second derivatives) against finite differences in float64, shapes and errors."""
import math
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
import minigrad.nn.functional as F
from minigrad.distributions import Bernoulli, Categorical
from minigrad.testing import gradcheck, gradgradcheck

RNG = np.random.default_rng(2024)


def t64(*shape, low=-1.0, high=1.0, requires_grad=True):
    return mg.tensor(RNG.uniform(low, high, shape), dtype=mg.float64, requires_grad=requires_grad)


def projected(fn, shape_of_out):
    """fn followed by a fixed random projection to a scalar (keeps gradgradcheck's Jacobians small)."""
    weights = mg.tensor(RNG.standard_normal(shape_of_out), dtype=mg.float64)
    return lambda *args: (fn(*args) * weights).sum()


# ---- one_hot --------------------------------------------------------------------------

def test_one_hot_matches_pytorch_defaults():
    out = F.one_hot(mg.tensor([[3, 0], [1, 1]]))
    assert out.dtype == mg.int64 and out.shape == (2, 2, 4)
    expected = np.zeros((2, 2, 4), dtype=np.int64)
    for (i, j), k in np.ndenumerate([[3, 0], [1, 1]]):
        expected[i, j, k] = 1
    np.testing.assert_array_equal(out.array, expected)
    assert F.one_hot(mg.tensor([0, 1]), num_classes=5).shape == (2, 5)
    assert F.one_hot(mg.tensor([], dtype=mg.int64), num_classes=3).shape == (0, 3)
    with pytest.raises(RuntimeError, match="empty tensor"):
        F.one_hot(mg.tensor([], dtype=mg.int64))
    with pytest.raises(RuntimeError, match="index tensors"):
        F.one_hot(mg.tensor([0.0, 1.0]))
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(mg.tensor([0, 3]), num_classes=3)


# ---- interpolate / Upsample -----------------------------------------------------------

def ref_nearest_1d(x, out_size, scale=None, axis=-1):
    """PyTorch's nearest: src = min(floor(dst * s), in - 1), s = 1/scale_factor or in/out, in float32."""
    n = x.shape[axis]
    if out_size == n:
        src = list(range(n))
    elif out_size == 2 * n:
        src = [d // 2 for d in range(out_size)]
    else:
        s = np.float32(1.0 / scale) if scale else np.float32(n) / np.float32(out_size)
        src = [min(int(math.floor(np.float32(d) * s)), n - 1) for d in range(out_size)]
    return np.take(x, src, axis=axis)


def ref_linear_1d(x, out_size, align_corners, scale=None, axis=-1):
    """Linear resampling along one axis, one output at a time."""
    x = np.moveaxis(x, axis, -1)
    n = x.shape[-1]
    out = np.empty(x.shape[:-1] + (out_size,), dtype=x.dtype)
    for d in range(out_size):
        if align_corners:
            src = d * (n - 1) / (out_size - 1) if out_size > 1 else 0.0
        else:
            s = 1.0 / scale if scale else n / out_size
            src = max((d + 0.5) * s - 0.5, 0.0)
        lo = min(int(math.floor(src)), n - 1)
        hi = min(lo + 1, n - 1)
        frac = src - lo
        out[..., d] = (1 - frac) * x[..., lo] + frac * x[..., hi]
    return np.moveaxis(out, -1, axis)


def test_interpolate_known_values():
    x = mg.tensor([[[1.0, 2.0]]])
    np.testing.assert_allclose(F.interpolate(x, size=4, mode="linear").array[0, 0], [1.0, 1.25, 1.75, 2.0])
    np.testing.assert_allclose(F.interpolate(x, size=4, mode="linear", align_corners=True).array[0, 0],
                               [1.0, 4 / 3, 5 / 3, 2.0], rtol=1e-6)
    np.testing.assert_array_equal(F.interpolate(x, scale_factor=2).array[0, 0], [1, 1, 2, 2])
    img = mg.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    np.testing.assert_array_equal(F.interpolate(img, scale_factor=2).array[0, 0],
                                  [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    five = mg.arange(5.0).reshape(1, 1, 5)
    np.testing.assert_array_equal(F.interpolate(five, size=3).array[0, 0], [0, 1, 3])   # floor(d * 5/3)
    np.testing.assert_array_equal(F.interpolate(five, scale_factor=0.5).array[0, 0], [0, 2])
    np.testing.assert_array_equal(F.interpolate(five, size=3, mode="nearest-exact").array[0, 0], [0, 2, 4])


@pytest.mark.parametrize("size,scale", [((7, 3), None), ((4, 10), None), (None, 1.5), (None, (2.0, 0.6)),
                                        ((1, 5), None)])
@pytest.mark.parametrize("mode,align", [("nearest", None), ("bilinear", False), ("bilinear", True)])
def test_interpolate_2d_matches_reference_and_gradients(size, scale, mode, align):
    x = t64(2, 3, 5, 4)
    out = F.interpolate(x, size=size, scale_factor=scale, mode=mode, align_corners=align)
    scales = (scale, scale) if not isinstance(scale, tuple) else scale
    sizes = size if size is not None else tuple(math.floor(n * f) for n, f in zip((5, 4), scales))
    assert out.shape == (2, 3) + tuple(sizes)
    expected = x.array
    for axis, (n_out, f) in enumerate(zip(sizes, scales)):
        if mode == "nearest":
            expected = ref_nearest_1d(expected, n_out, f, axis=2 + axis)
        else:
            expected = ref_linear_1d(expected, n_out, align, f, axis=2 + axis)
    np.testing.assert_allclose(out.array, expected, rtol=1e-12, atol=1e-12)
    fn = lambda x: F.interpolate(x, size=size, scale_factor=scale, mode=mode, align_corners=align)  # noqa: E731
    assert gradcheck(fn, [x])
    assert gradgradcheck(projected(fn, out.shape), [x])


def test_interpolate_float32_and_linear_1d():
    x = mg.randn(2, 3, 7)
    out = F.interpolate(x, size=11, mode="linear")
    assert out.dtype == mg.float32 and out.shape == (2, 3, 11)
    np.testing.assert_allclose(out.array, ref_linear_1d(x.array.astype(np.float64), 11, False), rtol=1e-5,
                               atol=1e-6)
    x64 = t64(1, 2, 6)
    assert gradcheck(lambda x: F.interpolate(x, scale_factor=1.7, mode="linear", align_corners=True), [x64])


def test_interpolate_gradient_accumulates_over_copies():
    x = mg.ones(1, 1, 2, 2, requires_grad=True)
    F.interpolate(x, scale_factor=3).sum().backward()
    np.testing.assert_array_equal(x.grad.array, np.full((1, 1, 2, 2), 9.0))


def test_interpolate_errors():
    x = mg.randn(1, 1, 4, 4)
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(x, size=2, scale_factor=2)
    with pytest.raises(ValueError, match="either size or scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(NotImplementedError, match="bilinear mode needs 4D input"):
        F.interpolate(mg.randn(1, 1, 4), scale_factor=2, mode="bilinear")
    with pytest.raises(NotImplementedError, match="3-D .* or 4-D"):
        F.interpolate(mg.randn(4, 4), scale_factor=2)
    with pytest.raises(ValueError, match="size .* has 3"):
        F.interpolate(x, size=(2, 2, 2))
    with pytest.raises(ValueError, match="mode 'cubic'"):
        F.interpolate(x, scale_factor=2, mode="cubic")
    with pytest.raises(ValueError, match="must be positive"):
        F.interpolate(x, scale_factor=0.1)


def test_upsample_modules():
    x = mg.randn(2, 3, 4, 5)
    up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
    assert repr(up) == "Upsample(scale_factor=2.0, mode='bilinear')"
    np.testing.assert_array_equal(up(x).array, F.interpolate(x, scale_factor=2, mode="bilinear",
                                                             align_corners=True).array)
    assert repr(nn.Upsample(size=(3, 3))) == "Upsample(size=(3, 3), mode='nearest')"
    assert nn.Upsample(size=(3, 7))(x).shape == (2, 3, 3, 7)
    np.testing.assert_allclose(nn.UpsamplingBilinear2d(scale_factor=2)(x).array,
                               ref_linear_1d(ref_linear_1d(x.array.astype(np.float64), 8, True, axis=2), 10, True,
                                             axis=3), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(nn.UpsamplingNearest2d(size=(8, 10))(x).array,
                                  x.array.repeat(2, 2).repeat(2, 3))
    assert list(up.parameters()) == []


# ---- unfold / fold --------------------------------------------------------------------

def ref_unfold(x, k, d, p, s):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    oh = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    out = np.zeros((n, c * k[0] * k[1], oh * ow))
    for ci in range(c):
        for i in range(k[0]):
            for j in range(k[1]):
                row = (ci * k[0] + i) * k[1] + j
                for a in range(oh):
                    for b in range(ow):
                        out[:, row, a * ow + b] = xp[:, ci, a * s[0] + i * d[0], b * s[1] + j * d[1]]
    return out


@pytest.mark.parametrize("k,d,p,s", [((2, 2), (1, 1), (0, 0), (1, 1)), ((3, 2), (2, 1), (1, 2), (2, 3)),
                                     ((1, 3), (1, 1), (1, 0), (1, 2))])
def test_unfold_matches_reference_fold_is_its_adjoint(k, d, p, s):
    x = t64(2, 3, 7, 6)
    cols = F.unfold(x, k, d, p, s)
    np.testing.assert_allclose(cols.array, ref_unfold(x.array, k, d, p, s))
    module = nn.Unfold(k, d, p, s)
    np.testing.assert_array_equal(module(x).array, cols.array)
    y = RNG.standard_normal(cols.shape)
    back = F.fold(mg.tensor(y), (7, 6), k, d, p, s)
    assert back.shape == (2, 3, 7, 6)
    np.testing.assert_allclose(np.vdot(cols.array, y), np.vdot(x.array, back.array), rtol=1e-10)
    np.testing.assert_array_equal(nn.Fold((7, 6), k, d, p, s)(mg.tensor(y)).array, back.array)
    assert gradcheck(lambda x: F.unfold(x, k, d, p, s), [x])
    yt = mg.tensor(y, requires_grad=True)
    assert gradcheck(lambda y: F.fold(y, (7, 6), k, d, p, s), [yt])
    assert gradgradcheck(projected(lambda x: F.unfold(x, k, d, p, s), cols.shape), [x])


def test_fold_counts_overlaps_and_unbatched_shapes():
    ones = mg.ones(1, 4, 9)   # 2x2 blocks of a 4x4 image with stride 1
    counts = F.fold(ones, (4, 4), 2).array[0, 0]
    np.testing.assert_array_equal(counts, [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]])
    assert F.unfold(mg.randn(3, 5, 5), 3).shape == (27, 9)
    assert F.fold(mg.randn(27, 9), 5, 3).shape == (3, 5, 5)


def test_unfold_fold_errors():
    with pytest.raises(RuntimeError, match="3-D or 4-D"):
        F.unfold(mg.randn(4, 4), 2)
    with pytest.raises(RuntimeError, match="divisible by the product of kernel_size"):
        F.fold(mg.randn(1, 5, 9), (4, 4), 2)
    with pytest.raises(RuntimeError, match="number of sliding blocks"):
        F.fold(mg.randn(1, 4, 8), (4, 4), 2)
    with pytest.raises(RuntimeError, match="smaller than the kernel"):
        F.unfold(mg.randn(1, 1, 2, 2), 3)


# ---- pad ------------------------------------------------------------------------------

NUMPY_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pad", [((2, 3, 5), (2, 1)), ((2, 3, 4, 5), (1, 2, 3, 0)), ((3, 4, 5), (0, 3, 2, 2)),
                                       ((1, 2, 3, 4, 5), (1, 1, 2, 0, 1, 2))])
def test_pad_modes_match_numpy(mode, shape, pad):
    x = t64(*shape)
    out = F.pad(x, pad, mode=mode)
    widths = [(0, 0)] * len(shape)
    for i in range(len(pad) // 2):  # PyTorch's order: the last dim's pair first
        widths[len(shape) - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    np.testing.assert_array_equal(out.array, np.pad(x.array, widths, mode=NUMPY_MODE[mode]))
    assert gradcheck(lambda x: F.pad(x, pad, mode=mode), [x])
    assert gradgradcheck(projected(lambda x: F.pad(x, pad, mode=mode), out.shape), [x])


def test_pad_gradient_adds_the_copies():
    x = mg.zeros(1, 1, 3, requires_grad=True)
    F.pad(x, (2, 2), mode="replicate").sum().backward()
    np.testing.assert_array_equal(x.grad.array[0, 0], [3, 1, 3])
    x.grad = None
    F.pad(x, (2, 2), mode="reflect").sum().backward()
    np.testing.assert_array_equal(x.grad.array[0, 0], [2, 3, 2])   # c b [a b c] b a


def test_pad_errors_and_constant_mode():
    x = mg.randn(1, 2, 3)
    with pytest.raises(ValueError, match="less than the dimension"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="at most the dimension"):
        F.pad(x, (4, 0), mode="circular")
    with pytest.raises(NotImplementedError, match="input of 2 or 3 dims"):
        F.pad(mg.randn(1, 1, 2, 3), (1, 1), mode="reflect")
    with pytest.raises(NotImplementedError, match="not one of"):
        F.pad(x, (1, 1), mode="mirror")
    with pytest.raises(ValueError, match="doesn't take in value"):
        F.pad(x, (1, 1), mode="replicate", value=2.0)
    np.testing.assert_array_equal(F.pad(x, (1, 0), value=7.0).array[..., 0], 7.0)
    same = F.pad(x, (0, 0), mode="replicate")
    assert same is not x
    np.testing.assert_array_equal(same.array, x.array)


# ---- transposed convolution -----------------------------------------------------------

def ref_conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation):
    """Each input pixel scatters its kernel-weighted copy onto the output (before cropping the padding)."""
    n, cin, h, wd = x.shape
    per_in, per_out, kh, kw = w.shape[0] // groups, w.shape[1], w.shape[2], w.shape[3]
    (s0, s1), (p0, p1), (o0, o1), (d0, d1) = stride, padding, output_padding, dilation
    full_h = (h - 1) * s0 + d0 * (kh - 1) + 1 + o0
    full_w = (wd - 1) * s1 + d1 * (kw - 1) + 1 + o1
    full = np.zeros((n, per_out * groups, full_h + p0, full_w + p1))
    for ci in range(cin):
        g = ci // per_in
        for co in range(per_out):
            for i in range(h):
                for j in range(wd):
                    for a in range(kh):
                        for c in range(kw):
                            full[:, g * per_out + co, i * s0 + a * d0, j * s1 + c * d1] += x[:, ci, i, j] * w[ci, co, a, c]
    out = full[:, :, p0:p0 + (h - 1) * s0 - 2 * p0 + d0 * (kh - 1) + o0 + 1,
               p1:p1 + (wd - 1) * s1 - 2 * p1 + d1 * (kw - 1) + o1 + 1]
    return out + (b.reshape(1, -1, 1, 1) if b is not None else 0)


CASES = [  # in, out, kernel, stride, padding, output_padding, groups, dilation, size
    (3, 2, (4, 4), (2, 2), (1, 1), (0, 0), 1, (1, 1), (3, 4)),      # DCGAN's block
    (2, 3, (3, 2), (1, 1), (0, 0), (0, 0), 1, (1, 1), (2, 3)),
    (2, 2, (3, 3), (3, 2), (2, 1), (1, 1), 1, (1, 2), (3, 2)),
    (4, 6, (2, 3), (2, 1), (0, 1), (1, 0), 2, (1, 1), (2, 3)),
    (1, 1, (1, 1), (1, 1), (0, 0), (0, 0), 1, (1, 1), (1, 1)),
]


@pytest.mark.parametrize("cin,cout,k,s,p,op,groups,d,size", CASES)
def test_conv_transpose2d_matches_reference_and_gradients(cin, cout, k, s, p, op, groups, d, size):
    x = t64(2, cin, *size)
    w = t64(cin, cout // groups, *k)
    b = t64(cout)
    out = F.conv_transpose2d(x, w, b, s, p, op, groups, d)
    expected_size = tuple((n - 1) * si - 2 * pi + di * (ki - 1) + oi + 1
                          for n, si, pi, di, ki, oi in zip(size, s, p, d, k, op))
    assert out.shape == (2, cout) + expected_size
    np.testing.assert_allclose(out.array, ref_conv_transpose2d(x.array, w.array, b.array, s, p, op, groups, d),
                               rtol=1e-10, atol=1e-12)
    fn = lambda x, w, b: F.conv_transpose2d(x, w, b, s, p, op, groups, d)  # noqa: E731
    assert gradcheck(fn, [x, w, b])
    assert gradgradcheck(projected(fn, out.shape), [x, w, b])


@pytest.mark.parametrize("s,p,d", [(1, 0, 1), (2, 1, 1), (3, 2, 2), ((2, 1), (0, 1), (1, 3))])
def test_conv_transpose2d_is_the_adjoint_of_conv2d(s, p, d):
    x = RNG.standard_normal((3, 4, 9, 8))
    w = RNG.standard_normal((5, 4, 3, 2))          # conv2d: 4 -> 5 channels; transposed: 5 -> 4
    y = F.conv2d(mg.tensor(x), mg.tensor(w), None, s, p, d).array
    g = RNG.standard_normal(y.shape)
    # output_padding that brings the transposed output back to x's size
    sp, pp, dp = [(v, v) if isinstance(v, int) else v for v in (s, p, d)]
    op = tuple(n - ((m - 1) * si - 2 * pi + di * (ki - 1) + 1)
               for n, m, si, pi, di, ki in zip(x.shape[2:], y.shape[2:], sp, pp, dp, w.shape[2:]))
    back = F.conv_transpose2d(mg.tensor(g), mg.tensor(w), None, s, p, op, 1, d).array
    assert back.shape == x.shape
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, back), rtol=1e-10)


def test_conv_transpose1d_and_unbatched_inputs():
    x, w, b = t64(2, 3, 5), t64(3, 2, 4), t64(2)
    out = F.conv_transpose1d(x, w, b, stride=2, padding=1, output_padding=1, dilation=1)
    assert out.shape == (2, 2, (5 - 1) * 2 - 2 + 3 + 1 + 1)
    expected = ref_conv_transpose2d(x.array[:, :, None], w.array[:, :, None], b.array, (1, 2), (0, 1), (0, 1), 1,
                                    (1, 1))[:, :, 0]
    np.testing.assert_allclose(out.array, expected, rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda x, w, b: F.conv_transpose1d(x, w, b, 2, 1, 1), [x, w, b])
    single = F.conv_transpose2d(x[0].reshape(3, 5, 1), w.reshape(3, 2, 4, 1))
    np.testing.assert_allclose(single.array, F.conv_transpose2d(x[:1].reshape(1, 3, 5, 1),
                                                                w.reshape(3, 2, 4, 1)).array[0])
    assert F.conv_transpose1d(x[0], w).shape == (2, 8)


def test_conv_transpose_layers_shapes_init_and_reprs():
    mg.manual_seed(0)
    layer = nn.ConvTranspose2d(16, 8, 4, 2, 1, bias=False)
    assert layer.weight.shape == (16, 8, 4, 4) and layer.bias is None
    assert repr(layer) == "ConvTranspose2d(16, 8, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)"
    assert layer(mg.randn(3, 16, 7, 5)).shape == (3, 8, 14, 10)     # kernel 4, stride 2, padding 1 doubles
    # PyTorch's init: fan_in from weight dim 1, (C_out / groups) * kh * kw
    big = nn.ConvTranspose2d(64, 6, 3, groups=2)
    bound = 1 / math.sqrt(3 * 3 * 3)
    assert big.weight.shape == (64, 3, 3, 3) and big.bias.shape == (6,)
    assert np.abs(big.weight.array).max() <= bound and np.abs(big.weight.array).max() > 0.9 * bound
    assert np.abs(big.bias.array).max() <= bound
    assert big(mg.randn(1, 64, 2, 2)).shape == (1, 6, 4, 4)
    gen = nn.Sequential(nn.ConvTranspose2d(10, 8, 4, 1, 0, bias=False), nn.BatchNorm2d(8), nn.ReLU(True),
                        nn.ConvTranspose2d(8, 1, 4, 2, 1, bias=False), nn.Tanh())
    assert gen(mg.randn(5, 10, 1, 1)).shape == (5, 1, 8, 8)
    one = nn.ConvTranspose1d(3, 4, 3, stride=2, output_padding=1)
    assert one.weight.shape == (3, 4, 3)
    assert "output_padding=(1,)" in repr(one)
    assert one(mg.randn(2, 3, 6)).shape == (2, 4, 14)


def test_conv_transpose_output_size_argument():
    layer = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    x = mg.randn(1, 2, 4, 4)
    assert layer(x).shape == (1, 3, 7, 7)
    assert layer(x, output_size=(8, 7)).shape == (1, 3, 8, 7)
    assert layer(x, output_size=[1, 3, 8, 8]).shape == (1, 3, 8, 8)
    with pytest.raises(ValueError, match="valid sizes range from 7 to 8"):
        layer(x, output_size=(9, 7))


def test_conv_transpose_layer_gradcheck():
    layer = nn.ConvTranspose2d(2, 4, 3, stride=2, padding=1, output_padding=1, groups=2).double()
    x = t64(1, 2, 3, 2)
    out = layer(x)
    assert out.shape == (1, 4, 6, 4)
    weights = mg.tensor(RNG.standard_normal(out.shape), dtype=mg.float64)
    params = [layer.weight, layer.bias]

    def fn(x, *params):
        return (layer(x) * weights).sum()

    assert gradcheck(fn, [x] + params)


def test_conv_transpose_errors():
    with pytest.raises(ValueError, match="output padding must be smaller than either stride or dilation"):
        F.conv_transpose2d(mg.randn(1, 2, 3, 3), mg.randn(2, 2, 3, 3), stride=2, output_padding=2)
    with pytest.raises(RuntimeError, match="expected 2 input channels"):
        F.conv_transpose2d(mg.randn(1, 3, 3, 3), mg.randn(2, 2, 3, 3))
    with pytest.raises(RuntimeError, match="3-D or 4-D"):
        F.conv_transpose2d(mg.randn(3, 3), mg.randn(2, 2, 3, 3))
    with pytest.raises(RuntimeError, match="dtype"):
        F.conv_transpose2d(mg.randn(1, 2, 3, 3, dtype=mg.float64), mg.randn(2, 2, 3, 3))
    with pytest.raises(RuntimeError, match="too small"):
        F.conv_transpose2d(mg.randn(1, 2, 1, 1), mg.randn(2, 2, 1, 1), padding=1)
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.ConvTranspose2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match='only "zeros" padding mode'):
        nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect")
    with pytest.raises(RuntimeError, match="expected 4 input channels"):
        nn.ConvTranspose2d(4, 2, 3)(mg.randn(1, 3, 5, 5))


# ---- activations ----------------------------------------------------------------------

def test_logsigmoid_is_stable_and_exact():
    x = mg.tensor([-1000.0, -30.0, -1.0, 0.0, 2.0, 40.0, 1000.0], dtype=mg.float64)
    expected = np.array([-1000.0, -30.0 - math.log1p(math.exp(-30.0)), -math.log1p(math.e),
                         -math.log(2.0), -math.log1p(math.exp(-2.0)), -math.exp(-40.0), 0.0])
    np.testing.assert_allclose(F.logsigmoid(x).array, expected, rtol=1e-12, atol=1e-300)
    xf = mg.tensor([-200.0, 200.0], requires_grad=True)
    out = nn.LogSigmoid()(xf)
    assert np.isfinite(out.array).all()
    out.sum().backward()
    np.testing.assert_allclose(xf.grad.array, [1.0, 0.0])
    assert gradcheck(F.logsigmoid, [t64(4, 3, low=-5, high=5)])
    assert gradgradcheck(F.logsigmoid, [t64(5, low=-5, high=5)])


def test_hardtanh_and_relu6_values_and_gradients():
    x = mg.tensor([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 5.0, 6.0, 7.0], dtype=mg.float64, requires_grad=True)
    np.testing.assert_array_equal(F.hardtanh(x).array, [-1, -1, -0.5, 0, 0.5, 1, 1, 1, 1])
    F.hardtanh(x).sum().backward()
    np.testing.assert_array_equal(x.grad.array, [0, 0, 1, 1, 1, 0, 0, 0, 0])   # 0 at the bounds, as PyTorch
    x.grad = None
    np.testing.assert_array_equal(F.relu6(x).array, [0, 0, 0, 0, 0.5, 1, 5, 6, 6])
    nn.ReLU6()(x).sum().backward()
    np.testing.assert_array_equal(x.grad.array, [0, 0, 0, 0, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(nn.Hardtanh(-2.0, 0.25)(x).array, np.clip(x.array, -2, 0.25))
    assert repr(nn.Hardtanh()) == "Hardtanh(min_val=-1.0, max_val=1.0)"
    assert repr(nn.ReLU6(inplace=True)) == "ReLU6(inplace=True)"
    y = t64(3, 4, low=-3, high=3)
    assert gradcheck(lambda y: F.hardtanh(y, -2.0, 2.5), [y])
    with pytest.raises(ValueError, match="cannot be greater"):
        F.hardtanh(y, 1.0, -1.0)


def test_prelu_function_and_module():
    x = t64(2, 3, 4, low=-2, high=2)
    w = mg.tensor([0.1, -0.3, 0.7], dtype=mg.float64, requires_grad=True)
    out = F.prelu(x, w)
    a = x.array
    np.testing.assert_allclose(out.array, np.where(a > 0, a, a * np.array([0.1, -0.3, 0.7])[None, :, None]))
    assert gradcheck(F.prelu, [x, w])
    assert gradgradcheck(projected(F.prelu, out.shape), [x, w])
    shared = mg.tensor([0.25], dtype=mg.float64, requires_grad=True)
    np.testing.assert_allclose(F.prelu(x, shared).array, np.where(a > 0, a, 0.25 * a))
    assert gradcheck(F.prelu, [t64(5, low=-2, high=2), shared])
    layer = nn.PReLU(3, init=0.1)
    assert layer.weight.shape == (3,) and np.allclose(layer.weight.array, 0.1) and layer.weight.dtype == mg.float32
    assert repr(layer) == "PReLU(num_parameters=3)"
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    out = layer(mg.tensor([[-1.0, -2.0, 3.0]]))
    np.testing.assert_allclose(out.array, [[-0.1, -0.2, 3.0]], rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(layer.weight.grad.array, [-1.0, -2.0, 0.0])
    with pytest.raises(RuntimeError, match="mismatch of parameter numbers"):
        layer(mg.randn(2, 4))


# ---- distributions --------------------------------------------------------------------

def test_categorical_probs_logits_log_prob_entropy():
    p = np.array([[0.2, 0.3, 0.5], [0.6, 0.4, 0.0]])
    dist = Categorical(probs=mg.tensor(p * 2.0, dtype=mg.float64))   # unnormalised weights are normalised
    np.testing.assert_allclose(dist.probs.array, p)
    assert dist.batch_shape == (2,) and dist.event_shape == ()
    np.testing.assert_allclose(dist.log_prob(mg.tensor([2, 1])).array, np.log([0.5, 0.4]))
    np.testing.assert_allclose(dist.entropy().array, [-(p[0] * np.log(p[0])).sum(),
                                                      -(0.6 * np.log(0.6) + 0.4 * np.log(0.4))], rtol=1e-12)
    # value broadcasts against the batch: (4, 1) values against batch (2,) -> (4, 2)
    values = np.array([[0], [1], [2], [0]])
    # a zero probability's log is log(eps) of the dtype, as PyTorch's probs_to_logits clamps
    eps = np.finfo(np.float64).eps
    np.testing.assert_allclose(dist.log_prob(mg.tensor(values)).array, np.log(np.clip(p[[0, 1], values], eps, 1)),
                               rtol=1e-12, atol=1e-12)
    logits = np.array([1.0, -2.0, 0.5, 3.0])
    from_logits = Categorical(logits=mg.tensor(logits, dtype=mg.float64))
    softmax = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(from_logits.probs.array, softmax, rtol=1e-12)
    np.testing.assert_allclose(from_logits.logits.array, np.log(softmax), rtol=1e-12)
    assert repr(from_logits) == "Categorical(logits: (4,))"


def test_categorical_gradients():
    logits = t64(3, 4)
    value = mg.tensor([0, 3, 2])
    assert gradcheck(lambda l: Categorical(logits=l).log_prob(value), [logits])
    assert gradcheck(lambda l: Categorical(logits=l).entropy(), [logits])
    assert gradgradcheck(lambda l: Categorical(logits=l).entropy(), [logits])
    probs = t64(2, 3, low=0.1, high=1.0)
    assert gradcheck(lambda p: Categorical(probs=p).log_prob(mg.tensor([1, 2])), [probs])
    assert gradcheck(lambda p: Categorical(probs=p).entropy(), [probs])
    # REINFORCE: d/dlogits log p(a) = onehot(a) - softmax
    l = mg.tensor([0.5, -1.0, 2.0], requires_grad=True)
    Categorical(logits=l).log_prob(mg.tensor(2)).backward()
    e = np.exp(l.array - l.array.max())
    np.testing.assert_allclose(l.grad.array, np.array([0, 0, 1.0]) - e / e.sum(), rtol=1e-6)


def test_categorical_sampling_frequencies_and_seed():
    p = np.array([0.1, 0.0, 0.6, 0.3])
    dist = Categorical(probs=mg.tensor(p))
    mg.manual_seed(7)
    draws = dist.sample((20000,))
    assert draws.dtype == mg.int64 and draws.shape == (20000,)
    counts = np.bincount(draws.array, minlength=4) / 20000
    assert counts[1] == 0
    np.testing.assert_allclose(counts, p, atol=0.015)
    mg.manual_seed(7)
    np.testing.assert_array_equal(dist.sample((20000,)).array, draws.array)
    batched = Categorical(logits=mg.zeros(5, 3))
    assert batched.sample().shape == (5,) and batched.sample((2, 3)).shape == (2, 3, 5)
    assert set(np.unique(batched.sample((100,)).array)) <= {0, 1, 2}
    assert not dist.sample().requires_grad


def test_categorical_errors():
    with pytest.raises(ValueError, match="not both"):
        Categorical(probs=mg.ones(3), logits=mg.ones(3))
    with pytest.raises(ValueError, match="not both"):
        Categorical()
    with pytest.raises(ValueError, match="non-negative"):
        Categorical(probs=mg.tensor([0.5, -0.1]))
    with pytest.raises(ValueError, match="at least one-dimensional"):
        Categorical(logits=mg.tensor(1.0))
    with pytest.raises(ValueError, match=r"values must be in \[0, 3\)"):
        Categorical(logits=mg.zeros(3)).log_prob(mg.tensor([3]))


def test_bernoulli_values_gradients_and_sampling():
    p = np.array([0.1, 0.5, 0.8])
    dist = Bernoulli(probs=mg.tensor(p, dtype=mg.float64))
    np.testing.assert_allclose(dist.mean.array, p)
    np.testing.assert_allclose(dist.variance.array, p * (1 - p))
    np.testing.assert_allclose(dist.log_prob(mg.tensor([1.0, 0.0, 1.0], dtype=mg.float64)).array,
                               np.log([0.1, 0.5, 0.8]), rtol=1e-12)
    np.testing.assert_allclose(dist.entropy().array, -(p * np.log(p) + (1 - p) * np.log(1 - p)), rtol=1e-12)
    np.testing.assert_allclose(dist.logits.array, np.log(p / (1 - p)), rtol=1e-12)
    logits = mg.tensor([-50.0, 0.0, 50.0], dtype=mg.float64)
    stable = Bernoulli(logits=logits)
    np.testing.assert_allclose(stable.log_prob(mg.tensor([1.0, 1.0, 0.0], dtype=mg.float64)).array,
                               [-50.0 - math.log1p(math.exp(-50.0)), -math.log(2), -50.0 - math.log1p(math.exp(-50))])
    np.testing.assert_allclose(stable.probs.array, 1 / (1 + np.exp(-logits.array)))
    l = t64(4, low=-3, high=3)
    value = mg.tensor([1.0, 0.0, 0.0, 1.0], dtype=mg.float64)
    assert gradcheck(lambda l: Bernoulli(logits=l).log_prob(value), [l])
    assert gradcheck(lambda l: Bernoulli(logits=l).entropy(), [l])
    assert gradgradcheck(lambda l: Bernoulli(logits=l).entropy(), [l])
    q = t64(3, low=0.1, high=0.9)
    assert gradcheck(lambda q: Bernoulli(probs=q).log_prob(value[:3]), [q])
    mg.manual_seed(3)
    draws = Bernoulli(probs=mg.tensor([0.2, 0.7])).sample((20000,))
    assert draws.dtype == mg.float32 and draws.shape == (20000, 2)
    assert set(np.unique(draws.array)) == {0.0, 1.0}
    np.testing.assert_allclose(draws.array.mean(0), [0.2, 0.7], atol=0.015)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        Bernoulli(probs=mg.tensor([1.5]))
    with pytest.raises(ValueError, match="not both"):
        Bernoulli()


def test_bernoulli_gradient_at_zero_logits():
    # d/dx log p(y) = y - sigmoid(x) and d/dx H = -x sigmoid'(x), also at x = 0 (zero-initialised heads)
    logits = mg.tensor([0.0, 0.0], dtype=mg.float64, requires_grad=True)
    Bernoulli(logits=logits).log_prob(mg.tensor([1.0, 0.0], dtype=mg.float64)).sum().backward()
    np.testing.assert_allclose(logits.grad.array, [0.5, -0.5])
    logits.grad = None
    Bernoulli(logits=logits).entropy().sum().backward()
    np.testing.assert_allclose(logits.grad.array, [0.0, 0.0], atol=1e-15)


# ---- dropout2d ------------------------------------------------------------------------

def test_dropout2d_on_2d_input_warns_and_drops_elementwise():
    mg.manual_seed(0)
    layer = nn.Dropout2d(0.5)
    with pytest.warns(UserWarning, match="Received a 2-D input to dropout2d"):
        out = layer(mg.ones(200, 50))
    values = out.array
    assert set(np.unique(values)) == {0.0, 2.0}
    # elementwise: no row or column is all-dropped or all-kept, about half dropped overall
    assert 0.4 < (values == 0).mean() < 0.6
    assert not ((values == 0).all(0).any() or (values == 0).all(1).any())
    assert not ((values == 2).all(0).any() or (values == 2).all(1).any())
    layer.eval()
    with pytest.warns(UserWarning):
        x = mg.ones(3, 4)
        assert layer(x) is x


def test_dropout2d_4d_input_no_warning_3d_reads_n_c_l():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = F.dropout2d(mg.ones(4, 30, 3, 3), 0.5)
    per_channel = out.array.reshape(4, 30, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    assert (per_channel == 0).all(-1).any() and (per_channel == 2).all(-1).any()   # some channels dropped, some kept
    with pytest.warns(UserWarning, match="3D input to dropout2d"):
        out = F.dropout2d(mg.ones(6, 40, 5), 0.5)
    rows = out.array
    assert np.all((rows == 0).all(-1) | (rows == 2).all(-1))
    assert (rows == 0).all(-1).any() and (rows == 2).all(-1).any()
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout2d(mg.ones(2, 2, 2, 2), 1.5)
