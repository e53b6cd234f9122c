"""Sequence layers (RNN/GRU/LSTM, attention, transformers) against numpy references.

The references below are written from PyTorch's documented equations with
plain numpy, independently of the layers' code; the layers run in float64 so
that agreement is checked to ~1e-10. Gradients are checked by finite
differences (minigrad.testing.gradcheck) w.r.t. the input, the initial state
and every parameter.
"""
import copy
import itertools
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
import minigrad.nn.functional as F
from minigrad.testing import gradcheck

RNG = np.random.default_rng(0)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def randn(*shape):
    return RNG.standard_normal(shape)


def tensor(array, requires_grad=False):
    return mg.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def numpy_state(module):
    return {name: value.detach().numpy().astype(np.float64) for name, value in module.state_dict().items()}


# ---- numpy references: PyTorch's RNN equations ---------------------------------------------------

def ref_step(mode, x, h, c, w_ih, w_hh, b_ih, b_hh):
    gi = x @ w_ih.T + (b_ih if b_ih is not None else 0)
    gh = h @ w_hh.T + (b_hh if b_hh is not None else 0)
    if mode == "LSTM":
        i, f, g, o = np.split(gi + gh, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        return sigmoid(o) * np.tanh(c), c
    if mode == "GRU":
        ir, iz, in_ = np.split(gi, 3, axis=-1)
        hr, hz, hn = np.split(gh, 3, axis=-1)
        r, z = sigmoid(ir + hr), sigmoid(iz + hz)
        n = np.tanh(in_ + r * hn)
        return (1 - z) * n + z * h, None
    pre = gi + gh
    return (np.tanh(pre) if mode == "RNN_TANH" else np.maximum(pre, 0)), None


def ref_rnn(module, x, h0=None, c0=None):
    """Multi-layer, bidirectional reference; x time-major (L, N, D). Returns (out, h_n, c_n)."""
    sd = numpy_state(module)
    mode, layers = module.mode, module.num_layers
    dirs = 2 if module.bidirectional else 1
    length, n = x.shape[:2]
    size = module.hidden_size
    if h0 is None:
        h0 = np.zeros((layers * dirs, n, size))
    if c0 is None:
        c0 = np.zeros((layers * dirs, n, size))
    h_n, c_n, layer_input = [], [], x
    for layer in range(layers):
        outs = []
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            p = [sd.get(name + sfx) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            h, c = h0[layer * dirs + d], c0[layer * dirs + d]
            out = np.zeros((length, n, size))
            for t in (reversed(range(length)) if d else range(length)):
                h, c_new = ref_step(mode, layer_input[t], h, c, *p)
                c = c_new if c_new is not None else c
                out[t] = h
            outs.append(out)
            h_n.append(h)
            c_n.append(c)
        layer_input = np.concatenate(outs, -1)
    return layer_input, np.stack(h_n), np.stack(c_n)


def make_rnn(mode, *args, **kwargs):
    if mode == "LSTM":
        return nn.LSTM(*args, **kwargs)
    if mode == "GRU":
        return nn.GRU(*args, **kwargs)
    return nn.RNN(*args, nonlinearity="tanh" if mode == "RNN_TANH" else "relu", **kwargs)


MODES = ["RNN_TANH", "RNN_RELU", "GRU", "LSTM"]


# ---- RNN layers: values --------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("num_layers,bidirectional,batch_first,initial,bias", [
    (1, False, False, False, True),
    (2, False, True, True, True),
    (1, True, False, True, False),
    (2, True, True, False, True),
    (3, True, False, True, True),
])
def test_rnn_layers_match_numpy(mode, num_layers, bidirectional, batch_first, initial, bias):
    mg.manual_seed(1)
    length, n, d, size = 5, 3, 4, 6
    m = make_rnn(mode, d, size, num_layers=num_layers, bias=bias, batch_first=batch_first,
                 bidirectional=bidirectional).double()
    dirs = 2 if bidirectional else 1
    x = randn(length, n, d)
    h0 = randn(num_layers * dirs, n, size) if initial else None
    c0 = randn(num_layers * dirs, n, size) if initial else None
    ref_out, ref_h, ref_c = ref_rnn(m, x, h0, c0)
    x_in = tensor(x.transpose(1, 0, 2) if batch_first else x)
    if mode == "LSTM":
        out, (h_n, c_n) = m(x_in, (tensor(h0), tensor(c0)) if initial else None)
        np.testing.assert_allclose(c_n.detach().numpy(), ref_c, rtol=1e-10, atol=1e-12)
    else:
        out, h_n = m(x_in, tensor(h0) if initial else None)
    out = out.detach().numpy().transpose(1, 0, 2) if batch_first else out.detach().numpy()
    np.testing.assert_allclose(out, ref_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h_n.detach().numpy(), ref_h, rtol=1e-10, atol=1e-12)
    # the last time step of the last layer's forward direction is its final state
    np.testing.assert_allclose(ref_out[-1, :, :size], ref_h[-dirs])


