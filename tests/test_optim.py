"""Tests of optim: update rules against hand-written numpy references, schedules against formulas,
state dicts, errors, dtypes, early stopping, and real training with minigrad's backward."""
import math
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.optim import lr_scheduler

# ---------------------------------------------------------------------------------------
# A fixed problem: two parameters (a vector and a matrix) with analytic gradients.
# Gradient of w: A @ w - b (a convex quadratic); of M: D * (M - C). A noise term whose size
# alternates makes the second moments go down as well as up (so amsgrad matters).
# ---------------------------------------------------------------------------------------
_rng = np.random.default_rng(0)
_Q = _rng.normal(size=(4, 4))
A = _Q @ _Q.T + 4 * np.eye(4)
B = _rng.normal(size=4)
C = _rng.normal(size=(2, 3))
D = _rng.uniform(0.5, 2.0, size=(2, 3))
W0 = _rng.normal(size=4)
M0 = _rng.normal(size=(2, 3))
NOISE = [(_rng.normal(size=4), _rng.normal(size=(2, 3))) for _ in range(8)]
STEPS = 7


def gradients(w, m, t):
    scale = 3.0 if t % 2 == 0 else 0.1
    nw, nm = NOISE[t]
    return A @ w - B + scale * nw, D * (m - C) + scale * nm


# ---- independent references: the documented equations, in float64 numpy -----------------
def ref_sgd(x, g, st, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    if maximize:
        g = -g
    if weight_decay:
        g = g + weight_decay * x
    if momentum:
        if "b" not in st:
            st["b"] = g.copy()
        else:
            st["b"] = momentum * st["b"] + (1 - dampening) * g
        g = g + momentum * st["b"] if nesterov else st["b"]
    return x - lr * g


def ref_rmsprop(x, g, st, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                maximize=False):
    if maximize:
        g = -g
    if weight_decay:
        g = g + weight_decay * x
    st["v"] = alpha * st.get("v", 0.0) + (1 - alpha) * g * g
    v = st["v"]
    if centered:
        st["a"] = alpha * st.get("a", 0.0) + (1 - alpha) * g
        v = v - st["a"] ** 2
    s = np.sqrt(v) + eps
    if momentum > 0:
        st["b"] = momentum * st.get("b", 0.0) + g / s
        return x - lr * st["b"]
    return x - lr * g / s


def ref_adam(x, g, st, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False,
             decoupled=False):
    beta1, beta2 = betas
    st["t"] = t = st.get("t", 0) + 1
    if maximize:
        g = -g
    if decoupled:
        x = x * (1 - lr * weight_decay)
    elif weight_decay:
        g = g + weight_decay * x
    st["m"] = beta1 * st.get("m", 0.0) + (1 - beta1) * g
    st["v"] = beta2 * st.get("v", 0.0) + (1 - beta2) * g * g
    v = st["v"]
    if amsgrad:
        st["vmax"] = np.maximum(st.get("vmax", 0.0), v)
        v = st["vmax"]
    m_hat = st["m"] / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    return x - lr * m_hat / (np.sqrt(v_hat) + eps)


def ref_adamw(x, g, st, lr, weight_decay=1e-2, **kwargs):
    return ref_adam(x, g, st, lr, weight_decay=weight_decay, decoupled=True, **kwargs)


def ref_adagrad(x, g, st, lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                maximize=False):
    st["t"] = t = st.get("t", 0) + 1
    if maximize:
        g = -g
    if weight_decay:
        g = g + weight_decay * x
    st["s"] = st.get("s", initial_accumulator_value) + g * g
    return x - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(st["s"]) + eps)


def ref_adadelta(x, g, st, lr, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    if maximize:
        g = -g
    if weight_decay:
        g = g + weight_decay * x
    st["v"] = rho * st.get("v", 0.0) + (1 - rho) * g * g
    delta = np.sqrt(st.get("u", 0.0) + eps) / np.sqrt(st["v"] + eps) * g
    st["u"] = rho * st.get("u", 0.0) + (1 - rho) * delta * delta
    return x - lr * delta


CASES = [
    (optim.SGD, ref_sgd, dict(lr=0.05)),
    (optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.9)),
    (optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.9, dampening=0.3)),
    (optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.8, nesterov=True)),
    (optim.SGD, ref_sgd, dict(lr=0.05, weight_decay=0.1)),
    (optim.SGD, ref_sgd, dict(lr=0.05, maximize=True)),
    (optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.9, weight_decay=0.1, maximize=True)),
    (optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.7, weight_decay=0.2, nesterov=True)),
    (optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.01)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.01, alpha=0.9, eps=1e-3)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.01, centered=True)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.01, momentum=0.9)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.01, weight_decay=0.1, maximize=True)),
    (optim.Adam, ref_adam, dict(lr=0.1)),
    (optim.Adam, ref_adam, dict(lr=0.1, betas=(0.5, 0.8), eps=1e-4)),
    (optim.Adam, ref_adam, dict(lr=0.1, betas=(0.9, 0.8), amsgrad=True)),
    (optim.Adam, ref_adam, dict(lr=0.1, weight_decay=0.1)),
    (optim.Adam, ref_adam, dict(lr=0.1, maximize=True)),
    (optim.Adam, ref_adam, dict(lr=0.1, betas=(0.9, 0.8), amsgrad=True, weight_decay=0.1, maximize=True)),
    (optim.AdamW, ref_adamw, dict(lr=0.1)),
    (optim.AdamW, ref_adamw, dict(lr=0.1, weight_decay=0.5)),
    (optim.AdamW, ref_adamw, dict(lr=0.1, betas=(0.9, 0.8), amsgrad=True, weight_decay=0.3)),
    (optim.AdamW, ref_adamw, dict(lr=0.1, weight_decay=0.3, maximize=True)),
    (optim.Adagrad, ref_adagrad, dict(lr=0.1)),
    (optim.Adagrad, ref_adagrad, dict(lr=0.1, lr_decay=0.3, eps=1e-3)),
    (optim.Adagrad, ref_adagrad, dict(lr=0.1, initial_accumulator_value=0.5)),
    (optim.Adagrad, ref_adagrad, dict(lr=0.1, weight_decay=0.1)),
    (optim.Adagrad, ref_adagrad, dict(lr=0.1, maximize=True)),
    (optim.Adagrad, ref_adagrad, dict(lr=0.1, lr_decay=0.1, weight_decay=0.2, initial_accumulator_value=0.1,
                                      maximize=True)),
    (optim.Adadelta, ref_adadelta, dict(lr=1.0)),
    (optim.Adadelta, ref_adadelta, dict(lr=0.5, rho=0.5, eps=1e-3)),
    (optim.Adadelta, ref_adadelta, dict(lr=1.0, weight_decay=0.1)),
    (optim.Adadelta, ref_adadelta, dict(lr=1.0, maximize=True)),
    (optim.Adadelta, ref_adadelta, dict(lr=2.0, rho=0.8, weight_decay=0.3, maximize=True)),
]
CASE_IDS = [f"{cls.__name__}-" + "-".join(f"{k}={v}" for k, v in kw.items()) for cls, _, kw in CASES]


def make_params(dtype):
    return mg.tensor(W0, dtype=dtype, requires_grad=True), mg.tensor(M0, dtype=dtype, requires_grad=True)


