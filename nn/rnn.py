"""Recurrent layers: RNN, GRU and LSTM cells, and multi-layer (bidirectional) sequence layers.

Parameter names, layouts, gate orders and initialisation are PyTorch's, so
weights move between the two with `numpy()` / `from_numpy` alone:

    weight_ih_l{k}[_reverse]  (gates * hidden_size, input size of layer k)
    weight_hh_l{k}[_reverse]  (gates * hidden_size, hidden_size)
    bias_ih_l{k}[_reverse], bias_hh_l{k}[_reverse]  (gates * hidden_size,)

with gates = 1 (RNN), 3 (GRU: r, z, n) or 4 (LSTM: i, f, g, o).

Everything is composed from minigrad ops; there is no backward code here.
Speed comes from the layout of the work: the input projection of a whole
sequence is one matmul per layer and direction, a time step only multiplies
the hidden state by W_hh and applies the gate functions to views of the gate
matrix, states are feature-major (H, N) so that the product is W_hh @ h, and
the outputs are stacked once at the end.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

import minigrad as mg
from minigrad.tensor import Tensor

from .module import Module
from .parameter import Parameter

__all__ = ["RNNCellBase", "RNNCell", "GRUCell", "LSTMCell", "RNNBase", "RNN", "GRU", "LSTM"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "GRU": 3, "LSTM": 4}


# ---- one time step (shared by the cells and the sequence layers) -----------------------------
# A step works feature-major: states are (H, N) and gate inputs (G, N), one column per example,
# so the recurrent product is W_hh @ h. For a small batch OpenBLAS computes that product faster
# than h @ W_hh^T (LSTM, N=32, H=128: 40 -> 21 us; with its two gradients 89 -> 68 us a step),
# and each gate is a block of whole rows.

def _input_projection(x, w_ih, b_ih, b_hh, fold_hidden_bias: bool):
    """W_ih x^T (+ b_ih, + b_hh if folded) for a batch of inputs x (M, H_in): (G, M), feature-major.

    b_hh can join b_ih outside the time loop except in the GRU, where b_hn sits inside r * (...).
    """
    if b_ih is None:
        return mg.matmul(w_ih, x.t())
    bias = b_ih + b_hh if fold_hidden_bias else b_ih
    return mg.addmm(mg.unsqueeze(bias, 1), w_ih, x.t())


def _rnn_step(xw, h, w_hh, activation):
    """h' = act(xw + W_hh h); xw already holds W_ih x + b_ih + b_hh. Shapes (H, N)."""
    return activation(mg.addmm(xw, w_hh, h))


def _gru_step(xw, h, w_hh, b_hh):
    """PyTorch's GRU step; xw = W_ih x + b_ih (3H, N) in gate order r, z, n; b_hh a column (3H, 1) or None.

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h' = (1 - z) * n + z * h  (computed as n + z * (h - n): one op fewer)
    """
    size = h.shape[0]
    hw = mg.matmul(w_hh, h) if b_hh is None else mg.addmm(b_hh, w_hh, h)
    rz = mg.sigmoid(xw + hw)  # over all three gates (the n third unused): two recorded ops fewer
    r, z = rz[:size], rz[size:2 * size]
    n = mg.tanh(mg.addcmul(xw[2 * size:], r, hw[2 * size:]))
    return mg.addcmul(n, z, h - n)


def _lstm_step(xw, h, c, w_hh):
    """PyTorch's LSTM step but its last product; xw = W_ih x + b_ih + b_hh (4H, N) in gate order
    i, f, g, o; h, c (H, N).

    Returns (out_gate, c') with out_gate = sigmoid(o) and c' = sigmoid(f) * c + sigmoid(i) * tanh(g).
    The caller makes h' = out_gate * tanh(c') from the c' it hands on (LSTMCell: from c'
    transposed back), so that the c' a user holds is the one h' depends on, as in PyTorch.
    """
    size = h.shape[0]
    gates = mg.addmm(xw, w_hh, h)
    # one sigmoid over all four gates, its g quarter unused: each op costs microseconds of Python,
    # the extra quarter of elementwise work far less
    s = mg.sigmoid(gates)
    i, f, o = s[:size], s[size:2 * size], s[3 * size:]
    g = mg.tanh(gates[2 * size:3 * size])
    return o, mg.addcmul(f * c, i, g)  # o: the output gate