@pytest.mark.parametrize("mode", MODES)
def test_rnn_unbatched_equals_batch_of_one(mode):
    mg.manual_seed(2)
    m = make_rnn(mode, 3, 4, num_layers=2, bidirectional=True).double()
    x = tensor(randn(6, 3))
    h0 = tensor(randn(4, 4))
    hx = (h0, tensor(randn(4, 4))) if mode == "LSTM" else h0
    out, state = m(x, hx)
    batched_hx = tuple(mg.unsqueeze(h, 1) for h in hx) if mode == "LSTM" else mg.unsqueeze(h0, 1)
    out_b, state_b = m(mg.unsqueeze(x, 1), batched_hx)
    assert out.shape == (6, 8)
    np.testing.assert_allclose(out.detach().numpy(), out_b.detach().numpy()[:, 0])
    states, states_b = (state, state_b) if mode == "LSTM" else ((state,), (state_b,))
    for s, s_b in zip(states, states_b):
        assert s.shape == (4, 4)
        np.testing.assert_allclose(s.detach().numpy(), s_b.detach().numpy()[:, 0])


def test_long_sequence_matches_numpy():
    # long enough that the time steps are sliced in blocks (the O(L^1.5) path)
    mg.manual_seed(3)
    m = nn.LSTM(2, 3).double()
    x = randn(40, 2, 2)
    out, (h_n, c_n) = m(tensor(x, requires_grad=True))
    ref_out, ref_h, ref_c = ref_rnn(m, x)
    np.testing.assert_allclose(out.detach().numpy(), ref_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c_n.detach().numpy(), ref_c, rtol=1e-10, atol=1e-12)


# ---- cells ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_numpy(mode, batched):
    mg.manual_seed(4)
    d, size = 3, 5
    cell = {"LSTM": nn.LSTMCell(d, size), "GRU": nn.GRUCell(d, size), "RNN_TANH": nn.RNNCell(d, size),
            "RNN_RELU": nn.RNNCell(d, size, nonlinearity="relu")}[mode].double()
    shape = (4,) if batched else ()
    x, h, c = randn(*shape, d), randn(*shape, size), randn(*shape, size)
    sd = numpy_state(cell)
    ref_h, ref_c = ref_step(mode, x, h, c, sd["weight_ih"], sd["weight_hh"], sd["bias_ih"], sd["bias_hh"])
    if mode == "LSTM":
        out_h, out_c = cell(tensor(x), (tensor(h), tensor(c)))
        np.testing.assert_allclose(out_c.detach().numpy(), ref_c, rtol=1e-12)
    else:
        out_h = cell(tensor(x), tensor(h))
    assert out_h.shape == shape + (size,)
    np.testing.assert_allclose(out_h.detach().numpy(), ref_h, rtol=1e-12, atol=1e-14)


def test_cell_default_state_is_zero():
    mg.manual_seed(5)
    cell = nn.GRUCell(3, 2).double()
    x = tensor(randn(4, 3))
    np.testing.assert_allclose(cell(x).detach().numpy(), cell(x, tensor(np.zeros((4, 2)))).detach().numpy())
    lstm = nn.LSTMCell(3, 2).double()
    h, c = lstm(x)
    h2, c2 = lstm(x, (tensor(np.zeros((4, 2))), tensor(np.zeros((4, 2)))))
    np.testing.assert_allclose(h.detach().numpy(), h2.detach().numpy())
    np.testing.assert_allclose(c.detach().numpy(), c2.detach().numpy())


def test_cell_unrolled_equals_layer():
    mg.manual_seed(6)
    lstm = nn.LSTM(3, 4).double()
    cell = nn.LSTMCell(3, 4).double()
    cell.load_state_dict({k[:-3]: v for k, v in lstm.state_dict().items()})
    x = tensor(randn(5, 2, 3))
    out, (h_n, c_n) = lstm(x)
    h = c = None
    for t in range(5):
        h, c = cell(x[t], None if h is None else (h, c))
        np.testing.assert_allclose(h.detach().numpy(), out.detach().numpy()[t], rtol=1e-12)
    np.testing.assert_allclose(c.detach().numpy(), c_n.detach().numpy()[0], rtol=1e-12)


def test_recurrent_results_are_c_contiguous_as_in_pytorch():
    x = mg.randn(5, 2, 3)
    results = [*nn.RNN(3, 4)(x), *nn.GRU(3, 4, batch_first=True, bidirectional=True)(x)]
    out, (h_n, c_n) = nn.LSTM(3, 4, num_layers=2)(x)
    results += [out, h_n, c_n, nn.RNNCell(3, 4)(x[0]), nn.GRUCell(3, 4)(x[0]), *nn.LSTMCell(3, 4)(x[0])]
    assert all(result.is_contiguous() for result in results)


def test_lstm_cell_returns_the_c_its_h_is_made_from():
    """As in PyTorch, h' = o * tanh(c') of the very c' returned: a loss on the last h alone gives
    the last c a gradient (the course's chapter 5 plots ||dL/dc_t||), equal to dL/dh * o * tanh'(c)."""
    mg.manual_seed(8)
    cell = nn.LSTMCell(3, 4).double()
    h, c = cell(tensor(randn(2, 3)))
    c.retain_grad()
    h.sum().backward()
    assert c.grad is not None
    o = (h / mg.tanh(c)).detach().numpy()  # the output gate, recovered from the results
    np.testing.assert_allclose(c.grad.numpy(), o * (1 - np.tanh(c.detach().numpy()) ** 2), rtol=1e-10)


