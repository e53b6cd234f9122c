"""Graphs that come and go, and memory that does not grow.

minigrad's graph has no reference cycles by design (a node holds its
parents, never its output tensor), so a graph is freed by reference counting
the moment the last tensor of it is dropped - with or without backward, with
the cycle collector off. These tests disable the collector and check that
weak references to every node and tensor die by refcount alone, that huge
and heavily shared graphs work, and that long training loops hold steady
memory (measured with tracemalloc, which also traces numpy's array buffers).
"""
import gc
import math
import subprocess
import sys
import time
import tracemalloc
import weakref
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
import minigrad.nn.functional as F
from minigrad import optim

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def collector_off():
    """Run the body with the cycle collector off (and nothing pending from before)."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def graph_references(*tensors, keep=()) -> list:
    """Weak references to the tensors, every node of their graphs and every tensor a node saved
    (except the leaves that require grad and the tensors in `keep`: the user holds those)."""
    kept = {id(t) for t in keep}
    refs, seen, stack = [], set(), [t.grad_fn for t in tensors if t.grad_fn is not None]
    refs += [weakref.ref(t) for t in tensors]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        refs.append(weakref.ref(node))
        stack += [parent for parent in node.parents if parent is not None and not isinstance(parent, mg.Tensor)]
        saved = node.saved if isinstance(node.saved, tuple) else ()
        for value in saved:
            if isinstance(value, mg.Tensor) and not (value.is_leaf and value.requires_grad) \
                    and id(value) not in kept:
                refs.append(weakref.ref(value))  # made by an op, or a constant: dies with the graph
    return refs


def assert_all_dead(refs) -> None:
    alive = [r() for r in refs if r() is not None]
    assert not alive, f"{len(alive)} of {len(refs)} graph objects outlived their last reference " \
                      f"(a reference cycle): {[type(a).__name__ for a in alive[:8]]}"


def assert_no_cyclic_garbage() -> None:
    found = gc.collect()
    assert found == 0, f"the cycle collector found {found} unreachable objects: the graph had cycles"


# ---- weak references and cycles -------------------------------------------------------

def test_tensors_and_nodes_accept_weak_references():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    assert weakref.ref(x)() is x and weakref.ref(y)() is y and weakref.ref(y.grad_fn)() is y.grad_fn
    cache = weakref.WeakValueDictionary({"y": y})
    del y
    assert "y" not in cache


class Cube(mg.autograd.Function):
    """A user-defined op that saves its input and its output."""
    @staticmethod
    def forward(ctx, a):
        out = a ** 3
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        return grad * 3 * out / a


def build_everything(x, w):
    """A graph touching every kind of node: views, fancy indexing, in-place, fused ops, max with
    indices, retain_grad, a hook, a custom Function saving its output, conv and pooling."""
    h = mg.tanh(x @ w)                       # (4, 6)
    h.retain_grad()
    h.register_hook(lambda g: g * 1.0)
    v = h.T.reshape(3, 8)[:, ::2]            # views
    v = v[mg.tensor([0, 2, 2])]              # fancy, repeated
    v = v.clone()
    v[0] = (v * 1)[1] * 2                    # in place through setitem
    v *= 1.5
    image = F.max_pool2d(F.conv2d(v.reshape(1, 1, 3, 4), mg.ones(2, 1, 2, 2) * 0.1, padding=1), 2)
    values, indices = mg.max(v, 1)
    out = (F.log_softmax(v, -1).sum() + F.layer_norm(v, (4,)).mean() + values.sum()
           + Cube.apply(x + 3.0).sum() + image.sum() + mg.cat([v, v], 0).sum())
    return out, h


def test_a_graph_dropped_without_backward_is_freed_by_refcount_alone():
    with collector_off():
        x = mg.randn(4, 5, requires_grad=True)
        w = mg.randn(5, 6, requires_grad=True)
        out, h = build_everything(x, w)
        refs = graph_references(out, h)
        assert len(refs) > 30
        del out, h
        assert_all_dead(refs)
        assert_no_cyclic_garbage()


@pytest.mark.parametrize("retain_graph", [False, True])
def test_a_graph_is_freed_by_refcount_alone_after_backward(retain_graph):
    with collector_off():
        x = mg.randn(4, 5, requires_grad=True)
        w = mg.randn(5, 6, requires_grad=True)
        out, h = build_everything(x, w)
        refs = graph_references(out, h)
        out.backward(retain_graph=retain_graph)
        assert x.grad is not None and w.grad is not None and h.grad is not None
        del out, h
        assert_all_dead(refs)
        assert_no_cyclic_garbage()
        # the leaves and their gradients stay, owned by the user
        assert x.grad.grad_fn is None and w.grad.grad_fn is None


def test_second_order_graphs_are_freed_too():
    with collector_off():
        x = mg.randn(3, requires_grad=True, dtype=mg.float64)
        y = (mg.sin(x) * x).sum()
        (g,) = mg.grad(y, x, create_graph=True)
        (hessian_diagonal,) = mg.grad(g.sum(), x)
        assert hessian_diagonal.shape == (3,)
        refs = graph_references(y, g)
        del y, g
        assert_all_dead(refs)
        assert_no_cyclic_garbage()


def test_a_training_step_leaves_no_cycles():
    with collector_off():
        mg.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Dropout(0.2), nn.Linear(8, 2))
        optimizer = optim.Adam(model.parameters(), lr=1e-3)
        x, y = mg.randn(3, 1, 4, 4), mg.tensor([0, 1, 1])
        loss = F.cross_entropy(model(x), y)
        refs = graph_references(loss, keep=(x, y))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        del loss
        assert_all_dead(refs)
        model_ref, optimizer_ref = weakref.ref(model), weakref.ref(optimizer)
        del model, optimizer
        assert model_ref() is None and optimizer_ref() is None, "a module or an optimizer holds a cycle"
        assert_no_cyclic_garbage()


# ---- graphs that are huge or heavily shared -------------------------------------------

def test_dropping_a_100000_op_graph_without_backward_does_not_crash():
    # in a child process: a crash (deep recursive deallocation) must fail this test, not kill pytest
    script = (
        "import gc, time, minigrad as mg\n"
        "gc.collect()\n"  # imports leave cycles of their own (stdlib datetime, enum); only the graph counts
        "gc.disable()\n"
        "x = mg.tensor([1.0], requires_grad=True)\n"
        "y = x\n"
        "for _ in range(100_000):\n"
        "    y = y * 1.0\n"
        "start = time.perf_counter()\n"
        "del y\n"
        "print('freed in', time.perf_counter() - start)\n"
        "assert gc.collect() == 0\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, f"exit code {result.returncode}: {result.stderr[-2000:]}"
    assert "freed in" in result.stdout


def test_a_tensor_used_10000_times_gets_the_exact_sum():
    x = mg.tensor([0.5, -1.0], dtype=mg.float64, requires_grad=True)
    start = time.perf_counter()
    total = 0
    for i in range(10_000):
        total = total + x * float(i % 7)
    total.sum().backward()
    elapsed = time.perf_counter() - start
    expected = sum(float(i % 7) for i in range(10_000))   # 29997, exact in float64
    assert np.array_equal(x.grad.array, [expected, expected])
    assert elapsed < 5, f"10 000 uses took {elapsed:.1f} s"


def test_a_tensor_used_10000_times_in_one_op_list():
    x = mg.tensor(2.0, dtype=mg.float64, requires_grad=True)
    (mg.stack([x] * 10_000) * mg.arange(10_000, dtype=mg.float64)).sum().backward()
    assert x.grad.item() == sum(range(10_000))


def test_40_stacked_diamonds_2_to_the_40_paths_exact_and_fast():
    """x -> y = sin(x); x = y * a + y * b, 40 times: 2^40 paths, but each node is visited once."""
    a, b = 0.6, 0.5
    x0 = mg.tensor([0.3, -0.7], dtype=mg.float64, requires_grad=True)
    calls = []
    start = time.perf_counter()
    x = x0
    for _ in range(40):
        y = mg.sin(x)
        y.register_hook(lambda g: calls.append(1))
        x = y * a + y * b
    x.sum().backward()
    elapsed = time.perf_counter() - start

    # closed form: d x_40 / d x_0 = prod_k (a + b) cos(x_k), with the same float64 forward
    values = np.array([0.3, -0.7])
    derivative = np.ones(2)
    for _ in range(40):
        derivative = derivative * (a + b) * np.cos(values)
        values = np.sin(values) * a + np.sin(values) * b
    np.testing.assert_allclose(x0.grad.array, derivative, rtol=1e-12, atol=0)
    assert np.array_equal(x.array, values)
    assert len(calls) == 40, f"the shared nodes were visited {len(calls)} times instead of once each"
    assert elapsed < 2, f"took {elapsed:.1f} s"


def test_40_stacked_diamonds_second_derivative():
    c, a, b = 0.9, 0.6, 0.5
    x0 = mg.tensor(1.1, dtype=mg.float64, requires_grad=True)
    x = x0
    for _ in range(40):
        y = x * c
        x = y * a + y * b
    out = x * x                       # = (c (a + b))^80 x0^2
    (first,) = mg.grad(out, x0, create_graph=True)
    (second,) = mg.grad(first, x0)
    k = (c * (a + b)) ** 40
    assert math.isclose(first.item(), 2 * k * k * 1.1, rel_tol=1e-12)
    assert math.isclose(second.item(), 2 * k * k, rel_tol=1e-12)


# ---- memory that does not grow --------------------------------------------------------
#
# tracemalloc counts every block Python and numpy hold, including CPython's free lists: a freed
# tuple of up to 19 items is kept for reuse (up to 2000 per size) and still counts as allocated.
# Left alone, those lists fill up slowly during a run (88 bytes a step for an LSTM, for ~2000
# steps) and look exactly like a leak. So the lists are filled before measuring; after that a
# run that frees everything it makes holds flat memory (measured: +0 bytes for the MLP, +416
# bytes once for the LSTM). The bound, 32 KB from step 100 to the last step, catches a leak of
# 17 bytes a step in the MLP run (1900 steps) and of 328 bytes a step in the LSTM run (100
# steps), less than one forgotten (8, 16) float32 hidden state (512 bytes of data alone).

GROWTH_BOUND = 32 * 1024


def fill_tuple_free_lists() -> None:
    """Make CPython's tuple free lists full, so that they cannot grow while memory is measured."""
    tuples = [[tuple([i] * n) for i in range(2000)] for n in range(1, 20)]
    del tuples


