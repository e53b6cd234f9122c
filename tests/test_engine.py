"""The backward engine: deep graphs, graph lifetime, accumulation, grad modes, hooks,
higher-order gradients, custom Functions, in-place safety and dtypes."""
from __future__ import annotations

import gc
import subprocess
import sys
import threading
import weakref

import numpy as np
import pytest

import minigrad as mg
from minigrad.function import Function
from minigrad.testing import gradcheck, gradgradcheck


def f64(data, requires_grad=True):
    return mg.tensor(data, dtype=mg.float64, requires_grad=requires_grad)


# ---- deep graphs --------------------------------------------------------------------------

def test_chain_of_100_000_ops_backpropagates_without_recursion_error():
    x = mg.tensor(0.5, dtype=mg.float64, requires_grad=True)
    y = x
    for _ in range(50_000):
        y = y * 1.0001
        y = y - 0.0001
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.0001 ** 50_000, rtol=1e-9)


def test_dropping_a_deep_graph_without_backward_does_not_crash():
    # in a child process: a crash in deallocation (recursion in C) would kill the test runner
    code = ("import minigrad as mg\n"
            "x = mg.tensor(1.0, requires_grad=True)\n"
            "y = x\n"
            "for _ in range(100_000):\n"
            "    y = y + 1.0\n"
            "del y\n"
            "import gc; gc.collect()\n"
            "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


# ---- graph lifetime -----------------------------------------------------------------------

def test_graph_saved_values_are_released_after_backward():
    x = f64([0.1, 0.2, 0.3])
    h = mg.exp(x * 2)        # exp saves its output; mul (below) saves h
    ref = weakref.ref(h.array)
    out = (h * h).sum()
    del h
    gc.collect()
    assert ref() is not None  # the graph keeps the saved value alive until backward
    out.backward()
    gc.collect()
    assert ref() is None
    np.testing.assert_allclose(x.grad.array, 4 * np.exp(4 * x.array))


def test_second_backward_raises_and_names_retain_graph():
    x = f64([1.0, 2.0])
    out = (x.exp() * x).sum()
    out.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        out.backward()


def test_retain_graph_allows_backward_twice_and_gradients_add_up():
    x = f64([1.0, 2.0])
    out = (x.exp() * x).sum()
    out.backward(retain_graph=True)
    first = x.grad.array.copy()
    out.backward()
    np.testing.assert_allclose(x.grad.array, 2 * first)
    np.testing.assert_allclose(first, np.exp(x.array) * (x.array + 1))


def test_grad_accumulates_across_backward_calls_and_can_be_reset():
    x = f64([1.0, -2.0])
    for _ in range(3):
        (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.array, 3 * 2 * x.array)
    x.grad = None
    (3 * x).sum().backward()
    np.testing.assert_allclose(x.grad.array, [3.0, 3.0])


def test_leaf_grad_does_not_alias_the_seed_or_another_gradient():
    x = f64([1.0, 2.0])
    y = f64([3.0, 4.0])
    seed = mg.tensor([1.0, 1.0], dtype=mg.float64)
    (x + y).backward(seed)
    x.grad.array += 10
    np.testing.assert_array_equal(seed.array, [1.0, 1.0])
    np.testing.assert_array_equal(y.grad.array, [1.0, 1.0])


# ---- shared nodes -------------------------------------------------------------------------

def test_variable_used_many_times_accumulates():
    x = f64([0.5, -1.5])
    y = x * x * x + x
    for k in range(1, 101):
        y = y + x * k
    y.sum().backward()
    np.testing.assert_allclose(x.grad.array, 3 * x.array ** 2 + 1 + 5050)


def test_diamond_graph_accumulates_both_paths():
    x = f64([0.3, 1.2])
    a = x * 2
    b = a.exp()
    c = a.sin()
    (b + c).sum().backward()
    np.testing.assert_allclose(x.grad.array, 2 * (np.exp(2 * x.array) + np.cos(2 * x.array)))


def test_nested_diamonds_visit_each_node_once():
    x = f64(1.0)
    y = x
    for _ in range(30):  # 2**30 paths: a walk per path would never finish
        y = y * 0.5 + y * 0.5
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.0)


# ---- grad modes ---------------------------------------------------------------------------