# ---- gradients -----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_cell_gradcheck(mode):
    mg.manual_seed(7)
    cell = {"LSTM": nn.LSTMCell(3, 2), "GRU": nn.GRUCell(3, 2), "RNN_TANH": nn.RNNCell(3, 2),
            "RNN_RELU": nn.RNNCell(3, 2, nonlinearity="relu")}[mode].double()
    x = tensor(randn(2, 3), requires_grad=True)
    h = tensor(randn(2, 2), requires_grad=True)
    params = list(cell.parameters())
    if mode == "LSTM":
        c = tensor(randn(2, 2), requires_grad=True)
        assert gradcheck(lambda x, h, c, *p: cell(x, (h, c)), [x, h, c, *params])
    else:
        assert gradcheck(lambda x, h, *p: cell(x, h), [x, h, *params])


@pytest.mark.parametrize("mode", MODES)
def test_layer_gradcheck(mode):
    mg.manual_seed(8)
    m = make_rnn(mode, 2, 2, num_layers=2, bidirectional=True, batch_first=True).double()
    x = tensor(randn(2, 3, 2), requires_grad=True)
    h0 = tensor(randn(4, 2, 2), requires_grad=True)
    params = list(m.parameters())
    assert len(params) == 16
    if mode == "LSTM":
        c0 = tensor(randn(4, 2, 2), requires_grad=True)
        assert gradcheck(lambda x, h, c, *p: (lambda o: (o[0], o[1][0], o[1][1]))(m(x, (h, c))),
                         [x, h0, c0, *params])
    else:
        assert gradcheck(lambda x, h, *p: m(x, h), [x, h0, *params])


def test_layer_gradcheck_long_sequence():
    # the blocked time slicing must give the same gradient as the plain one
    mg.manual_seed(9)
    m = nn.GRU(1, 2).double()
    x = tensor(randn(17, 1, 1), requires_grad=True)
    assert gradcheck(lambda x, *p: m(x)[0], [x, *m.parameters()])


# ---- parameters: names, shapes, init -------------------------------------------------------------

def test_rnn_state_dict_keys_and_shapes_match_pytorch():
    m = nn.LSTM(10, 20, num_layers=2, bidirectional=True)
    expected = []
    for layer in range(2):
        for sfx in ("", "_reverse"):
            expected += [f"weight_ih_l{layer}{sfx}", f"weight_hh_l{layer}{sfx}",
                         f"bias_ih_l{layer}{sfx}", f"bias_hh_l{layer}{sfx}"]
    assert list(m.state_dict()) == expected
    sd = m.state_dict()
    assert sd["weight_ih_l0"].shape == (80, 10)
    assert sd["weight_ih_l1_reverse"].shape == (80, 40)
    assert sd["weight_hh_l1"].shape == (80, 20)
    assert sd["bias_hh_l0_reverse"].shape == (80,)
    assert nn.GRU(3, 5).weight_ih_l0.shape == (15, 3)
    assert nn.RNN(3, 5).weight_hh_l0.shape == (5, 5)
    assert list(nn.GRU(3, 5, bias=False).state_dict()) == ["weight_ih_l0", "weight_hh_l0"]
    assert list(nn.LSTMCell(3, 4).state_dict()) == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    assert nn.LSTMCell(3, 4).weight_ih.shape == (16, 3)
    assert list(nn.GRUCell(3, 4, bias=False).state_dict()) == ["weight_ih", "weight_hh"]


@pytest.mark.parametrize("cls", [nn.RNN, nn.GRU, nn.LSTM, nn.RNNCell, nn.GRUCell, nn.LSTMCell])
def test_rnn_init_is_uniform_in_pytorch_range(cls):
    mg.manual_seed(10)
    m = cls(30, 25)
    bound = 1 / math.sqrt(25)
    for name, p in m.named_parameters():
        assert p.dtype == mg.float32
        assert np.abs(p.detach().numpy()).max() <= bound, name
        assert np.abs(p.detach().numpy()).max() > 0.9 * bound, name  # spread over the range, not all near 0
        assert abs(p.detach().numpy().mean()) < 0.1 * bound or p.numel() < 200, name


def test_rnn_output_shapes_for_all_flag_combinations():
    length, n, d, size = 4, 3, 2, 5
    for mode, batch_first, bidirectional, layers, batched, bias in itertools.product(
            MODES, [False, True], [False, True], [1, 2], [False, True], [False, True]):
        m = make_rnn(mode, d, size, num_layers=layers, bias=bias, batch_first=batch_first,
                     bidirectional=bidirectional)
        dirs = 2 if bidirectional else 1
        if batched:
            x = mg.randn(n, length, d) if batch_first else mg.randn(length, n, d)
            out_shape = (n, length, dirs * size) if batch_first else (length, n, dirs * size)
            state_shape = (layers * dirs, n, size)
        else:
            x = mg.randn(length, d)
            out_shape, state_shape = (length, dirs * size), (layers * dirs, size)
        out, state = m(x)
        assert out.shape == out_shape, (mode, batch_first, bidirectional, layers, batched)
        for s in (state if mode == "LSTM" else (state,)):
            assert s.shape == state_shape, (mode, batch_first, bidirectional, layers, batched)
            assert s.dtype == mg.float32


