"""mg.compile: capture once, replay later calls (minigrad/capture.py), checked against eager.

Compiled and eager runs start from the same seed and weights; the replay calls each
primitive's own forward and VJP on the same arrays in the same order, so losses and
every gradient must be bit-identical (not merely close) for each course model, with
dropout on. Then the fallbacks: Python reading a value (eager + one warning), a
replaced parameter or a reshaped buffer (recapture), the cache bound, a signature
that changes on every call (reported once, then eager), no_grad evaluation.
"""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn, optim
from minigrad.capture import CompileWarning
from minigrad.testing import random_programs

RNG = np.random.default_rng(0)


def _tensor(array):
    return mg.tensor(array)


def _train(make, loss_fn, data, compiled: bool, steps: int = 20):
    """20 Adam steps; returns losses, every gradient, the final state and the callable used."""
    mg.manual_seed(0)
    model = make()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    net = mg.compile(model) if compiled else model
    mg.manual_seed(1)  # dropout masks and sampling draw from here, in the same order in both runs
    losses, grads = [], []
    for _ in range(steps):
        loss = loss_fn(net, *data)
        loss.backward()
        losses.append(loss.item())
        grads.append([p.grad.numpy().copy() for p in model.parameters()])
        optimizer.step()
        optimizer.zero_grad()
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    return losses, grads, state, net


class _Recurrent(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.rnn = getattr(nn, cell)(6, 8, batch_first=True)
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        outputs, _ = self.rnn(x)
        return self.head(self.drop(outputs[:, -1]))


class _TinyTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(11, 16)
        self.block = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.1, batch_first=True)
        self.head = nn.Linear(16, 11)

    def forward(self, tokens):
        return self.head(self.block(self.emb(tokens)))


class _VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc, self.mu, self.logvar, self.dec = nn.Linear(12, 16), nn.Linear(16, 3), nn.Linear(16, 3), nn.Linear(3, 12)

    def forward(self, x):
        h = F.relu(self.enc(x))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + (0.5 * logvar).exp() * mg.randn_like(mu)  # fresh noise each call: a recorded draw
        return F.sigmoid(self.dec(z)), mu, logvar


def _vae_loss(net, x):
    recon, mu, logvar = net(x)
    return F.binary_cross_entropy(recon, x, reduction="sum") - 0.5 * (1 + logvar - mu * mu - logvar.exp()).sum()


class _GAN(nn.Module):
    """Generator and discriminator in one module; the loss is the generator's non-saturating one."""
    def __init__(self):
        super().__init__()
        self.g = nn.Sequential(nn.Linear(4, 16), nn.LeakyReLU(0.2), nn.Linear(16, 8), nn.Tanh())
        self.d = nn.Sequential(nn.Linear(8, 16), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Linear(16, 1))

    def forward(self, real):
        fake = self.g(mg.randn(real.shape[0], 4))
        ones, zeros = mg.ones(real.shape[0], 1), mg.zeros(real.shape[0], 1)
        d_loss = F.binary_cross_entropy_with_logits(self.d(real), ones) + \
            F.binary_cross_entropy_with_logits(self.d(fake.detach()), zeros)
        g_loss = F.binary_cross_entropy_with_logits(self.d(fake), ones)
        return d_loss + g_loss


_IMAGES = _tensor(RNG.standard_normal((8, 1, 8, 8)).astype(np.float32))
_SEQUENCES = _tensor(RNG.standard_normal((4, 5, 6)).astype(np.float32))
_TOKENS = _tensor(RNG.integers(0, 11, (3, 7)))

