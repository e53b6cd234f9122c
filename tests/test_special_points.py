"""Gradients at the points random floats never hit: exact zeros, constant rows, in-place copies.

Where the function is smooth at the point, a central difference in float64 is the oracle;
where PyTorch has a convention (std of a constant row), the convention is asserted.
"""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad.testing import gradcheck, gradgradcheck


@pytest.mark.parametrize("pos_weight", [None, 3.0])
def test_bce_with_logits_at_a_logit_of_exactly_zero(pos_weight):
    """A zero-initialised output layer starts here; the loss is smooth, the gradient sigmoid(0) - y."""
    x = mg.zeros(4, dtype=mg.float64, requires_grad=True)
    target = mg.tensor([0.0, 1.0, 0.25, 1.0], dtype=mg.float64)
    weight = None if pos_weight is None else mg.tensor([pos_weight], dtype=mg.float64)
    loss = F.binary_cross_entropy_with_logits(x, target, reduction="sum", pos_weight=weight)
    loss.backward()
    p = 1.0 if pos_weight is None else pos_weight
    y = target.numpy()
    # d/dx [-(p y log s(x) + (1 - y) log(1 - s(x)))] at x = 0, s(0) = 1/2
    expected = -(p * y * 0.5 - (1 - y) * 0.5)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)
    fn = lambda v: F.binary_cross_entropy_with_logits(v, target, pos_weight=weight)  # noqa: E731
    assert gradcheck(fn, [x]) and gradgradcheck(fn, [x])


def test_bce_with_logits_gradient_is_exact_for_huge_logits():
    x = mg.tensor([-1e4, -100.0, -30.0, 30.0, 100.0, 1e4], dtype=mg.float64, requires_grad=True)
    target = mg.tensor([1.0, 0.0, 1.0, 0.0, 1.0, 0.0], dtype=mg.float64)
    loss = F.binary_cross_entropy_with_logits(x, target, reduction="sum")
    loss.backward()
    sigmoid = 1 / (1 + np.exp(-x.detach().numpy()))
    np.testing.assert_allclose(x.grad.numpy(), sigmoid - target.numpy(), rtol=1e-12, atol=1e-300)
    assert np.isfinite(loss.item())


@pytest.mark.parametrize("correction", [0, 1])
def test_std_of_a_constant_row_has_zero_gradient(correction):
    x = mg.tensor([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]], dtype=mg.float64, requires_grad=True)
    out = x.std(1, correction=correction)
    assert out[0].item() == 0.0
    (grad,) = mg.grad(out.sum(), [x], create_graph=True)
    assert np.array_equal(grad.detach().numpy()[0], np.zeros(3))
    assert np.isfinite(grad.detach().numpy()).all()
    (second,) = mg.grad(grad.sum(), [x])
    assert np.isfinite(second.numpy()).all()
    # away from the constant row the gradient is the analytic one
    row = x.detach().numpy()[1]
    n = row.size
    expected = (row - row.mean()) / ((n - correction) * out[1].item())
    np.testing.assert_allclose(grad.detach().numpy()[1], expected, rtol=1e-12)


def test_copy_into_a_non_leaf_from_a_source_that_needs_no_grad():
    leaf = mg.randn(3, dtype=mg.float64, requires_grad=True)
    y = leaf * 2
    y.copy_(mg.ones(3, dtype=mg.float64))
    assert y.requires_grad and y.grad_fn is not None  # as in PyTorch
    (y * 3).sum().backward()
    np.testing.assert_array_equal(leaf.grad.numpy(), np.zeros(3))  # the old value no longer matters
    np.testing.assert_array_equal(y.detach().numpy(), np.ones(3))


def test_backward_through_an_empty_integer_index():
    x = mg.randn(4, 3, dtype=mg.float64, requires_grad=True)
    for index in (np.array([], dtype=np.int64), mg.tensor([], dtype=mg.int64)):
        x.grad = None
        (x[index].sum() + x.sum()).backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.ones((4, 3)))


@pytest.mark.parametrize("p", [3, 0.5, 1.5])
def test_p_norm_of_a_zero_group_has_zero_gradient(p):
    """PyTorch's norm_backward masks groups whose norm is 0 (and, for p < 1, zero elements)."""
    x = mg.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, -2.0]], dtype=mg.float64, requires_grad=True)
    out = x.norm(p, dim=1)
    (grad,) = mg.grad(out.sum(), [x], create_graph=True)
    np.testing.assert_array_equal(grad.detach().numpy()[0], np.zeros(3))
    row = x.detach().numpy()[1]
    magnitude = np.where(row == 0, 1.0, np.abs(row))  # for p < 1 a zero element's 0 * inf is taken as 0
    expected = np.sign(row) * magnitude ** (p - 1) / out[1].item() ** (p - 1)
    np.testing.assert_allclose(grad.detach().numpy()[1], expected, rtol=1e-12)
    (second,) = mg.grad(grad.sum(), [x])
    assert np.isfinite(second.numpy()).all()


def test_pow_exponent_gradient_at_a_zero_base():
    """0 ** b: d/db is 0 for b >= 0 (PyTorch's mask) and out * log(0) = -inf for b < 0 (not nan)."""
    a = mg.tensor([0.0, 0.0, 0.0], dtype=mg.float64)
    b = mg.tensor([-1.0, 0.0, 2.0], dtype=mg.float64, requires_grad=True)
    (a ** b).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [-np.inf, 0.0, 0.0])


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_with_every_target_ignored_has_zero_gradient(label_smoothing, weighted):
    """A fully padded batch: the mean is 0 / 0 = nan as in PyTorch, the gradient 0 (not nan)."""
    x = mg.randn(3, 4, dtype=mg.float64, requires_grad=True)
    weight = mg.tensor([1.0, 2.0, 0.5, 3.0], dtype=mg.float64) if weighted else None
    loss = F.cross_entropy(x, mg.tensor([-100, -100, -100]), weight=weight, label_smoothing=label_smoothing)
    assert np.isnan(loss.item())
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((3, 4)))
    # one counted target: the ordinary mean, and the gradient only in its row
    x.grad = None
    loss = F.cross_entropy(x, mg.tensor([-100, 2, -100]), weight=weight, label_smoothing=label_smoothing)
    loss.backward()
    assert np.isfinite(loss.item()) and not x.grad.numpy()[[0, 2]].any() and x.grad.numpy()[1].any()