def test_rnn_dropout_between_layers_only_in_training():
    mg.manual_seed(11)
    m = nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    plain = nn.LSTM(3, 4, num_layers=2)
    plain.load_state_dict(m.state_dict())
    x = mg.randn(5, 2, 3)
    a, _ = m(x)
    b, _ = m(x)
    assert not np.allclose(a.detach().numpy(), b.detach().numpy())  # fresh masks each call
    m.eval()
    np.testing.assert_allclose(m(x)[0].detach().numpy(), plain(x)[0].detach().numpy(), rtol=1e-6)
    # dropout acts between layers, never on the output: a one-layer net ignores it (and warns)
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        single = nn.GRU(3, 4, num_layers=1, dropout=0.9)
    np.testing.assert_array_equal(single(x)[0].detach().numpy(), single(x)[0].detach().numpy())
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.GRU(3, 4, num_layers=1, dropout=0.3)


def test_rnn_repr():
    assert repr(nn.LSTM(10, 20, num_layers=2, batch_first=True)) == "LSTM(10, 20, num_layers=2, batch_first=True)"
    assert repr(nn.GRUCell(3, 4)) == "GRUCell(3, 4)"
    assert repr(nn.RNN(3, 4, nonlinearity="relu")) == "RNN(3, 4, nonlinearity='relu')"


def test_rnn_errors_name_the_layer_and_shapes():
    m = nn.LSTM(4, 3, num_layers=2)
    with pytest.raises(ValueError, match=r"LSTM: expected input to be 2-D .* got 4-D"):
        m(mg.randn(2, 3, 4, 4))
    with pytest.raises(RuntimeError, match=r"LSTM: input.size\(-1\) must be equal to input_size - expected 4, got 5"):
        m(mg.randn(6, 2, 5))
    with pytest.raises(RuntimeError, match=r"LSTM: expected h_0 of shape \(2, 2, 3\), got \(1, 2, 3\)"):
        m(mg.randn(6, 2, 4), (mg.zeros(1, 2, 3), mg.zeros(2, 2, 3)))
    with pytest.raises(RuntimeError, match=r"LSTM: expected c_0 of shape \(2, 2, 3\), got \(2, 5, 3\)"):
        m(mg.randn(6, 2, 4), (mg.zeros(2, 2, 3), mg.zeros(2, 5, 3)))
    with pytest.raises(RuntimeError, match=r"GRU: for batched 3-D input, hx should also be 3-D"):
        nn.GRU(4, 3)(mg.randn(6, 2, 4), mg.zeros(2, 3))
    with pytest.raises(TypeError, match="LSTM: hx must be a tuple"):
        m(mg.randn(6, 2, 4), mg.zeros(2, 2, 3))
    with pytest.raises(RuntimeError, match=r"GRUCell: input has inconsistent input_size: got 2 .* expected 4"):
        nn.GRUCell(4, 3)(mg.randn(5, 2))
    with pytest.raises(RuntimeError, match=r"RNNCell: hx has shape \(4, 3\), expected \(5, 3\)"):
        nn.RNNCell(4, 3)(mg.randn(5, 4), mg.zeros(4, 3))
    with pytest.raises(ValueError, match="RNN: unknown nonlinearity 'sigmoid'"):
        nn.RNN(4, 3, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="GRU: hidden_size must be a positive integer, got 0"):
        nn.GRU(4, 0)
    with pytest.raises(ValueError, match="LSTM: dropout should be a number in"):
        nn.LSTM(4, 3, dropout=1.5)


# ---- numpy references: attention ----------------------------------------------------------------

def ref_sdpa(q, k, v, bias):
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1]) + bias
    return softmax(scores) @ v


def ref_mha(m, query, key, value, attn_mask=None, key_padding_mask=None, average=True):
    """PyTorch's MHA on time-major (L, N, E) arrays; masks: bool True = blocked, or float added."""
    sd = numpy_state(m)
    e, heads = m.embed_dim, m.num_heads
    hd = e // heads
    if m._qkv_same_embed_dim:
        wq, wk, wv = np.split(sd["in_proj_weight"], 3)
    else:
        wq, wk, wv = sd["q_proj_weight"], sd["k_proj_weight"], sd["v_proj_weight"]
    bq, bk, bv = np.split(sd["in_proj_bias"], 3) if "in_proj_bias" in sd else (0, 0, 0)
    length, n = query.shape[:2]
    s = key.shape[0]

    def heads_first(y, t):  # (t, N, E) -> (N, heads, t, hd)
        return y.reshape(t, n, heads, hd).transpose(1, 2, 0, 3)

    q = heads_first(query @ wq.T + bq, length)
    k = heads_first(key @ wk.T + bk, s)
    v = heads_first(value @ wv.T + bv, s)
    bias = np.zeros((n, heads, length, s))
    if attn_mask is not None:
        am = np.where(attn_mask, -np.inf, 0.0) if attn_mask.dtype == bool else attn_mask
        bias = bias + (am if am.ndim == 2 else am.reshape(n, heads, length, s))
    if key_padding_mask is not None:
        kpm = np.where(key_padding_mask, -np.inf, 0.0) if key_padding_mask.dtype == bool else key_padding_mask
        bias = bias + kpm[:, None, None, :]
    weights = softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + bias)
    out = (weights @ v).transpose(2, 0, 1, 3).reshape(length, n, e)
    out = out @ sd["out_proj.weight"].T + sd.get("out_proj.bias", 0)
    return out, (weights.mean(1) if average else weights)


