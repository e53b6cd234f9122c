"""Errors a user can act on: every mistake through the public API gets a message that names the op
(or layer) and the offending values, and what was expected.

A bare `assert`, or an AttributeError / KeyError / TypeError from deep inside, is not an answer: each
test checks the exception type and that the text names the op and the values. Where PyTorch gives a
result instead (zero-size tensors, non-contiguous views), the result must be right.
"""
import io
import re

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
import minigrad.nn.functional as F
from minigrad.serialization import CheckpointError


def raises(kind, *fragments):
    """pytest.raises(kind) whose message must contain every fragment (escaped, in any order)."""
    class Check:
        def __enter__(self):
            self.context = pytest.raises(kind)
            self.info = self.context.__enter__()
            return self.info

        def __exit__(self, *exc):
            suppressed = self.context.__exit__(*exc)
            message = str(self.info.value)
            for fragment in fragments:
                assert fragment in message, f"{fragment!r} not in the message: {message}"
            return suppressed
    return Check()


# ---- shapes -----------------------------------------------------------------------------

def test_matmul_shows_both_shapes():
    with raises(RuntimeError, "matmul:", "(2, 3)", "(4, 5)", "3 != 4"):
        mg.randn(2, 3) @ mg.randn(4, 5)
    with raises(RuntimeError, "matmul:", "(5, 2, 3)", "(4, 3, 6)"):
        mg.matmul(mg.randn(5, 2, 3), mg.randn(4, 3, 6))
    with raises(RuntimeError, "bmm:", "(2, 3, 4)", "(3, 4, 5)"):
        mg.bmm(mg.randn(2, 3, 4), mg.randn(3, 4, 5))


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum", "minimum", "pow"])
def test_binary_ops_that_cannot_broadcast_name_the_op_and_both_shapes(op):
    with raises(ValueError, f"{op}:", "(3, 2)", "(4,)"):
        getattr(mg, op)(mg.rand(3, 2) + 1, mg.rand(4) + 1)


def test_operators_and_where_name_the_op_too():
    with raises(ValueError, "add:", "(3,)", "(2,)"):
        mg.zeros(3) + mg.zeros(2)
    with raises(ValueError, "mul:", "(3,)", "(2,)"):
        mg.zeros(3) * mg.zeros(2)
    with raises(ValueError, "where:", "(2,)", "(3,)"):
        mg.where(mg.tensor([True, False]), mg.zeros(3), 0.0)


def test_conv2d_names_both_channel_counts():
    with raises(RuntimeError, "conv2d:", "3 channels", "expects 2", "(4, 2, 3, 3)"):
        F.conv2d(mg.randn(1, 3, 5, 5), mg.randn(4, 2, 3, 3))
    with raises(RuntimeError, "Conv2d:", "expected 3 input channels", "(1, 2, 5, 5)"):
        nn.Conv2d(3, 4, 3)(mg.randn(1, 2, 5, 5))
    with raises(RuntimeError, "conv2d:", "(2, 2)", "smaller than the kernel (3, 3)"):
        F.conv2d(mg.randn(1, 3, 2, 2), mg.randn(4, 3, 3, 3))


def test_linear_in_features_mismatch():
    with raises(RuntimeError, "Linear:", "4 (in_features)", "(3, 5)"):
        nn.Linear(4, 2)(mg.randn(3, 5))


def test_lstm_input_size_mismatch():
    with raises(RuntimeError, "LSTM:", "input_size", "expected 4, got 5", "(3, 1, 5)"):
        nn.LSTM(4, 2)(mg.randn(3, 1, 5))
    with raises(RuntimeError, "LSTM:", "h_0", "(1, 1, 2)", "(2, 1, 2)"):
        nn.LSTM(4, 2)(mg.randn(3, 1, 4), (mg.zeros(2, 1, 2), mg.zeros(2, 1, 2)))