MODELS = {
    "mlp": (lambda: nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 5)),
            lambda net, x, y: F.cross_entropy(net(x), y),
            (_tensor(RNG.standard_normal((16, 20)).astype(np.float32)), _tensor(RNG.integers(0, 5, 16)))),
    "cnn": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Dropout(0.2), nn.Flatten(), nn.Linear(64, 5)),
            lambda net, x, y: F.cross_entropy(net(x), y), (_IMAGES, _tensor(RNG.integers(0, 5, 8)))),
    "rnn": (lambda: _Recurrent("RNN"), lambda net, x, y: F.cross_entropy(net(x), y),
            (_SEQUENCES, _tensor(RNG.integers(0, 3, 4)))),
    "lstm": (lambda: _Recurrent("LSTM"), lambda net, x, y: F.cross_entropy(net(x), y),
             (_SEQUENCES, _tensor(RNG.integers(0, 3, 4)))),
    "gru": (lambda: _Recurrent("GRU"), lambda net, x, y: F.cross_entropy(net(x), y),
            (_SEQUENCES, _tensor(RNG.integers(0, 3, 4)))),
    "transformer": (_TinyTransformer,
                    lambda net, t, y: F.cross_entropy(net(t).reshape(-1, 11), y.reshape(-1)),
                    (_TOKENS, _tensor(RNG.integers(0, 11, (3, 7))))),
    "vae": (_VAE, _vae_loss, (_tensor(RNG.random((8, 12)).astype(np.float32)),)),
    "gan": (_GAN, lambda net, x: net(x), (_tensor(RNG.standard_normal((6, 8)).astype(np.float32)),)),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_compiled_training_is_bit_identical_to_eager(name):
    make, loss_fn, data = MODELS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)  # no fallback: every later call must replay
        eager = _train(make, loss_fn, data, compiled=False)
        compiled = _train(make, loss_fn, data, compiled=True)
    assert compiled[3].replays == 19 and compiled[3].captures == 1
    (plan,) = compiled[3]._cache.values()
    assert plan.backward_plan is not None  # steps 3-20 ran the recorded (flat) backward
    assert eager[0] == compiled[0]  # losses, bit for bit
    for step, (a, b) in enumerate(zip(eager[1], compiled[1])):
        for ga, gb in zip(a, b):
            np.testing.assert_array_equal(ga, gb, err_msg=f"{name}: gradient differs at step {step}")
    for key in eager[2]:  # parameters after 20 updates, and buffers (batch norm's running stats)
        np.testing.assert_array_equal(eager[2][key], compiled[2][key], err_msg=key)


def test_the_compiled_module_behaves_like_the_module():
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 2))
    net = mg.compile(model, mode="max-autotune", fullgraph=True, dynamic=False, backend="inductor")
    assert net._orig_mod is model and net[0] is model[0]
    assert [id(p) for p in net.parameters()] == [id(p) for p in model.parameters()]
    assert net.eval() is net and not model.training
    assert set(net.state_dict()) == set(model.state_dict())
    x = mg.randn(5, 3)
    with mg.no_grad():
        first, second = net(x), net(x)
    assert net.replays == 1 and not second.requires_grad
    np.testing.assert_array_equal(first.numpy(), model(x).detach().numpy())  # eval: dropout is the identity


def test_compiling_a_function_and_the_decorator_form():
    w = mg.randn(3, 3, requires_grad=True)

    @mg.compile(dynamic=False)
    def f(x):
        return (x @ w).tanh().sum()

    x = mg.randn(2, 3)
    for _ in range(3):
        f(x).backward()
    g = w.grad.numpy().copy()
    w.grad = None
    for _ in range(3):
        (x @ w).tanh().sum().backward()
    np.testing.assert_array_equal(g, w.grad.numpy())
    assert f._compiled.replays == 2


def test_multiple_outputs_and_gradient_accumulation_and_hooks():
    model = _VAE()
    net = mg.compile(model)
    seen = []
    model.enc.weight.register_hook(lambda g: seen.append(g.shape))
    x = _tensor(RNG.random((4, 12)).astype(np.float32))
    for _ in range(3):
        _vae_loss(net, x).backward()  # accumulates: no zero_grad
    assert net.replays == 2 and len(seen) == 3
    assert all(p.grad is not None for p in model.parameters())