def _activation(nonlinearity: str, layer: str):
    if nonlinearity == "tanh":
        return mg.tanh
    if nonlinearity == "relu":
        return mg.relu
    raise ValueError(f"{layer}: unknown nonlinearity {nonlinearity!r} - select from 'tanh' or 'relu'")


def _reset_uniform(module: Module, hidden_size: int) -> None:
    """PyTorch's RNN init: every weight and bias ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
    with mg.no_grad():
        for param in module.parameters():
            param.uniform_(-bound, bound)


def _check_sizes(layer: str, input_size: int, hidden_size: int) -> None:
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{layer}: {name} must be a positive integer, got {value!r}")


# ---- cells ------------------------------------------------------------------------------------

class RNNCellBase(Module):
    """Shared parameters of the cells: weight_ih (gates*H, H_in), weight_hh (gates*H, H), biases (gates*H,)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int):
        super().__init__()
        _check_sizes(type(self).__name__, input_size, hidden_size)
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.bias = bias
        self.weight_ih = Parameter(mg.empty(num_chunks * hidden_size, input_size))
        self.weight_hh = Parameter(mg.empty(num_chunks * hidden_size, hidden_size))
        if bias:
            self.bias_ih = Parameter(mg.empty(num_chunks * hidden_size))
            self.bias_hh = Parameter(mg.empty(num_chunks * hidden_size))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        _reset_uniform(self, self.hidden_size)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            text += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            text += f", nonlinearity={self.nonlinearity!r}"
        return text

    def _prepare(self, input: Tensor, hx):
        """Check the input, add a batch dim to unbatched input, and return (x, hx list, batched)."""
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: expected input to be 1-D (H_in,) or 2-D (N, H_in), "
                             f"got {input.ndim}-D input of shape {tuple(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input has inconsistent input_size: got {input.shape[-1]} "
                               f"(input shape {tuple(input.shape)}), expected {self.input_size}")
        batched = input.ndim == 2
        x = input if batched else mg.unsqueeze(input, 0)
        n = x.shape[0]
        states = []
        for index, state in enumerate(hx):
            label = "hx" if len(hx) == 1 else ("h_0", "c_0")[index]
            if state is None:
                state = mg.zeros(n, self.hidden_size, dtype=input.dtype)
            else:
                expected = (n, self.hidden_size) if batched else (self.hidden_size,)
                if tuple(state.shape) != expected:
                    raise RuntimeError(f"{name}: {label} has shape {tuple(state.shape)}, expected {expected} "
                                       f"for input of shape {tuple(input.shape)}")
                if not batched:
                    state = mg.unsqueeze(state, 0)
            states.append(state)
        return x, states, batched

    def _projection(self, x: Tensor, fold_hidden_bias: bool) -> Tensor:
        """The gate inputs of x (N, H_in), feature-major (G, N) as the steps take them."""
        return _input_projection(x, self.weight_ih, self.bias_ih, self.bias_hh, fold_hidden_bias)