def test_shape_ops_say_what_shape_was_asked_for_and_what_the_tensor_has():
    with raises(RuntimeError, "view:", "[4, 2]", "size 6"):
        mg.zeros(6).reshape(4, 2)
    with raises(RuntimeError, "expand:", "(2, 3)", "(4, 3)"):
        mg.zeros(2, 3).expand(4, 3)
    with raises(RuntimeError, "cat:", "(2, 4)", "(2, 3)"):
        mg.cat([mg.zeros(2, 3), mg.zeros(2, 4)])
    with raises(IndexError, "sum:", "dimension 2", "[-2, 1]"):
        mg.zeros(2, 3).sum(2)
    with raises(RuntimeError, "LayerNorm:", "(4,)", "(2, 5)"):
        nn.LayerNorm(4)(mg.randn(2, 5))


def test_loss_shapes():
    with raises(ValueError, "cross_entropy:", "batch size (2)", "(3)"):
        F.cross_entropy(mg.randn(2, 3), mg.tensor([0, 1, 2]))
    with pytest.warns(UserWarning, match="mse_loss"):
        with raises(ValueError, "sub:", "(3,)", "(4,)"):
            F.mse_loss(mg.zeros(3), mg.zeros(4))


def test_backward_of_a_non_scalar_says_to_pass_a_gradient():
    with raises(RuntimeError, "backward:", "scalar outputs", "(3,)"):
        mg.randn(3, requires_grad=True).exp().backward()
    with raises(RuntimeError, "backward:", "gradient has shape (2,)", "(3,)"):
        mg.randn(3, requires_grad=True).exp().backward(mg.ones(2))


def test_uneven_nested_lists():
    with raises(ValueError, "tensor:", "rectangular"):
        mg.tensor([[1, 2], [3]])


# ---- dtypes -----------------------------------------------------------------------------

INTEGER_REQUIRES_GRAD = {
    "tensor(..., requires_grad=True)": lambda: mg.tensor([1, 2], requires_grad=True),
    "zeros(dtype=int64)": lambda: mg.zeros(3, dtype=mg.int64, requires_grad=True),
    "arange": lambda: mg.arange(3, requires_grad=True),
    "Tensor(...)": lambda: mg.Tensor([1, 2], dtype=mg.int64, requires_grad=True),
    "requires_grad_()": lambda: mg.tensor([1, 2]).requires_grad_(),
    "requires_grad = True": lambda: setattr(mg.tensor([1, 2]), "requires_grad", True),
    "bool tensor": lambda: mg.tensor([True]).requires_grad_(),
}


@pytest.mark.parametrize("spelling", sorted(INTEGER_REQUIRES_GRAD))
def test_requires_grad_on_an_integer_tensor_is_refused_in_every_spelling(spelling):
    with raises(RuntimeError, "requires_grad:", "only floating-point", ".float()"):
        INTEGER_REQUIRES_GRAD[spelling]()


def test_a_refused_requires_grad_leaves_the_tensor_as_it_was():
    x = mg.tensor([1, 2])
    with pytest.raises(RuntimeError):
        x.requires_grad = True
    assert not x.requires_grad and x.dtype == mg.int64


def test_index_and_mean_dtypes():
    with raises(RuntimeError, "embedding:", "integer", "float32"):
        nn.Embedding(10, 3)(mg.tensor([1.0, 2.0]))
    with raises(RuntimeError, "mean:", "int64", ".float()"):
        mg.tensor([1, 2]).mean()
    with raises(TypeError, "dtype:", "'floaty'"):
        mg.zeros(3, dtype="floaty")


# ---- devices ----------------------------------------------------------------------------

DEVICES = {
    "x.to('cuda')": lambda: mg.randn(2).to("cuda"),
    "x.to(device='cuda:0')": lambda: mg.randn(2).to(device="cuda:0"),
    "x.to('mps')": lambda: mg.randn(2).to("mps"),
    "x.cuda()": lambda: mg.randn(2).cuda(),
    "mg.tensor(device=)": lambda: mg.tensor([1.0], device="cuda"),
    "mg.zeros(device=)": lambda: mg.zeros(3, device="cuda"),
    "mg.randn(device=)": lambda: mg.randn(3, device="cuda"),
    "mg.arange(device=)": lambda: mg.arange(3, device="cuda"),
    "model.to('cuda')": lambda: nn.Linear(2, 2).to("cuda"),
    "model.cuda()": lambda: nn.Linear(2, 2).cuda(),
}


