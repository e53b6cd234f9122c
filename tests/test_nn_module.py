"""The module system with real layers: state_dict, load_state_dict, train/eval, sharing, repr, dtype casts,
zero_grad and apply-based re-initialisation."""
import math
from collections import OrderedDict

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
import minigrad.nn.functional as F
from minigrad.testing import gradcheck


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.bn = nn.BatchNorm2d(2)
        self.heads = nn.ModuleList([nn.Linear(8, 3), nn.Linear(8, 2, bias=False)])
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2).flatten(1)
        h = self.drop(h)
        return [head(h) for head in self.heads]


class MLP(nn.Module):
    def __init__(self, sizes=(4, 5, 3)):
        super().__init__()
        self.layers = nn.Sequential(*[m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), nn.Tanh())])
        self.norm = nn.LayerNorm(sizes[-1])

    def forward(self, x):
        return self.norm(self.layers(x))


BLOCK_KEYS = ["conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
              "bn.num_batches_tracked", "heads.0.weight", "heads.0.bias", "heads.1.weight"]


def test_state_dict_keys_and_shapes_follow_pytorch():
    block = Block()
    state = block.state_dict()
    assert list(state) == BLOCK_KEYS
    assert state["conv.weight"].shape == (2, 1, 3, 3)
    assert state["heads.0.weight"].shape == (3, 8)
    assert state["bn.num_batches_tracked"].dtype == mg.int64 and state["bn.num_batches_tracked"].shape == ()
    assert not any(v.requires_grad for v in state.values())
    assert [n for n, _ in block.named_parameters()] == [k for k in BLOCK_KEYS if "running" not in k
                                                        and "num_batches" not in k]


def test_load_state_dict_round_trip_with_numpy_arrays_keeps_parameter_objects():
    source, target = Block(), Block()
    source(mg.randn(2, 1, 4, 4))                     # move the running stats away from their defaults
    arrays = {key: value.numpy().astype(np.float64) if value.dtype.kind == "f" else value.numpy()
              for key, value in source.state_dict().items()}
    before = {name: id(p) for name, p in target.named_parameters()}
    result = target.load_state_dict(arrays)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert {name: id(p) for name, p in target.named_parameters()} == before
    for key, value in target.state_dict().items():
        np.testing.assert_allclose(value.array, source.state_dict()[key].array, rtol=1e-6)
        assert value.dtype == source.state_dict()[key].dtype        # float64 arrays were cast to float32
    assert int(target.bn.num_batches_tracked.item()) == 1
    source.eval(), target.eval()
    x = mg.randn(2, 1, 4, 4)
    for a, b in zip(source(x), target(x)):
        np.testing.assert_allclose(a.array, b.array, rtol=1e-6)


def test_state_dict_is_a_detached_view_of_the_parameters():
    layer = nn.Linear(2, 2)
    state = layer.state_dict()
    with mg.no_grad():
        layer.weight.array[0, 0] = 42.0
    assert state["weight"].array[0, 0] == 42.0


def test_load_state_dict_reports_every_problem_in_one_error():
    model = MLP()
    state = OrderedDict(model.state_dict())
    del state["layers.0.bias"]
    state["layers.9.weight"] = np.zeros(3)
    state["norm.weight"] = np.zeros(4)
    with pytest.raises(RuntimeError) as error:
        model.load_state_dict(state)
    message = str(error.value)
    assert 'Missing key(s) in state_dict: "layers.0.bias"' in message
    assert 'Unexpected key(s) in state_dict: "layers.9.weight"' in message
    assert "size mismatch for norm.weight: copying a param with shape (4,) from checkpoint, the shape in " \
           "current model is (3,)" in message
    assert message.startswith("Error(s) in loading state_dict for MLP")


def test_non_strict_loading_returns_keys_but_still_refuses_shapes():
    model = MLP()
    weight = model.layers[0].weight.array.copy()
    partial = {"layers.0.weight": np.ones((5, 4)), "extra": np.zeros(1)}
    missing, unexpected = model.load_state_dict(partial, strict=False)
    assert unexpected == ["extra"] and "layers.0.bias" in missing and "layers.0.weight" not in missing
    np.testing.assert_array_equal(model.layers[0].weight.array, 1.0)
    assert not np.array_equal(weight, 1.0)
    with pytest.raises(RuntimeError, match=r"size mismatch for layers.0.weight: copying a param with shape "
                                           r"\(4, 5\) from checkpoint, the shape in current model is \(5, 4\)"):
        model.load_state_dict({"layers.0.weight": np.ones((4, 5))}, strict=False)