def test_no_grad_records_nothing():
    x = f64([1.0, 2.0])
    with mg.no_grad():
        y = x * 2 + 1
    assert y.grad_fn is None and not y.requires_grad
    z = x * 2
    assert z.grad_fn is not None and z.requires_grad


def test_grad_modes_nest_and_restore():
    x = f64([1.0])
    assert mg.is_grad_enabled()
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        with mg.enable_grad():
            assert mg.is_grad_enabled()
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
        with mg.set_grad_enabled(True):
            assert (x * 2).requires_grad
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()
    with mg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert mg.is_grad_enabled()


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError):
        with mg.no_grad():
            raise ValueError("boom")
    assert mg.is_grad_enabled()


def test_set_grad_enabled_as_a_call():
    mg.set_grad_enabled(False)
    try:
        assert not mg.is_grad_enabled()
        assert not (f64([1.0]) * 2).requires_grad
    finally:
        mg.set_grad_enabled(True)
    assert mg.is_grad_enabled()


def test_grad_modes_as_decorators():
    x = f64([1.0])

    @mg.no_grad()
    def frozen(t):
        return t * 2

    @mg.enable_grad()
    def recorded(t):
        return t * 2

    @mg.set_grad_enabled(False)
    def frozen_too(t):
        return t * 2

    assert mg.is_grad_enabled()  # making the decorators changed nothing
    assert not frozen(x).requires_grad
    assert not frozen_too(x).requires_grad
    with mg.no_grad():
        assert recorded(x).requires_grad
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()
    assert frozen.__name__ == "frozen"


def test_grad_mode_is_per_thread():
    x = f64([1.0])
    entered, release = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with mg.no_grad():
            entered.set()
            release.wait(5)
            seen["worker"] = (x * 2).requires_grad

    thread = threading.Thread(target=worker)
    thread.start()
    assert entered.wait(5)
    try:
        assert mg.is_grad_enabled()
        assert (x * 2).requires_grad  # this thread still records while the other is under no_grad
    finally:
        release.set()
        thread.join(5)
    assert seen["worker"] is False


# ---- hooks and retain_grad ----------------------------------------------------------------

def test_hook_on_leaf_can_replace_the_gradient_and_be_removed():
    x = f64([1.0, 2.0])
    calls = []

    def double(grad):
        calls.append(grad.array.copy())
        return grad * 2

    handle = x.register_hook(double)
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.array, [6.0, 6.0])
    np.testing.assert_allclose(calls[0], [3.0, 3.0])
    handle.remove()
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.array, [3.0, 3.0])
    assert len(calls) == 1


def test_hook_on_non_leaf_changes_what_flows_upstream():
    x = f64([1.0, 2.0])
    h = x * x
    seen = []
    h.register_hook(lambda grad: seen.append(grad.array.copy()))          # observes, returns None
    h.register_hook(lambda grad: grad * 0 + mg.tensor([1.0, 10.0], dtype=mg.float64))  # replaces
    (h * 5).sum().backward()
    np.testing.assert_allclose(seen[0], [5.0, 5.0])
    np.testing.assert_allclose(x.grad.array, 2 * x.array * np.array([1.0, 10.0]))


def test_hook_on_non_leaf_can_be_removed():
    x = f64([1.0, 2.0])
    h = x * 2
    handle = h.register_hook(lambda grad: grad * 100)
    handle.remove()
    h.sum().backward()
    np.testing.assert_allclose(x.grad.array, [2.0, 2.0])


def test_retain_grad_keeps_non_leaf_gradient():
    x = f64([1.0, 2.0])
    h = x * 3
    h.retain_grad()
    k = x * 4
    (h * h + k).sum().backward()
    np.testing.assert_allclose(h.grad.array, 2 * h.array)
    assert k.grad is None
    np.testing.assert_allclose(x.grad.array, 2 * h.array * 3 + 4)



def test_a_retained_gradient_the_user_holds_is_not_changed_by_the_next_backward():
    # PyTorch sums a non-leaf's retained .grad out of place (grad = grad + new): the first one stays
    x = f64([1.0, 2.0, 3.0])
    z = x * 2
    z.retain_grad()
    y = (z * z).sum()
    y.backward(retain_graph=True)
    first = z.grad
    y.backward()
    np.testing.assert_array_equal(first.numpy(), [4.0, 8.0, 12.0])
    np.testing.assert_array_equal(z.grad.numpy(), [8.0, 16.0, 24.0])
    np.testing.assert_array_equal(x.grad.numpy(), [16.0, 32.0, 48.0])


