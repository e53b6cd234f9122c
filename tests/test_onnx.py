"""minigrad.onnx.export: the course models export, pass onnx's full check, and onnxruntime's
outputs match minigrad's eval-mode forward at the traced batch size and at another one."""
import io

import numpy as np
import pytest

import minigrad as torch
import minigrad.nn.functional as F
from minigrad import nn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _flat(value):
    if isinstance(value, torch.Tensor):
        return [value.numpy()]
    return [a for v in value for a in _flat(v)]


def _roundtrip(model, args, others, input_names=None, output_names=None, batch_axes=None, target=None, **kwargs):
    """Export model (batch axis dynamic), check it, run it in onnxruntime at the traced and other sizes."""
    args = args if isinstance(args, tuple) else (args,)
    input_names = input_names or [f"x{i}" for i in range(len(args))]
    dynamic = {name: {axis: "batch"} for name, axis in zip(input_names, batch_axes or [0] * len(args))}
    buffer = io.BytesIO() if target is None else target
    torch.onnx.export(model, args, buffer, input_names=input_names, output_names=output_names,
                      dynamic_axes=dynamic, **kwargs)
    data = buffer.getvalue() if target is None else open(target, "rb").read()
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto, full_check=True)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    model.eval()
    sizes = []
    for inputs in [args] + [o if isinstance(o, tuple) else (o,) for o in others]:
        with torch.no_grad():
            expected = _flat(model(*inputs))
        got = session.run(None, {name: t.numpy() for name, t in zip(input_names, inputs)})
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert g.shape == e.shape
            np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)
        sizes.append(expected[0].shape)
    return proto, sizes


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ---- the course's models ---------------------------------------------------------------------

class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                                 nn.Linear(32, 10))

    def forward(self, x):
        return self.net(x)


class CNN(nn.Module):
    """Chapter 2's CNN with batch norm, both pools and dropout."""

    def __init__(self, h=4):
        super().__init__()
        self.conv1 = nn.Conv2d(1, h, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(h)
        self.conv2 = nn.Conv2d(h, h, kernel_size=3, padding=1)
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv3 = nn.Conv2d(h, 2 * h, kernel_size=3, stride=1, padding=1)
        self.pool2 = nn.AvgPool2d(2)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(2 * h * 2 * 2, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.pool1(F.relu(self.conv2(x)))
        x = self.pool2(F.relu(self.conv3(x)))
        return F.log_softmax(self.fc(self.drop(x.view(x.shape[0], -1))), dim=1)


class RecurrentHead(nn.Module):
    """Chapter 5's tagger on a 2-layer nn.LSTM or nn.GRU: tokens (N, T) -> logits (N, T, vocab)."""

    def __init__(self, cell, vocab=12, hidden=16):
        super().__init__()
        self.embed = nn.Embedding(vocab, 8)
        self.rnn = cell(8, hidden, num_layers=2, batch_first=True, dropout=0.2)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, tokens):
        out, _ = self.rnn(self.embed(tokens))
        return self.head(out)


def causal_mask(t):
    return torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)


class CourseAttention(nn.Module):
    """Chapter 6's narrow multi-head self-attention with the causal mask, written out."""

    def __init__(self, k, heads):
        super().__init__()
        self.heads = heads
        self.tokeys, self.toqueries = nn.Linear(k, k, bias=False), nn.Linear(k, k, bias=False)
        self.tovalues, self.unifyheads = nn.Linear(k, k, bias=False), nn.Linear(k, k)

    def forward(self, x):
        b, t, _ = x.shape

        def split(y):
            return y.reshape(b, t, self.heads, -1).transpose(1, 2)

        q, k, v = split(self.toqueries(x)), split(self.tokeys(x)), split(self.tovalues(x))
        scores = (q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5).masked_fill(causal_mask(t), float("-inf"))
        out = F.softmax(scores, dim=-1) @ v
        return self.unifyheads(out.transpose(1, 2).reshape(b, t, -1))


class CourseBlock(nn.Module):
    def __init__(self, k, heads):
        super().__init__()
        self.att = CourseAttention(k, heads)
        self.norm1, self.norm2 = nn.LayerNorm(k), nn.LayerNorm(k)
        self.ff = nn.Sequential(nn.Linear(k, 4 * k), nn.GELU(), nn.Dropout(0.1), nn.Linear(4 * k, k))

    def forward(self, x):
        x = self.norm1(self.att(x) + x)
        return self.norm2(self.ff(x) + x)