def set_grads(w, m, t):
    gw, gm = gradients(w.array.astype(np.float64), m.array.astype(np.float64), t)
    w.grad = mg.tensor(gw, dtype=w.dtype)
    m.grad = mg.tensor(gm, dtype=m.dtype)


@pytest.mark.parametrize("cls, ref, kwargs", CASES, ids=CASE_IDS)
def test_update_matches_reference(cls, ref, kwargs):
    # two groups: the matrix trains at half the rate, to check per-group options are used
    w, m = make_params(mg.float64)
    opt = cls([{"params": [w]}, {"params": [m], "lr": kwargs["lr"] / 2}], **kwargs)
    options = {k: v for k, v in kwargs.items() if k != "lr"}
    x_w, x_m, st_w, st_m = W0.copy(), M0.copy(), {}, {}
    for t in range(STEPS):
        g_w, g_m = gradients(x_w, x_m, t)
        x_w = ref(x_w, g_w, st_w, kwargs["lr"], **options)
        x_m = ref(x_m, g_m, st_m, kwargs["lr"] / 2, **options)
        set_grads(w, m, t)
        opt.step()
        np.testing.assert_allclose(w.array, x_w, rtol=1e-11, atol=1e-13, err_msg=f"w after step {t + 1}")
        np.testing.assert_allclose(m.array, x_m, rtol=1e-11, atol=1e-13, err_msg=f"M after step {t + 1}")
    assert not np.allclose(w.array, W0)  # it moved


def test_adagrad_state_exists_from_the_start_with_pytorchs_names():
    w, m = make_params(mg.float32)
    opt = optim.Adagrad([w], initial_accumulator_value=0.25)
    assert opt.state[w]["step"] == 0 and opt.state[w]["sum"].array.tolist() == [0.25] * 4
    assert opt.state[w]["sum"].dtype == mg.float32
    assert list(opt.state_dict()["state"][0]) == ["step", "sum"]
    opt.add_param_group({"params": [m], "initial_accumulator_value": 1.0})
    set_grads(w, m, 0)
    opt.step()
    np.testing.assert_allclose(opt.state[m]["sum"].array, 1.0 + gradients(W0, M0, 0)[1] ** 2, rtol=1e-6)
    adadelta = optim.Adadelta([w])
    adadelta.step()
    assert sorted(adadelta.state[w]) == ["acc_delta", "square_avg", "step"]


def test_amsgrad_case_exercises_the_maximum():
    # the amsgrad reference cases are only meaningful if v went down at some step
    w, m = make_params(mg.float64)
    opt = optim.Adam([w, m], lr=0.1, betas=(0.9, 0.8), amsgrad=True)
    for t in range(STEPS):
        set_grads(w, m, t)
        opt.step()
    state = opt.state[w]
    assert np.any(state["max_exp_avg_sq"].array > state["exp_avg_sq"].array)


@pytest.mark.parametrize("cls, ref, kwargs", CASES[::3], ids=CASE_IDS[::3])
def test_float32_stays_float32(cls, ref, kwargs):
    w, m = make_params(mg.float32)
    opt = cls([w, m], **kwargs)
    opt.param_groups[0]["lr"] = np.float64(kwargs["lr"])  # a numpy float64 rate must not promote either
    x_w, st_w = W0.copy(), {}
    options = {k: v for k, v in kwargs.items() if k != "lr"}
    for t in range(STEPS):
        x_w = ref(x_w, gradients(x_w, M0, t)[0], st_w, kwargs["lr"], **options)
        set_grads(w, m, t)
        opt.step()
    assert w.dtype == mg.float32 and m.dtype == mg.float32
    for state in opt.state.values():
        for key, value in state.items():
            if isinstance(value, mg.Tensor):
                assert value.dtype == mg.float32, key
    np.testing.assert_allclose(w.array, x_w, rtol=2e-4, atol=2e-5)


# ---- behaviour of step / zero_grad -----------------------------------------------------------
def test_params_without_grad_are_skipped_and_versions_bumped():
    w, m = make_params(mg.float32)
    opt = optim.Adam([w, m], lr=0.1)
    w.grad = mg.ones(4)
    version = w._version
    opt.step()
    assert m not in opt.state and np.array_equal(m.array, M0.astype(np.float32))
    assert w._version == version + 1
    assert opt.state[w]["step"] == 1
    assert w.is_leaf and w.grad_fn is None


def test_grad_of_wrong_shape_is_refused():
    w = mg.zeros(3, requires_grad=True)
    w.grad = mg.ones(1)
    with pytest.raises(RuntimeError, match=r"SGD: a parameter of shape \(3,\) has a .grad of shape \(1,\)"):
        optim.SGD([w], lr=0.1).step()
    with pytest.raises(RuntimeError, match=r"LBFGS: a parameter of shape \(3,\) has a .grad of shape \(1,\)"):
        optim.LBFGS([w]).step(lambda: mg.tensor(0.0))


def test_step_does_not_change_the_gradient():
    w = mg.tensor([1.0, -2.0], requires_grad=True)
    w.grad = mg.tensor([0.5, 0.25])
    optim.SGD([w], lr=0.1, momentum=0.9, weight_decay=0.1, maximize=True).step()
    optim.Adam([w], lr=0.1, weight_decay=0.1, maximize=True).step()
    optim.RMSprop([w], lr=0.1, weight_decay=0.1, maximize=True, centered=True).step()
    optim.Adagrad([w], lr=0.1, weight_decay=0.1, maximize=True).step()
    optim.Adadelta([w], lr=0.1, weight_decay=0.1, maximize=True).step()
    assert w.grad.tolist() == [0.5, 0.25]