class RNNCell(RNNCellBase):
    """An Elman RNN cell: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu).

    Args:
        input_size: features of x.
        hidden_size: features of h.
        bias: whether to use b_ih and b_hh.
        nonlinearity: 'tanh' or 'relu'.

    Shapes:
        input (N, H_in) or (H_in,); hx (N, H) or (H,), zeros if None. Returns h' shaped like hx.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh"):
        _activation(nonlinearity, "RNNCell")
        super().__init__(input_size, hidden_size, bias, num_chunks=1)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), batched = self._prepare(input, (hx,))
        # the step is feature-major: h goes in transposed, and comes out in C order as PyTorch's
        h = _rnn_step(self._projection(x, True), h.t(), self.weight_hh, _activation(self.nonlinearity, "RNNCell"))
        h = mg.contiguous(h.t())
        return h if batched else mg.squeeze(h, 0)


class GRUCell(RNNCellBase):
    """A GRU cell with PyTorch's equations (gate order r, z, n; b_hn inside the reset product).

    Shapes:
        input (N, H_in) or (H_in,); hx (N, H) or (H,), zeros if None. Returns h' shaped like hx.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__(input_size, hidden_size, bias, num_chunks=3)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), batched = self._prepare(input, (hx,))
        b_hh = mg.unsqueeze(self.bias_hh, 1) if self.bias_hh is not None else None
        h = mg.contiguous(_gru_step(self._projection(x, False), h.t(), self.weight_hh, b_hh).t())
        return h if batched else mg.squeeze(h, 0)