@pytest.mark.parametrize("spelling", sorted(DEVICES))
def test_a_device_other_than_the_cpu_says_minigrad_runs_on_the_cpu(spelling):
    with raises(RuntimeError, "minigrad runs on the CPU only", "use 'cpu'"):
        DEVICES[spelling]()


def test_the_cpu_is_accepted_everywhere():
    x = mg.tensor([1.0], device="cpu")
    assert x.to("cpu") is x and x.cpu() is x and x.device == "cpu"
    assert mg.zeros(2, device="cpu").shape == (2,)
    model = nn.Linear(2, 2)
    assert model.to("cpu") is model


# ---- non-contiguous inputs: transposed and strided views into every op family ------------

def _strided(shape, rng, low=-2.0, high=2.0):
    """A float64 array of `shape` that is NOT contiguous: a transposed or a strided view."""
    if len(shape) >= 2:
        return rng.uniform(low, high, shape[::-1]).T
    if len(shape) == 1:
        return rng.uniform(low, high, (shape[0] * 2,))[::2]
    return rng.uniform(low, high, ())


NON_CONTIGUOUS = {
    # name: (function of tensors, input shapes)
    "exp": (lambda x: mg.exp(x), [(3, 4)]),
    "tanh": (lambda x: mg.tanh(x), [(3, 4)]),
    "relu": (lambda x: F.relu(x), [(3, 4)]),
    "sqrt": (lambda x: mg.sqrt(x * x + 1), [(3, 4)]),
    "add broadcast": (lambda x, y: x + y, [(3, 4), (4,)]),
    "mul": (lambda x, y: x * y, [(3, 4), (3, 4)]),
    "div": (lambda x, y: x / (y * y + 1), [(3, 4), (3, 1)]),
    "maximum": (lambda x, y: mg.maximum(x, y), [(3, 4), (3, 4)]),
    "pow": (lambda x, y: mg.pow(x * x + 1, y), [(3, 4), (3, 4)]),
    "sum dim": (lambda x: x.sum(0), [(3, 4)]),
    "mean": (lambda x: x.mean((0, 2), keepdim=True), [(2, 3, 4)]),
    "amax": (lambda x: mg.amax(x, 1), [(3, 4)]),
    "max dim": (lambda x: mg.max(x, 0).values, [(3, 4)]),
    "logsumexp": (lambda x: mg.logsumexp(x, 1), [(3, 4)]),
    "var": (lambda x: x.var(1), [(3, 4)]),
    "norm": (lambda x: x.norm(dim=0), [(3, 4)]),
    "reshape": (lambda x: x.reshape(2, 6), [(3, 4)]),
    "view": (lambda x: x.view(-1), [(3, 4)]),
    "flatten": (lambda x: x.flatten(), [(2, 3, 4)]),
    "permute": (lambda x: x.permute(2, 0, 1) * 1, [(2, 3, 4)]),
    "expand": (lambda x: x.unsqueeze(0).expand(2, 3, 4) * 1, [(3, 4)]),
    "getitem basic": (lambda x: x[1:, ::2], [(3, 4)]),
    "getitem fancy": (lambda x: x[mg.tensor([2, 0, 2])], [(3, 4)]),
    "getitem mask": (lambda x: x[x > 0], [(3, 4)]),
    "take_along_dim": (lambda x: mg.take_along_dim(x, mg.tensor([[0, 3], [1, 1], [2, 0]]), 1), [(3, 4)]),
    "cat": (lambda x, y: mg.cat([x, y], 1), [(3, 4), (3, 2)]),
    "stack": (lambda x, y: mg.stack([x, y], 0), [(3, 4), (3, 4)]),
    "pad": (lambda x: F.pad(x, (1, 2)), [(3, 4)]),
    "flip": (lambda x: mg.flip(x, [0]), [(3, 4)]),
    "tril": (lambda x: mg.tril(x), [(3, 4)]),
    "masked_fill": (lambda x: x.masked_fill(mg.tensor([True, False, True, False]), 0.0), [(3, 4)]),
    "matmul": (lambda x, y: x @ y, [(3, 4), (4, 5)]),
    "bmm": (lambda x, y: mg.bmm(x, y), [(2, 3, 4), (2, 4, 5)]),
    "conv2d": (lambda x, w: F.conv2d(x, w, padding=1), [(2, 3, 5, 4), (2, 3, 3, 3)]),
    "conv2d stride": (lambda x, w: F.conv2d(x, w, stride=2, dilation=2), [(1, 2, 6, 6), (3, 2, 2, 2)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), [(2, 2, 4, 4)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 2, 1), [(2, 2, 4, 4)]),
    "softmax": (lambda x: F.softmax(x, 0), [(3, 4)]),
    "log_softmax": (lambda x: F.log_softmax(x, -1), [(3, 4)]),
    "layer_norm": (lambda x, w: F.layer_norm(x, (4,), w), [(3, 4), (4,)]),
    "embedding": (lambda w: F.embedding(mg.tensor([[0, 2], [1, 1]]), w), [(3, 4)]),
    "cross_entropy": (lambda x: F.cross_entropy(x, mg.tensor([0, 2, 3])), [(3, 4)]),
    "mse_loss": (lambda x, y: F.mse_loss(x, y), [(3, 4), (3, 4)]),
    "nn.Linear": (lambda x: nn.Linear(4, 2).double()(x), [(3, 4)]),
    "nn.LSTM": (lambda x: nn.LSTM(4, 3).double()(x)[0], [(5, 2, 4)]),
}