def test_closure_is_called_with_grad_enabled_and_its_loss_returned():
    w = mg.tensor([3.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with mg.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 9.0
    assert w.item() == pytest.approx(3.0 - 0.25 * 6.0)
    assert opt.step() is None


def test_zero_grad():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    grad = w.grad
    opt.zero_grad(set_to_none=False)
    assert w.grad is grad and w.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert w.grad is None
    opt.zero_grad()  # no grad at all is fine


def test_param_groups_and_add_param_group():
    a, b, c = mg.zeros(2, requires_grad=True), mg.zeros(3, requires_grad=True), mg.zeros(1, requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[0]["momentum"] == 0 and opt.param_groups[1]["momentum"] == 0.9
    assert opt.param_groups[1]["params"] == [b] or opt.param_groups[1]["params"][0] is b
    opt.add_param_group({"params": [c], "lr": 0.01})
    assert opt.param_groups[2]["lr"] == 0.01 and opt.param_groups[2]["dampening"] == 0
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match=r"SGD: invalid learning rate -1 - expected lr >= 0"):
        opt.add_param_group({"params": [mg.zeros(1, requires_grad=True)], "lr": -1})
    for p, value in zip((a, b, c), (1.0, 2.0, 3.0)):
        p.grad = mg.full(p.shape, value)
    opt.step()
    assert a.array.tolist() == pytest.approx([-0.1, -0.1])
    assert b.array.tolist() == pytest.approx([-1.0] * 3)
    assert c.array.tolist() == pytest.approx([-0.03])


def test_repr_lists_groups():
    opt = optim.Adam([mg.zeros(1, requires_grad=True)], lr=0.1)
    text = repr(opt)
    assert text.startswith("Adam (") and "Parameter Group 0" in text and "    lr: 0.1" in text


# ---- errors ------------------------------------------------------------------------------------
def _param():
    return mg.zeros(3, requires_grad=True)


@pytest.mark.parametrize("make, message", [
    (lambda: optim.SGD([_param()], lr=-0.1), "SGD: invalid learning rate -0.1 - expected lr >= 0"),
    (lambda: optim.SGD([_param()], lr=0.1, momentum=-0.5), "SGD: invalid momentum value -0.5 - expected momentum >= 0"),
    (lambda: optim.SGD([_param()], lr=0.1, weight_decay=-1e-4),
     "SGD: invalid weight_decay value -0.0001 - expected weight_decay >= 0"),
    (lambda: optim.SGD([_param()], lr=0.1, nesterov=True),
     "SGD: Nesterov momentum requires a momentum > 0 and zero dampening, got momentum=0, dampening=0"),
    (lambda: optim.SGD([_param()], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
     "SGD: Nesterov momentum requires a momentum > 0 and zero dampening, got momentum=0.9, dampening=0.1"),
    (lambda: optim.Adam([_param()], lr=float("nan")), "Adam: invalid learning rate nan - expected lr >= 0"),
    (lambda: optim.Adam([_param()], betas=(1.0, 0.999)),
     "Adam: invalid beta parameter at index 0: 1.0 - expected 0 <= betas[0] < 1"),
    (lambda: optim.AdamW([_param()], betas=(0.9, -0.1)),
     "AdamW: invalid beta parameter at index 1: -0.1 - expected 0 <= betas[1] < 1"),
    (lambda: optim.Adam([_param()], betas=(0.9,)), "Adam: invalid betas (0.9,) - expected a pair (beta1, beta2)"),
    (lambda: optim.Adam([_param()], eps=-1.0), "Adam: invalid epsilon value -1.0 - expected eps >= 0"),
    (lambda: optim.RMSprop([_param()], alpha=-0.5), "RMSprop: invalid alpha value -0.5 - expected alpha >= 0"),
    (lambda: optim.RMSprop([_param()], momentum=-1), "RMSprop: invalid momentum value -1 - expected momentum >= 0"),
    (lambda: optim.Adagrad([_param()], lr_decay=-0.1), "Adagrad: invalid lr_decay value -0.1 - expected lr_decay >= 0"),
    (lambda: optim.Adagrad([_param()], initial_accumulator_value=-1.0),
     "Adagrad: invalid initial_accumulator_value value -1.0 - expected initial_accumulator_value >= 0"),
    (lambda: optim.Adagrad([_param()], eps=-1e-3), "Adagrad: invalid epsilon value -0.001 - expected eps >= 0"),
    (lambda: optim.Adadelta([_param()], rho=1.5), "Adadelta: invalid rho value 1.5 - expected 0 <= rho <= 1"),
    (lambda: optim.Adadelta([_param()], weight_decay=-1),
     "Adadelta: invalid weight_decay value -1 - expected weight_decay >= 0"),
])
def test_invalid_hyperparameters(make, message):
    with pytest.raises(ValueError) as info:
        make()
    assert str(info.value) == message


def test_invalid_params():
    with pytest.raises(TypeError, match="SGD: params should be an iterable of Tensors or dicts, but got a Tensor"):
        optim.SGD(_param(), lr=0.1)
    with pytest.raises(ValueError, match="SGD: got an empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="Adam: can't optimize a non-leaf Tensor"):
        optim.Adam([_param() * 2])
    with pytest.raises(TypeError, match="Adam: can only optimize Tensors, but parameter 1 is a ndarray"):
        optim.Adam([_param(), np.zeros(3)])
    with pytest.raises(TypeError, match="ordered collection"):
        optim.Adam({_param()})
    p = _param()
    with pytest.raises(ValueError, match="the same tensor twice"):
        optim.Adam([p, p])


# ---- state dicts ---------------------------------------------------------------------------
def _as_numpy(state_dict):
    """What a state dict looks like after a trip through an .npz file: arrays and numpy scalars."""
    state = {str(i): {k: (np.array(v.array) if isinstance(v, mg.Tensor) else np.array(v)) for k, v in s.items()}
             for i, s in state_dict["state"].items()}
    groups = [{k: np.array(v) for k, v in g.items()} for g in state_dict["param_groups"]]
    return {"state": state, "param_groups": groups}


@pytest.mark.parametrize("through_numpy", [False, True])
@pytest.mark.parametrize("cls, kwargs", [
    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
    (optim.Adam, dict(lr=0.1, amsgrad=True, betas=(0.9, 0.8))),
    (optim.AdamW, dict(lr=0.1, weight_decay=0.1)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.1)),
    (optim.Adadelta, dict(lr=1.0, rho=0.8, weight_decay=0.1)),
])
def test_state_dict_round_trip_continues_identically(cls, kwargs, through_numpy):
    w, m = make_params(mg.float32)
    opt = cls([{"params": [w]}, {"params": [m], "lr": 0.02}], **kwargs)
    for t in range(3):
        set_grads(w, m, t)
        opt.step()
    saved = opt.state_dict()
    assert sorted(saved["state"]) == [0, 1]
    assert saved["param_groups"][0]["params"] == [0] and saved["param_groups"][1]["params"] == [1]
    assert saved["param_groups"][1]["lr"] == 0.02
    saved_copy = {i: {k: (v.array.copy() if isinstance(v, mg.Tensor) else v) for k, v in s.items()}
                  for i, s in saved["state"].items()}
    w2, m2 = mg.tensor(w.array, requires_grad=True), mg.tensor(m.array, requires_grad=True)
    opt2 = cls([{"params": [w2]}, {"params": [m2]}], lr=0.5)  # other options: loading restores the saved ones
    opt2.load_state_dict(_as_numpy(saved) if through_numpy else saved)
    assert [g["lr"] for g in opt2.param_groups] == [kwargs["lr"], 0.02]
    assert opt2.param_groups[0]["params"][0] is w2
    if "step" in opt2.state[w2]:
        assert type(opt2.state[w2]["step"]) is int and opt2.state[w2]["step"] == 3
    for t in range(3, STEPS):
        set_grads(w, m, t)
        set_grads(w2, m2, t)
        opt.step()
        opt2.step()
        assert np.array_equal(w.array, w2.array) and np.array_equal(m.array, m2.array), f"step {t}"
    # the saved dict holds copies: later steps did not change it
    for i, s in saved["state"].items():
        for k, v in s.items():
            expected = saved_copy[i][k]
            assert np.array_equal(v.array, expected) if isinstance(v, mg.Tensor) else v == expected


def test_load_state_dict_errors():
    w, m = make_params(mg.float32)
    opt = optim.Adam([w, m])
    set_grads(w, m, 0)
    opt.step()
    saved = opt.state_dict()
    with pytest.raises(ValueError, match="has 1 parameter groups, this optimizer has 2"):
        optim.Adam([{"params": [w]}, {"params": [m]}]).load_state_dict(saved)
    with pytest.raises(ValueError, match="group 0 of the loaded state dict has 2 parameters, this optimizer's has 1"):
        optim.Adam([w]).load_state_dict(saved)
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 0 has shape \(4,\), but the parameter "
                                         r"has shape \(2, 3\)"):
        optim.Adam([m, w]).load_state_dict(saved)
    with pytest.raises(ValueError, match="expects a dict with 'state' and 'param_groups'"):
        optim.Adam([w, m]).load_state_dict({"w": 1})


# ---- learning-rate schedules -------------------------------------------------------------------
def _run(scheduler_factory, epochs, lrs=(0.1,)):
    params = [mg.zeros(1, requires_grad=True) for _ in lrs]
    opt = optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], lr=1.0)
    scheduler = scheduler_factory(opt)
    seen = []
    for _ in range(epochs):
        seen.append([g["lr"] for g in opt.param_groups])
        assert scheduler.get_last_lr() == seen[-1]
        opt.step()
        scheduler.step()
    return np.array(seen), opt, scheduler