# ---- scaled_dot_product_attention ---------------------------------------------------------------

def test_sdpa_matches_numpy_with_masks():
    q, k, v = randn(2, 3, 4, 5), randn(2, 3, 6, 5), randn(2, 3, 6, 7)
    tq, tk, tv = tensor(q), tensor(k), tensor(v)
    out = F.scaled_dot_product_attention(tq, tk, tv)
    np.testing.assert_allclose(out.detach().numpy(), ref_sdpa(q, k, v, 0.0), rtol=1e-10)
    assert out.shape == (2, 3, 4, 7)
    allowed = RNG.random((4, 6)) > 0.4
    allowed[:, 0] = True  # every query sees at least one key
    out = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=mg.tensor(allowed))
    np.testing.assert_allclose(out.detach().numpy(), ref_sdpa(q, k, v, np.where(allowed, 0.0, -np.inf)), rtol=1e-10)
    additive = randn(3, 4, 6)
    out = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=tensor(additive))
    np.testing.assert_allclose(out.detach().numpy(), ref_sdpa(q, k, v, additive), rtol=1e-10)
    out = F.scaled_dot_product_attention(tq, tk, tv, scale=0.3)
    np.testing.assert_allclose(out.detach().numpy(), ref_sdpa(q * 0.3 * math.sqrt(5), k, v, 0.0), rtol=1e-10)


def test_sdpa_causal():
    q, k, v = randn(3, 4, 5), randn(3, 4, 5), randn(3, 4, 2)
    out = F.scaled_dot_product_attention(tensor(q), tensor(k), tensor(v), is_causal=True)
    causal = np.where(np.tril(np.ones((4, 4), bool)), 0.0, -np.inf)
    np.testing.assert_allclose(out.detach().numpy(), ref_sdpa(q, k, v, causal), rtol=1e-10)
    # the first query only sees the first key: its output is exactly v[0]
    np.testing.assert_allclose(out.detach().numpy()[:, 0], v[:, 0], rtol=1e-12)
    with pytest.raises(RuntimeError, match="either attn_mask or is_causal"):
        F.scaled_dot_product_attention(tensor(q), tensor(k), tensor(v), attn_mask=mg.ones(4, 4, dtype=mg.bool),
                                       is_causal=True)
    with pytest.raises(RuntimeError, match=r"scaled_dot_product_attention: query of shape \(3, 4, 5\) and key "
                                           r"of shape \(3, 4, 2\) must have the same last dimension"):
        F.scaled_dot_product_attention(tensor(q), tensor(v), tensor(v))


def test_sdpa_gradcheck():
    q = tensor(randn(2, 3, 4), requires_grad=True)
    k = tensor(randn(2, 5, 4), requires_grad=True)
    v = tensor(randn(2, 5, 3), requires_grad=True)
    mask = tensor(randn(3, 5), requires_grad=True)
    assert gradcheck(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m), [q, k, v, mask])
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v[:, :3], is_causal=True),
                     [q, k[:, :3].clone().detach().requires_grad_(), v])


def test_sdpa_dropout_is_seeded_and_scales():
    q, k, v = (mg.randn(2, 8, 4) for _ in range(3))
    mg.manual_seed(3)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    mg.manual_seed(3)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert not np.allclose(a.detach().numpy(), F.scaled_dot_product_attention(q, k, v).detach().numpy())


# ---- MultiheadAttention ----------------------------------------------------------------------------