class CausalTransformer(nn.Module):
    """Token and position embeddings, a course block and a library encoder layer (causal), logits."""

    def __init__(self, vocab=20, k=16, heads=4, max_len=12):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, k)
        self.position_embedding = nn.Embedding(max_len, k)
        self.block = CourseBlock(k, heads)
        self.layer = nn.TransformerEncoderLayer(k, heads, dim_feedforward=32, dropout=0.1, batch_first=True)
        self.toprobs = nn.Linear(k, vocab)

    def forward(self, tokens):
        t = tokens.shape[1]
        x = self.token_embedding(tokens) + self.position_embedding(torch.arange(t))
        x = self.layer(self.block(x), src_mask=nn.Transformer.generate_square_subsequent_mask(t), is_causal=True)
        return self.toprobs(x)


class VAEDecoder(nn.Module):
    """Chapter 7's decoder: code (N, latent) -> image (N, 1, s, s) in (0, 1)."""

    def __init__(self, latent=4, s_img=8, hdim=(32, 16)):
        super().__init__()
        self.s_img = s_img
        self.linear1, self.linear2 = nn.Linear(latent, hdim[1]), nn.Linear(hdim[1], hdim[0])
        self.linear3 = nn.Linear(hdim[0], s_img * s_img)
        self.relu, self.sigmoid = nn.ReLU(), nn.Sigmoid()

    def forward(self, z):
        y = self.sigmoid(self.linear3(self.relu(self.linear2(self.relu(self.linear1(z))))))
        return y.view(-1, 1, self.s_img, self.s_img)