@pytest.mark.parametrize("name", sorted(NON_CONTIGUOUS))
def test_non_contiguous_inputs_give_the_same_values_and_gradients(name):
    function, shapes = NON_CONTIGUOUS[name]
    rng = np.random.default_rng(0)
    strided = [_strided(shape, rng) for shape in shapes]
    assert any(not a.flags.c_contiguous for a in strided)
    contiguous = [np.ascontiguousarray(a) for a in strided]

    def run(arrays):
        leaves = [mg.from_numpy(a).requires_grad_() for a in arrays]
        mg.manual_seed(0)  # layers initialise from the generator: the same weights both times
        out = function(*leaves)
        seed = np.random.default_rng(1).standard_normal(out.shape)
        grads = mg.grad(out, leaves, grad_outputs=mg.tensor(seed), allow_unused=True)
        return out.array.copy(), [g.array.copy() for g in grads]

    before = [a.copy() for a in strided]
    out_s, grads_s = run(strided)
    out_c, grads_c = run(contiguous)
    np.testing.assert_allclose(out_s, out_c, rtol=1e-12, atol=1e-12)
    for index, (gs, gc, a) in enumerate(zip(grads_s, grads_c, strided)):
        assert gs.shape == a.shape, f"input {index}: gradient shape {gs.shape}, input shape {a.shape}"
        np.testing.assert_allclose(gs, gc, rtol=1e-12, atol=1e-12, err_msg=f"gradient of input {index}")
    for a, b in zip(strided, before):
        assert np.array_equal(a, b)  # the views were read, not written


def test_a_non_contiguous_gradient_seed():
    x = mg.randn(3, 4, dtype=mg.float64, requires_grad=True)
    seed = np.random.default_rng(0).standard_normal((4, 3)).T
    (x * 2).backward(mg.from_numpy(seed))
    np.testing.assert_array_equal(x.grad.array, 2 * seed)


def test_in_place_ops_through_a_transposed_view_write_the_right_elements():
    x = mg.zeros(2, 3)
    x.T[0] += 1            # column 0 of x
    x.T.mul_(2)
    x.t()[2, 1] = 7.0      # element (1, 2) of x
    np.testing.assert_array_equal(x.array, [[2, 0, 0], [2, 0, 7]])


