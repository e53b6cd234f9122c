"""The course's own reference models (TUD CS4240 notes, sections 3.2, 4.1 and 4.2), built from nn layers.

These keep the course's constructor signatures and attribute names, so code
and checkpoints written against the notes run unchanged:

- recurrent cells written out by hand with the course's parameter layout
  (`weight_xh` (input, k * hidden), `weight_hh` (hidden, k * hidden), `bias_xh`,
  `bias_hh`; k = 1, 3, 4) and `addmm` math: ElmanRNN, GRUFromScratch, LSTMFromScratch.
  Note the layout is the TRANSPOSE of PyTorch's `weight_ih` (k * hidden, input):
  `weight_xh = lstm.weight_ih_l0.T` moves weights from nn.LSTM (same gate order).
- self-attention after Peter Bloem's "Transformers from scratch": SelfAttention,
  MultiHeadAttention (wide), NarrowMultiHeadAttention, TransformerBlock.
- Encoder, Decoder, Autoencoder, VarEncoder, VarAutoencoder and a GAN's
  Generator and Discriminator.

Everything is composed from minigrad ops; there is no backward code here.
"""
from __future__ import annotations

import math

import numpy as np

import minigrad as mg
from minigrad.tensor import Tensor

from . import functional as F
from .activation import LeakyReLU, ReLU, Sigmoid
from .containers import Sequential
from .linear import Linear
from .module import Module
from .normalization import LayerNorm
from .parameter import Parameter

__all__ = ["ElmanRNN", "GRUFromScratch", "LSTMFromScratch", "SelfAttention", "MultiHeadAttention",
           "NarrowMultiHeadAttention", "TransformerBlock", "Encoder", "Decoder", "Autoencoder",
           "VarEncoder", "VarAutoencoder", "Generator", "Discriminator"]


# ---- 3.2 recurrent networks, written out ---------------------------------------------------------

