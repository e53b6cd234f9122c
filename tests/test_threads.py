"""Threads: grad mode, anomaly mode and the random generator are per thread.

Semantics (minigrad/random.py): every thread has its own numpy Generator.
`mg.manual_seed(s)` seeds the calling thread's generator only (and makes `s`
the `initial_seed()`); a thread that never seeds starts from `initial_seed()`,
so two such threads draw the same numbers. A thread that wants its own
repeatable stream calls `mg.manual_seed` itself - then it gets exactly the
numbers it would get alone, whatever other threads do meanwhile.

The tests interleave threads deterministically with Barriers and Events, so
they check real concurrency, not threads that happen to run one after the other.
"""
import threading

import numpy as np

import minigrad as mg
from minigrad import nn
import minigrad.nn.functional as F
from minigrad import optim
from minigrad.data import DataLoader, TensorDataset

TIMEOUT = 30  # seconds; a barrier or event that waits longer means a deadlock: fail, do not hang

_DATA = np.random.default_rng(99)
X = _DATA.standard_normal((24, 5)).astype(np.float32)
Y = (X[:, 0] > X[:, 1]).astype(np.int64)


def run_in_threads(*targets) -> list:
    """Run each target in its own thread; return their results (re-raising the first error)."""
    results, errors = [None] * len(targets), []

    def wrap(i, target):
        try:
            results[i] = target()
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            errors.append(error)

    threads = [threading.Thread(target=wrap, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "a thread did not finish: deadlock"
    if errors:
        raise errors[0]
    return results


def train(seed: int, hidden: int, lockstep=None, epochs: int = 3) -> dict:
    """Train a small MLP with dropout and a shuffled loader; `lockstep` is a Barrier met every step."""
    mg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, hidden), nn.Tanh(), nn.Dropout(0.2), nn.Linear(hidden, 2))
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    loader = DataLoader(TensorDataset(mg.tensor(X), mg.tensor(Y)), batch_size=6, shuffle=True)
    for _ in range(epochs):
        for x, y in loader:
            if lockstep is not None:
                lockstep.wait(TIMEOUT)  # both threads are mid-training at every step
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
    return {name: value.array.copy() for name, value in model.state_dict().items()}


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name], b[name]), f"{name} differs"


def test_two_threads_training_at_once_match_the_runs_done_one_after_the_other():
    alone_a = train(1, 8)
    alone_b = train(2, 12)
    lockstep = threading.Barrier(2)
    together_a, together_b = run_in_threads(lambda: train(1, 8, lockstep), lambda: train(2, 12, lockstep))
    assert_same_weights(alone_a, together_a)
    assert_same_weights(alone_b, together_b)


def test_the_same_seed_in_two_threads_gives_the_same_run():
    lockstep = threading.Barrier(2)
    a, b = run_in_threads(lambda: train(5, 8, lockstep), lambda: train(5, 8, lockstep))
    assert_same_weights(a, b)
    assert_same_weights(a, train(5, 8))


def test_manual_seed_in_one_thread_does_not_move_another_threads_stream():
    mg.manual_seed(3)
    expected = mg.randn(10).array.copy()
    drew_first = threading.Event()
    reseeded = threading.Event()

    def steady():
        mg.manual_seed(3)
        first = mg.randn(4).array.copy()
        drew_first.set()
        assert reseeded.wait(TIMEOUT)
        rest = mg.randn(6).array.copy()  # after the other thread reseeded and drew
        return np.concatenate([first, rest])

    def disturber():
        assert drew_first.wait(TIMEOUT)
        mg.manual_seed(1234)
        mg.randn(1000)
        reseeded.set()

    got, _ = run_in_threads(steady, disturber)
    assert np.array_equal(got, expected)


def test_a_thread_that_never_seeds_starts_from_the_initial_seed():
    mg.manual_seed(21)
    expected = mg.randn(5).array.copy()
    first, second = run_in_threads(lambda: mg.randn(5).array.copy(), lambda: mg.randn(5).array.copy())
    assert mg.initial_seed() == 21
    assert np.array_equal(first, expected) and np.array_equal(second, expected)


def test_no_grad_in_one_thread_does_not_affect_another():
    inside = threading.Event()
    checked = threading.Event()
    x = mg.tensor([1.0, 2.0], requires_grad=True)

    def quiet():
        with mg.no_grad():
            inside.set()
            assert checked.wait(TIMEOUT)
            y = x * 2
            return mg.is_grad_enabled(), y.requires_grad

    def recording():
        assert inside.wait(TIMEOUT)  # the other thread is inside no_grad right now
        y = x * 3
        result = mg.is_grad_enabled(), y.requires_grad, y.grad_fn is not None
        checked.set()
        return result

    quiet_result, recording_result = run_in_threads(quiet, recording)
    assert quiet_result == (False, False)
    assert recording_result == (True, True, True)


def test_the_recording_switch_of_a_running_backward_does_not_leak_into_another_thread():
    # backward turns recording off in its own thread while it runs; pause it there with a hook
    in_backward = threading.Event()
    resume = threading.Event()
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    w = mg.tensor([3.0, 4.0], requires_grad=True)

    def pause(grad):
        in_backward.set()
        assert resume.wait(TIMEOUT)
        return None

    def backward_thread():
        y = x * w
        y.register_hook(pause)
        y.sum().backward()
        return x.grad.array.copy(), mg.is_grad_enabled()

    def other_thread():
        assert in_backward.wait(TIMEOUT)
        z = (w * w).sum()           # recorded while the other thread is inside backward
        recorded = z.grad_fn is not None
        (g,) = mg.grad(z, w)        # and a whole backward of its own meanwhile
        resume.set()
        return recorded, g.array.copy()

    (x_grad, enabled_after), (recorded, g) = run_in_threads(backward_thread, other_thread)
    assert recorded
    assert np.array_equal(g, [6.0, 8.0])
    assert np.array_equal(x_grad, [3.0, 4.0])
    assert enabled_after  # backward restored recording in its own thread


def test_no_grad_as_a_decorator_is_per_call_and_per_thread():
    @mg.no_grad()
    def predict(x):
        return x * 2, mg.is_grad_enabled()

    x = mg.tensor([1.0], requires_grad=True)
    barrier = threading.Barrier(4)

    def worker(i):
        barrier.wait(TIMEOUT)
        out, enabled = predict(x)
        after = (x * 2).requires_grad
        return (out.requires_grad, enabled, after)

    results = run_in_threads(*[lambda i=i: worker(i) for i in range(4)])
    assert results == [(False, False, True)] * 4
    assert mg.is_grad_enabled()