def test_train_eval_switch_dropout_and_batch_norm():
    block = Block()
    assert block.training and all(m.training for m in block.modules())
    x = mg.randn(4, 1, 4, 4)
    mg.manual_seed(0)
    a = block(x)[0]
    mg.manual_seed(1)
    b = block(x)[0]
    assert not np.allclose(a.array, b.array)            # dropout masks differ in training
    assert int(block.bn.num_batches_tracked.item()) == 2
    assert block.eval() is block
    assert not any(m.training for m in block.modules())
    running = block.bn.running_mean.array.copy()
    c, d = block(x)[0], block(x)[0]
    np.testing.assert_array_equal(c.array, d.array)     # deterministic in eval
    np.testing.assert_array_equal(block.bn.running_mean.array, running)
    assert int(block.bn.num_batches_tracked.item()) == 2
    block.train()
    assert block.drop.training and block.bn.training
    with pytest.raises(ValueError, match="mode is expected to be a bool"):
        block.train("no")


def test_shared_parameters_are_not_duplicated():
    emb = nn.Embedding(7, 4)
    head = nn.Linear(4, 7, bias=False)
    head.weight = emb.weight                        # weight tying
    model = nn.Sequential(emb, head)
    params = list(model.parameters())
    assert len(params) == 1 and params[0] is emb.weight
    assert list(model.state_dict()) == ["0.weight", "1.weight"]      # PyTorch keeps both keys
    shared = nn.Linear(3, 3)
    twice = nn.Sequential(shared, nn.Tanh(), shared)
    assert len(list(twice.parameters())) == 2
    assert [n for n, _ in twice.named_modules()] == ["", "0", "1"]
    out = twice(mg.randn(2, 3))
    out.sum().backward()
    assert shared.weight.grad.shape == (3, 3)       # gradients from both uses accumulated in one tensor


def test_assigning_a_parameter_re_registers_it():
    layer = nn.Linear(3, 2)
    old = layer.weight
    new = nn.Parameter(mg.zeros(2, 3))
    layer.weight = new
    assert layer.weight is new and layer._parameters["weight"] is new
    assert all(p is not old for p in layer.parameters())
    assert len(list(layer.parameters())) == 2
    np.testing.assert_array_equal(layer(mg.ones(1, 3)).array, layer.bias.array[None])
    with pytest.raises(TypeError, match=r"cannot assign Tensor as parameter 'weight'"):
        layer.weight = mg.zeros(2, 3)
    layer.bias = None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    assert layer(mg.ones(1, 3)).shape == (1, 2)
    layer.extra = nn.Parameter(mg.ones(1))
    assert [n for n, _ in layer.named_parameters()] == ["weight", "extra"]
    del layer.extra
    assert [n for n, _ in layer.named_parameters()] == ["weight"]


def test_repr_prints_the_tree_like_pytorch():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(),
                          nn.Sequential(nn.Linear(36, 10), nn.Dropout(0.2)))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1))\n"
        "  (1): ReLU()\n"
        "  (2): Flatten(start_dim=1, end_dim=-1)\n"
        "  (3): Sequential(\n"
        "    (0): Linear(in_features=36, out_features=10, bias=True)\n"
        "    (1): Dropout(p=0.2, inplace=False)\n"
        "  )\n"
        ")")
    assert repr(MLP()).startswith("MLP(\n  (layers): Sequential(\n    (0): Linear(in_features=4, out_features=5")
    assert repr(nn.ModuleList([nn.Tanh()])) == "ModuleList(\n  (0): Tanh()\n)"


def test_double_then_gradcheck_whole_model():
    model = MLP((3, 4, 2))
    assert model.double() is model
    assert all(p.dtype == mg.float64 for p in model.parameters())
    params = list(model.parameters())
    x = mg.randn(2, 3, dtype=mg.float64, requires_grad=True)
    assert gradcheck(lambda x, *ps: model(x), [x] + params)
    block = Block().to(mg.float64)
    assert block.bn.running_var.dtype == mg.float64 and block.bn.num_batches_tracked.dtype == mg.int64
    block.eval()
    with mg.no_grad():
        block.bn.running_var.uniform_(0.5, 1.5)
    xb = mg.randn(1, 1, 4, 4, dtype=mg.float64, requires_grad=True)
    projection = [mg.randn(1, 3, dtype=mg.float64), mg.randn(1, 2, dtype=mg.float64)]
    assert gradcheck(lambda x, *ps: sum((o * r).sum() for o, r in zip(block(x), projection)),
                     [xb] + list(block.parameters()))
    assert model.float().layers[0].weight.dtype == mg.float32
    assert model.to("cpu", non_blocking=True).layers[0].weight.dtype == mg.float32
    with pytest.raises(TypeError, match="only accepts floating point dtypes"):
        model.to(mg.int64)