def test_step_lr():
    lrs, opt, _ = _run(lambda o: lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 12)
    np.testing.assert_allclose(lrs[:, 0], [0.1 * 0.5 ** (e // 3) for e in range(12)], rtol=1e-15)
    assert opt.param_groups[0]["initial_lr"] == 0.1


def test_multistep_lr():
    lrs, _, _ = _run(lambda o: lr_scheduler.MultiStepLR(o, milestones=[2, 5, 5, 8], gamma=0.1), 11)
    expected = [0.1] * 2 + [0.01] * 3 + [1e-4] * 3 + [1e-5] * 3  # 5 is listed twice: gamma ** 2
    np.testing.assert_allclose(lrs[:, 0], expected, rtol=1e-12)


def test_exponential_lr_two_groups():
    lrs, _, _ = _run(lambda o: lr_scheduler.ExponentialLR(o, gamma=0.9), 10, lrs=(0.1, 1.0))
    np.testing.assert_allclose(lrs, [[0.1 * 0.9 ** e, 1.0 * 0.9 ** e] for e in range(10)], rtol=1e-13)


def test_cosine_annealing_lr_matches_closed_form_and_pytorchs_recursion():
    base, eta_min, T_max, epochs = 0.1, 0.01, 5, 26
    lrs, _, _ = _run(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=T_max, eta_min=eta_min), epochs)
    closed = [eta_min + (base - eta_min) * (1 + math.cos(math.pi * e / T_max)) / 2 for e in range(epochs)]
    np.testing.assert_allclose(lrs[:, 0], closed, rtol=1e-12)  # incl. past T_max: back up, period 2 T_max
    assert lrs[T_max, 0] == pytest.approx(eta_min) and lrs[2 * T_max, 0] == pytest.approx(base)
    # PyTorch's recursive formula, written out: the numbers must agree to the last bit
    recursive = [base]
    for e in range(1, epochs):
        lr = recursive[-1]
        if (e - 1 - T_max) % (2 * T_max) == 0:
            lr = lr + (base - eta_min) * (1 - math.cos(math.pi / T_max)) / 2
        else:
            ratio = (1 + math.cos(math.pi * e / T_max)) / (1 + math.cos(math.pi * (e - 1) / T_max))
            lr = ratio * (lr - eta_min) + eta_min
        recursive.append(lr)
    assert lrs[:, 0].tolist() == recursive


def test_cosine_annealing_resumed_uses_closed_form():
    p = mg.zeros(1, requires_grad=True)
    opt = optim.SGD([{"params": [p], "lr": 0.05, "initial_lr": 0.1}], lr=0.1)
    lr_scheduler.CosineAnnealingLR(opt, T_max=10, last_epoch=2)  # first step goes to epoch 3
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * (1 + math.cos(math.pi * 3 / 10)) / 2, rel=1e-14)


def test_lambda_lr_one_function_per_group():
    lrs, _, scheduler = _run(lambda o: lr_scheduler.LambdaLR(o, [lambda e: 0.5 ** e, lambda e: 1 / (e + 1)]),
                             6, lrs=(0.1, 0.2))
    np.testing.assert_allclose(lrs, [[0.1 * 0.5 ** e, 0.2 / (e + 1)] for e in range(6)], rtol=1e-14)
    assert "lr_lambdas" not in scheduler.state_dict()
    with pytest.raises(ValueError, match="LambdaLR: expected 2 lr_lambdas"):
        _run(lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1.0]), 1, lrs=(0.1, 0.2))


def test_step_with_epoch_uses_closed_form_and_warns():
    opt = optim.SGD([_param()], lr=0.1)
    scheduler = lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    with pytest.warns(UserWarning, match="deprecated"):
        scheduler.step(7)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** 2) and scheduler.last_epoch == 7


def test_resuming_without_initial_lr_is_refused():
    opt = optim.SGD([_param()], lr=0.1)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(opt, step_size=2, last_epoch=4)
    with pytest.raises(ValueError, match="StepLR: invalid step_size 0"):
        lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(TypeError, match="StepLR: list is not an Optimizer"):
        lr_scheduler.StepLR([], step_size=2)


@pytest.mark.parametrize("factory", [
    lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
    lambda o: lr_scheduler.MultiStepLR(o, milestones=[1, 4], gamma=0.3),
    lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=3, eta_min=0.001),
    lambda o: lr_scheduler.LinearLR(o, start_factor=0.2, total_iters=6),
    lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2, eta_min=0.001),
    lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=12),
    lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=3),
                                            lr_scheduler.ExponentialLR(o, gamma=0.8)], milestones=[3]),
    lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=5),
                                            lr_scheduler.ExponentialLR(o, gamma=0.8)], milestones=[6]),
])
def test_scheduler_state_dict_round_trip(factory):
    full, _, _ = _run(factory, 10)
    params = [mg.zeros(1, requires_grad=True)]
    opt = optim.SGD(params, lr=0.1)
    scheduler = factory(opt)
    for _ in range(4):
        opt.step()
        scheduler.step()
    opt_state, sched_state = opt.state_dict(), scheduler.state_dict()
    assert "optimizer" not in sched_state and sched_state["last_epoch"] == 4
    opt2 = optim.SGD([mg.zeros(1, requires_grad=True)], lr=0.1)
    scheduler2 = factory(opt2)
    opt2.load_state_dict(opt_state)
    scheduler2.load_state_dict({k: (np.array(v) if isinstance(v, (int, float, list)) else v)
                                for k, v in sched_state.items()})
    resumed = [opt2.param_groups[0]["lr"]]
    for _ in range(5):
        opt2.step()
        scheduler2.step()
        resumed.append(opt2.param_groups[0]["lr"])
    np.testing.assert_allclose(resumed, full[4:, 0], rtol=1e-14)


def test_linear_lr_matches_closed_form():
    base, start, end, total = 0.1, 0.25, 1.0, 4
    lrs, _, _ = _run(lambda o: lr_scheduler.LinearLR(o, start_factor=start, end_factor=end, total_iters=total), 10)
    np.testing.assert_allclose(lrs[:, 0], [base * (start + (end - start) * min(e, total) / total) for e in range(10)],
                               rtol=1e-13)
    assert lrs[0, 0] == pytest.approx(0.025) and lrs[4:, 0] == pytest.approx([0.1] * 6)
    # decreasing, two groups, and PyTorch's defaults (1/3 -> 1 over 5 epochs)
    lrs, _, _ = _run(lambda o: lr_scheduler.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=3), 6,
                     lrs=(0.1, 1.0))
    np.testing.assert_allclose(lrs, [[b * (1.0 - 0.9 * min(e, 3) / 3) for b in (0.1, 1.0)] for e in range(6)],
                               rtol=1e-13)
    lrs, _, _ = _run(lambda o: lr_scheduler.LinearLR(o), 7)
    np.testing.assert_allclose(lrs[:, 0], [0.1 * (1 / 3 + 2 / 3 * min(e, 5) / 5) for e in range(7)], rtol=1e-13)
    with pytest.raises(ValueError, match="LinearLR: invalid start_factor 0 - expected 0 < start_factor <= 1"):
        lr_scheduler.LinearLR(optim.SGD([_param()], lr=0.1), start_factor=0)
    with pytest.raises(ValueError, match="LinearLR: invalid end_factor 1.5"):
        lr_scheduler.LinearLR(optim.SGD([_param()], lr=0.1), end_factor=1.5)