@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_matches_numpy(batch_first):
    mg.manual_seed(12)
    e, heads, length, s, n = 8, 2, 4, 5, 3
    m = nn.MultiheadAttention(e, heads, batch_first=batch_first).double()
    with mg.no_grad():  # PyTorch zero-initialises the biases: make them count
        m.in_proj_bias.copy_(tensor(randn(3 * e)))
        m.out_proj.bias.copy_(tensor(randn(e)))
    query, key, value = randn(length, n, e), randn(s, n, e), randn(s, n, e)

    def run(**kwargs):
        args = [tensor(a.transpose(1, 0, 2) if batch_first else a) for a in (query, key, value)]
        out, weights = m(*args, **kwargs)
        out = out.detach().numpy()
        return (out.transpose(1, 0, 2) if batch_first else out), weights

    out, weights = run()
    ref_out, ref_w = ref_mha(m, query, key, value)
    np.testing.assert_allclose(out, ref_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weights.detach().numpy(), ref_w, rtol=1e-10, atol=1e-12)
    assert weights.shape == (n, length, s)

    blocked = RNG.random((length, s)) > 0.6
    blocked[:, 0] = False
    out, weights = run(attn_mask=mg.tensor(blocked))
    ref_out, ref_w = ref_mha(m, query, key, value, attn_mask=blocked)
    np.testing.assert_allclose(out, ref_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weights.detach().numpy(), ref_w, rtol=1e-10, atol=1e-12)
    assert np.all(weights.detach().numpy()[:, blocked] == 0)  # True = NOT allowed (MHA's convention)

    additive = randn(n * heads, length, s)
    padding = np.zeros((n, s), bool)
    padding[0, -2:] = True
    padding[2, -1] = True
    out, weights = run(attn_mask=tensor(additive), key_padding_mask=mg.tensor(padding), average_attn_weights=False)
    ref_out, ref_w = ref_mha(m, query, key, value, attn_mask=additive, key_padding_mask=padding, average=False)
    np.testing.assert_allclose(out, ref_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weights.detach().numpy(), ref_w, rtol=1e-10, atol=1e-12)
    assert weights.shape == (n, heads, length, s)
    assert np.all(weights.detach().numpy()[0, :, :, -2:] == 0)

    float_padding = np.where(padding, -np.inf, 0.0)
    out2, _ = run(attn_mask=tensor(additive), key_padding_mask=tensor(float_padding))
    np.testing.assert_allclose(out2, out, rtol=1e-12)

    out, weights = run(need_weights=False)
    assert weights is None
    np.testing.assert_allclose(out, ref_mha(m, query, key, value)[0], rtol=1e-10, atol=1e-12)


