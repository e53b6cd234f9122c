"""The chunked convolution and the index-free max pooling of minigrad/ops/conv.py.

conv2d's VJPs are two more primitives (ConvTranspose2d, Conv2dWeight), each
working through the batch a few images at a time; max_pool2d keeps no index
arrays, only the winning kernel offset of each window. These tests force uneven
chunks on small inputs, so the chunk boundaries and the memory layouts are exercised.
"""
from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.ops import conv
from minigrad.testing import gradcheck, gradgradcheck


def naive_conv2d(x, w, stride, padding, dilation):
    """Plain loops, float64: (N, C, H, W) * (O, C, kh, kw) -> (N, O, out_h, out_w)."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            for p in range(kh):
                for q in range(kw):
                    patch = xp[:, :, i * sh + p * dh, j * sw + q * dw]           # (N, C)
                    out[:, :, i, j] += patch @ w[:, :, p, q].T
    return out


GEOMETRIES = [((3, 3), (1, 1), (1, 1), (1, 1)),     # the CNN workload's layers
              ((3, 2), (2, 1), (0, 2), (1, 2)),     # uneven kernel, stride, padding and dilation
              ((1, 1), (1, 1), (0, 0), (1, 1)),
              ((2, 3), (2, 2), (1, 1), (2, 1))]


def _uneven_chunks(n, bytes_per_image, share=1.0):
    """Chunks of 2, 1, 3, 2, 1, 3, ... images: every size, and chunk ends everywhere."""
    bounds = [0]
    while bounds[-1] < n:
        bounds.append(min(n, bounds[-1] + (2, 1, 3)[len(bounds) % 3]))
    return [slice(a, b) for a, b in zip(bounds, bounds[1:])]


@pytest.fixture(params=["one chunk", "uneven chunks"])
def chunking(request, monkeypatch):
    """Run a test with the batch in one chunk, or in chunks of every size."""
    if request.param != "one chunk":
        monkeypatch.setattr(conv, "_image_chunks", _uneven_chunks)
    return request.param


def _geometry_key(x_shape, kernel, stride, padding, dilation):
    return conv.Geometry(x_shape, kernel, stride, padding, dilation, "conv2d").key()


@pytest.mark.parametrize("kernel,stride,padding,dilation", GEOMETRIES)
def test_the_three_convolution_primitives_match_loops_and_are_adjoint(chunking, kernel, stride, padding,
                                                                      dilation):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((7, 3, 6, 7))
    w = rng.standard_normal((4, 3) + kernel)
    key = _geometry_key(x.shape, kernel, stride, padding, dilation)
    y = conv.Conv2d.apply(mg.tensor(x), mg.tensor(w), None, geometry=key).array
    np.testing.assert_allclose(y, naive_conv2d(x, w, stride, padding, dilation), rtol=1e-10, atol=1e-10)

    g = rng.standard_normal(y.shape)
    grad_x = conv.ConvTranspose2d.apply(mg.tensor(g), mg.tensor(w), geometry=key).array
    grad_w = conv.Conv2dWeight.apply(mg.tensor(x), mg.tensor(g), geometry=key).array
    assert grad_x.shape == x.shape and grad_w.shape == w.shape
    # <conv2d(x, w), g> = <x, conv_transpose2d(g, w)> = <w, conv2d_weight(x, g)>
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, grad_x), rtol=1e-10)
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(w, grad_w), rtol=1e-10)
    # and each one against the loops, entry by entry: the columns of a unit input pick out its adjoint
    basis = np.zeros_like(x)
    basis[3, 1, 2, 4] = 1.0
    np.testing.assert_allclose(grad_x[3, 1, 2, 4], np.vdot(naive_conv2d(basis, w, stride, padding, dilation), g),
                               rtol=1e-10, atol=1e-12)
    unit = np.zeros_like(w)
    unit[2, 0, -1, 0] = 1.0
    np.testing.assert_allclose(grad_w[2, 0, -1, 0], np.vdot(naive_conv2d(x, unit, stride, padding, dilation), g),
                               rtol=1e-10, atol=1e-12)


def test_float32_forward_over_many_chunks_matches_one_chunk(monkeypatch):
    rng = np.random.default_rng(2)
    x = mg.tensor(rng.standard_normal((10, 4, 9, 9)).astype(np.float32))
    w = mg.tensor(rng.standard_normal((5, 4, 3, 3)).astype(np.float32))
    b = mg.tensor(rng.standard_normal(5).astype(np.float32))
    whole = mg.conv2d(x, w, b, padding=1)
    monkeypatch.setattr(conv, "_CHUNK_BYTES", 40_000)  # columns of 4, 4 and 2 images
    assert conv._image_chunks(10, 4 * 9 * 81 * 4) == [slice(0, 4), slice(4, 8), slice(8, 10)]
    parts = mg.conv2d(x, w, b, padding=1)
    assert parts.dtype == mg.float32
    np.testing.assert_allclose(parts.array, whole.array, rtol=1e-6, atol=1e-6)
    expected = naive_conv2d(x.array.astype(np.float64), w.array.astype(np.float64), (1, 1), (1, 1), (1, 1))
    np.testing.assert_allclose(parts.array, expected + b.array.reshape(1, -1, 1, 1), rtol=1e-4, atol=1e-4)


def test_conv2d_with_bias_gradcheck_and_gradgradcheck_over_chunks(chunking):
    rng = np.random.default_rng(3)
    x = mg.tensor(rng.standard_normal((3, 2, 5, 4)), requires_grad=True)
    w = mg.tensor(rng.standard_normal((3, 2, 3, 2)), requires_grad=True)
    b = mg.tensor(rng.standard_normal(3), requires_grad=True)
    f = lambda x, w, b: mg.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2))
    assert gradcheck(f, [x, w, b])
    assert gradgradcheck(f, [x, w, b])


@pytest.mark.parametrize("primitive", ["ConvTranspose2d", "Conv2dWeight"])
def test_the_vjp_primitives_are_differentiable_twice(chunking, primitive):
    """Their own VJPs (made of the three primitives) pass gradcheck, and so do the VJPs of those."""
    rng = np.random.default_rng(4)
    key = _geometry_key((3, 2, 5, 5), (2, 3), (1, 2), (1, 0), (2, 1))     # output (3, O, 5, 2)
    x = mg.tensor(rng.standard_normal((3, 2, 5, 5)), requires_grad=True)
    w = mg.tensor(rng.standard_normal((2, 2, 2, 3)), requires_grad=True)
    g = mg.tensor(rng.standard_normal((3, 2, 5, 2)), requires_grad=True)
    if primitive == "ConvTranspose2d":
        f, inputs = (lambda g, w: conv.ConvTranspose2d.apply(g, w, geometry=key)), [g, w]
    else:
        f, inputs = (lambda x, g: conv.Conv2dWeight.apply(x, g, geometry=key)), [x, g]
    assert gradcheck(f, inputs)
    assert gradgradcheck(f, inputs)


def test_conv2d_keeps_only_its_inputs_for_backward():
    """No columns are saved: a step's memory holds the input and the weight, not 9 copies of the input."""
    x = mg.randn(4, 3, 8, 8, requires_grad=True)
    w = mg.randn(5, 3, 3, 3, requires_grad=True)
    y = mg.conv2d(x, w, mg.randn(5, requires_grad=True), padding=1)
    assert y.grad_fn.name == "conv2d"
    assert list(y.grad_fn.saved) == [x, w]
    y.sum().backward()
    assert x.grad.shape == x.shape and w.grad.shape == w.shape