def test_sequential_lr_warmup_then_decay():
    base = 0.1

    def factory(o):
        warmup = lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=3)
        return lr_scheduler.SequentialLR(o, [warmup, lr_scheduler.ExponentialLR(o, gamma=0.9)], milestones=[3])

    lrs, opt, _ = _run(factory, 10)
    expected = [base * (0.1 + 0.9 * e / 3) if e < 3 else base * 0.9 ** (e - 3) for e in range(10)]
    np.testing.assert_allclose(lrs[:, 0], expected, rtol=1e-13)
    assert opt.param_groups[0]["initial_lr"] == base


def test_sequential_lr_three_schedulers():
    base, T_max = 0.1, 5

    def factory(o):
        return lr_scheduler.SequentialLR(o, [lr_scheduler.LinearLR(o, start_factor=0.5, total_iters=3),
                                             lr_scheduler.CosineAnnealingLR(o, T_max=T_max, eta_min=0.01),
                                             lr_scheduler.StepLR(o, step_size=2, gamma=0.5)], milestones=[3, 8])

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # switching schedulers is not a deprecated step(epoch)
        lrs, _, _ = _run(factory, 14)

    def expected(e):
        if e < 3:
            return base * (0.5 + 0.5 * e / 3)
        if e < 8:
            return 0.01 + (base - 0.01) * (1 + math.cos(math.pi * (e - 3) / T_max)) / 2
        return base * 0.5 ** ((e - 8) // 2)

    np.testing.assert_allclose(lrs[:, 0], [expected(e) for e in range(14)], rtol=1e-12)


def test_sequential_lr_errors():
    opt, other = optim.SGD([_param()], lr=0.1), optim.SGD([_param()], lr=0.1)
    a, b = lr_scheduler.StepLR(opt, step_size=2), lr_scheduler.ExponentialLR(opt, gamma=0.9)
    with pytest.raises(ValueError, match="SequentialLR: expects one milestone fewer than schedulers, got 2 "
                                         "schedulers and 2 milestones"):
        lr_scheduler.SequentialLR(opt, [a, b], milestones=[2, 4])
    with pytest.raises(ValueError, match="SequentialLR: the scheduler at index 1 \\(StepLR\\) belongs to another"):
        lr_scheduler.SequentialLR(opt, [a, lr_scheduler.StepLR(other, step_size=2)], milestones=[2])
    with pytest.raises(ValueError, match="SequentialLR: does not support ReduceLROnPlateau"):
        lr_scheduler.SequentialLR(opt, [a, lr_scheduler.ReduceLROnPlateau(opt)], milestones=[2])
    with pytest.raises(ValueError, match="SequentialLR: expects at least one scheduler"):
        lr_scheduler.SequentialLR(opt, [], milestones=[])


def _sgdr_position(epoch, T_0, T_mult):
    """(epochs since the last restart, length of the current period), by walking the periods."""
    start, T_i = 0, T_0
    while epoch >= start + T_i:
        start, T_i = start + T_i, T_i * T_mult
    return epoch - start, T_i


@pytest.mark.parametrize("T_0, T_mult", [(4, 1), (3, 2), (2, 3)])
def test_cosine_annealing_warm_restarts_matches_closed_form(T_0, T_mult):
    base, eta_min, epochs = 0.1, 0.001, 30
    lrs, _, _ = _run(lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=T_0, T_mult=T_mult, eta_min=eta_min),
                     epochs)

    def expected(e):
        T_cur, T_i = _sgdr_position(e, T_0, T_mult)
        return eta_min + (base - eta_min) * (1 + math.cos(math.pi * T_cur / T_i)) / 2

    np.testing.assert_allclose(lrs[:, 0], [expected(e) for e in range(epochs)], rtol=1e-12)
    restarts = [e for e in range(1, epochs) if lrs[e, 0] > lrs[e - 1, 0]]
    assert restarts == [e for e in range(1, epochs) if _sgdr_position(e, T_0, T_mult)[0] == 0]


@pytest.mark.parametrize("T_0, T_mult", [(4, 1), (3, 2)])
def test_cosine_annealing_warm_restarts_fractional_epochs(T_0, T_mult):
    base, eta_min, iters = 0.1, 0.0, 5
    opt = optim.SGD([_param()], lr=base)
    scheduler = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=T_0, T_mult=T_mult)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fractional form is not deprecated here
        for epoch in range(20):
            for i in range(iters):
                e = epoch + i / iters
                scheduler.step(e)
                T_cur, T_i = _sgdr_position(e, T_0, T_mult)
                assert opt.param_groups[0]["lr"] == pytest.approx(
                    eta_min + (base - eta_min) * (1 + math.cos(math.pi * T_cur / T_i)) / 2, rel=1e-9, abs=1e-15), e
                assert scheduler.last_epoch == epoch
    # interleaved: a jump, then step() carries on from there
    scheduler.step(26)
    scheduler.step()
    T_cur, T_i = _sgdr_position(27, T_0, T_mult)
    assert scheduler.last_epoch == 27
    assert opt.param_groups[0]["lr"] == pytest.approx(base * (1 + math.cos(math.pi * T_cur / T_i)) / 2, rel=1e-9)
    with pytest.raises(ValueError, match="CosineAnnealingWarmRestarts: invalid epoch -1"):
        scheduler.step(-1)
    with pytest.raises(ValueError, match="invalid T_0 0 - expected a positive integer"):
        lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="invalid T_mult 1.5 - expected an integer >= 1"):
        lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=1.5)


def one_cycle_reference(step, total, max_lr, pct_start=0.3, div_factor=25.0, final_div_factor=1e4,
                        three_phase=False, linear=False, base_m=0.85, max_m=0.95):
    """(lr, momentum) of step `step` of the 1cycle policy, from its definition."""
    def anneal(a, b, pct):
        return a + (b - a) * pct if linear else b + (a - b) * (1 + math.cos(math.pi * pct)) / 2

    low = max_lr / div_factor
    lowest = low / final_div_factor
    peak = pct_start * total - 1
    if three_phase:
        phases = [(0, peak, low, max_lr, max_m, base_m), (peak, 2 * pct_start * total - 2, max_lr, low, base_m, max_m),
                  (2 * pct_start * total - 2, total - 1, low, lowest, max_m, max_m)]
    else:
        phases = [(0, peak, low, max_lr, max_m, base_m), (peak, total - 1, max_lr, lowest, base_m, max_m)]
    for i, (begin, end, lr0, lr1, m0, m1) in enumerate(phases):
        if step <= end or i == len(phases) - 1:
            pct = (step - begin) / (end - begin)
            return anneal(lr0, lr1, pct), anneal(m0, m1, pct)


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(anneal_strategy="linear"),
    dict(three_phase=True),
    dict(three_phase=True, anneal_strategy="linear", pct_start=0.25, div_factor=10.0, final_div_factor=100.0),
])
@pytest.mark.parametrize("make_opt", ["sgd", "adam"])
def test_one_cycle_lr_and_momentum_match_the_policy(kwargs, make_opt):
    total, max_lr = 40, 0.5
    p = _param()
    opt = optim.SGD([p], lr=0.1, momentum=0.9) if make_opt == "sgd" else optim.Adam([p], betas=(0.9, 0.98))
    scheduler = lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total, **kwargs)
    options = dict(pct_start=kwargs.get("pct_start", 0.3), div_factor=kwargs.get("div_factor", 25.0),
                   final_div_factor=kwargs.get("final_div_factor", 1e4), three_phase=kwargs.get("three_phase", False),
                   linear=kwargs.get("anneal_strategy") == "linear")
    for step in range(total):
        lr, momentum = one_cycle_reference(step, total, max_lr, **options)
        group = opt.param_groups[0]
        assert group["lr"] == pytest.approx(lr, rel=1e-12), step
        if make_opt == "sgd":
            assert group["momentum"] == pytest.approx(momentum, rel=1e-12), step
        else:
            assert group["betas"][0] == pytest.approx(momentum, rel=1e-12) and group["betas"][1] == 0.98, step
        p.grad = mg.ones(3)
        opt.step()
        scheduler.step()
    peak = int(options["pct_start"] * total - 1)
    lrs = [one_cycle_reference(s, total, max_lr, **options)[0] for s in range(total)]
    assert lrs[0] == pytest.approx(max_lr / options["div_factor"]) and lrs[peak] == pytest.approx(max_lr)
    assert lrs[-1] == pytest.approx(max_lr / options["div_factor"] / options["final_div_factor"])
    with pytest.raises(ValueError, match="OneCycleLR: tried to step 41 times, but total_steps is 40"):
        scheduler.step()