# ---- zero-size inputs: PyTorch's results, gradients included ---------------------------

def test_zero_size_reductions_and_products():
    empty = mg.zeros(0, 3, dtype=mg.float64, requires_grad=True)
    total = empty.sum()
    assert total.item() == 0.0
    total.backward()
    assert empty.grad.shape == (0, 3)
    assert mg.zeros(0, 3).sum(0).tolist() == [0.0, 0.0, 0.0]
    assert np.isnan(mg.zeros(0).mean().item())
    assert mg.zeros(0, 3).mean(1).shape == (0,)

    a = mg.zeros(2, 0, requires_grad=True)
    b = mg.zeros(0, 3, requires_grad=True)
    product = a @ b
    assert product.shape == (2, 3) and not product.array.any()  # an empty sum is 0
    product.sum().backward()
    assert a.grad.shape == (2, 0) and b.grad.shape == (0, 3)
    assert (mg.zeros(0, 2) @ mg.zeros(2, 3)).shape == (0, 3)


def test_zero_size_cat_and_softmax():
    a = mg.zeros(0, 3, requires_grad=True)
    b = mg.ones(2, 3, requires_grad=True)
    joined = mg.cat([a, b])
    assert joined.shape == (2, 3)
    (joined * 2).sum().backward()
    assert a.grad.shape == (0, 3) and b.grad.tolist() == [[2.0] * 3] * 2

    for function in (F.softmax, F.log_softmax):
        x = mg.zeros(2, 0, requires_grad=True)
        out = function(x, dim=1)
        assert out.shape == (2, 0)
        out.sum().backward()
        assert x.grad.shape == (2, 0)
        assert function(mg.zeros(0, 3), dim=1).shape == (0, 3)
    assert mg.logsumexp(mg.zeros(0), 0).item() == -np.inf  # log of an empty sum, as in PyTorch


def test_zero_size_without_a_result_is_a_clear_error():
    with raises(ValueError, "amax:", "zero-size"):
        mg.zeros(0).amax()
    with raises(IndexError, "max:", "dimension 0 of size 0", "(0, 3)"):
        mg.zeros(0, 3).max(0)
    with raises(ValueError, "stack:", "non-empty"):
        mg.stack([])


# ---- out-of-range indices: an IndexError with the index and the size ------------------

@pytest.mark.parametrize("index, shown, size", [(5, "5", "size 3"), (-4, "-4", "size 3"),
                                                 ((slice(None), 7), "7", "size 4")])
def test_getitem_out_of_range(index, shown, size):
    with raises(IndexError, "getitem:", f"index {shown}", size, "(3, 4)"):
        mg.randn(3, 4)[index]


def test_fancy_getitem_out_of_range():
    with raises(IndexError, "getitem:", "index 3", "size 3"):
        mg.randn(3, 4)[mg.tensor([0, 3])]


def test_setitem_out_of_range_leaves_the_tensor_unchanged():
    y = mg.tensor([1.0, 2.0])
    with raises(IndexError, "setitem:", "index 5", "size 2"):
        y[5] = 1.0
    assert y.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("bad", [5, -5])
def test_take_along_dim_and_gather_out_of_range(bad):
    with raises(IndexError, "take_along_dim:", f"index {bad}", "size 4"):
        mg.take_along_dim(mg.randn(3, 4), mg.tensor([[bad]]), 1)
    with raises(IndexError, f"index {bad}", "size 4"):
        mg.gather(mg.randn(3, 4), 1, mg.tensor([[bad]]))


@pytest.mark.parametrize("bad", [10, -1])
def test_embedding_out_of_range(bad):
    with raises(IndexError, "embedding:", f"index {bad}", "10 rows"):
        F.embedding(mg.tensor([0, bad]), mg.randn(10, 3))
    with raises(IndexError, "embedding:", f"index {bad}", "10 rows"):
        nn.Embedding(10, 3)(mg.tensor([[bad]]))


