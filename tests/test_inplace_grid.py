"""In-place ops under recording, as a grid: every in-place Tensor method x target (leaf that
requires grad, plain leaf, non-leaf, view of a non-leaf, view of a leaf) x source (requires grad
or not) x grad mode (on, off).

Each cell either works - the values and the gradients of every input equal those of the same
computation written out of place - or raises PyTorch's error:
- a leaf that requires grad, in grad mode: "a leaf ... that requires grad is being used in an
  in-place operation" (PyTorch: "a leaf Variable that requires grad is being used in an in-place
  operation.");
- a view of such a leaf: the same (PyTorch: "a view of a leaf Variable that requires grad is
  being used in an in-place operation.").
One cell differs from PyTorch on purpose (README, "Gradients at special points"): after an
in-place op on a view of a non-leaf, the view itself has the right history, but the tensor it
is a view of refuses to be used in a recorded op (PyTorch rebases the base onto a CopySlices
node; minigrad raises instead of recording a history that no longer describes the value).
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import minigrad as mg

SHAPE = (4,)
START = np.array([0.5, 1.25, 2.0, 0.75])    # positive (pow_), away from clamp_'s bounds
SOURCE = np.array([1.5, 0.5, -0.75, 1.25])  # nonzero (div_)
WEIGHTS = np.array([0.3, -1.1, 0.7, 2.0])   # loss = sum(result * WEIGHTS)
MASK = np.array([True, False, True, False])
INDEX = np.array([2, 0, 3, 1])


@dataclass
class Method:
    name: str
    inplace: Callable          # inplace(target, source) -> None (changes target)
    outofplace: Callable       # outofplace(value, source) -> new value
    source_shape: tuple | None = SHAPE  # None: the method takes no tensor source
    random: bool = False


FILLS = {"uniform": lambda t: t.uniform_(-1, 1), "normal": lambda t: t.normal_(0, 2),
         "exponential": lambda t: t.exponential_(1.5), "bernoulli": lambda t: t.bernoulli_(0.3),
         "random": lambda t: t.random_(0, 5)}


def _draw(kind):
    """What a random fill writes, drawn again from the same seed."""
    mg.manual_seed(7)
    return FILLS[kind](mg.empty(SHAPE, dtype=mg.float64))


def _random_fill(kind):
    return Method(f"{kind}_", lambda t, s: (mg.manual_seed(7), FILLS[kind](t)),
                  lambda a, s: a * 0 + _draw(kind), None, random=True)


METHODS = [
    Method("add_", lambda t, s: t.add_(s, alpha=2), lambda a, s: a + 2 * s),
    Method("sub_", lambda t, s: t.sub_(s), lambda a, s: a - s),
    Method("mul_", lambda t, s: t.mul_(s), lambda a, s: a * s),
    Method("div_", lambda t, s: t.div_(s), lambda a, s: a / s),
    Method("pow_", lambda t, s: t.pow_(s * s), lambda a, s: a ** (s * s)),
    Method("iadd", lambda t, s: t.__iadd__(s), lambda a, s: a + s),
    Method("clamp_", lambda t, s: t.clamp_(0.7, 1.8), lambda a, s: mg.clamp(a, 0.7, 1.8), None),
    Method("copy_", lambda t, s: t.copy_(s), lambda a, s: a * 0 + s),
    Method("copy_broadcast", lambda t, s: t.copy_(s), lambda a, s: a * 0 + s, ()),
    Method("fill_", lambda t, s: t.fill_(s), lambda a, s: a * 0 + s, ()),
    Method("fill_number", lambda t, s: t.fill_(2.5), lambda a, s: a * 0 + 2.5, None),
    Method("zero_", lambda t, s: t.zero_(), lambda a, s: a * 0, None),
    Method("masked_fill_", lambda t, s: t.masked_fill_(mg.tensor(MASK), s),
           lambda a, s: mg.where(mg.tensor(MASK), s, a), ()),
    Method("scatter_", lambda t, s: t.scatter_(0, mg.tensor(INDEX[:3]), s),
           lambda a, s: mg.scatter(a, 0, mg.tensor(INDEX[:3]), s), (3,)),
    Method("scatter_add_", lambda t, s: t.scatter_add_(0, mg.tensor(INDEX), s),
           lambda a, s: mg.scatter_add(a, 0, mg.tensor(INDEX), s)),
    Method("setitem", lambda t, s: t.__setitem__(slice(1, 3), s), lambda a, s: mg.cat([a[:1], s, a[3:]]), (2,)),
    Method("setitem_mask", lambda t, s: t.__setitem__(mg.tensor(MASK), s),
           lambda a, s: mg.where(mg.tensor(MASK), s, a), ()),
    Method("isub", lambda t, s: t.__isub__(s), lambda a, s: a - s),
    Method("imul", lambda t, s: t.__imul__(s), lambda a, s: a * s),
    Method("itruediv", lambda t, s: t.__itruediv__(s), lambda a, s: a / s),
    Method("clip_", lambda t, s: t.clip_(0.7, 1.8), lambda a, s: mg.clamp(a, 0.7, 1.8), None),
    Method("nan_to_num_", lambda t, s: t.nan_to_num_(), lambda a, s: a.nan_to_num(), None),
] + [_random_fill(kind) for kind in FILLS]

TARGETS = ["leaf", "plain_leaf", "non_leaf", "view_of_non_leaf", "view_of_leaf"]

CELLS = [(m, target, source_grad, grad_mode)
         for m in METHODS for target in TARGETS
         for source_grad in ([False, True] if m.source_shape is not None else [False])
         for grad_mode in [True, False]]


def _source(method, requires_grad):
    if method.source_shape is None:
        return None
    values = SOURCE[:int(np.prod(method.source_shape))].reshape(method.source_shape) if method.source_shape \
        else np.array(SOURCE[0])
    return mg.tensor(values, dtype=mg.float64, requires_grad=requires_grad)


def _setup(target):
    """(leaf x, the tensor to change in place, the tensor whose value the loss reads, x's rows used)."""
    if target in ("view_of_non_leaf", "view_of_leaf"):
        x = mg.tensor(np.concatenate([[3.0], START, [-2.0]]), dtype=mg.float64, requires_grad=True)
        base = x * 1.0 if target == "view_of_non_leaf" else x
        return x, base[1:5], base
    x = mg.tensor(START.copy(), dtype=mg.float64, requires_grad=target != "plain_leaf")
    t = x * 1.0 if target == "non_leaf" else x
    return x, t, t


def _reference(method, target, source_grad):
    """Values and gradients (by name: "x", "s") of the same computation out of place, grad mode on."""
    x, t, _ = _setup(target)
    s = _source(method, source_grad)
    new = method.outofplace(t, s)
    wanted = {name: v for name, v in (("x", x), ("s", s)) if v is not None and v.requires_grad}
    if not (new.requires_grad and wanted):
        return new.detach().numpy(), {}
    grads = mg.grad((new * mg.tensor(WEIGHTS)).sum(), list(wanted.values()), allow_unused=True)
    return new.detach().numpy(), dict(zip(wanted, grads))


@pytest.mark.parametrize("method, target, source_grad, grad_mode", CELLS,
                         ids=[f"{m.name}-{t}-{'src_grad' if s else 'src'}-{'grad' if g else 'no_grad'}"
                              for m, t, s, g in CELLS])
def test_inplace_cell(method, target, source_grad, grad_mode):
    x, t, holder = _setup(target)
    s = _source(method, source_grad)
    was_node, was_requires_grad = t.grad_fn, t.requires_grad
    wanted = {name: v for name, v in (("x", x), ("s", s)) if v is not None and v.requires_grad}
    holder_before = holder.detach().numpy().copy()

    if grad_mode and target in ("leaf", "view_of_leaf"):
        with pytest.raises(RuntimeError, match=r"leaf .*requires grad is being used in an in-place operation"):
            method.inplace(t, s)
        np.testing.assert_array_equal(holder.detach().numpy(), holder_before)  # nothing was written
        return

    expected_value, expected_grads = _reference(method, target, source_grad)
    with mg.set_grad_enabled(grad_mode):
        method.inplace(t, s)
    np.testing.assert_allclose(t.detach().numpy(), expected_value, rtol=1e-12)
    if target.startswith("view"):  # the write went through to the tensor viewed
        np.testing.assert_allclose(holder.detach().numpy()[1:5], expected_value, rtol=1e-12)

    if not grad_mode:  # nothing recorded: flags and history as before
        assert t.requires_grad == was_requires_grad and t.grad_fn is was_node
        return

    assert t.requires_grad == (was_requires_grad or source_grad)
    if not t.requires_grad:
        return
    grads = mg.grad((t * mg.tensor(WEIGHTS)).sum(), list(wanted.values()), allow_unused=True)
    for (name, leaf), got in zip(wanted.items(), grads):
        want = expected_grads.get(name)
        got = np.zeros(leaf.shape) if got is None else got.numpy()
        want = np.zeros(leaf.shape) if want is None else want.numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, err_msg=f"gradient of {name}")
    if target == "view_of_non_leaf":  # the base's recorded history no longer describes it: refused
        with pytest.raises(RuntimeError, match="modified by an in-place operation"):
            holder * 2