def test_image_chunks_cover_the_batch_evenly(monkeypatch):
    monkeypatch.setattr(conv, "_CHUNK_BYTES", 1_800)
    assert conv._image_chunks(64, 10) == [slice(0, 64)]
    chunks = conv._image_chunks(64, 100)                       # 18 images fit: 4 chunks of 16
    assert chunks == [slice(start, start + 16) for start in range(0, 64, 16)]
    chunks = conv._image_chunks(7, 1000, share=0.5)            # 900 bytes: one image per chunk
    assert chunks == [slice(i, i + 1) for i in range(7)]
    chunks = conv._image_chunks(7, 800)                        # 2 fit: 4 chunks, the last of one image
    assert chunks[0] == slice(0, 2) and chunks[-1] == slice(6, 7) and len(chunks) == 4
    assert conv._image_chunks(3, 10 ** 9) == [slice(0, 1), slice(1, 2), slice(2, 3)]


# ---- max pooling: one byte per window, the winning kernel offset --------------------------------

def test_max_pool2d_saves_one_byte_per_window_and_sends_ties_to_the_first_element():
    x = mg.tensor([[[[1.0, 3.0, 2.0, 2.0],
                     [3.0, 0.0, 2.0, 2.0]]]], requires_grad=True)
    y = mg.max_pool2d(x, 2)
    np.testing.assert_array_equal(y.array, [[[[3.0, 2.0]]]])
    winner, = y.grad_fn.saved                            # neither x nor y: no int64 indices either
    assert winner.array.dtype == np.uint8 and winner.shape == y.shape
    np.testing.assert_array_equal(winner.array, [[[[1, 0]]]])  # kernel offsets (0, 1) and (0, 0)
    y.backward(mg.tensor([[[[10.0, 20.0]]]]))
    np.testing.assert_array_equal(x.grad.array, [[[[0.0, 10.0, 20.0, 0.0],
                                                  [0.0, 0.0, 0.0, 0.0]]]])