def test_compile_of_a_random_program_equals_the_program():
    replayed = []

    @settings(max_examples=60, deadline=None)
    @given(program=random_programs())
    def compiled_equals_eager(program):
        leaves = program.leaves()
        compiled = mg.compile(lambda *xs: program(*xs))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CompileWarning)
            for _ in range(3):  # capture; replay (its backward recorded); replay with the recorded backward
                out = compiled(*leaves)
                grads = mg.grad(out.sum(), leaves, allow_unused=True)
        expected = program(*leaves)
        expected_grads = mg.grad(expected.sum(), leaves, allow_unused=True)
        np.testing.assert_array_equal(out.detach().numpy(), expected.detach().numpy())
        for a, b in zip(grads, expected_grads):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_array_equal(a.numpy(), b.numpy())
        replayed.append(compiled._compiled.replays == 2)

    compiled_equals_eager()
    # a program may rightly be refused (it reads a value), but if replays silently stopped
    # happening this would only compare eager with eager
    assert sum(replayed) >= len(replayed) // 2


def test_python_control_flow_on_a_value_runs_eagerly_with_one_warning():
    def f(x):
        if x.sum() > 0:  # reads a value: the replay could not follow this branch
            return x * 2
        return x * 3

    compiled = mg.compile(f)
    with pytest.warns(CompileWarning, match="bool"):
        compiled(mg.ones(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)  # reported once
        np.testing.assert_array_equal(compiled(mg.ones(3)).numpy(), [2, 2, 2])
        np.testing.assert_array_equal(compiled(-mg.ones(3)).numpy(), [-3, -3, -3])
    assert compiled._compiled.replays == 0


@pytest.mark.parametrize("read", [lambda t: t.item(), lambda t: t.tolist(), lambda t: float(t)])
def test_reading_a_value_refuses_replay(read):
    def f(x):
        s = x.sum()
        return x * read(s)

    compiled = mg.compile(f)
    with pytest.warns(CompileWarning, match="read a value"):
        compiled(mg.ones(2))
    np.testing.assert_array_equal(compiled(mg.full((2,), 2.0)).numpy(), [8, 8])  # eager: the new value


def test_a_replaced_parameter_is_recaptured():
    model = nn.Linear(3, 2)
    net = mg.compile(model)
    x = mg.randn(4, 3)
    net(x), net(x)
    model.weight = nn.Parameter(mg.zeros(2, 3))
    out = net(x)
    assert net.captures == 2
    np.testing.assert_array_equal(out.detach().numpy(), np.broadcast_to(model.bias.detach().numpy(), (4, 2)))
    with mg.no_grad():
        model.weight.data = mg.ones(2, 3)  # a new array in the same parameter: recaptured too
    np.testing.assert_allclose(net(x).detach().numpy(), model(x).detach().numpy())
    assert net.captures == 3


def test_a_buffer_of_a_new_shape_is_recaptured():
    model = nn.BatchNorm1d(3)
    net = mg.compile(model)
    x = mg.randn(5, 3)
    net(x), net(x)
    model.running_mean = mg.zeros(3, 1)  # a buffer replaced by one of another shape
    model.running_mean = mg.zeros(3)
    net(x)
    assert net.captures == 2


def test_the_cache_is_bounded_and_signature_churn_is_reported_once():
    compiled = mg.compile(lambda x: x * 2, cache_size=3)
    for n in range(1, 4):
        compiled(mg.ones(n))
    assert len(compiled._compiled._cache) == 3
    compiled(mg.ones(1))  # a hit resets the churn count
    compiled(mg.ones(4))
    assert len(compiled._compiled._cache) == 3  # the oldest dropped
    with pytest.warns(CompileWarning, match="signature changed") as record:
        for n in range(5, 12):
            np.testing.assert_array_equal(compiled(mg.ones(n)).numpy(), np.full(n, 2.0))
    assert len(record) == 1 and "argument 0" in str(record[0].message)


def test_no_grad_evaluation_of_a_compiled_model_and_train_eval_switch():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
    net = mg.compile(model)
    x = mg.randn(6, 4)
    net(x).sum().backward()
    net.eval()
    with mg.no_grad():
        a, b = net(x), net(x)
    np.testing.assert_array_equal(a.numpy(), b.numpy())  # eval: no dropout, running stats
    assert not a.requires_grad and net.captures == 2
    np.testing.assert_array_equal(a.numpy(), model(x).detach().numpy())


def test_second_order_gradients_through_a_replay_are_refused_clearly():
    w = mg.randn(3, requires_grad=True)
    compiled = mg.compile(lambda x: (x * w).sum() ** 2)
    x = mg.randn(3)
    compiled(x)
    y = compiled(x)
    with pytest.raises(RuntimeError, match="create_graph"):
        mg.grad(y, [w], create_graph=True)


def test_eager_graph_backward_twice_rule_holds_for_replays():
    w = mg.randn(3, requires_grad=True)
    compiled = mg.compile(lambda x: (x * w).exp().sum())
    x = mg.randn(3)
    compiled(x)
    y = compiled(x)
    assert compiled._compiled.replays == 1  # y is a replay's output, not an eager fallback's
    y.backward(retain_graph=True)
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_a_compiled_loss_function_with_mean_cross_entropy_replays():
    """The mean's divisor is an array, not a Python float read back: no fallback warning."""
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    step = mg.compile(lambda x, y: F.cross_entropy(model(x), y, weight=mg.tensor([1.0, 2.0, 0.5, 1.0])))
    x, y = mg.randn(5, 8), mg.randint(0, 4, (5,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            compiled = step(x, y)
    eager = F.cross_entropy(model(x), y, weight=mg.tensor([1.0, 2.0, 0.5, 1.0]))
    assert compiled.item() == eager.item()


@pytest.mark.parametrize("replays", [1, 2, 3])
def test_backward_twice_through_a_replay_gives_eager_gradients(replays):
    # replay 1 records its backward (the VJPs run eagerly on (value, version) pairs), later replays run
    # the record on the bare saved values; retain_graph then runs it again on the same ctxs
    w = mg.randn(3, 4, requires_grad=True)
    x = mg.randn(2, 3)

    def f(x):
        h = (x @ w).sigmoid()
        return (h[:, :2] * h[:, 2:]).tanh().sum()

    compiled = mg.compile(f)
    compiled(x).backward()  # capture
    for _ in range(replays):
        w.grad = None
        y = compiled(x)
        y.backward(retain_graph=True)
        y.backward()
    assert compiled._compiled.replays == replays
    (plan,) = compiled._compiled._cache.values()
    assert plan.backward_plan is not None  # the first replay's backward was recorded
    got = w.grad.numpy().copy()
    w.grad = None
    y = f(x)
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(got, w.grad.numpy())


def _compiled_matches_eager(loss, logits: mg.Tensor, targets: list) -> float:
    """Call `loss` compiled (`loss.compiled`) and eagerly on (logits, targets): the same value and
    the same gradient, bit for bit. Returns the value."""
    t = mg.tensor(targets)
    logits.grad = None
    compiled = loss.compiled(logits, t)
    compiled.backward()
    compiled_grad = logits.grad.numpy().copy()
    logits.grad = None
    eager = loss(logits, t)
    eager.backward()
    np.testing.assert_array_equal(compiled.item(), eager.item())  # (nan equals nan here)
    np.testing.assert_array_equal(compiled_grad, logits.grad.numpy())
    return compiled.item()


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_weighted_cross_entropy_replays_new_targets(label_smoothing):
    """The class weights are picked by an op: a replay with other targets picks other weights."""
    weight = mg.tensor([1.0, 2.0, 0.5, 3.0])

    def loss(logits, targets):
        return F.cross_entropy(logits, targets, weight=weight, label_smoothing=label_smoothing)
    loss.compiled = mg.compile(loss)
    logits = mg.randn(6, 4, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every call after the first replays
        for targets in ([0, 1, 2, 3, 0, 1], [0, 1, 2, 3, 0, 1], [3, 3, 3, 3, 3, 1], [2, 0, 0, 1, 1, -100]):
            _compiled_matches_eager(loss, logits, targets)


def test_cross_entropy_with_every_target_ignored_matches_eager_when_compiled():
    """The mean's count is a guard: a batch with no counted target (nan, gradient 0) is captured
    anew when the plan saw counted ones, and the other way round; every call gives eager's values."""
    def loss(logits, targets):
        return F.cross_entropy(logits, targets)
    loss.compiled = mg.compile(loss)
    logits = mg.randn(4, 3, requires_grad=True)
    calls = ([-100] * 4, [0, 1, 2, 0], [1, 1, -100, 2], [0, 2, 2, 1], [-100] * 4, [2, 1, 0, 0])
    for targets in calls:
        value = _compiled_matches_eager(loss, logits, targets)
        assert np.isnan(value) == (targets == [-100] * 4)
    # a first batch with no counted target does not keep the later ones from replaying
    assert (loss.compiled._compiled.captures, loss.compiled._compiled.replays) == (4, 2)


def test_a_refused_capture_after_a_failed_guard_keeps_the_plan(monkeypatch):
    """The call whose guard came out otherwise runs eagerly if its own capture is refused; the
    plan made before still replays the calls whose checks come out as at its capture."""
    import minigrad.nn.functional as functional
    counted_mean = functional._weighted_mean

    def reading_mean(total, factors):
        if np.reshape(np.add.reduce(factors, axis=None), ()) == 0:
            total.item()  # a Python read of a recorded value: the tracer refuses this call
        return counted_mean(total, factors)
    monkeypatch.setattr(functional, "_weighted_mean", reading_mean)
    compiled = mg.compile(lambda l, t: F.cross_entropy(l, t))
    logits = mg.randn(4, 3)
    with pytest.warns(CompileWarning, match="runs eagerly"):
        for targets in ([0, 1, 2, 0], [-100] * 4, [2, 1, 0, 0]):
            t = mg.tensor(targets)
            np.testing.assert_array_equal(compiled(logits, t).item(), F.cross_entropy(logits, t).item())
    assert (compiled._compiled.captures, compiled._compiled.replays) == (2, 1)


def test_a_guard_that_changes_on_every_call_ends_in_eager_running_with_one_warning():
    compiled = mg.compile(lambda l, t: F.cross_entropy(l, t), cache_size=2)
    logits = mg.randn(4, 3)
    with pytest.warns(CompileWarning, match="library check on the values came out differently") as record:
        for n in range(6):
            targets = mg.tensor([-100] * 4 if n % 2 else [0, 1, 2, 0])
            np.testing.assert_array_equal(compiled(logits, targets).item(), F.cross_entropy(logits, targets).item())
    assert len(record) == 1 and compiled._compiled.replays == 0 and compiled._compiled.captures == 2


def _backward_peak(step) -> int:
    """tracemalloc's peak (bytes above the start) of one call of `step`, after two warm-up calls."""
    import gc
    import tracemalloc
    step()
    step()  # capture, then replay with the backward recorded: the third call runs the flat backward
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        step()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_the_flat_backward_frees_each_saved_value_after_its_last_use_as_eager_does():
    # each step saves a 400 kB output and its VJP makes a 400 kB weight gradient, kept to the end:
    # eager frees each saved value after its VJP, so its peak is about one of the two sets, not
    # both; the replay must too (its ctxs are emptied once their values are fetched)
    weights = [mg.randn(100_000, requires_grad=True) for _ in range(8)]

    def f(x):
        h = x
        for w in weights:
            h = (h * w).tanh()
        return h.sum()

    x = mg.randn(100_000)
    compiled = mg.compile(f)

    def step(fn):
        def run():
            for w in weights:
                w.grad = None
            fn(x).backward()
        return run
    eager_peak, compiled_peak = _backward_peak(step(f)), _backward_peak(step(compiled))
    assert compiled._compiled.replays >= 2
    assert compiled_peak <= eager_peak + 64 * 1024, (eager_peak, compiled_peak)


def test_several_outputs_some_without_gradient_and_backward_twice():
    # each output's gradient goes to the region as it is (a broadcast view from sum's VJP here);
    # one that receives none is a zero seed; retain_graph runs the flat backward again
    w = mg.randn(4, 5, requires_grad=True)

    def f(x):
        h = x @ w
        return h.tanh(), h.sigmoid(), h.exp()

    x = mg.randn(3, 4)
    compiled = mg.compile(f)

    def grads(fn):
        w.grad = None
        a, b, _ = fn(x)
        loss = a.sum() + (b * b).mean()
        loss.backward(retain_graph=True)
        loss.backward()
        return w.grad.numpy().copy()
    expected = grads(f)
    for _ in range(4):
        np.testing.assert_array_equal(grads(compiled), expected)
    assert compiled._compiled.replays == 3


def test_the_pass_flag_is_per_thread_and_put_back_after_an_error():
    """The engine tells a compiled region whether the graph is retained: per thread, restored
    after a backward that raised, so a later region never frees values it still needs."""
    from minigrad import engine

    x = mg.randn(3, requires_grad=True)
    bad = x * 2
    bad.register_hook(lambda grad: (_ for _ in ()).throw(ValueError("hook failed")))
    with pytest.raises(ValueError):
        bad.sum().backward()
    assert engine.running_pass.retain_graph is True
    seen = []
    import threading
    thread = threading.Thread(target=lambda: seen.append(engine.running_pass.retain_graph))
    with engine._pass_retaining(False):
        thread.start()
        thread.join()
        assert engine.running_pass.retain_graph is False
    assert seen == [True] and engine.running_pass.retain_graph is True


def test_in_place_ops_inside_a_compiled_call_replay_with_eager_values_and_gradients():
    def f(x):
        y = x * 2
        y.add_(1)
        y.mul_(3)
        return y.sum()
    compiled = mg.compile(f)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(inplace=True), nn.Linear(4, 1))
    compiled_model = mg.compile(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to eager
        for _ in range(3):
            x = mg.randn(4, requires_grad=True)
            x_eager = x.detach().clone().requires_grad_()
            compiled(x).backward()
            f(x_eager).backward()
            np.testing.assert_array_equal(x.grad.array, x_eager.grad.array)
            inputs = mg.randn(5, 3)
            np.testing.assert_array_equal(compiled_model(inputs).detach().array, model(inputs).detach().array)


def test_a_returned_tuple_that_looks_like_an_internal_marker_replays_as_returned():
    Pair = __import__("collections").namedtuple("Pair", "label value")

    def f(x):
        y = x * 2
        return ("tensor", y), ("namedtuple", Pair, (y,)), Pair("p", y + 1)
    compiled = mg.compile(f)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback: the second and third calls replay
        for _ in range(3):
            x = mg.randn(3)
            got, expected = compiled(x), f(x)
            assert got[0][0] == "tensor" and got[1][:2] == ("namedtuple", Pair)
            np.testing.assert_array_equal(got[0][1].array, expected[0][1].array)
            np.testing.assert_array_equal(got[1][2][0].array, expected[1][2][0].array)
            assert type(got[2]) is Pair and got[2].label == "p"
            np.testing.assert_array_equal(got[2].value.array, expected[2].value.array)


_KEPT = mg.ones(3, dtype=mg.float64)


class _ReturnsWhatItKeeps(mg.autograd.Function):
    """A user Function whose VJP returns a tensor it keeps (allowed: the engine copies it for a leaf)."""
    @staticmethod
    def forward(ctx, x):
        return x * 1

    @staticmethod
    def backward(ctx, grad):
        return _KEPT


def test_a_compiled_call_never_gives_a_leaf_a_gradient_array_something_else_holds():
    # the engine judges a region's results against the region's own gradient only: another output's
    # gradient (here the caller's, or one a hook keeps) or a user Function's kept tensor passed through
    # it would become .grad, and x.grad += 1 or the next backward's sum would change them too
    two_outputs = mg.compile(lambda x, y: (x + y, y * 2))
    kept_by_user = mg.compile(lambda x: _ReturnsWhatItKeeps.apply(x) * 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        for _ in range(3):  # capture; replay (its backward recorded); replay with the recorded backward
            x, y = mg.ones(3, dtype=mg.float64, requires_grad=True), mg.ones(3, dtype=mg.float64, requires_grad=True)
            seed = mg.full((3,), 5.0, dtype=mg.float64)
            a, b = two_outputs(x, y)
            mg.autograd.backward([a, b], [seed, mg.ones(3, dtype=mg.float64)])
            x.grad.array += 1
            assert seed.tolist() == [5.0] * 3

            x = mg.ones(3, dtype=mg.float64, requires_grad=True)
            a, b = two_outputs(x, y)
            seen = []
            a.register_hook(seen.append)
            ((a * 3).sum() + b.sum()).backward()
            x.grad.array += 1
            assert seen[0].tolist() == [3.0] * 3

            x = mg.ones(3, dtype=mg.float64, requires_grad=True)
            kept_by_user(x).sum().backward()
            x.grad.array += 1
            assert _KEPT.tolist() == [1.0] * 3
    assert two_outputs._compiled.replays == 5 and kept_by_user._compiled.replays == 2  # not eager


def test_keyword_names_nesting_and_a_float_sign_are_part_of_the_signature():
    # each pair flattens to the same leaves: the replay of the first call must not serve the second
    by_name = mg.compile(lambda a=None, b=None: a * 2 if a is not None else b * 3)
    by_key = mg.compile(lambda d: d["a"] * 2 if "a" in d else d["b"] * 3)
    by_nesting = mg.compile(lambda *groups: sum(g[0] * len(g) for g in groups))
    by_sign = mg.compile(lambda x, s: 1 / (x * s))
    x, y = mg.ones(2), mg.full((2,), 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 1 / 0
        for _ in range(2):
            np.testing.assert_array_equal(by_name(a=x).numpy(), [2, 2])
            np.testing.assert_array_equal(by_name(b=x).numpy(), [3, 3])
            np.testing.assert_array_equal(by_key({"a": x}).numpy(), [2, 2])
            np.testing.assert_array_equal(by_key({"b": x}).numpy(), [3, 3])
            np.testing.assert_array_equal(by_nesting([x, y]).numpy(), [2, 2])
            np.testing.assert_array_equal(by_nesting([x], [y]).numpy(), [3, 3])
            np.testing.assert_array_equal(by_sign(x, 0.0).numpy(), [np.inf, np.inf])
            np.testing.assert_array_equal(by_sign(x, -0.0).numpy(), [-np.inf, -np.inf])
    assert by_name._compiled.replays == 2 and by_sign._compiled.replays == 2


def test_an_argument_or_a_detached_tensor_returned_is_the_replays_own():
    # the argument (as it came in) and detached tensors were the capture's objects on every replay
    w = mg.randn(3, requires_grad=True)

    def f(x):
        y = x * w
        return y, x, x.detach(), y.detach(), x.data
    compiled = mg.compile(f)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for n in range(3):
            x = mg.full((3,), float(n + 1))
            got, expected = compiled(x), f(x)
            assert got[1] is x
            for a, b in zip(got, expected):
                assert a.requires_grad == b.requires_grad
                np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
            got[0].sum().backward()
    assert compiled._compiled.replays == 2
    np.testing.assert_array_equal(w.grad.numpy(), np.full(3, 6.0))


def test_freezing_or_unfreezing_a_tensor_the_compiled_function_reads_is_followed():
    # a compiled loss over a model it reads from its closure: the signature does not cover the
    # model's parameters, and an unfrozen layer got no gradient on replay (a frozen one still did)
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    step = mg.compile(lambda x: model(x).sum())
    x = mg.randn(5, 3)
    for frozen in (True, True, False, False, True, True):
        model[0].requires_grad_(not frozen)
        model.zero_grad()
        loss = step(x)
        loss.backward()
        got = [None if p.grad is None else p.grad.numpy().copy() for p in model.parameters()]
        model.zero_grad()
        model(x).sum().backward()
        for a, p in zip(got, model.parameters()):
            assert (a is None) == (p.grad is None)
            if a is not None:
                np.testing.assert_array_equal(a, p.grad.numpy())
    assert step._compiled.replays == 3


def test_writes_into_tensors_made_before_the_call_last_and_into_ones_made_in_it_start_anew():
    # a tensor first touched by a write was taken for one made in the call: batch norm's running
    # statistics, read through a compiled function's closure, kept their capture values; a tensor
    # made in the call and first read, then written (zeros, then add_), summed over the replays
    def make():
        mg.manual_seed(0)
        return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    compiled_model, eager_model = make(), make()
    scale, eager_scale = mg.ones(4), mg.ones(4)

    def step(model, scale):
        def f(x):
            with mg.no_grad():
                scale.data.mul_(2)  # through .data: a new tensor on the closure tensor's memory
            total = mg.zeros(4)
            total.add_(model(x).sum(0))
            return (total * scale).sum(), total
        return f
    compiled = mg.compile(step(compiled_model, scale))
    eager = step(eager_model, eager_scale)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for _ in range(3):
            x = mg.randn(5, 3)
            (a, total_a), (b, total_b) = compiled(x), eager(x)
            a.backward(), b.backward()
            np.testing.assert_array_equal(a.item(), b.item())
            np.testing.assert_array_equal(total_a.detach().numpy(), total_b.detach().numpy())
    for (name, p), q in zip(compiled_model.state_dict().items(), eager_model.state_dict().values()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=name)
    for p, q in zip(compiled_model.parameters(), eager_model.parameters()):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
    np.testing.assert_array_equal(scale.numpy(), eager_scale.numpy())
    assert compiled._compiled.replays == 2


def test_a_result_changed_in_place_and_returned_gets_the_gradient_of_its_last_op():
    # y = x * 2; y.mul_(3): y's memory is the first op's, its history the mul's; the replay seeded
    # the first op (x.grad 2, not 6)
    def f(x):
        y = x * 2
        y.mul_(3)
        return y
    compiled = mg.compile(f)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for _ in range(3):
            x = mg.ones(2, requires_grad=True)
            compiled(x).sum().backward()
            np.testing.assert_array_equal(x.grad.numpy(), [6, 6])
    assert compiled._compiled.replays == 2


def test_forward_hooks_run_on_every_call_of_a_compiled_model_or_function():
    """A replay runs no module's Python: with a forward hook on a module the call runs, the call
    runs eagerly (the hook keeps every activation, and its change of the output counts); without
    one, it replays."""
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    x = mg.randn(5, 4)
    net, function = mg.compile(model), mg.compile(lambda x: model(x) * 2)
    for compiled, calls, eager in ((net, net, model), (function, function._compiled, lambda x: model(x) * 2)):
        compiled(x), compiled(x)  # capture, replay
        assert calls.replays == 1
        kept = []
        handle = model[1].register_forward_hook(lambda module, inputs, out: kept.append(out) or out + 1)
        with pytest.warns(CompileWarning, match="forward hook") as record:
            got = [compiled(x) for _ in range(3)]
        assert len(record) == 1
        expected = eager(x)
        for value in got:
            np.testing.assert_array_equal(value.detach().numpy(), expected.detach().numpy())
        assert len(kept) == 4  # three compiled calls and the eager one, each ran the hook
        handle.remove()
        compiled(x)
        assert calls.replays == 2  # the hook removed: replays again


def test_a_call_captured_with_a_forward_hook_runs_eagerly_until_the_hook_is_removed():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    kept = []
    handle = model[0].register_forward_hook(lambda module, inputs, out: kept.append(out))
    function = mg.compile(lambda x: model(x).sum())
    x = mg.randn(2, 4)
    with pytest.warns(CompileWarning, match="forward hook"):
        values = [function(x).item() for _ in range(3)]
    assert len(kept) == 3 and values == [model(x).sum().item()] * 3 and function._compiled.replays == 0
    handle.remove()
    function(x), function(x)  # captured again, then replayed
    assert function._compiled.replays == 1 and len(kept) == 4  # (the eager call above ran the hook)


def test_a_closure_tensor_changing_on_every_call_is_reported_as_such():
    weight = mg.randn(3, requires_grad=True)
    compiled = mg.compile(lambda x: (x * weight).sum(), cache_size=2)
    with pytest.warns(CompileWarning, match="a tensor read from the closure changed") as record:
        for n in range(5):
            weight.requires_grad_(n % 2 == 0)
            assert compiled(mg.ones(3)).item() == weight.sum().item()
    assert len(record) == 1