def test_mha_self_attention_causal_and_unbatched():
    mg.manual_seed(13)
    m = nn.MultiheadAttention(6, 3).double()
    x = randn(5, 2, 6)
    causal_float = nn.Transformer.generate_square_subsequent_mask(5, dtype=mg.float64)
    a, wa = m(tensor(x), tensor(x), tensor(x), attn_mask=causal_float)
    b, wb = m(tensor(x), tensor(x), tensor(x), is_causal=True)
    c, _ = m(tensor(x), tensor(x), tensor(x), attn_mask=mg.tensor(np.triu(np.ones((5, 5), bool), 1)))
    ref = ref_mha(m, x, x, x, attn_mask=causal_float.detach().numpy())
    for out in (a, b, c):
        np.testing.assert_allclose(out.detach().numpy(), ref[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(wb.detach().numpy(), ref[1], rtol=1e-10, atol=1e-12)
    assert np.all(np.triu(wb.detach().numpy()[0], 1) == 0)
    # unbatched (L, E) equals the batch of one
    out, weights = m(tensor(x[:, 0]), tensor(x[:, 0]), tensor(x[:, 0]))
    ref_out, ref_w = ref_mha(m, x[:, :1], x[:, :1], x[:, :1])
    assert out.shape == (5, 6) and weights.shape == (5, 5)
    np.testing.assert_allclose(out.detach().numpy(), ref_out[:, 0], rtol=1e-10)
    np.testing.assert_allclose(weights.detach().numpy(), ref_w[0], rtol=1e-10)


def test_mha_kdim_vdim_separate_projections():
    mg.manual_seed(14)
    m = nn.MultiheadAttention(4, 2, kdim=3, vdim=5).double()
    assert list(m.state_dict()) == ["q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias",
                                    "out_proj.weight", "out_proj.bias"]
    assert m.k_proj_weight.shape == (4, 3) and m.v_proj_weight.shape == (4, 5)
    q, k, v = randn(2, 3, 4), randn(6, 3, 3), randn(6, 3, 5)
    out, w = m(tensor(q), tensor(k), tensor(v))
    ref_out, ref_w = ref_mha(m, q, k, v)
    np.testing.assert_allclose(out.detach().numpy(), ref_out, rtol=1e-10)
    np.testing.assert_allclose(w.detach().numpy(), ref_w, rtol=1e-10)


def test_mha_state_dict_init_and_errors():
    m = nn.MultiheadAttention(8, 4)
    assert list(m.state_dict()) == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert m.in_proj_weight.shape == (24, 8) and m.out_proj.weight.shape == (8, 8)
    assert np.all(m.in_proj_bias.detach().numpy() == 0) and np.all(m.out_proj.bias.detach().numpy() == 0)
    bound = math.sqrt(6 / (8 + 24))  # xavier_uniform_ on (3E, E)
    assert np.abs(m.in_proj_weight.detach().numpy()).max() <= bound
    assert list(nn.MultiheadAttention(8, 4, bias=False).state_dict()) == ["in_proj_weight", "out_proj.weight"]
    with pytest.raises(ValueError, match=r"MultiheadAttention: embed_dim \(10\) must be divisible by num_heads \(3\)"):
        nn.MultiheadAttention(10, 3)
    x = mg.randn(4, 2, 8)
    with pytest.raises(RuntimeError, match=r"MultiheadAttention: query has 6 features .* expected 8"):
        m(mg.randn(4, 2, 6), x, x)
    with pytest.raises(RuntimeError, match=r"MultiheadAttention: attn_mask has shape \(3, 3\), expected \(4, 4\)"):
        m(x, x, x, attn_mask=mg.zeros(3, 3))
    with pytest.raises(RuntimeError, match=r"key_padding_mask has shape \(4, 2\), expected \(2, 4\)"):
        m(x, x, x, key_padding_mask=mg.zeros(4, 2, dtype=mg.bool))
    with pytest.raises(TypeError, match="only bool and floating types of attn_mask"):
        m(x, x, x, attn_mask=mg.zeros(4, 4, dtype=mg.int64))


def test_mha_gradcheck():
    mg.manual_seed(15)
    m = nn.MultiheadAttention(4, 2).double()
    q = tensor(randn(3, 2, 4), requires_grad=True)
    kv = tensor(randn(4, 2, 4), requires_grad=True)
    padding = mg.tensor(np.array([[False, False, False, True], [False, False, False, False]]))
    assert gradcheck(lambda q, kv, *p: m(q, kv, kv, key_padding_mask=padding), [q, kv, *m.parameters()])
    assert gradcheck(lambda q, *p: m(q, q, q, need_weights=False)[0], [q, *m.parameters()])


def test_mha_dropout_only_in_training():
    mg.manual_seed(16)
    m = nn.MultiheadAttention(4, 2, dropout=0.5)
    x = mg.randn(6, 2, 4)
    a, _ = m(x, x, x)
    b, _ = m(x, x, x)
    assert not np.allclose(a.detach().numpy(), b.detach().numpy())
    m.eval()
    np.testing.assert_array_equal(m(x, x, x)[0].detach().numpy(), m(x, x, x)[0].detach().numpy())


# ---- transformer layers ----------------------------------------------------------------------------

def ref_layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps) * w + b


def ref_gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def ref_encoder_layer(layer, x, norm_first, activation, attn_mask=None):
    sd = numpy_state(layer)

    def sa(y):
        return ref_mha(layer.self_attn, y, y, y, attn_mask=attn_mask)[0]

    def ff(y):
        hidden = y @ sd["linear1.weight"].T + sd["linear1.bias"]
        hidden = np.maximum(hidden, 0) if activation == "relu" else ref_gelu(hidden)
        return hidden @ sd["linear2.weight"].T + sd["linear2.bias"]

    def norm(i, y):
        return ref_layer_norm(y, sd[f"norm{i}.weight"], sd[f"norm{i}.bias"])

    if norm_first:
        x = x + sa(norm(1, x))
        return x + ff(norm(2, x))
    x = norm(1, x + sa(x))
    return norm(2, x + ff(x))


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_matches_numpy(norm_first, activation):
    mg.manual_seed(17)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, activation=activation,
                                       norm_first=norm_first).double().eval()
    with mg.no_grad():  # non-trivial norms
        for name in ("norm1", "norm2"):
            getattr(layer, name).weight.copy_(tensor(1 + 0.3 * randn(8)))
            getattr(layer, name).bias.copy_(tensor(0.3 * randn(8)))
    x = randn(5, 3, 8)
    out = layer(tensor(x))
    np.testing.assert_allclose(out.detach().numpy(), ref_encoder_layer(layer, x, norm_first, activation),
                               rtol=1e-9, atol=1e-11)
    mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=mg.float64)
    causal = layer(tensor(x), src_mask=mask)
    expected = ref_encoder_layer(layer, x, norm_first, activation, mask.detach().numpy())
    np.testing.assert_allclose(causal.detach().numpy(), expected,
                               rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(layer(tensor(x), is_causal=True).detach().numpy(), causal.detach().numpy(), rtol=1e-12)
    both = layer(tensor(x), src_mask=mask, is_causal=True)
    np.testing.assert_allclose(both.detach().numpy(), causal.detach().numpy(), rtol=1e-12)
    assert not np.allclose(causal.detach().numpy(), out.detach().numpy())


def test_encoder_layer_names_batch_first_and_callable_activation():
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True)
    assert list(layer.state_dict()) == [
        "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
        "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
        "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"]
    assert [name for name, _ in layer.named_children()] == [
        "self_attn", "linear1", "dropout", "linear2", "norm1", "norm2", "dropout1", "dropout2"]
    layer.eval()
    x = mg.randn(3, 5, 8)
    seq_first = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16).eval()
    seq_first.load_state_dict(layer.state_dict())
    expected = seq_first(mg.transpose(x, 0, 1)).detach().numpy().transpose(1, 0, 2)
    np.testing.assert_allclose(layer(x).detach().numpy(), expected,
                               rtol=1e-5, atol=1e-6)
    tanh_layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, activation=mg.tanh).eval()
    assert tanh_layer(x).shape == (3, 5, 8)
    with pytest.raises(RuntimeError, match="activation should be 'relu', 'gelu' or a callable, not 'swish'"):
        nn.TransformerEncoderLayer(8, 2, activation="swish")


def test_encoder_layer_gradcheck():
    mg.manual_seed(18)
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=6, dropout=0.0, activation="gelu",
                                       norm_first=True).double()
    x = tensor(randn(3, 2, 4), requires_grad=True)
    assert gradcheck(lambda x, *p: layer(x, is_causal=True), [x, *layer.parameters()])