def test_a_hook_changing_its_gradient_in_place_changes_only_what_flows_from_its_tensor():
    # add hands x and a one gradient array; x's waits (leaves come last) while a's hook doubles a's
    # in place: x's must stay 1 (PyTorch accumulates x first), and the caller's seed must not change
    x, w = f64([1.0, 2.0, 3.0]), f64([1.0, 2.0, 3.0])
    a = w * 2
    a.register_hook(lambda grad: grad.mul_(2))
    seed = mg.ones(3, dtype=mg.float64)
    (x + a).backward(seed)
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(w.grad.numpy(), [4.0, 4.0, 4.0])
    np.testing.assert_array_equal(seed.numpy(), [1.0, 1.0, 1.0])
    # a leaf's hook likewise: y's gradient is the same array as x's
    x, y = f64([1.0, 2.0, 3.0]), f64([1.0, 2.0, 3.0])
    x.register_hook(lambda grad: grad.mul_(3))
    (x + y).backward(seed)
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(seed.numpy(), [1.0, 1.0, 1.0])

# ---- mg.grad and higher order -------------------------------------------------------------

def test_grad_returns_instead_of_accumulating():
    x = f64([1.0, 2.0])
    y = f64([3.0, 4.0])
    gx, gy = mg.grad((x * y).sum(), [x, y])
    np.testing.assert_allclose(gx.array, y.array)
    np.testing.assert_allclose(gy.array, x.array)
    assert x.grad is None and y.grad is None


def test_grad_results_are_writable_and_not_aliased():
    x, y = f64([1.0, 2.0]), f64([3.0, 4.0])
    gx, gy = mg.grad((x + y).sum(), [x, y])   # add passes one gradient to both; sum expands a view
    assert gx is not gy and not np.shares_memory(gx.array, gy.array)
    gx.array += 1
    gx.add_(1)
    np.testing.assert_array_equal(gy.array, [1.0, 1.0])
    np.testing.assert_array_equal(gx.array, [3.0, 3.0])


def test_grad_allow_unused():
    x, unused = f64([1.0]), f64([2.0])
    out = (x * 2).sum()
    with pytest.raises(RuntimeError, match="allow_unused"):
        mg.grad(out, [x, unused], retain_graph=True)
    gx, gu = mg.grad(out, [x, unused], allow_unused=True)
    np.testing.assert_allclose(gx.array, [2.0])
    assert gu is None


def test_second_derivative_of_cube():
    x = f64([0.5, -1.0, 2.0])
    (g,) = mg.grad((x ** 3).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.array, 3 * x.array ** 2)
    assert g.requires_grad
    (h,) = mg.grad(g.sum(), x)
    np.testing.assert_allclose(h.array, 6 * x.array)


def test_backward_create_graph_then_differentiate_grad():
    x = f64([0.7])
    (x ** 3).sum().backward(create_graph=True)
    first = x.grad
    x.grad = None
    first.sum().backward()
    np.testing.assert_allclose(x.grad.array, 6 * 0.7)


def _mlp(params, x):
    w1, b1, w2 = params
    return (mg.tanh(x @ w1 + b1) @ w2).pow(2).sum()


def test_hessian_vector_product_of_small_mlp_matches_finite_differences():
    rng = np.random.default_rng(0)
    x = f64(rng.standard_normal((5, 3)), requires_grad=False)
    params = [f64(rng.standard_normal(s)) for s in ((3, 4), (4,), (4, 2))]
    vectors = [rng.standard_normal(p.shape) for p in params]

    grads = mg.grad(_mlp(params, x), params, create_graph=True)
    dot = sum((g * mg.tensor(v, dtype=mg.float64)).sum() for g, v in zip(grads, vectors))
    hvp = mg.grad(dot, params)

    def gradient_at(step):
        shifted = [f64(p.array + step * v) for p, v in zip(params, vectors)]
        return [g.array for g in mg.grad(_mlp(shifted, x), shifted)]

    eps = 1e-5
    plus, minus = gradient_at(eps), gradient_at(-eps)
    for h, gp, gm in zip(hvp, plus, minus):
        np.testing.assert_allclose(h.array, (gp - gm) / (2 * eps), rtol=1e-5, atol=1e-7)


