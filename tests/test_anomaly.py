"""Anomaly mode: a NaN or inf in a gradient names the op and the user's line that called it.

`mg.autograd.detect_anomaly()` (a context manager and decorator) and
`mg.autograd.set_detect_anomaly(bool)` turn it on; it is off by default, and
then nothing is checked: the gradient simply holds the nan or inf.
"""
import os
import sys
import threading

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F

THIS_FILE = os.path.abspath(__file__)


def here() -> int:
    """The line number of the caller: the line an op below is called on."""
    return sys._getframe(1).f_lineno


def assert_names(error, op: str, line: int, *words) -> None:
    message = str(error.value)
    assert message.startswith(f"{op}: "), message
    assert "non-finite" in message, message
    assert f"{THIS_FILE}:{line}" in message, message
    for word in words:
        assert word in message, message


def test_off_by_default_and_nothing_is_checked():
    assert not mg.autograd.is_anomaly_enabled()
    x = mg.tensor([0.0, 4.0], requires_grad=True)
    mg.sqrt(x).sum().backward()
    assert x.grad.array[0] == np.inf and x.grad.array[1] == 0.25
    y = mg.tensor([-1.0, 2.0], requires_grad=True)
    out = mg.log(y)  # nan in the forward: not refused when off
    assert np.isnan(out.array[0])
    (out * out).sum().backward()
    assert np.isnan(y.grad.array[0])
    node = mg.exp(x).grad_fn
    assert not hasattr(node, "created_at")  # free when off: nothing recorded per node


def test_sqrt_of_zero_names_sqrt_and_the_line():
    x = mg.tensor([0.0, 1.0], requires_grad=True)
    with mg.autograd.detect_anomaly():
        y = mg.sqrt(x); line = here()  # noqa: E702
        loss = (y * 3).sum()
        with pytest.raises(RuntimeError) as error:
            loss.backward()
    assert_names(error, "sqrt", line, "(inf)", "in test_sqrt_of_zero_names_sqrt_and_the_line")
    assert x.grad is None  # the backward stopped before reaching the leaf


def test_log_of_a_negative_number_is_refused_where_the_nan_is_born():
    # d log(x)/dx = 1/x is finite at x = -1: only the forward shows where the nan came from
    x = mg.tensor([-1.0, 2.0], requires_grad=True)
    with mg.autograd.detect_anomaly():
        with pytest.raises(RuntimeError) as error:
            line = here(); mg.log(x)  # noqa: E702
    message = str(error.value)
    assert message.startswith("log: forward produced a non-finite value (nan)"), message
    assert f"{THIS_FILE}:{line}" in message


def test_log_of_zero_names_log():
    x = mg.tensor([0.0, 1.0], requires_grad=True)
    with mg.autograd.detect_anomaly():
        y = mg.log(x); line = here()  # noqa: E702  (-inf in the forward is not refused: it is no nan)
        with pytest.raises(RuntimeError) as error:
            y.sum().backward()
    assert_names(error, "log", line, "(inf)")


def test_division_by_zero_names_div():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([0.0, 4.0], requires_grad=True)
    with mg.autograd.detect_anomaly():
        y = a / b; line = here()  # noqa: E702
        with pytest.raises(RuntimeError) as error:
            y.sum().backward()
    assert_names(error, "div", line, "(inf)", "input 0")


def test_zero_over_zero_is_refused_in_the_forward():
    a = mg.tensor([0.0, 2.0], requires_grad=True)
    with mg.autograd.detect_anomaly():
        with pytest.raises(RuntimeError, match=r"^div: forward produced a non-finite value \(nan\)"):
            a / mg.tensor([0.0, 1.0])


def test_a_nan_already_in_the_inputs_is_not_blamed_on_the_next_op():
    x = mg.tensor([np.nan, 1.0], requires_grad=True)
    with mg.autograd.detect_anomaly():
        y = mg.exp(x)  # nan in, nan out: exp did nothing wrong
        assert np.isnan(y.array[0])