@pytest.mark.parametrize("bad", [3, 7, -1, -2])
@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
def test_class_targets_outside_0_to_c_are_refused_not_wrapped(loss, bad):
    logits = mg.randn(2, 3, requires_grad=True)
    with raises(IndexError, f"{loss}:", f"target {bad}", "[0, 3)", "3 classes"):
        getattr(F, loss)(logits, mg.tensor([0, bad]))


def test_cross_entropy_module_and_image_targets_are_checked_too():
    with raises(IndexError, "cross_entropy:", "target 5", "[0, 3)"):
        nn.CrossEntropyLoss()(mg.randn(2, 3), mg.tensor([0, 5]))
    with raises(IndexError, "cross_entropy:", "target 4", "[0, 4)"):
        F.cross_entropy(mg.randn(1, 4, 2, 2), mg.tensor([[[0, 1], [4, 2]]]))


def test_ignore_index_is_not_an_out_of_range_target():
    logits = mg.tensor([[1.0, 2.0, 3.0], [1.0, 0.0, 0.0]])
    loss = F.cross_entropy(logits, mg.tensor([2, -100]))
    expected = -np.log(np.exp(3) / np.exp([1, 2, 3]).sum())
    assert abs(loss.item() - expected) < 1e-6
    assert F.cross_entropy(logits, mg.tensor([2, 1]), ignore_index=1).item() == pytest.approx(expected, rel=1e-6)


# ---- in-place ops: a refused one leaves the value as it was ---------------------------

def _leaf():
    return mg.tensor([1.0, 2.0], requires_grad=True)


REFUSED_IN_PLACE = {
    # name: (make the tensor, the in-place op, fragments of the message)
    "leaf add_": (_leaf, lambda t: t.add_(1), ["add_:", "leaf tensor that requires grad", "no_grad"]),
    "leaf +=": (_leaf, lambda t: t.__iadd__(1), ["add_:", "leaf"]),
    "leaf *=": (_leaf, lambda t: t.__imul__(2), ["mul_:", "leaf"]),
    "leaf setitem": (_leaf, lambda t: t.__setitem__(0, 5.0), ["setitem:", "leaf"]),
    "leaf zero_": (_leaf, lambda t: t.zero_(), ["fill_:", "leaf"]),
    "leaf normal_": (_leaf, lambda t: t.normal_(), ["normal_:", "requires grad"]),
    "leaf clamp_": (_leaf, lambda t: t.clamp_(0, 1), ["clamp_:", "leaf"]),
    "leaf copy_": (_leaf, lambda t: t.copy_(mg.zeros(2)), ["copy_:", "leaf"]),
    "int add_ float": (lambda: mg.tensor([1, 2]), lambda t: t.add_(0.5), ["add_:", "float32", "int64"]),
    "int div_": (lambda: mg.tensor([1, 2]), lambda t: t.div_(2), ["div_:", "int64"]),
    "shape add_": (lambda: mg.tensor([1.0, 2.0]), lambda t: t.add_(mg.ones(3, 2)),
                   ["add_:", "(3, 2)", "(2,)"]),
    "shape copy_": (lambda: mg.tensor([1.0, 2.0]), lambda t: t.copy_(mg.ones(3)), ["copy_:", "(3,)", "(2,)"]),
    "shape setitem": (lambda: mg.tensor([1.0, 2.0]), lambda t: t.__setitem__(slice(None), mg.ones(3)),
                      ["setitem:", "(3,)", "(2,)"]),
    "expanded add_": (lambda: mg.tensor([1.0]).expand(3), lambda t: t.add_(1), ["add_:", "read-only", ".clone()"]),
}


@pytest.mark.parametrize("name", sorted(REFUSED_IN_PLACE))
def test_a_refused_in_place_op_leaves_the_value_unchanged(name):
    make, op, fragments = REFUSED_IN_PLACE[name]
    t = make()
    before, version = t.array.copy(), t._version
    with pytest.raises((RuntimeError, ValueError, IndexError)) as error:
        op(t)
    for fragment in fragments:
        assert fragment in str(error.value), f"{fragment!r} not in: {error.value}"
    assert np.array_equal(t.array, before), f"{name}: refused, but the value changed to {t.array}"
    assert t._version == version and t.grad_fn is None