def test_transformer_encoder_copies_layers():
    mg.manual_seed(19)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
    enc = nn.TransformerEncoder(layer, num_layers=3, norm=nn.LayerNorm(8))
    assert len(enc.layers) == 3
    assert enc.layers[0] is not enc.layers[1] and enc.layers[0] is not layer
    a, b = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert a is not b and np.array_equal(a.detach().numpy(), b.detach().numpy())
    with mg.no_grad():
        a.mul_(2.0)
    assert not np.array_equal(a.detach().numpy(), b.detach().numpy())
    assert np.array_equal(b.detach().numpy(), layer.linear1.weight.detach().numpy())
    keys = list(enc.state_dict())
    assert keys[0] == "layers.0.self_attn.in_proj_weight" and keys[-2:] == ["norm.weight", "norm.bias"]
    assert len(keys) == 3 * 12 + 2
    assert len(list(enc.parameters())) == 3 * 12 + 2
    enc.eval()
    x = mg.randn(5, 2, 8)
    expected = x
    for sub in enc.layers:
        expected = sub(expected)
    np.testing.assert_allclose(enc(x).detach().numpy(), enc.norm(expected).detach().numpy(), rtol=1e-6)
    mask = nn.Transformer.generate_square_subsequent_mask(5)
    np.testing.assert_allclose(enc(x, mask=mask).detach().numpy(), enc(x, is_causal=True).detach().numpy(), rtol=1e-6)


def test_transformer_encoder_decoder_shapes_and_causality():
    mg.manual_seed(20)
    model = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2,
                           dim_feedforward=16, batch_first=True).eval()
    src, tgt = mg.randn(3, 6, 8), mg.randn(3, 4, 8)
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    out = model(src, tgt, tgt_mask=mask)
    assert out.shape == (3, 4, 8)
    # with the causal target mask, changing the last target token leaves earlier outputs unchanged
    changed = mg.cat([tgt[:, :3], mg.randn(3, 1, 8)], 1)
    out2 = model(src, changed, tgt_mask=mask)
    np.testing.assert_allclose(out2.detach().numpy()[:, :3], out.detach().numpy()[:, :3], rtol=1e-5, atol=1e-6)
    assert not np.allclose(out2.detach().numpy()[:, 3], out.detach().numpy()[:, 3])
    keys = list(model.state_dict())
    assert "decoder.layers.1.multihead_attn.in_proj_weight" in keys and "encoder.norm.weight" in keys


def test_generate_square_subsequent_mask():
    mask = nn.transformer.generate_square_subsequent_mask(4)
    expected = np.array([[0, -np.inf, -np.inf, -np.inf], [0, 0, -np.inf, -np.inf],
                         [0, 0, 0, -np.inf], [0, 0, 0, 0]], dtype=np.float32)
    assert mask.dtype == mg.float32
    np.testing.assert_array_equal(mask.detach().numpy(), expected)
    np.testing.assert_array_equal(nn.Transformer.generate_square_subsequent_mask(4).detach().numpy(), expected)


def test_positional_encoding_values():
    d, max_len = 6, 50
    pe = nn.PositionalEncoding(d, max_len=max_len)
    assert list(pe.state_dict()) == ["pe"] and pe.pe.shape == (max_len, 1, d)
    table = pe.pe.detach().numpy()[:, 0]
    for pos in (0, 1, 7, 49):
        for i in range(d // 2):
            angle = pos / 10000 ** (2 * i / d)
            assert table[pos, 2 * i] == pytest.approx(math.sin(angle), abs=1e-6)
            assert table[pos, 2 * i + 1] == pytest.approx(math.cos(angle), abs=1e-6)
    x = mg.randn(7, 3, d)
    np.testing.assert_allclose(pe(x).detach().numpy(), x.detach().numpy() + table[:7, None], rtol=1e-6)
    first = nn.PositionalEncoding(d, max_len=max_len, batch_first=True)
    xb = mg.randn(3, 7, d)
    np.testing.assert_allclose(first(xb).detach().numpy(), xb.detach().numpy() + table[None, :7], rtol=1e-6)
    odd = nn.PositionalEncoding(5, max_len=10).pe.detach().numpy()[:, 0]
    assert odd[3, 4] == pytest.approx(math.sin(3 / 10000 ** (4 / 5)), abs=1e-6)
    with pytest.raises(RuntimeError, match="sequence length 60 exceeds max_len 50"):
        pe(mg.randn(60, 1, d))
    # gradients pass through to the input unchanged
    y = mg.randn(4, 2, d, requires_grad=True)
    pe(y).sum().backward()
    np.testing.assert_array_equal(y.grad.detach().numpy(), np.ones((4, 2, d)))


def test_modules_deepcopy_independently():
    m = nn.LSTM(3, 4)
    twin = copy.deepcopy(m)
    assert list(twin.state_dict()) == list(m.state_dict())
    with mg.no_grad():
        twin.weight_ih_l0.add_(1.0)
    assert not np.allclose(twin.weight_ih_l0.detach().numpy(), m.weight_ih_l0.detach().numpy())