def test_max_pool2d_output_may_change_in_place_before_backward():
    """As in PyTorch (nn.ReLU(inplace=True) after a pool): the output is not needed for the gradient."""
    x = mg.tensor(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)
    y = mg.max_pool2d(x, 2)
    y.mul_(-1.0)
    y.sum().backward()
    expected = np.zeros((4, 4))
    expected[1::2, 1::2] = -1.0
    np.testing.assert_array_equal(x.grad.array[0, 0], expected)


def test_max_pool2d_nan_wins_and_gets_the_gradient_as_argmax():
    x = mg.tensor([[[[1.0, np.nan, 5.0, np.nan], [7.0, 2.0, np.nan, 3.0]]]], requires_grad=True)
    y = mg.max_pool2d(x, (1, 4))
    assert np.isnan(y.array).all()
    _, indices = mg.max_pool2d(x, (1, 4), return_indices=True)
    np.testing.assert_array_equal(indices.array[0, 0, :, 0], [1, 6])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.array, [[[[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]]])


@pytest.mark.parametrize("kernel,stride,padding,dilation", [(2, 2, 0, 1), (3, 1, 1, 1), (3, 2, 1, 2),
                                                            ((2, 3), (1, 2), (1, 1), 1)])
def test_max_pool2d_indices_and_gradients_follow_the_window_argmax(kernel, stride, padding, dilation):
    rng = np.random.default_rng(5)
    data = rng.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6).astype(np.float64)  # no ties
    x = mg.tensor(data, requires_grad=True)
    out, indices = mg.max_pool2d(x, kernel, stride, padding, dilation, return_indices=True)
    planes = data.reshape(2, 3, -1)
    np.testing.assert_array_equal(np.take_along_axis(planes, indices.array.reshape(2, 3, -1), 2),
                                  out.array.reshape(2, 3, -1))
    g = rng.standard_normal(out.shape)
    out.backward(mg.tensor(g))
    expected = np.zeros_like(planes)
    np.add.at(expected, (np.arange(2)[:, None, None], np.arange(3)[None, :, None], indices.array.reshape(2, 3, -1)),
              g.reshape(2, 3, -1))
    np.testing.assert_allclose(x.grad.array, expected.reshape(x.shape), rtol=1e-12)


def test_max_pool2d_backward_and_pick_are_adjoint_and_twice_differentiable():
    rng = np.random.default_rng(6)
    x = mg.tensor(rng.permutation(2 * 2 * 5 * 5).reshape(2, 2, 5, 5) / 7.0, requires_grad=True)
    geometry = conv.Geometry(x.shape, 3, 2, 1, 1, "max_pool2d")
    out, winner = conv._max_and_winner(x.array, geometry)
    g, image = rng.standard_normal(out.shape), rng.standard_normal(x.shape)
    scattered = conv.MaxPool2dBackward.apply(mg.tensor(g), winner, geometry=geometry.key()).array
    picked = conv.MaxPool2dPick.apply(mg.tensor(image), winner, geometry=geometry.key()).array
    np.testing.assert_allclose(np.vdot(scattered, image), np.vdot(g, picked), rtol=1e-12)
    pool = lambda x: mg.max_pool2d(x, 3, 2, 1)
    assert gradcheck(pool, [x])
    assert gradgradcheck(pool, [x])