def test_one_cycle_lr_options_and_errors():
    p, q = _param(), _param()
    opt = optim.SGD([{"params": [p]}, {"params": [q]}], lr=0.1, momentum=0.9)
    scheduler = lr_scheduler.OneCycleLR(opt, max_lr=[1.0, 0.1], epochs=2, steps_per_epoch=5, cycle_momentum=False)
    assert scheduler.total_steps == 10
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.04, 0.004])
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.9]  # not cycled
    with pytest.raises(ValueError, match="you must define either total_steps or \\(epochs and steps_per_epoch\\)"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0, epochs=2)
    with pytest.raises(ValueError, match="expected 2 values for max_lr"):
        lr_scheduler.OneCycleLR(opt, max_lr=[1.0], total_steps=5)
    with pytest.raises(ValueError, match="invalid pct_start 1.5"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=5, pct_start=1.5)
    with pytest.raises(ValueError, match="unknown anneal_strategy 'exp'"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=5, anneal_strategy="exp")
    with pytest.raises(ValueError, match="invalid total_steps 0"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=0)
    with pytest.raises(ValueError, match="OneCycleLR: Adagrad has neither 'momentum' nor 'betas'"):
        lr_scheduler.OneCycleLR(optim.Adagrad([p]), max_lr=1.0, total_steps=5)


def test_reduce_lr_on_plateau_patience_cooldown_min_lr():
    opt = optim.SGD([_param()], lr=0.1)
    scheduler = lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1, min_lr=0.02)
    metrics = [1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.8] + [0.8] * 11
    # worked by hand: 3 bad epochs (> patience) halve the rate, the epoch after a cut is cooldown
    expected = [0.1] * 4 + [0.05] * 6 + [0.025] * 4 + [0.02] * 5
    seen = []
    for metric in metrics:
        scheduler.step(mg.tensor(metric))
        seen.append(opt.param_groups[0]["lr"])
        assert scheduler.get_last_lr() == [seen[-1]]
    np.testing.assert_allclose(seen, expected, rtol=1e-14)
    assert scheduler.best == pytest.approx(0.8) and scheduler.last_epoch == len(metrics)
    assert isinstance(scheduler, lr_scheduler.LRScheduler)  # as in PyTorch 2


def test_reduce_lr_on_plateau_max_abs_and_threshold():
    opt = optim.SGD([_param()], lr=1.0)
    scheduler = lr_scheduler.ReduceLROnPlateau(opt, mode="max", threshold=0.1, threshold_mode="abs", patience=0)
    scheduler.step(0.5)
    assert opt.param_groups[0]["lr"] == 1.0
    scheduler.step(0.55)  # not better by more than 0.1: a bad epoch, and patience is 0
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    scheduler.step(0.7)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1) and scheduler.best == 0.7
    state = scheduler.state_dict()
    other = lr_scheduler.ReduceLROnPlateau(opt)
    other.load_state_dict(state)
    assert other.mode == "max" and other.best == 0.7 and other.patience == 0
    with pytest.raises(ValueError, match="ReduceLROnPlateau: invalid factor 1.5 - expected factor < 1.0"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="unknown mode 'best'"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="best")


# ---- early stopping ------------------------------------------------------------------------------
class TinyModel:
    """Stands in for nn.Module: state_dict() gives tensors, load_state_dict() takes numpy arrays."""

    def __init__(self):
        self.w = mg.tensor([1.0, 2.0], requires_grad=True)

    def state_dict(self):
        return {"w": self.w.detach()}

    def load_state_dict(self, state):
        self.w.array[...] = np.asarray(state["w"], dtype=self.w.dtype)


def test_early_stopping_min_mode_patience():
    stopper = optim.EarlyStopping(patience=3)
    metrics = [5.0, 4.0, 4.5, 4.2, 3.9, 4.0, 3.95, 4.1]
    stops = [stopper.step(m) for m in metrics]
    assert stops == [False] * 7 + [True]
    assert stopper.best == 3.9 and stopper.best_epoch == 4 and stopper.counter == 3


def test_early_stopping_min_delta_and_nan():
    stopper = optim.EarlyStopping(patience=2, mode="max", min_delta=0.05)
    assert not stopper.step(0.50)
    assert not stopper.step(0.53)  # +0.03 is not enough
    assert stopper.counter == 1 and stopper.best == 0.50
    assert not stopper.step(0.60)
    assert stopper.counter == 0 and stopper.best_epoch == 2
    assert not stopper.step(float("nan"))
    assert stopper.step(0.1)


def test_early_stopping_keeps_and_restores_best_weights():
    model = TinyModel()
    stopper = optim.EarlyStopping(patience=2, mode="max")
    stopper.step(0.7, model)
    model.w.array += 10.0  # training changes the weights in place: the kept copy must not change
    stopper.step(0.6, model)
    assert stopper.best_state["w"].tolist() == [1.0, 2.0]
    assert isinstance(stopper.best_state["w"], np.ndarray)
    stopper.restore(model)
    assert model.w.array.tolist() == [1.0, 2.0]


def test_early_stopping_errors():
    with pytest.raises(RuntimeError, match="EarlyStopping: no weights to restore"):
        optim.EarlyStopping().restore(TinyModel())
    with pytest.raises(ValueError, match="EarlyStopping: unknown mode 'up'"):
        optim.EarlyStopping(mode="up")
    with pytest.raises(ValueError, match="EarlyStopping: invalid patience 0"):
        optim.EarlyStopping(patience=0)