class _CourseRecurrent(Module):
    """Parameters in the course's layout and PyTorch's init U(-1/sqrt(hidden), 1/sqrt(hidden))."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        k = self.gates
        self.weight_xh = Parameter(mg.empty(input_size, k * hidden_size))
        self.weight_hh = Parameter(mg.empty(hidden_size, k * hidden_size))
        self.bias_xh = Parameter(mg.empty(k * hidden_size))
        self.bias_hh = Parameter(mg.empty(k * hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        with mg.no_grad():
            for param in self.parameters():
                param.uniform_(-bound, bound)

    def _steps(self, x: Tensor):
        """Check x (N, T, D) and return its time steps, each (N, D)."""
        name = type(self).__name__
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise RuntimeError(f"{name}: expected input (N, T, {self.input_size}) (batch, time, features), "
                               f"got shape {tuple(x.shape)}")
        return mg.unbind(x, 1)

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, hidden_size={self.hidden_size}"


class ElmanRNN(_CourseRecurrent):
    """Vanilla (Elman) RNN: h_t = tanh(x_t W_xh + b_xh + h_{t-1} W_hh + b_hh).

    Args:
        input_size: D, features per time step.
        hidden_size: H.

    Shapes: x (N, T, D) -> y (N, T, H), every hidden state (the last one is y[:, -1]).
    """

    gates = 1

    def forward(self, x: Tensor) -> Tensor:
        steps = self._steps(x)
        h = mg.zeros(x.shape[0], self.hidden_size, dtype=x.dtype)
        outputs = []
        for x_t in steps:
            h = mg.tanh(mg.addmm(self.bias_xh, x_t, self.weight_xh) + mg.addmm(self.bias_hh, h, self.weight_hh))
            outputs.append(h)
        return mg.stack(outputs, 1)


class GRUFromScratch(_CourseRecurrent):
    """GRU with weight_xh (D, 3H) and weight_hh (H, 3H), gate columns r, z, n:

        r = sigmoid(x W_xr + b_xr + h W_hr + b_hr),  z = sigmoid(x W_xz + b_xz + h W_hz + b_hz)
        n = tanh(x W_xn + b_xn + r * (h W_hn + b_hn)),  h' = (1 - z) * n + z * h

    Shapes: x (N, T, D) -> y (N, T, H).
    """

    gates = 3

    def forward(self, x: Tensor) -> Tensor:
        steps = self._steps(x)
        size = self.hidden_size
        h = mg.zeros(x.shape[0], size, dtype=x.dtype)
        outputs = []
        for x_t in steps:
            xh = mg.addmm(self.bias_xh, x_t, self.weight_xh)
            hh = mg.addmm(self.bias_hh, h, self.weight_hh)
            r = mg.sigmoid(xh[:, :size] + hh[:, :size])
            z = mg.sigmoid(xh[:, size:2 * size] + hh[:, size:2 * size])
            n = mg.tanh(xh[:, 2 * size:] + r * hh[:, 2 * size:])
            h = (1 - z) * n + z * h
            outputs.append(h)
        return mg.stack(outputs, 1)


class LSTMFromScratch(_CourseRecurrent):
    """LSTM with weight_xh (D, 4H) and weight_hh (H, 4H), gate columns i, f, g, o:

        c' = sigmoid(f) * c + sigmoid(i) * tanh(g),  h' = sigmoid(o) * tanh(c')

    Shapes: x (N, T, D) -> y (N, T, H).
    """

    gates = 4

    def forward(self, x: Tensor) -> Tensor:
        steps = self._steps(x)
        size = self.hidden_size
        h = mg.zeros(x.shape[0], size, dtype=x.dtype)
        c = mg.zeros(x.shape[0], size, dtype=x.dtype)
        outputs = []
        for x_t in steps:
            gates = mg.addmm(self.bias_xh, x_t, self.weight_xh) + mg.addmm(self.bias_hh, h, self.weight_hh)
            i = mg.sigmoid(gates[:, :size])
            f = mg.sigmoid(gates[:, size:2 * size])
            g = mg.tanh(gates[:, 2 * size:3 * size])
            o = mg.sigmoid(gates[:, 3 * size:])
            c = f * c + i * g
            h = o * mg.tanh(c)
            outputs.append(h)
        return mg.stack(outputs, 1)


# ---- 4.1 self-attention and transformers -------------------------------------------------------

def _check_sequence(x: Tensor, k: int, name: str) -> None:
    if x.ndim != 3 or x.shape[2] != k:
        raise RuntimeError(f"{name}: expected input (b, t, {k}) (batch, sequence, embedding), "
                           f"got shape {tuple(x.shape)}")


def _heads_attention(queries: Tensor, keys: Tensor, values: Tensor, mask: bool) -> Tensor:
    """softmax(q k^T / sqrt(s)) v over (b, h, t, s) tensors; mask hides later positions."""
    s = queries.shape[-1]
    # scale q and k by s^(1/4) each rather than the product by sqrt(s): smaller numbers, same result
    queries = queries / s ** 0.25
    keys = keys / s ** 0.25
    dot = mg.matmul(queries, mg.transpose(keys, -2, -1))  # (b, h, t, t)
    if mask:
        t = dot.shape[-1]
        dot = mg.masked_fill(dot, np.triu(np.ones((t, t), dtype=bool), 1), -math.inf)
    return mg.matmul(mg.softmax(dot, -1), values)


class SelfAttention(Module):
    """Single-head self-attention: softmax(Q K^T / sqrt(k)) V with Q, K, V = x W_q, x W_k, x W_v.

    Args:
        k: embedding dimension.
        mask: hide later positions (autoregressive).

    Shapes: x (b, t, k) -> (b, t, k).
    """

    def __init__(self, k: int, mask: bool = False):
        super().__init__()
        self.k = k
        self.mask = mask
        self.tokeys = Linear(k, k, bias=False)
        self.toqueries = Linear(k, k, bias=False)
        self.tovalues = Linear(k, k, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        _check_sequence(x, self.k, "SelfAttention")
        queries = mg.unsqueeze(self.toqueries(x), 1)  # one head: (b, 1, t, k)
        keys = mg.unsqueeze(self.tokeys(x), 1)
        values = mg.unsqueeze(self.tovalues(x), 1)
        return mg.squeeze(_heads_attention(queries, keys, values, self.mask), 1)


class MultiHeadAttention(Module):
    """Wide multi-head self-attention: every head sees the full k-dim embedding.

    Queries, keys and values for all heads come from one (k -> k * heads)
    projection each; the heads' outputs are concatenated and `unifyheads`
    maps them back to k.

    Args:
        k: embedding dimension.
        heads: number of heads.
        mask: hide later positions (autoregressive).

    Shapes: x (b, t, k) -> (b, t, k).
    """

    def __init__(self, k: int, heads: int = 8, mask: bool = False):
        super().__init__()
        self.k = k
        self.heads = heads
        self.mask = mask
        self.tokeys = Linear(k, k * heads, bias=False)
        self.toqueries = Linear(k, k * heads, bias=False)
        self.tovalues = Linear(k, k * heads, bias=False)
        self.unifyheads = Linear(k * heads, k)

    def forward(self, x: Tensor) -> Tensor:
        _check_sequence(x, self.k, "MultiHeadAttention")
        b, t, k = x.shape
        h = self.heads

        def split(y):  # (b, t, h * k) -> (b, h, t, k)
            return mg.transpose(mg.reshape(y, (b, t, h, k)), 1, 2)

        out = _heads_attention(split(self.toqueries(x)), split(self.tokeys(x)), split(self.tovalues(x)), self.mask)
        out = mg.reshape(mg.contiguous(mg.transpose(out, 1, 2)), (b, t, h * k))
        return self.unifyheads(out)


class NarrowMultiHeadAttention(Module):
    """Narrow multi-head self-attention: the k-dim embedding is cut into `heads` chunks of k / heads.

    Queries, keys and values come from k x k projections (as in Bloem's
    final version); each head attends with its own k / heads slice, and
    `unifyheads` mixes the concatenated heads.

    Args:
        k: embedding dimension, divisible by heads.
        heads: number of heads.
        mask: hide later positions (autoregressive).

    Shapes: x (b, t, k) -> (b, t, k).
    """

    def __init__(self, k: int, heads: int = 8, mask: bool = False):
        super().__init__()
        if k % heads:
            raise ValueError(f"NarrowMultiHeadAttention: embedding dimension k ({k}) must be divisible by "
                             f"heads ({heads})")
        self.k = k
        self.heads = heads
        self.mask = mask
        self.tokeys = Linear(k, k, bias=False)
        self.toqueries = Linear(k, k, bias=False)
        self.tovalues = Linear(k, k, bias=False)
        self.unifyheads = Linear(k, k)

    def forward(self, x: Tensor) -> Tensor:
        _check_sequence(x, self.k, "NarrowMultiHeadAttention")
        b, t, k = x.shape
        h = self.heads
        s = k // h

        def split(y):  # (b, t, k) -> (b, h, t, s)
            return mg.transpose(mg.reshape(y, (b, t, h, s)), 1, 2)

        out = _heads_attention(split(self.toqueries(x)), split(self.tokeys(x)), split(self.tovalues(x)), self.mask)
        out = mg.reshape(mg.contiguous(mg.transpose(out, 1, 2)), (b, t, k))
        return self.unifyheads(out)


class TransformerBlock(Module):
    """Basic transformer block: x = norm1(att(x) + x); x = norm2(ff(x) + x).

    Args:
        k: embedding dimension.
        heads: number of heads of the (wide) MultiHeadAttention.
        mask: hide later positions (autoregressive).

    Shapes: x (b, t, k) -> (b, t, k).
    """

    def __init__(self, k: int, heads: int, mask: bool = False):
        super().__init__()
        self.att = MultiHeadAttention(k, heads=heads, mask=mask)
        self.norm1 = LayerNorm(k)
        self.ff = Sequential(Linear(k, 4 * k), ReLU(), Linear(4 * k, k))
        self.norm2 = LayerNorm(k)

    def forward(self, x: Tensor) -> Tensor:
        attended = self.att(x)
        x = self.norm1(attended + x)
        fedforward = self.ff(x)
        return self.norm2(fedforward + x)


# ---- 4.2 unsupervised learning: auto-encoders, VAEs, GANs ---------------------------------------

class Encoder(Module):
    """Image (N, 1, s_img, s_img) or (N, s_img * s_img) -> latent code (N, latent_dims).

    linear1 (s_img^2 -> hdim[0]) -> relu -> linear2 (-> hdim[1]) -> relu -> linear3 (-> latent_dims).
    """

    def __init__(self, latent_dims: int, s_img: int, hdim=(100, 50)):
        super().__init__()
        self.linear1 = Linear(s_img * s_img, hdim[0])
        self.linear2 = Linear(hdim[0], hdim[1])
        self.linear3 = Linear(hdim[1], latent_dims)
        self.relu = ReLU()

    def forward(self, x: Tensor) -> Tensor:
        x = mg.flatten(x, 1)
        x = self.relu(self.linear1(x))
        x = self.relu(self.linear2(x))
        return self.linear3(x)


class Decoder(Module):
    """Latent code (N, latent_dims) -> image (N, 1, s_img, s_img) with values in (0, 1).

    linear1 (latent_dims -> hdim[1]) -> relu -> linear2 (-> hdim[0]) -> relu -> linear3 (-> s_img^2) -> sigmoid.
    """

    def __init__(self, latent_dims: int, s_img: int, hdim=(100, 50)):
        super().__init__()
        self.s_img = s_img
        self.linear1 = Linear(latent_dims, hdim[1])
        self.linear2 = Linear(hdim[1], hdim[0])
        self.linear3 = Linear(hdim[0], s_img * s_img)
        self.relu = ReLU()
        self.sigmoid = Sigmoid()

    def forward(self, z: Tensor) -> Tensor:
        z = self.relu(self.linear1(z))
        z = self.relu(self.linear2(z))
        z = self.sigmoid(self.linear3(z))
        return mg.reshape(z, (-1, 1, self.s_img, self.s_img))


class Autoencoder(Module):
    """y = decoder(encoder(x)): (N, 1, s_img, s_img) -> (N, 1, s_img, s_img). Train with MSE(y, x)."""

    def __init__(self, latent_dims: int, s_img: int, hdim=(100, 50)):
        super().__init__()
        self.encoder = Encoder(latent_dims, s_img, hdim)
        self.decoder = Decoder(latent_dims, s_img, hdim)

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))


class VarEncoder(Module):
    """The VAE's encoder: two MLPs g1 (mean, linear*_1) and g2 (std, linear*_2), then z = mu + sigma * eps.

    After each forward `self.kl` holds KL(N(mu, sigma^2) || N(0, 1)) summed over the batch and
    latent dims, the regulariser to add to the reconstruction loss.

    KL choice: the exact closed form 0.5 * sum(sigma^2 + mu^2 - 2 log sigma - 1). The notes'
    `sum(sigma^2 + mu^2 - log(sigma) - 1/2)` is a common variant with the same minimum
    (mu = 0, sigma = 1) but it is not the KL itself; `kull_leib` keeps the notes' name.

    Shapes: x (N, 1, s_img, s_img) or (N, s_img^2) -> z (N, latent_dims).
    """

    def __init__(self, latent_dims: int, s_img: int, hdim=(100, 50)):
        super().__init__()
        # layers for g1: the mean
        self.linear1_1 = Linear(s_img * s_img, hdim[0])
        self.linear2_1 = Linear(hdim[0], hdim[1])
        self.linear3_1 = Linear(hdim[1], latent_dims)
        # layers for g2: the standard deviation (through exp, so it is positive)
        self.linear1_2 = Linear(s_img * s_img, hdim[0])
        self.linear2_2 = Linear(hdim[0], hdim[1])
        self.linear3_2 = Linear(hdim[1], latent_dims)
        self.relu = ReLU()
        self.N = mg.distributions.Normal(0, 1)
        self.kl = 0

    def kull_leib(self, mu: Tensor, sigma: Tensor) -> Tensor:
        """KL(N(mu, sigma^2) || N(0, 1)) summed: 0.5 * sum(sigma^2 + mu^2 - 2 log sigma - 1)."""
        return 0.5 * mg.sum(sigma ** 2 + mu ** 2 - 2 * mg.log(sigma) - 1)

    def forward(self, x: Tensor) -> Tensor:
        x = mg.flatten(x, 1)
        mu = self.linear3_1(self.relu(self.linear2_1(self.relu(self.linear1_1(x)))))
        sigma = mg.exp(self.linear3_2(self.relu(self.linear2_2(self.relu(self.linear1_2(x))))))
        # reparameterisation: the noise is a constant, so gradients reach mu and sigma
        z = mu + sigma * self.N.sample(mu.shape)
        self.kl = self.kull_leib(mu, sigma)
        return z


class VarAutoencoder(Module):
    """y = decoder(z), z = encoder(x) sampled; loss = reconstruction + encoder.kl.

    Shapes: x (N, 1, s_img, s_img) -> y (N, 1, s_img, s_img).
    """

    def __init__(self, latent_dims: int, s_img: int, hdim=(100, 50)):
        super().__init__()
        self.encoder = VarEncoder(latent_dims, s_img, hdim)
        self.decoder = Decoder(latent_dims, s_img, hdim)

    def forward(self, x: Tensor) -> Tensor:
        z = self.encoder(x)
        return self.decoder(z)


class Generator(Module):
    """GAN generator: noise z (N, latent_dim) -> sample (N, out), an MLP with LeakyReLU(0.2).

    Linear(latent_dim, hidden) -> LeakyReLU -> Linear(hidden, hidden) -> LeakyReLU -> Linear(hidden, out).
    The output is unbounded (append a Tanh or Sigmoid for images in a fixed range).
    """

    def __init__(self, latent_dim: int, hidden: int, out: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = Sequential(Linear(latent_dim, hidden), LeakyReLU(0.2),
                              Linear(hidden, hidden), LeakyReLU(0.2),
                              Linear(hidden, out))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class Discriminator(Module):
    """GAN discriminator: sample (N, in_features) -> probability of being real (N, 1); train with BCELoss.

    Linear(in, hidden) -> LeakyReLU -> Linear(hidden, hidden) -> LeakyReLU -> Linear(hidden, 1) -> Sigmoid.
    """

    def __init__(self, in_features: int, hidden: int):
        super().__init__()
        self.net = Sequential(Linear(in_features, hidden), LeakyReLU(0.2),
                              Linear(hidden, hidden), LeakyReLU(0.2),
                              Linear(hidden, 1), Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        return self.net(mg.flatten(x, 1))