def test_an_in_place_change_to_a_value_no_gradient_reads_is_allowed():
    # y * 2 needs only the constant 2 for its gradient, so changing y afterwards is harmless (PyTorch agrees)
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    z = y * 2
    y.add_(10)
    (z.sum() + y.sum()).backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_a_view_used_before_its_base_changes_in_place_is_fine():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    v = x.clone()
    v[0] = v[1] * 2          # v[1] is a view of v, read before v[0] is written
    v.sum().backward()
    assert x.grad.tolist() == [[0.0, 0.0], [3.0, 3.0]]


def test_an_in_place_change_to_a_saved_value_is_refused_at_backward():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    z = y * y          # saves y
    y.add_(1)
    with raises(RuntimeError, "mul:", "modified by an in-place operation", "version"):
        z.sum().backward()


# ---- state dicts and checkpoints -------------------------------------------------------

def test_load_state_dict_lists_every_problem_in_one_error_and_changes_nothing():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    state = dict(model.state_dict())
    before = {k: v.array.copy() for k, v in state.items()}
    del state["0.bias"], state["2.weight"]
    state["extra.weight"] = mg.zeros(1)
    state["3.bias"] = mg.zeros(2)
    state["0.weight"] = mg.zeros(5, 3)
    state["2.bias"] = mg.zeros(3)
    with pytest.raises(RuntimeError) as error:
        model.load_state_dict(state)
    message = str(error.value)
    for fragment in ["Sequential", "Missing key(s)", '"0.bias"', '"2.weight"', "Unexpected key(s)",
                     '"extra.weight"', '"3.bias"', "size mismatch for 0.weight", "(5, 3)", "(4, 3)",
                     "size mismatch for 2.bias", "(3,)", "(2,)"]:
        assert fragment in message, f"{fragment!r} not in: {message}"
    assert all(np.array_equal(before[k], v.array) for k, v in model.state_dict().items())


def test_load_state_dict_shape_mismatch_is_refused_even_when_not_strict():
    model = nn.Linear(3, 4)
    with raises(RuntimeError, "size mismatch for weight", "(4, 4)", "(4, 3)"):
        model.load_state_dict({"weight": mg.zeros(4, 4), "bias": mg.zeros(4)}, strict=False)


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "model.npz"
    mg.save(nn.Linear(3, 2).state_dict(), path)
    return path


def _corrupt(path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        data = data[:len(data) // 2]
    elif how == "bit flip":
        data[180] ^= 0x01   # inside weight.npy's array bytes
    elif how == "garbage":
        data = bytearray(b"this is not a checkpoint at all")
    elif how == "empty":
        data = bytearray()
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how, fragments", [
    ("truncated", ["truncated or corrupt"]),
    ("bit flip", ["weight.npy", "SHA-256", "changed after saving"]),
    ("garbage", ["not a minigrad checkpoint", "zip"]),
    ("empty", ["empty (0 bytes)"]),
])
def test_loading_a_corrupt_checkpoint(checkpoint, how, fragments):
    _corrupt(checkpoint, how)
    with pytest.raises(CheckpointError) as error:
        mg.load(checkpoint)
    message = str(error.value)
    assert message.startswith("load: ") and checkpoint.name in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in: {message}"


def test_loading_a_plain_npz_or_a_stream_of_junk(tmp_path):
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.zeros(3))
    with raises(CheckpointError, "load:", "not a minigrad checkpoint", "np.load"):
        mg.load(plain)
    with raises(CheckpointError, "load:", "zip"):
        mg.load(io.BytesIO(b"PK\x03\x04" + b"0" * 100))


# ---- the messages follow one pattern ----------------------------------------------------