# ---- real training through minigrad's backward -------------------------------------------------
def rosenbrock(xy):
    x, y = xy[0], xy[1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


@pytest.mark.parametrize("make, steps", [
    (lambda p: optim.Adam([p], lr=0.02), 3000),
    (lambda p: optim.SGD([p], lr=1e-3, momentum=0.9), 3000),
    (lambda p: optim.RMSprop([p], lr=1e-3, momentum=0.9), 3000),
])
def test_minimizes_rosenbrock(make, steps):
    xy = mg.tensor([-1.5, 2.0], dtype=mg.float64, requires_grad=True)
    opt = make(xy)
    start = rosenbrock(xy).item()
    for _ in range(steps):
        opt.zero_grad()
        loss = rosenbrock(xy)
        loss.backward()
        opt.step()
    assert rosenbrock(xy).item() < 1e-4 * start
    np.testing.assert_allclose(xy.array, [1.0, 1.0], atol=2e-2)


def test_trains_least_squares_with_schedule_in_float32():
    mg.manual_seed(0)
    X = mg.randn(64, 3)
    true_w = mg.tensor([[1.5], [-2.0], [0.5]])
    y = X @ true_w
    w = mg.zeros(3, 1, requires_grad=True)
    opt = optim.AdamW([w], lr=0.1, weight_decay=0.0)
    scheduler = lr_scheduler.CosineAnnealingLR(opt, T_max=300)
    for _ in range(300):
        opt.zero_grad()
        loss = ((X @ w - y) ** 2).mean()
        loss.backward()
        opt.step()
        scheduler.step()
    assert w.dtype == mg.float32
    np.testing.assert_allclose(w.array, true_w.array, atol=1e-3)


# ---- L-BFGS ------------------------------------------------------------------------------------
def quartic(x):
    """f = x'Ax/2 - b'x + 0.1 sum x^4 (convex, not quadratic: the curvature pairs matter) and its gradient."""
    return 0.5 * x @ A @ x - B @ x + 0.1 * np.sum(x ** 4), A @ x - B + 0.4 * x ** 3


def quartic_closure(opt, w, calls=None):
    A_, B_ = mg.tensor(A, dtype=w.dtype), mg.tensor(B, dtype=w.dtype)

    def closure():
        if calls is not None:
            calls.append(w.array.copy())
        opt.zero_grad()
        loss = 0.5 * (w * (A_ @ w)).sum() - (B_ * w).sum() + 0.1 * (w ** 4).sum()
        loss.backward()
        return loss
    return closure


def ref_lbfgs_steps(x, fgrad, n_steps, lr, max_iter, history_size, max_eval=None, tolerance_grad=1e-7,
                    tolerance_change=1e-9):
    """Textbook L-BFGS (two-loop recursion, Nocedal & Wright alg. 7.4) with PyTorch's fixed-step rules:
    the positions after each of n_steps calls of step(), in float64, and the number of iterations run."""
    max_eval = max_iter * 5 // 4 if max_eval is None else max_eval
    S, Y, gamma, k = [], [], 1.0, 0
    g_prev = d = t = None
    positions = []
    for _ in range(n_steps):
        f, g = fgrad(x)
        evals = 1
        for it in range(max_iter):
            if np.abs(g).max() <= tolerance_grad:
                break
            k += 1
            if k > 1:
                s, y = t * d, g - g_prev
                if y @ s > 1e-10:
                    S, Y = (S + [s])[-history_size:], (Y + [y])[-history_size:]
                    gamma = (y @ s) / (y @ y)
            q, alphas = g.copy(), []
            for s_i, y_i in zip(reversed(S), reversed(Y)):
                alphas.append((s_i @ q) / (y_i @ s_i))
                q = q - alphas[-1] * y_i
            r = gamma * q
            for s_i, y_i, a_i in zip(S, Y, reversed(alphas)):
                r = r + s_i * (a_i - (y_i @ r) / (y_i @ s_i))
            d = -r
            g_prev, f_prev = g, f
            t = lr * min(1.0, 1.0 / np.abs(g).sum()) if k == 1 else lr
            if g @ d > -tolerance_change:
                break
            x = x + t * d
            if it == max_iter - 1:
                break
            f, g = fgrad(x)
            evals += 1
            if evals >= max_eval or np.abs(t * d).max() <= tolerance_change or abs(f - f_prev) < tolerance_change:
                break
        positions.append(x)
    return positions, k


@pytest.mark.parametrize("max_iter, max_eval", [(3, 10), (4, None), (7, None)])
def test_lbfgs_matches_textbook_reference_over_several_steps(max_iter, max_eval):
    # history_size=2 < the iterations run, so old pairs are dropped as well; the default max_eval
    # (max_iter * 5 // 4) ends a step after 4 closure calls when max_iter is 4
    w = mg.tensor(W0, dtype=mg.float64, requires_grad=True)
    history_size = 2
    opt = optim.LBFGS([w], lr=0.8, max_iter=max_iter, max_eval=max_eval, history_size=history_size)
    calls = []
    closure = quartic_closure(opt, w, calls)
    expected, n_iter = ref_lbfgs_steps(W0.copy(), quartic, 3, lr=0.8, max_iter=max_iter, max_eval=max_eval,
                                       history_size=history_size)
    for i, x in enumerate(expected):
        loss = opt.step(closure)
        np.testing.assert_allclose(w.array, x, rtol=1e-10, atol=1e-12, err_msg=f"after step {i + 1}")
    assert isinstance(loss, mg.Tensor)
    state = opt.state[w]
    assert len(calls) == state["func_evals"]
    assert n_iter > 2 * history_size
    assert state["n_iter"] == n_iter and len(state["old_dirs"]) == len(state["old_stps"]) == len(state["ro"]) == 2
    # the first step's first update alone: x - lr * min(1, 1 / |g|_1) * g
    w1 = mg.tensor(W0, dtype=mg.float64, requires_grad=True)
    first = optim.LBFGS([w1], lr=0.8, max_iter=1)
    first.step(quartic_closure(first, w1))
    g0 = quartic(W0)[1]
    np.testing.assert_allclose(w1.array, W0 - 0.8 * min(1.0, 1.0 / np.abs(g0).sum()) * g0, rtol=1e-13)


@pytest.mark.parametrize("lr", [1.0, 10.0, 1e-3])
def test_lbfgs_strong_wolfe_first_iteration_on_a_quadratic(lr):
    # along d = -g a quadratic is a parabola, which cubic interpolation fits exactly: once the first
    # trial step overshoots (large lr), the zoom ends at the line minimum t* = g.g / g'Ag. A short first
    # trial (small lr) is extrapolated instead, by 10x at a time, until the Wolfe conditions hold
    x0 = W0 * 0.1
    w = mg.tensor(x0, requires_grad=True, dtype=mg.float64)
    opt = optim.LBFGS([w], lr=lr, max_iter=1, line_search_fn="strong_wolfe")
    A_, B_ = mg.tensor(A), mg.tensor(B)
    calls = []

    def closure():
        calls.append(w.array.copy())
        opt.zero_grad()
        loss = 0.5 * (w * (A_ @ w)).sum() - (B_ * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    g = A @ x0 - B
    t_star, t0 = (g @ g) / (g @ A @ g), lr * min(1.0, 1.0 / np.abs(g).sum())
    assert len(calls) >= 3  # the search evaluated more than its first trial step
    if t0 > t_star:
        np.testing.assert_allclose(w.array, x0 - t_star * g, rtol=1e-9)
    else:
        t = opt.state[w]["t"]
        assert t == pytest.approx(100 * t0, rel=1e-12) and t < t_star
        np.testing.assert_allclose(w.array, x0 - t * g, rtol=1e-12)
        g_new = A @ w.array - B
        assert abs(g_new @ g) <= 0.9 * (g @ g)  # curvature condition, met after two extrapolations


def test_lbfgs_strong_wolfe_steps_satisfy_the_wolfe_conditions():
    # one iteration per step() (the history carries over): each move is t d with t meeting both conditions
    xy = mg.tensor([-1.5, 2.0], dtype=mg.float64, requires_grad=True)
    opt = optim.LBFGS([xy], lr=1, max_iter=1, line_search_fn="strong_wolfe")
    closure = _rosenbrock_closure(opt, xy)
    for i in range(8):
        x0 = xy.array.copy()
        f0, g0 = rosenbrock_np(x0)
        opt.step(closure)
        d, t = opt.state[xy]["d"].array, opt.state[xy]["t"]
        f1, g1 = rosenbrock_np(xy.array)
        assert g0 @ d < 0, f"step {i}: not a descent direction"
        np.testing.assert_allclose(xy.array, x0 + t * d, rtol=1e-12)
        assert f1 <= f0 + 1e-4 * t * (g0 @ d), f"step {i}: no sufficient decrease"
        assert abs(g1 @ d) <= 0.9 * abs(g0 @ d), f"step {i}: curvature condition fails"
    assert rosenbrock(xy).item() < rosenbrock_np([-1.5, 2.0])[0] / 2


def rosenbrock_np(v):
    x, y = v
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2, np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def _rosenbrock_closure(opt, xy, counter=None):
    def closure():
        if counter is not None:
            counter.append(1)
        opt.zero_grad()
        loss = rosenbrock(xy)
        loss.backward()
        return loss
    return closure


def test_lbfgs_minimizes_rosenbrock_and_strong_wolfe_needs_fewer_calls():
    calls = {}
    for line_search_fn in (None, "strong_wolfe"):
        xy = mg.tensor([-1.5, 2.0], dtype=mg.float64, requires_grad=True)
        opt = optim.LBFGS([xy], lr=1, max_iter=200, max_eval=400, tolerance_grad=1e-10, tolerance_change=1e-14,
                          line_search_fn=line_search_fn)
        counter = []
        opt.step(_rosenbrock_closure(opt, xy, counter))
        np.testing.assert_allclose(xy.array, [1.0, 1.0], atol=1e-6, err_msg=str(line_search_fn))
        assert rosenbrock(xy).item() < 1e-12
        calls[line_search_fn] = len(counter)
        assert opt.state[xy]["func_evals"] == len(counter)
    assert calls["strong_wolfe"] < calls[None], calls


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_least_squares_curve_fit_reaches_the_optimum(line_search_fn):
    # a cubic polynomial fitted to noisy samples: the optimum is numpy's least-squares solution
    rng = np.random.default_rng(1)
    t = np.linspace(-1, 1, 40)
    y = np.sin(2 * t) + 0.05 * rng.normal(size=t.shape)
    V = np.vander(t, 4)
    optimum = np.linalg.lstsq(V, y, rcond=None)[0]
    coef = mg.zeros(4, dtype=mg.float64, requires_grad=True)
    V_, y_ = mg.tensor(V), mg.tensor(y)
    opt = optim.LBFGS([coef], lr=1, max_iter=50, tolerance_grad=1e-12, tolerance_change=1e-15,
                      line_search_fn=line_search_fn)

    def closure():
        opt.zero_grad()
        loss = ((V_ @ coef - y_) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    np.testing.assert_allclose(coef.array, optimum, rtol=1e-6, atol=1e-8)


def test_lbfgs_nonlinear_curve_fit_float32():
    # y = a exp(-b x) + c from exact samples, in float32: the parameters come back
    x = np.linspace(0, 3, 30)
    y = 2.0 * np.exp(-1.3 * x) + 0.5
    x_, y_ = mg.tensor(x, dtype=mg.float32), mg.tensor(y, dtype=mg.float32)
    a, b, c = (mg.tensor([v], requires_grad=True) for v in (1.0, 1.0, 0.0))
    opt = optim.LBFGS([a, b, c], lr=1, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = ((a * mg.exp(-b * x_) + c - y_) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    assert a.dtype == b.dtype == mg.float32 and opt.state[a]["d"].dtype == mg.float32
    np.testing.assert_allclose([a.item(), b.item(), c.item()], [2.0, 1.3, 0.5], atol=2e-3)


@pytest.mark.parametrize("through_numpy", [False, True])
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_state_dict_round_trip_continues_identically(line_search_fn, through_numpy):
    w, m = make_params(mg.float64)
    opt = optim.LBFGS([w, m], lr=0.5, max_iter=3, history_size=4, line_search_fn=line_search_fn)

    def closure_for(opt, w, m):
        def closure():
            opt.zero_grad()
            loss = quartic_loss(w) + ((m - mg.tensor(C)) ** 4).sum()
            loss.backward()
            return loss
        return closure

    for _ in range(2):
        opt.step(closure_for(opt, w, m))
    saved = opt.state_dict()
    assert sorted(saved["state"]) == [0]  # everything lives with the first parameter, as in PyTorch
    assert {"func_evals", "n_iter", "d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad",
            "prev_loss"} <= set(saved["state"][0])
    old_dirs = [v.array.copy() for v in saved["state"][0]["old_dirs"]]
    w2, m2 = mg.tensor(w.array, requires_grad=True), mg.tensor(m.array, requires_grad=True)
    opt2 = optim.LBFGS([w2, m2], lr=0.01)
    if through_numpy:
        state = {str(i): {k: (np.array([x.array if isinstance(x, mg.Tensor) else x for x in v], dtype=object
                                        if any(x is None for x in v) else None) if isinstance(v, list)
                              else np.array(v.array) if isinstance(v, mg.Tensor) else np.array(v))
                          for k, v in s.items()} for i, s in saved["state"].items()}
        opt2.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
    else:
        opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == 0.5 and type(opt2.state[w2]["n_iter"]) is int
    for _ in range(2):
        opt.step(closure_for(opt, w, m))
        opt2.step(closure_for(opt2, w2, m2))
        assert np.array_equal(w.array, w2.array) and np.array_equal(m.array, m2.array)
    # the saved history did not move with the optimizer
    assert all(np.array_equal(v.array, o) for v, o in zip(saved["state"][0]["old_dirs"], old_dirs))


def quartic_loss(w):
    return 0.5 * (w * (mg.tensor(A) @ w)).sum() - (mg.tensor(B) * w).sum() + 0.1 * (w ** 4).sum()


def test_lbfgs_errors_and_early_exit():
    a, b = _param(), _param()
    with pytest.raises(ValueError, match=r"LBFGS: doesn't support per-parameter options \(parameter groups\)"):
        optim.LBFGS([{"params": [a]}, {"params": [b]}])
    with pytest.raises(ValueError, match="LBFGS: unknown line_search_fn 'armijo' - expected None or 'strong_wolfe'"):
        optim.LBFGS([a], line_search_fn="armijo")
    opt = optim.LBFGS([a])
    with pytest.raises(RuntimeError, match="LBFGS: step\\(\\) needs a closure"):
        opt.step()
    assert opt.param_groups[0]["max_eval"] == 25 and optim.LBFGS([b], max_iter=10).defaults["max_eval"] == 12
    calls = []

    def flat():  # zero gradient: one call, no update
        calls.append(1)
        opt.zero_grad()
        loss = (a * 0).sum()
        loss.backward()
        return loss

    opt.step(flat)
    assert calls == [1] and a.array.tolist() == [0.0, 0.0, 0.0]