def test_gradgradcheck_of_a_composite_function():
    x = f64([[0.3, -0.2], [0.5, 1.1]])
    w = f64([[1.0, 0.5], [-0.3, 0.8]])
    assert gradgradcheck(lambda a, b: mg.softmax(a @ b, 1).log().sum(1) * mg.sigmoid(a).sum(), [x, w])


# ---- custom Functions ---------------------------------------------------------------------

class ScaledCube(mg.autograd.Function):
    """y = scale * x ** 3 with a hand-written backward."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x, scale)
        ctx.record = ctx.needs_input_grad
        return scale * x ** 3

    @staticmethod
    def backward(ctx, grad):
        x, scale = ctx.saved_tensors
        grad_x = grad * 3 * scale * x ** 2 if ctx.needs_input_grad[0] else None
        grad_scale = grad * x ** 3 if ctx.needs_input_grad[1] else None
        return grad_x, grad_scale


def test_custom_function_in_a_graph_and_gradchecked():
    x = f64([0.5, -1.0])
    s = f64([2.0, 3.0])
    y = ScaledCube.apply(x.exp(), s)
    assert isinstance(y.grad_fn, ScaledCube)
    (y * 2).sum().backward()
    e = np.exp(x.array)
    np.testing.assert_allclose(x.grad.array, 2 * 3 * s.array * e ** 2 * e)
    np.testing.assert_allclose(s.grad.array, 2 * e ** 3)
    assert gradcheck(ScaledCube.apply, [f64([0.5, -1.0]), f64([2.0, 3.0])])
    assert gradgradcheck(ScaledCube.apply, [f64([0.5, -1.0]), f64([2.0, 3.0])])


def test_custom_function_needs_input_grad():
    x, s = f64([0.5]), f64([2.0], requires_grad=False)
    seen = {}

    class Spy(ScaledCube):
        @staticmethod
        def backward(ctx, grad):
            seen["needs"] = ctx.needs_input_grad
            return ScaledCube.backward(ctx, grad)

    Spy.apply(x, s).sum().backward()
    assert tuple(seen["needs"]) == (True, False)
    assert s.grad is None
    np.testing.assert_allclose(x.grad.array, 3 * 2.0 * 0.25)


# ---- in-place operations and the version counter ------------------------------------------

def test_modifying_a_saved_input_in_place_makes_backward_raise_naming_the_op():
    leaf = f64([1.0, 2.0])
    a = leaf * 1
    b = a * a          # mul saves a
    a.mul_(2)
    with pytest.raises(RuntimeError, match=r"mul.*modified by an in-place operation"):
        b.sum().backward()


def test_modifying_a_saved_output_in_place_makes_backward_raise_naming_the_op():
    leaf = f64([1.0, 2.0])
    e = (leaf * 1).exp()   # exp saves its output
    e.add_(1)
    with pytest.raises(RuntimeError, match=r"exp.*modified by an in-place operation"):
        e.sum().backward()


def test_modifying_a_view_of_a_saved_tensor_is_detected():
    leaf = f64([[1.0, 2.0], [3.0, 4.0]])
    a = leaf * 1
    b = a.sin()            # sin saves a
    a[0].mul_(3)           # through a view of a
    with pytest.raises(RuntimeError, match="sin"):
        b.sum().backward()


def test_in_place_on_leaf_requiring_grad_raises_outside_no_grad():
    p = f64([1.0, 2.0])
    with pytest.raises(RuntimeError, match="leaf"):
        p.add_(1)
    with pytest.raises(RuntimeError, match="leaf"):
        p -= 1
    with pytest.raises(RuntimeError, match="leaf"):
        p[0] = 5.0
    np.testing.assert_array_equal(p.array, [1.0, 2.0])


def test_sgd_step_under_no_grad_updates_the_same_object_and_array():
    p = f64([1.0, 2.0])
    (p * p).sum().backward()
    obj, array = p, p.array
    version = p._version
    with mg.no_grad():
        p -= 0.1 * p.grad
    assert p is obj and p.array is array
    np.testing.assert_allclose(array, [0.8, 1.6])
    assert p.is_leaf and p.requires_grad and p.grad_fn is None
    assert p._version == version + 1


def test_setitem_on_non_leaf_gives_correct_gradients():
    rng = np.random.default_rng(1)
    x0, v0 = rng.standard_normal((4, 3)), rng.standard_normal((2, 3))
    idx = np.array([3, 1])

    x, v = f64(x0), f64(v0)
    y = x * 2
    y[idx] = v * 3
    (y * y).sum().backward()

    xr, vr = f64(x0), f64(v0)   # the same, out of place
    keep = np.ones((4, 1))
    keep[idx] = 0
    placed = mg.zeros(4, 3, dtype=mg.float64)
    yr = xr * 2 * mg.tensor(keep, dtype=mg.float64) + mg.index_put(placed, vr * 3, idx)
    (yr * yr).sum().backward()
    np.testing.assert_allclose(y.array, yr.array)
    np.testing.assert_allclose(x.grad.array, xr.grad.array)
    np.testing.assert_allclose(v.grad.array, vr.grad.array)


def test_setitem_add_on_non_leaf_gives_correct_gradients():
    rng = np.random.default_rng(2)
    x0, v0 = rng.standard_normal((3, 4)), rng.standard_normal((3, 2))

    x, v = f64(x0), f64(v0)
    y = x * x          # mul saved x, not y: y may change in place
    y[:, 1:3] += v * v
    (y * y).sum().backward()

    xr, vr = f64(x0), f64(v0)
    yr = xr * xr + mg.pad(vr * vr, (1, 1))
    (yr * yr).sum().backward()
    np.testing.assert_allclose(y.array, yr.array)
    np.testing.assert_allclose(x.grad.array, xr.grad.array)
    np.testing.assert_allclose(v.grad.array, vr.grad.array)


def test_setitem_add_on_a_saved_output_raises_as_in_pytorch():
    x = f64([[1.0, 2.0], [3.0, 4.0]])
    y = x.exp()        # exp saved y itself
    y[:, 1] += 1.0
    with pytest.raises(RuntimeError, match="exp"):
        y.sum().backward()


def test_in_place_multiply_through_indexing_is_recorded():
    a = f64([[1.0, 2.0], [3.0, 4.0]])
    y = a * 1
    y[0] *= 3
    (y * y).sum().backward()
    np.testing.assert_allclose(a.grad.array, 2 * a.array * np.array([[9.0], [1.0]]))


def test_in_place_through_a_separate_view_is_refused_not_silently_wrong():
    # PyTorch rebases y's history onto the view's change; minigrad cannot, so it must refuse
    # to use y (whose recorded history no longer describes it) rather than return a wrong gradient
    a = f64([[1.0, 2.0], [3.0, 4.0]])
    y = a * 1
    v = y[0]
    v.mul_(3)
    assert y.array[0, 0] == 3.0
    with pytest.raises(RuntimeError, match=r"sum: .*view.*modified by an in-place operation"):
        y.sum()
    v.sum().backward()        # the view itself was rebased: its own history is right
    np.testing.assert_allclose(a.grad.array, [[3.0, 3.0], [0.0, 0.0]])


def test_view_taken_before_an_in_place_change_of_its_base_is_refused():
    a = f64([[1.0, 2.0], [3.0, 4.0]])
    y = a * 1
    v = y.reshape(4)
    y.add_(1)
    with pytest.raises(RuntimeError, match=r"mul: .*view.*modified by an in-place operation"):
        v * v
    w = y.reshape(4)          # a view taken after the change is fine
    (w * w).sum().backward()
    np.testing.assert_allclose(a.grad.array, 2 * (a.array + 1))


def test_in_place_ops_on_non_leaf_are_recorded():
    x = f64([1.0, 2.0])
    y = x * 1
    y.mul_(x)          # y = x * x
    y.add_(x, alpha=2)  # y = x*x + 2x
    y.sum().backward()
    np.testing.assert_allclose(x.grad.array, 2 * x.array + 2)


# ---- errors -------------------------------------------------------------------------------

def test_backward_of_non_scalar_without_gradient_raises_clearly():
    y = f64([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match=r"only for scalar outputs.*\(2,\)"):
        y.backward()


def test_backward_with_wrongly_shaped_gradient_raises():
    y = f64([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\).*\(2,\)"):
        y.backward(mg.ones(3, dtype=mg.float64))


def test_backward_of_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor([1.0, 2.0]).sum().backward()


# ---- dtypes -------------------------------------------------------------------------------

FAMILIES = {
    "elementwise": lambda x: (mg.exp(x) * mg.sigmoid(x) + mg.tanh(x) / (x.abs() + 1) - x.relu() ** 2).sum(),
    "reduction": lambda x: x.var(1).sum() + x.amax() + mg.logsumexp(x, 1).mean() + x.norm() + x.max(1).values.sum(),
    "shape": lambda x: (mg.cat([x, x.flip(1)], 0).T.reshape(-1)[::2] * mg.pad(x, (1, 1)).flatten()[:8]).sum(),
    "indexing": lambda x: x[np.array([0, 0, 1])].sum() + x.gather(1, mg.tensor([[0], [3]])).sum(),
    "linalg": lambda x: (x @ x.T).sum() + mg.addmm(x[:, :2], x, x.T).sum(),
    "neural": lambda x: (mg.softmax(x, 1) * mg.log_softmax(x, 0)).sum() + mg.layer_norm(x, (4,)).pow(2).sum(),
    "conv": lambda x: (mg.conv2d(x.reshape(1, 1, 2, 4), x.reshape(2, 1, 2, 2)[:, :, :, :1]).sum()
                       + mg.max_pool2d(x.reshape(1, 1, 2, 4), 2).sum() + mg.avg_pool2d(x.reshape(1, 1, 2, 4), 2).sum()),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_float32_stays_float32_through_forward_and_backward(family):
    x = mg.tensor([[0.5, -1.0, 2.0, 0.1], [1.5, 0.3, -0.7, 0.9]], requires_grad=True)
    assert x.dtype == mg.float32
    out = FAMILIES[family](x)
    assert out.dtype == mg.float32
    out.backward()
    assert x.grad.dtype == mg.float32 and x.grad.shape == x.shape
    assert np.isfinite(x.grad.array).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_float32_second_order_gradients_stay_float32(family):
    x = mg.tensor([[0.5, -1.0, 2.0, 0.1], [1.5, 0.3, -0.7, 0.9]], requires_grad=True)
    (g,) = mg.grad(FAMILIES[family](x), x, create_graph=True)
    assert g.dtype == mg.float32
    if g.requires_grad:
        (h,) = mg.grad((g * g).sum(), x, allow_unused=True)
        assert h is None or h.dtype == mg.float32


def test_cast_gradient_flows_back_in_the_input_dtype():
    x = f64([1.0, 2.0])
    y = x.float()
    assert y.dtype == mg.float32
    (y * y).sum().backward()
    assert x.grad.dtype == mg.float64
    np.testing.assert_allclose(x.grad.array, 2 * x.array)
    assert x.double() is x


def test_leaf_gradients_never_share_memory_with_each_other_or_the_caller():
    # the engine lets a leaf keep a fresh gradient array without copying it; these are the
    # cases where the array is shared and must be copied instead
    a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
    (a + b).sum().backward()                       # add hands one gradient object to both
    assert not np.shares_memory(a.grad.array, b.grad.array)
    c = f64([1.0, 2.0])
    seed = mg.tensor([1.0, 1.0], dtype=mg.float64)
    c.clone().backward(seed)                       # clone passes the caller's seed through
    assert not np.shares_memory(c.grad.array, seed.array)
    w = f64([[1.0, 2.0], [3.0, 4.0]])
    (mg.ones(3, 2, dtype=mg.float64) @ w.T).sum().backward()   # as in a linear layer
    assert w.grad.array.flags.c_contiguous and w.grad.array.flags.writeable

    class Keep(mg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.kept = mg.ones(2, dtype=mg.float64)
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            return ctx.kept                        # a tensor the Function keeps: must be copied

    d = f64([1.0, 2.0])
    node_out = Keep.apply(d)
    kept = node_out.grad_fn.kept
    node_out.sum().backward()
    assert not np.shares_memory(d.grad.array, kept.array)
    d.grad.array += 1
    assert kept.tolist() == [1.0, 1.0]


_SHARING_GRAPHS = {
    "add hands one gradient to both": lambda a, b, c: (a + b).sum() + (b * c).sum(),
    "cat slices one gradient": lambda a, b, c: mg.cat([a, b], 0).sum() + (c.T @ a).sum(),
    "clone passes it on": lambda a, b, c: (a.clone() + b.clone()).sum() + c.permute(1, 0).contiguous().sum(),
    "transposed matmuls": lambda a, b, c: (a @ b.T @ c).sum() + (a @ b.T).T.sum(),
    "slices, pads and pools": lambda a, b, c: (mg.pad(a, (1, 1)).sum() + b[1].sum() +
                                               mg.max_pool2d(c.reshape(1, 1, 3, 4), 2, 1).sum()),
}


@pytest.mark.parametrize("graph", list(_SHARING_GRAPHS), ids=list(_SHARING_GRAPHS))
def test_changing_one_leaf_gradient_in_place_never_changes_another(graph):
    function = _SHARING_GRAPHS[graph]
    rng = np.random.default_rng(0)
    leaves = [f64(rng.standard_normal((3, 4))) for _ in range(3)]
    function(*leaves).backward()
    before = [t.grad.array.copy() for t in leaves]
    for i, tensor in enumerate(leaves):
        tensor.grad.array += 100.0               # what clip_grad_norm_ or a user's zero_() does
        for j, other in enumerate(leaves):
            if j != i:
                np.testing.assert_array_equal(other.grad.array, before[j])
        tensor.grad.array[...] = before[i]
    function(*leaves).backward()                # accumulation into kept arrays stays right
    for tensor, first in zip(leaves, before):
        np.testing.assert_allclose(tensor.grad.array, 2 * first)


def test_a_gradient_a_hook_keeps_is_not_summed_into_later():
    # the hook's gradient reaches the leaf as a view (reshape's VJP): .grad must be a copy, or the
    # second backward's in-place accumulation would change what the hook kept (PyTorch: 3, then 3)
    x = f64(np.ones((2, 3)))
    kept = []
    flat = x.reshape(6)
    flat.register_hook(kept.append)
    (flat * 3).sum().backward()
    (flat * 3).sum().backward()
    np.testing.assert_array_equal(kept[0].numpy(), np.full(6, 3.0))
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 6.0))
    # a leaf's own hook likewise
    y = f64(np.ones(4))
    seen = []
    y.register_hook(seen.append)
    (y * 2).sum().backward()
    (y * 2).sum().backward()
    np.testing.assert_array_equal(seen[0].numpy(), np.full(4, 2.0))
    np.testing.assert_array_equal(y.grad.numpy(), np.full(4, 4.0))


def _view_then_older_consumer():
    """h feeds h * 5 (older) and a reshape v (newer): v's gradient reaches h first, as a view of
    v's gradient, and the older consumer's gradient is summed into h's after it."""
    x = f64(np.ones(6))
    h = x * 1.0
    u = h * 5
    v = h.reshape(2, 3)
    return x, v, (v * 2).sum() + u.sum()