def test_messages_start_with_the_op_name():
    """Spot-check the house style `op: what was wrong (values) - what was expected`."""
    cases = [
        lambda: mg.randn(2, 3) @ mg.randn(4, 5),
        lambda: mg.zeros(3) + mg.zeros(2),
        lambda: F.conv2d(mg.randn(1, 3, 5, 5), mg.randn(4, 2, 3, 3)),
        lambda: mg.randn(3)[4],
        lambda: F.cross_entropy(mg.randn(2, 3), mg.tensor([0, -1])),
        lambda: mg.tensor([1]).requires_grad_(),
        lambda: mg.zeros(1, device="cuda"),
    ]
    for case in cases:
        with pytest.raises(Exception) as error:
            case()
        assert type(error.value) in (RuntimeError, ValueError, IndexError), repr(error.value)
        assert re.match(r"^[A-Za-z_0-9.]+: \S", str(error.value)), str(error.value)


def test_mixed_float_dtypes_are_refused_by_matmul_linear_and_conv2d():
    # PyTorch refuses these too; a silent float64 result would double time and memory
    # (Linear with a bias is one addmm, as in PyTorch, so the error names addmm)
    a, b = mg.randn(2, 3), mg.randn(3, 4, dtype=mg.float64)
    with raises(RuntimeError, "matmul:", "same dtype", "float32", "float64"):
        a @ b
    with raises(RuntimeError, "addmm:", "int64", "float32"):
        nn.Linear(3, 2)(mg.tensor([[1, 2, 3]]))
    with raises(RuntimeError, "conv2d:", "float64", "float32"):
        nn.Conv2d(1, 2, 3)(mg.randn(1, 1, 5, 5, dtype=mg.float64))


def test_a_setting_passed_positionally_is_refused_at_the_call_naming_the_op_and_the_setting():
    from minigrad.ops.neural import Softmax
    from minigrad.ops.reduction import Sum
    x = mg.randn(2, 3, requires_grad=True)
    with raises(TypeError, "softmax: setting `axis` passed positionally", "Softmax takes 1 input(s)", "axis=..."):
        Softmax.apply(x, 1)
    with raises(TypeError, "sum: setting `axis`, `keepdims` passed positionally", "axis=..., keepdims=..."):
        Sum.apply(x, 0, True)
    assert np.allclose(Softmax.apply(x, axis=1).sum(1).detach().numpy(), 1.0)  # by keyword it runs


def test_a_type_error_inside_forward_is_not_mistaken_for_a_positional_setting():
    from minigrad.ops.neural import Softmax
    with pytest.raises(TypeError) as info:
        Softmax.apply(mg.randn(2, 3))  # `axis` missing: Python's own message, passed on unchanged
    assert "axis" in str(info.value) and "positionally" not in str(info.value)


def test_the_positional_setting_error_comes_alone_not_chained_to_pythons():
    from minigrad.ops.neural import Softmax
    with pytest.raises(TypeError) as info:
        Softmax.apply(mg.randn(2, 3), 1)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def _function_whose_backward_returns(shape):
    """y = 2x, as a user Function whose backward returns ones of `shape`, whatever x's shape."""
    class Custom(mg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return mg.ones(*shape)
    return Custom


@pytest.mark.parametrize("returned", [(3, 2), (2, 4), (3,)])  # (3, 2): x's size, so summing would hide it
def test_a_backward_returning_a_gradient_of_the_wrong_shape_is_refused_naming_the_function_and_shapes(returned):
    x = mg.randn(2, 3, requires_grad=True)
    with raises(RuntimeError, "custom: backward returned a gradient of shape", str(returned),
                "for input 0, which has shape (2, 3)"):
        _function_whose_backward_returns(returned).apply(x).sum().backward()


def test_a_backward_returning_a_broadcast_gradient_is_summed_down():
    x = mg.randn(2, 3, requires_grad=True)
    _function_whose_backward_returns((4, 2, 3)).apply(x).sum().backward()  # x broadcast against (4, 1, 1)
    np.testing.assert_array_equal(x.grad.array, np.full((2, 3), 4.0))