def traced_growth(step, steps: int) -> int:
    """Bytes still held after the last step that were not held after step 100 (collector off)."""
    with collector_off():
        fill_tuple_free_lists()
        tracemalloc.start()
        try:
            for i in range(1, steps + 1):
                step()
                if i == 100:
                    early = tracemalloc.get_traced_memory()[0]
            last = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert_no_cyclic_garbage()
    return last - early


def test_2000_mlp_training_steps_hold_steady_memory():
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 3))
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.standard_normal((16, 8)).astype(np.float32))
    y = mg.tensor(rng.integers(0, 3, 16))
    losses = np.zeros(2000)  # preallocated: a growing list would be the test's own leak
    count = iter(range(2000))

    def step():
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses[next(count)] = loss.item()

    growth = traced_growth(step, 2000)
    assert growth < GROWTH_BOUND, f"grew by {growth} bytes from step 100 to step 2000"
    assert losses[-1] < losses[0]  # it trained


def test_200_lstm_training_steps_hold_steady_memory():
    mg.manual_seed(0)
    lstm = nn.LSTM(4, 16, batch_first=True)
    head = nn.Linear(16, 1)
    optimizer = optim.Adam(list(lstm.parameters()) + list(head.parameters()), lr=1e-2)
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.standard_normal((8, 6, 4)).astype(np.float32))
    y = mg.tensor(rng.standard_normal(8).astype(np.float32))
    losses = np.zeros(200)
    count = iter(range(200))

    def step():
        optimizer.zero_grad()
        out, (h, c) = lstm(x)
        loss = F.mse_loss(head(out[:, -1]).squeeze(-1), y)
        loss.backward()
        optimizer.step()
        losses[next(count)] = loss.item()

    growth = traced_growth(step, 200)
    assert growth < GROWTH_BOUND, f"grew by {growth} bytes from step 100 to step 200"
    assert losses[-1] < losses[0]


def test_a_graph_built_and_dropped_without_backward_returns_its_memory():
    x = mg.randn(128, 128, requires_grad=True)

    def build():
        y = x
        for _ in range(200):
            y = mg.tanh(y @ x) * 0.5       # 200 nodes, each saving a 64 KB array
        return y

    with collector_off():
        fill_tuple_free_lists()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            y = build()
            held = tracemalloc.get_traced_memory()[0] - before
            del y
            kept = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert held > 200 * 128 * 128 * 4  # the graph really held its saved arrays (13 MB)
    # what stays is interpreter free lists refilled by the teardown (about 20 KB measured); a graph
    # that is not freed would keep everything
    assert kept < held / 100, f"{kept} of {held} bytes stayed after dropping the graph"