def test_a_gradient_handed_out_is_not_changed_by_the_rest_of_the_pass():
    x, v, y = _view_then_older_consumer()
    v_grad, x_grad = mg.grad(y, [v, x])           # mg.grad's answer for v, then summed into upstream
    np.testing.assert_array_equal(v_grad.numpy(), np.full((2, 3), 2.0))
    np.testing.assert_array_equal(x_grad.numpy(), np.full(6, 7.0))
    x, v, y = _view_then_older_consumer()
    kept = []
    v.register_hook(kept.append)                   # a hook's gradient, likewise
    v.retain_grad()
    y.backward()
    np.testing.assert_array_equal(kept[0].numpy(), np.full((2, 3), 2.0))
    np.testing.assert_array_equal(v.grad.numpy(), np.full((2, 3), 2.0))
    np.testing.assert_array_equal(x.grad.numpy(), np.full(6, 7.0))


class _TwoViews(Function):
    """A primitive whose VJP returns one fresh array and a view of it, to two different inputs."""
    @staticmethod
    def forward(ctx, a, b):
        return a + b.T

    @staticmethod
    def backward(ctx, grad):
        fresh = grad * 1.0
        return fresh, fresh.T


def test_two_vjp_results_sharing_memory_are_not_both_summed_into():
    a, b = f64(np.ones((2, 3))), f64(np.ones((3, 2)))
    older = (a * 4).sum() + (b * 8).sum()
    (_TwoViews.apply(a, b).sum() + older).backward()  # the two views reach a and b first
    np.testing.assert_array_equal(a.grad.numpy(), np.full((2, 3), 5.0))
    np.testing.assert_array_equal(b.grad.numpy(), np.full((3, 2), 9.0))