def test_zero_grad_sets_none_and_gradients_accumulate():
    model = MLP()
    x = mg.randn(3, 4)
    model(x).sum().backward()
    first = model.layers[0].weight.grad.array.copy()
    model(x).sum().backward()
    np.testing.assert_allclose(model.layers[0].weight.grad.array, 2 * first, rtol=1e-5, atol=1e-7)
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model(x).sum().backward()
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.array.any() for p in model.parameters())


def test_apply_reinitialises_like_the_course_init_params():
    model = MLP((10, 50, 50))
    std = 0.02

    def init_params(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=std)
            nn.init.zeros_(m.bias)

    visited = []
    assert model.apply(lambda m: visited.append(type(m).__name__)) is model
    assert visited[-1] == "MLP" and visited.count("Linear") == 2       # children before parents
    mg.manual_seed(0)
    model.apply(init_params)
    weights = np.concatenate([m.weight.array.ravel() for m in model.modules() if isinstance(m, nn.Linear)])
    assert abs(weights.std() - std) < 0.1 * std
    assert all(not m.bias.array.any() for m in model.modules() if isinstance(m, nn.Linear))
    np.testing.assert_array_equal(model.norm.weight.array, 1.0)            # untouched
    first = model.layers[0].weight.array.copy()
    mg.manual_seed(0)
    model.apply(lambda m: nn.init.normal_(m.weight, std=std) if isinstance(m, nn.Linear) else None)
    np.testing.assert_array_equal(model.layers[0].weight.array, first)     # same seed, same weights


def test_custom_module_registration_and_errors():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(mg.ones(1))
            self.register_buffer("steps", mg.zeros(1))
            self.register_buffer("cache", mg.zeros(1), persistent=False)
            self.body = nn.Linear(2, 2)
            self.note = "plain attribute"

        def forward(self, x):
            return self.body(x) * self.scale

    net = Net()
    assert list(net.state_dict()) == ["scale", "steps", "body.weight", "body.bias"]
    assert [n for n, _ in net.named_buffers()] == ["steps", "cache"]
    assert [n for n, _ in net.named_children()] == ["body"]
    assert net.get_submodule("body") is net.body and net.get_parameter("body.bias") is net.body.bias
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'missing'"):
        net.missing
    assert net(mg.ones(3, 2)).shape == (3, 2)

    class Broken(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\) first"):
        Broken()
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(mg.ones(1))


def test_requires_grad_and_frozen_layers():
    model = MLP()
    model.layers[0].requires_grad_(False)
    model(mg.randn(2, 4)).sum().backward()
    assert model.layers[0].weight.grad is None and model.layers[2].weight.grad is not None
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert len(trainable) == 4


def test_forward_hooks_see_module_outputs():
    model = MLP()
    seen = []
    handle = model.layers[0].register_forward_hook(lambda m, inputs, out: seen.append(out.shape))
    model(mg.randn(3, 4))
    handle.remove()
    model(mg.randn(3, 4))
    assert seen == [(3, 5)]


def test_parameter_basics():
    p = nn.Parameter(mg.randn(2, 3))
    assert p.requires_grad and p.is_leaf and isinstance(p, mg.Tensor)
    assert repr(p).startswith("Parameter containing:\ntensor(")
    frozen = nn.Parameter(mg.randn(2), requires_grad=False)
    assert not frozen.requires_grad
    plist = nn.ParameterList([nn.Parameter(mg.ones(1)), mg.zeros(2)])
    assert [n for n, _ in plist.named_parameters()] == ["0", "1"] and isinstance(plist[1], nn.Parameter)
    d = nn.ModuleDict({"a": nn.Linear(1, 1)})
    assert list(d.state_dict()) == ["a.weight", "a.bias"]
    assert math.isclose(len(list(MLP().parameters())), 6)