def test_the_line_is_the_users_even_when_the_library_calls_the_op():
    # logsumexp of a row that is all -inf: log(0) inside mg.logsumexp; the user's call is
    # reported, not reduction.py
    x = mg.tensor([[-np.inf, -np.inf, -np.inf], [1.0, 2.0, 3.0]], requires_grad=True)
    with mg.autograd.detect_anomaly():
        s = mg.logsumexp(x, dim=1); line = here()  # noqa: E702
        with pytest.raises(RuntimeError) as error:
            s.sum().backward()
    assert_names(error, "log", line)
    assert "reduction.py" not in str(error.value)


def test_legitimate_infinities_are_not_refused():
    # an attention mask fills -inf, softmax turns it into 0: finite gradients, nothing raised
    scores = mg.tensor([[0.5, 1.0, -0.3], [0.2, 0.1, 0.4]], requires_grad=True)
    mask = mg.tensor([[False, True, False], [False, False, True]])
    with mg.autograd.detect_anomaly():
        p = F.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)
        (p * mg.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert np.isfinite(scores.grad.array).all()
    assert scores.grad.array[0, 1] == 0 and scores.grad.array[1, 2] == 0


def test_a_nonfinite_gradient_for_an_input_without_grad_is_ignored():
    class ScaleBy(mg.autograd.Function):
        """x * c, whose backward (carelessly) returns a gradient for the constant c too."""
        @staticmethod
        def forward(ctx, x, c):
            ctx.save_for_backward(x, c)
            return x * c

        @staticmethod
        def backward(ctx, grad):
            x, c = ctx.saved_tensors
            return grad * c, grad * x / mg.zeros_like(c)  # inf, but nobody receives it

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    c = mg.tensor([3.0, 4.0])
    with mg.autograd.detect_anomaly():
        ScaleBy.apply(x, c).sum().backward()
    assert np.array_equal(x.grad.array, [3.0, 4.0])


def test_set_detect_anomaly_as_a_call_a_context_manager_and_a_decorator():
    mg.autograd.set_detect_anomaly(True)
    try:
        assert mg.autograd.is_anomaly_enabled()
        x = mg.tensor([0.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="sqrt"):
            mg.sqrt(x).sum().backward()
    finally:
        mg.autograd.set_detect_anomaly(False)
    assert not mg.autograd.is_anomaly_enabled()

    with mg.autograd.set_detect_anomaly(True):
        assert mg.autograd.is_anomaly_enabled()
    assert not mg.autograd.is_anomaly_enabled()

    @mg.autograd.detect_anomaly()
    def checked(x):
        assert mg.autograd.is_anomaly_enabled()
        return mg.sqrt(x).sum()

    assert not mg.autograd.is_anomaly_enabled()  # decorating did not switch it on
    x = mg.tensor([0.0], requires_grad=True)
    loss = checked(x)
    assert not mg.autograd.is_anomaly_enabled()
    with pytest.raises(RuntimeError, match=r"sqrt: backward produced a non-finite gradient"):
        with mg.autograd.detect_anomaly():
            loss.backward()


def test_a_graph_recorded_before_anomaly_mode_says_so():
    x = mg.tensor([0.0], requires_grad=True)
    y = mg.sqrt(x)
    with mg.autograd.detect_anomaly():
        with pytest.raises(RuntimeError, match="created before anomaly detection was on"):
            y.sum().backward()


def test_anomaly_mode_is_per_thread():
    seen = []
    inside = threading.Event()
    done = threading.Event()

    def other():
        inside.wait(5)
        seen.append(mg.autograd.is_anomaly_enabled())
        x = mg.tensor([0.0], requires_grad=True)
        with np.errstate(all="ignore"):  # numpy's error state is per thread too
            mg.sqrt(x).sum().backward()  # off in this thread: no error
        seen.append(x.grad.array[0])
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    with mg.autograd.detect_anomaly():
        inside.set()
        done.wait(5)
    thread.join()
    assert seen == [False, np.inf]


def test_second_order_gradients_are_checked_too():
    x = mg.tensor([0.0, 1.0], requires_grad=True)
    with mg.autograd.detect_anomaly():
        y = (x ** 3).sum()
        (g,) = mg.grad(y, x, create_graph=True)   # 3x^2: finite
        r = mg.sqrt(g); line = here()  # noqa: E702  (sqrt(3 * 0^2) = 0)
        with pytest.raises(RuntimeError) as error:
            r.sum().backward()
    assert_names(error, "sqrt", line)