class LSTMCell(RNNCellBase):
    """An LSTM cell with PyTorch's equations (gate order i, f, g, o).

    Shapes:
        input (N, H_in) or (H_in,); hx a tuple (h, c) of (N, H) or (H,), zeros if None.
        Returns (h', c') shaped like h and c.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__(input_size, hidden_size, bias, num_chunks=4)

    def forward(self, input: Tensor, hx: tuple | None = None) -> tuple:
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"LSTMCell: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
        x, (h, c), batched = self._prepare(input, tuple(hx) if hx is not None else (None, None))
        out_gate, c = _lstm_step(self._projection(x, True), h.t(), c.t(), self.weight_hh)
        c = mg.contiguous(c.t())
        h = mg.contiguous(out_gate.t()) * mg.tanh(c)  # from the c returned: c's gradient includes h's path
        if not batched:
            h, c = mg.squeeze(h, 0), mg.squeeze(c, 0)
        return h, c


# ---- sequence layers --------------------------------------------------------------------------

class RNNBase(Module):
    """The shared machinery of RNN, GRU and LSTM: parameters, shape checks, the layer/direction loop.

    Args:
        mode: 'RNN_TANH', 'RNN_RELU', 'GRU' or 'LSTM'.
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional: as PyTorch.
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False):
        super().__init__()
        name = type(self).__name__
        if mode not in _GATES:
            raise ValueError(f"{name}: unknown mode {mode!r} - expected one of {sorted(_GATES)}")
        _check_sizes(name, input_size, hidden_size)
        if not isinstance(num_layers, (int, np.integer)) or isinstance(num_layers, bool) or num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be a positive integer, got {num_layers!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout should be a number in [0, 1] representing the "
                             f"probability of an element being zeroed, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout option adds dropout after all but the last recurrent layer, "
                          f"so non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}")
        self.mode = mode
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        num_directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        self._flat_weights_names = []
        for layer in range(num_layers):
            layer_input_size = input_size if layer == 0 else hidden_size * num_directions
            for direction in range(num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = [("weight_ih", (gate_size, layer_input_size)), ("weight_hh", (gate_size, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                for kind, shape in shapes:
                    self.register_parameter(kind + suffix, Parameter(mg.empty(*shape)))
                    self._flat_weights_names.append(kind + suffix)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        _reset_uniform(self, self.hidden_size)

    def flatten_parameters(self) -> None:
        """No-op: PyTorch compacts cuDNN weights here; kept so PyTorch code runs unchanged."""

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list:
        """Per layer and direction: [weight_ih, weight_hh(, bias_ih, bias_hh)]."""
        per = 4 if self.bias else 2
        weights = self._flat_weights
        return [weights[i:i + per] for i in range(0, len(weights), per)]

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            text += ", nonlinearity='relu'"
        if self.bias is not True:
            text += f", bias={self.bias}"
        if self.batch_first is not False:
            text += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            text += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            text += f", bidirectional={self.bidirectional}"
        return text

    # ---- forward -------------------------------------------------------------------
    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple:
        """RNN and GRU (LSTM overrides this for its cell state).

        Returns:
            (output, h_n): output (L, N, D * H_out) (batch first if asked), h_n (D * num_layers, N, H_out).
        """
        x, states, batched = self._check_input(input, (hx,))
        output, finals = self._run(x, states)
        output, (h_n,) = self._finish(output, finals, batched)
        return output, h_n

    def _check_input(self, input: Tensor, states: tuple):
        """Validate shapes; return (x with a batch dim, initial states (layers*dirs, N, H), batched)."""
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in (2, 3):
            layout = "(N, L, H_in)" if self.batch_first else "(L, N, H_in)"
            raise ValueError(f"{name}: expected input to be 2-D (L, H_in) or 3-D {layout}, "
                             f"got {input.ndim}-D input of shape {tuple(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input.size(-1) must be equal to input_size - expected "
                               f"{self.input_size}, got {input.shape[-1]} (input shape {tuple(input.shape)})")
        batched = input.ndim == 3
        batch_dim = 0 if self.batch_first else 1
        x = input if batched else mg.unsqueeze(input, batch_dim)
        n = x.shape[batch_dim]
        layers = self.num_layers * (2 if self.bidirectional else 1)
        expected = (layers, n, self.hidden_size)
        result = []
        for index, state in enumerate(states):
            label = "hx" if len(states) == 1 else ("h_0", "c_0")[index]
            if state is None:
                result.append(mg.zeros(expected, dtype=input.dtype))
                continue
            if not isinstance(state, Tensor):
                raise TypeError(f"{name}: {label} must be a Tensor, got {type(state).__name__}")
            if state.ndim != (3 if batched else 2):
                raise RuntimeError(f"{name}: for {'batched 3' if batched else 'unbatched 2'}-D input, {label} "
                                   f"should also be {3 if batched else 2}-D but got {state.ndim}-D "
                                   f"(shape {tuple(state.shape)})")
            if not batched:
                state = mg.unsqueeze(state, 1)
            if tuple(state.shape) != expected:
                shown = expected if batched else (layers, self.hidden_size)
                got = tuple(state.shape) if batched else (state.shape[0], state.shape[2])
                raise RuntimeError(f"{name}: expected {label} of shape {shown}, got {got} "
                                   f"(input shape {tuple(input.shape)})")
            result.append(state)
        return x, result, batched

    def _run(self, x: Tensor, states: list) -> tuple:
        """Every layer and direction over x (batch dim present); returns (output, final states)."""
        time_dim = 1 if self.batch_first else 0
        directions = 2 if self.bidirectional else 1
        per = 4 if self.bias else 2
        weights = self._flat_weights
        initial = [mg.unbind(state, 0) for state in states]
        finals = [[] for _ in states]
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                index = layer * directions + direction
                params = weights[index * per:(index + 1) * per]
                out, last = self._run_direction(layer_input, params, [s[index] for s in initial],
                                                reverse=direction == 1, time_dim=time_dim)
                outputs.append(out)
                for final, state in zip(finals, last):
                    final.append(state)
            layer_input = outputs[0] if directions == 1 else mg.cat(outputs, -1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = mg.dropout(layer_input, self.dropout, True)
        # each final state (layers * directions, H, N) -> (layers * directions, N, H) in C order
        return layer_input, [mg.contiguous(mg.transpose(mg.stack(final, 0), 1, 2)) for final in finals]

    def _run_direction(self, x: Tensor, params: list, states: list, reverse: bool, time_dim: int):
        """One layer in one direction: x (L, N, H_in) or (N, L, H_in) -> (outputs in x's layout,
        final states feature-major (H, N))."""
        w_ih, w_hh = params[0], params[1]
        b_ih, b_hh = (params[2], params[3]) if len(params) == 4 else (None, None)
        x = x if time_dim == 0 else mg.transpose(x, 0, 1)  # (L, N, H_in)
        length, n = x.shape[:2]
        # the input projection of every time step in one matmul, (G, L*N) with time-major columns
        # (batch_first input is copied once); step t reads its N columns
        xw = _input_projection(mg.reshape(x, (-1, x.shape[2])), w_ih, b_ih, b_hh, self.mode != "GRU")
        steps = [xw[:, t * n:(t + 1) * n] for t in range(length)]  # backward scatters each in place: O(L)
        b_hh = mg.unsqueeze(b_hh, 1) if b_hh is not None else None
        # the states feature-major (H, N) in their own C-ordered memory, as every step makes them
        states = [mg.contiguous(mg.transpose(state, 0, 1)) for state in states]
        order = range(length - 1, -1, -1) if reverse else range(length)
        outputs = [None] * length
        if self.mode == "LSTM":
            h, c = states
            for t in order:
                out_gate, c = _lstm_step(steps[t], h, c, w_hh)
                h = outputs[t] = out_gate * mg.tanh(c)
            last = (h, c)
        elif self.mode == "GRU":
            h, = states
            for t in order:
                h = _gru_step(steps[t], h, w_hh, b_hh)
                outputs[t] = h
            last = (h,)
        else:
            h, = states
            activation = mg.tanh if self.mode == "RNN_TANH" else mg.relu
            for t in order:
                h = _rnn_step(steps[t], h, w_hh, activation)
                outputs[t] = h
            last = (h,)
        # stacked (L, H, N), then copied into (L, N, H) or (N, L, H); the final states stay (H, N)
        output = mg.permute(mg.stack(outputs, 0), (0, 2, 1) if time_dim == 0 else (2, 0, 1))
        return mg.contiguous(output), last

    def _finish(self, output: Tensor, finals: list, batched: bool):
        if not batched:
            output = mg.squeeze(output, 0 if self.batch_first else 1)
            finals = [mg.squeeze(state, 1) for state in finals]
        return output, finals


class RNN(RNNBase):
    """A multi-layer Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu).

    Args:
        input_size: features H_in of x.
        hidden_size: features H of h.
        num_layers: stacked layers; layer k > 0 reads layer k-1's output.
        nonlinearity: 'tanh' or 'relu'.
        bias: whether to use b_ih and b_hh.
        batch_first: input and output are (N, L, *) instead of (L, N, *); h_n is not affected.
        dropout: dropout on the outputs of every layer but the last, in training only.
        bidirectional: also run each layer backwards in time; outputs are concatenated.

    Shapes:
        input (L, N, H_in), (N, L, H_in) with batch_first, or (L, H_in) unbatched.
        hx (num_layers * D, N, H) or (num_layers * D, H), zeros if None (D = 2 if bidirectional).
        Returns (output, h_n): output (L, N, D * H) (batch_first: (N, L, D * H)), h_n like hx.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False):
        _activation(nonlinearity, "RNN")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size,
                         num_layers, bias, batch_first, dropout, bidirectional)
        self.nonlinearity = nonlinearity


class GRU(RNNBase):
    """A multi-layer GRU with PyTorch's equations (gate order r, z, n):

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr),  z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = (1 - z) * n + z * h

    Args and shapes: as `RNN` (without nonlinearity). Returns (output, h_n).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)


class LSTM(RNNBase):
    """A multi-layer LSTM with PyTorch's equations (gate order i, f, g, o):

        i, f, o = sigmoid(...), g = tanh(...),  c' = f * c + i * g,  h' = o * tanh(c')

    Args and shapes: as `RNN` (without nonlinearity); proj_size is not supported.
        hx is a tuple (h_0, c_0), each (num_layers * D, N, H) or (num_layers * D, H); zeros if None.
        Returns (output, (h_n, c_n)).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0):
        if proj_size:
            raise NotImplementedError(f"LSTM: proj_size={proj_size} is not supported (only 0)")
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)

    def forward(self, input: Tensor, hx: tuple | None = None) -> tuple:
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"LSTM: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
        x, states, batched = self._check_input(input, tuple(hx) if hx is not None else (None, None))
        output, finals = self._run(x, states)
        output, (h_n, c_n) = self._finish(output, finals, batched)
        return output, (h_n, c_n)