class Generator(nn.Module):
    """A DCGAN generator: noise (N, latent) -> image (N, 1, 16, 16) through ConvTranspose2d."""

    def __init__(self, latent=8, c=8):
        super().__init__()
        self.c = c
        self.project = nn.Sequential(nn.Linear(latent, c * 4 * 4), nn.LeakyReLU(0.2))
        self.net = nn.Sequential(nn.ConvTranspose2d(c, c // 2, 4, stride=2, padding=1), nn.BatchNorm2d(c // 2),
                                 nn.ReLU(), nn.ConvTranspose2d(c // 2, 1, 4, stride=2, padding=1), nn.Tanh())

    def forward(self, z):
        return self.net(self.project(z).view(z.shape[0], self.c, 4, 4))


def _train_batch_norm(model, x, steps=3):
    """A few training-mode forwards so the running statistics are not the initial 0 and 1."""
    model.train()
    with torch.no_grad():
        for _ in range(steps):
            model(x)
    model.eval()


# ---- each model: export, full check, onnxruntime at two batch sizes ------------------------------

def test_mlp():
    _, sizes = _roundtrip(MLP(), torch.randn(3, 1, 8, 8), [torch.randn(7, 1, 8, 8)])
    assert sizes == [(3, 10), (7, 10)]


def test_cnn_with_batch_norm_and_pools():
    model = CNN()
    _train_batch_norm(model, torch.randn(16, 1, 8, 8) * 2 + 1)
    _, sizes = _roundtrip(model, torch.randn(4, 1, 8, 8), [torch.randn(9, 1, 8, 8), torch.randn(1, 1, 8, 8)])
    assert sizes == [(4, 10), (9, 10), (1, 10)]


@pytest.mark.parametrize("cell", [nn.LSTM, nn.GRU])
def test_two_layer_recurrent_heads(cell):
    model = RecurrentHead(cell)
    tokens = torch.randint(0, 12, (3, 6))
    proto, sizes = _roundtrip(model, tokens, [torch.randint(0, 12, (5, 6)), torch.randint(0, 12, (1, 6))])
    assert sizes == [(3, 6, 12), (5, 6, 12), (1, 6, 12)]
    assert {i.name for i in proto.graph.initializer} >= {"rnn.weight_ih_l0", "rnn.weight_hh_l1", "embed.weight"}


class Tagger(nn.Module):
    """Chapter 5's tagger as written: one-hot tokens into nn.RNN/GRU/LSTM, then a linear head."""

    def __init__(self, rnn, hidden, vocab):
        super().__init__()
        self.vocab, self.rnn, self.head = vocab, rnn, nn.Linear(hidden, vocab)

    def forward(self, tokens):
        h = self.rnn(F.one_hot(tokens, self.vocab).float())
        return self.head(h[0] if isinstance(h, tuple) else h)


@pytest.mark.parametrize("cell", [nn.RNN, nn.GRU, nn.LSTM])
def test_chapter_5_tagger_with_one_hot_tokens(cell):
    model = Tagger(cell(7, 9, batch_first=True), 9, 7)
    _, sizes = _roundtrip(model, torch.randint(0, 7, (2, 5)), [torch.randint(0, 7, (4, 5))])
    assert sizes == [(2, 5, 7), (4, 5, 7)]


def test_numpy_work_the_tracer_cannot_follow_is_refused_not_baked_in():
    class Baked(nn.Module):
        def forward(self, x):
            flags = np.array(x.numpy()) > 0  # a plain copy: invisible to the tracer
            return x * torch.from_numpy(flags.astype(np.float32))

    with pytest.raises(torch.onnx.UnsupportedOperatorError, match="numpy work the tracer could not follow"):
        torch.onnx.export(Baked(), torch.randn(3, 4), io.BytesIO())


def test_lstm_returns_its_state_too():
    lstm = nn.LSTM(3, 5, num_layers=2, batch_first=True)
    proto, _ = _roundtrip(lstm, torch.randn(2, 4, 3), [torch.randn(6, 4, 3)], output_names=["out", "h", "c"])
    assert [o.name for o in proto.graph.output] == ["out", "h", "c"]


def test_causal_transformer_with_token_and_position_embeddings():
    model = CausalTransformer()
    tokens = torch.randint(0, 20, (2, 10))
    proto, sizes = _roundtrip(model, tokens, [torch.randint(0, 20, (5, 10))])
    assert sizes == [(2, 10, 20), (5, 10, 20)]
    # the causal mask works: logits at position 3 do not depend on later tokens
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    changed = tokens.numpy().copy()
    changed[:, 4:] = (changed[:, 4:] + 1) % 20
    a, = session.run(None, {"x0": tokens.numpy()})
    b, = session.run(None, {"x0": changed})
    np.testing.assert_allclose(a[:, :4], b[:, :4], rtol=1e-5, atol=1e-6)
    assert not np.allclose(a[:, 4:], b[:, 4:])


def test_multihead_attention_with_key_padding_mask():
    class Attend(nn.Module):
        def __init__(self):
            super().__init__()
            self.att = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x, padding):
            out, weights = self.att(x, x, x, key_padding_mask=padding)
            return out, weights

    padding = torch.tensor([[False, False, True], [False, True, True]])
    other = torch.tensor([[False, False, False], [False, False, True], [False, True, True]])
    _roundtrip(Attend(), (torch.randn(2, 3, 8), padding), [(torch.randn(3, 3, 8), other)])


def test_vae_decoder():
    _, sizes = _roundtrip(VAEDecoder(), torch.randn(5, 4), [torch.randn(2, 4)])
    assert sizes == [(5, 1, 8, 8), (2, 1, 8, 8)]


def test_gan_generator_with_conv_transpose():
    model = Generator()
    _train_batch_norm(model, torch.randn(8, 8))
    _, sizes = _roundtrip(model, torch.randn(3, 8), [torch.randn(6, 8)])
    assert sizes == [(3, 1, 16, 16), (6, 1, 16, 16)]


def test_conv1d_pools_and_every_activation():
    model = nn.Sequential(nn.Conv1d(2, 3, 3, padding=1), nn.MaxPool1d(2), nn.AvgPool1d(2), nn.GELU(),
                          nn.ELU(), nn.SiLU(), nn.Softplus(), nn.Hardtanh(), nn.ReLU6(), nn.LogSigmoid(),
                          nn.PReLU(), nn.LeakyReLU(), nn.Tanh(), nn.Sigmoid(), nn.ReLU(), nn.Softmax(-1))
    _roundtrip(model, torch.randn(2, 2, 16) * 3, [torch.randn(5, 2, 16) * 3])


@pytest.mark.parametrize("opset", [17, 18])
def test_layer_norm_adaptive_pool_reductions_and_indexing(opset):
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(6)
            self.pool = nn.AdaptiveAvgPool2d(1)

        def forward(self, x):
            y = self.norm(x)
            pooled = self.pool(y).flatten(1)
            picked = y[:, 1:, ::2, -1] * y.amax(dim=(1, 3), keepdim=True)[:, :, ::2, 0]
            both = torch.cat([pooled, picked.sum(-1), y.mean((1, 2)), x.std(-1).mean(-1)], dim=1)
            return torch.stack([both, both.flip(1)], dim=1).permute(2, 0, 1).cumsum(0)

    proto, _ = _roundtrip(Mixed(), torch.randn(2, 3, 6, 6), [torch.randn(4, 3, 6, 6)], opset_version=opset)
    assert proto.opset_import[0].version == opset


# ---- targets, names, errors ---------------------------------------------------------------------

def test_path_target_and_state_dict_names(tmp_path):
    model = CNN()
    path = tmp_path / "cnn.onnx"
    proto, _ = _roundtrip(model, torch.randn(2, 1, 8, 8), [torch.randn(3, 1, 8, 8)], target=str(path))
    names = {i.name for i in proto.graph.initializer}
    assert {"conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "fc.weight", "fc.bias"} <= names
    fc = next(i for i in proto.graph.initializer if i.name == "fc.weight")
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(fc), model.fc.weight.detach().numpy())
    batch = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param == "batch"


def test_export_restores_training_mode_and_without_dynamic_axes_the_size_is_fixed():
    model = MLP()
    model.train()
    buffer = io.BytesIO()
    torch.onnx.export(model, torch.randn(3, 1, 8, 8), buffer)
    assert model.training and all(m.training for m in model.modules())
    proto = onnx.load_from_string(buffer.getvalue())
    assert [i.name for i in proto.graph.input] == ["input"] and [o.name for o in proto.graph.output] == ["output"]
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [3, 1, 8, 8]


def test_unsupported_op_names_the_op_the_module_and_the_way_out():
    class Running(nn.Module):
        def forward(self, x):
            return torch.cumprod(x, 1)

    model = nn.Sequential(nn.Linear(4, 4), Running())
    with pytest.raises(torch.onnx.UnsupportedOperatorError) as error:
        torch.onnx.export(model, torch.randn(2, 4), io.BytesIO())
    message = str(error.value)
    assert "Cumprod" in message and "'1' (Running)" in message
    assert "register_op" in message and "supported_ops" in message


def test_register_op_is_the_way_out():
    from minigrad.ops.reduction import Cumprod

    @torch.onnx.register_op(Cumprod)
    def cumprod(g, s):  # exp(cumsum(log x)) for positive x
        return g.node("Exp", [g.node("CumSum", [g.node("Log", [s.inputs[0]]), g.ints(s.settings["axis"])])])

    try:
        model = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid())

        class Running(nn.Module):
            def forward(self, x):
                return torch.cumprod(model(x), 1)

        _roundtrip(Running(), torch.randn(2, 4), [torch.randn(5, 4)])
    finally:
        from minigrad import onnx as exporter
        del exporter._CONVERTERS[Cumprod]


def test_import_minigrad_does_not_import_onnx():
    import subprocess
    import sys
    code = "import sys, minigrad; assert 'onnx' not in sys.modules; print(minigrad.onnx.export.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "export"


def test_opset_before_17_is_refused():
    with pytest.raises(ValueError, match="opset_version 13 is not supported"):
        torch.onnx.export(MLP(), torch.randn(1, 64), io.BytesIO(), opset_version=13)


def test_args_must_be_tensors():
    with pytest.raises(TypeError, match="args must be a Tensor"):
        torch.onnx.export(MLP(), (np.zeros((1, 64)),), io.BytesIO())


def test_a_model_returning_its_input_as_it_came_is_refused():
    class PassesInputOn(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(3, 2)

        def forward(self, x):
            return self.layer(x), x
    with pytest.raises(RuntimeError, match="did not compute"):
        torch.onnx.export(PassesInputOn(), torch.randn(4, 3), io.BytesIO())


def test_a_forward_hook_is_exported_as_part_of_the_model():
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    model[0].register_forward_hook(lambda module, inputs, out: out * 2)  # (mg.compile would run it eagerly)
    _roundtrip(model, torch.randn(4, 3), [torch.randn(6, 3)])
