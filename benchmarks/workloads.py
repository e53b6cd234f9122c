"""The benchmark workloads, each written once for both libraries.

A workload is a function `build(b, data) -> Task`. `b` is a `Backend`: the
four module objects `lib, nn, F, optim` of one library (minigrad with its
`nn`/`optim`, or torch with `torch.nn`/`torch.optim`) plus `b.tensor`, which
turns a numpy array into that library's tensor. Because minigrad mirrors
PyTorch's API, the same lines build the same model in both, with the same
parameter names; the runner then copies minigrad's initial weights into the
torch model by state_dict key, so both start from identical numbers.

`data` holds numpy arrays (float32 inputs, int64 targets) made once from a
fixed seed and fed to both libraries, together with a few plain settings
(`n_ops`). A `Task.step()` runs one full training step (forward, backward,
optimizer step, zero_grad) and returns the loss tensor of that step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Backend:
    """One library's module objects, so a model can be written once for both.

    Attributes:
        name: "minigrad" or "torch".
        lib: the tensor library (`minigrad` or `torch`).
        nn, F, optim: its layers, functional ops and optimizers.
    """
    name: str
    lib: ModuleType
    nn: ModuleType
    F: ModuleType
    optim: ModuleType
    compiled: bool = False  # run models through lib.compile (minigrad's capture and replay)

    def run(self, model):
        """What the step calls: the model (or function) itself, or `lib.compile(model)` for the
        compiled column."""
        return self.lib.compile(model) if self.compiled else model

    def tensor(self, array: np.ndarray):
        """A new tensor holding a copy of `array` (its dtype kept: float32 or int64 or bool)."""
        return self.lib.from_numpy(np.array(array, copy=True))


@dataclass
class Task:
    """A built workload: `step()` runs one training step and returns its loss tensor.

    Attributes:
        step: one full training step; returns the loss tensor (before the update).
        model: the Module whose initial weights are copied between libraries, or None.
        ops_per_step: for op-throughput workloads, the number of ops a step records
            (the JSON then also gives µs per op; the table does for `per_op` workloads).
    """
    step: Callable[[], object]
    model: object = None
    ops_per_step: int | None = None


@dataclass(frozen=True)
class Workload:
    """A named benchmark: its data, its model/step builder and its speed goal.

    Attributes:
        name: the name used on the command line.
        goal: the largest acceptable ratio of minigrad time to torch time.
        describe: a one-line description for the report.
        make_data: `(rng, quick) -> dict` of numpy arrays and plain settings.
        build: `(backend, data) -> Task`.
        steps_per_repeat: training steps timed together in one repetition
            (a larger number for faster steps, so the clock's resolution does not matter).
        per_op: report µs per recorded op instead of ms per step.
    """
    name: str
    goal: float
    describe: str
    make_data: Callable[[np.random.Generator, bool], dict]
    build: Callable[[Backend, dict], Task]
    steps_per_repeat: int
    per_op: bool = False


def _train_step(model, optimizer, compute_loss) -> Callable[[], object]:
    """The training step every model workload times: forward, backward, step, zero_grad."""
    def step():
        loss = compute_loss()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss
    return step


# ---- op throughput: many cheap ops on a small tensor --------------------------------------

def _chain_data(n_ops: int) -> Callable[[np.random.Generator, bool], dict]:
    def make(rng, quick):
        n = n_ops if not quick else min(n_ops, 10_000)
        return {"x": rng.standard_normal(16).astype(np.float32), "n_ops": n}
    return make


def build_chain(b: Backend, data: dict) -> Task:
    """`n_ops` alternating `y * 1.0001` and `y + 0.001` on a 16-float leaf, then backward.

    This measures the per-op cost of the Python layer (recording a node, running
    its VJP), not numpy's arithmetic, which is negligible on 16 floats.
    """
    x = b.tensor(data["x"]).requires_grad_()
    pairs = data["n_ops"] // 2

    def chain(y):
        for _ in range(pairs):
            y = y * 1.0001
            y = y + 0.001
        return y
    run = b.run(chain)  # the compiled column: the chain captured once, then replayed

    def step():
        loss = run(x).sum()
        loss.backward()
        x.grad = None
        return loss
    return Task(step, model=None, ops_per_step=2 * pairs)


# ---- the models ----------------------------------------------------------------------

def mlp_data(rng, quick):
    return {"x": rng.standard_normal((128, 784)).astype(np.float32),
            "y": rng.integers(0, 10, 128).astype(np.int64)}


def build_mlp(b: Backend, data: dict) -> Task:
    """784-512-256-10 ReLU MLP, cross-entropy, SGD with momentum 0.9."""
    nn = b.nn
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(),
                          nn.Linear(512, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    optimizer = b.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = b.tensor(data["x"]), b.tensor(data["y"])
    net = b.run(model)
    return Task(_train_step(model, optimizer, lambda: b.F.cross_entropy(net(x), y)), model)


def cnn_data(rng, quick):
    return {"x": rng.standard_normal((64, 1, 28, 28)).astype(np.float32),
            "y": rng.integers(0, 10, 64).astype(np.int64)}


def build_cnn(b: Backend, data: dict) -> Task:
    """Two conv-ReLU-maxpool stages and a linear classifier on 1x28x28 images, Adam."""
    nn = b.nn
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
    optimizer = b.optim.Adam(model.parameters(), lr=1e-3)
    x, y = b.tensor(data["x"]), b.tensor(data["y"])
    net = b.run(model)
    return Task(_train_step(model, optimizer, lambda: b.F.cross_entropy(net(x), y)), model)


def rnn_data(rng, quick):
    # (batch 32, sequence 32, features 64), batch_first
    return {"x": rng.standard_normal((32, 32, 64)).astype(np.float32),
            "y": rng.integers(0, 10, 32).astype(np.int64)}


def _build_recurrent(b: Backend, data: dict, cell: str) -> Task:
    """A one-layer LSTM or GRU (64 -> 128, batch_first) read at its last step by Linear(128, 10), Adam."""
    nn = b.nn

    class SequenceClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(nn, cell)(64, 128, batch_first=True)
            self.head = nn.Linear(128, 10)

        def forward(self, x):
            outputs, _ = self.rnn(x)         # (batch, seq, 128)
            return self.head(outputs[:, -1])  # the last time step

    model = SequenceClassifier()
    optimizer = b.optim.Adam(model.parameters(), lr=1e-3)
    x, y = b.tensor(data["x"]), b.tensor(data["y"])
    net = b.run(model)
    return Task(_train_step(model, optimizer, lambda: b.F.cross_entropy(net(x), y)), model)


def build_lstm(b: Backend, data: dict) -> Task:
    return _build_recurrent(b, data, "LSTM")


def build_gru(b: Backend, data: dict) -> Task:
    return _build_recurrent(b, data, "GRU")


VOCAB, D_MODEL, HEADS, D_FF, SEQ, BLOCKS = 64, 128, 4, 512, 64, 2


def transformer_data(rng, quick):
    tokens = rng.integers(0, VOCAB, (16, SEQ + 1)).astype(np.int64)
    return {"inputs": np.ascontiguousarray(tokens[:, :-1]),
            "targets": np.ascontiguousarray(tokens[:, 1:]),
            # True above the diagonal: position t may not attend to positions after t
            "mask": np.triu(np.ones((SEQ, SEQ), dtype=bool), k=1)}


def build_transformer(b: Backend, data: dict) -> Task:
    """A 2-block causal transformer language model with attention written from primitives, AdamW.

    Token embedding (vocab 64, d 128) plus learned positions; each block is
    pre-LayerNorm 4-head causal self-attention and a 512-wide ReLU feed-forward,
    each with a residual connection; next-token cross-entropy.
    """
    nn, F = b.nn, b.F
    mask = b.tensor(data["mask"])

    class CausalSelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.q = nn.Linear(D_MODEL, D_MODEL)
            self.k = nn.Linear(D_MODEL, D_MODEL)
            self.v = nn.Linear(D_MODEL, D_MODEL)
            self.out = nn.Linear(D_MODEL, D_MODEL)

        def forward(self, x):
            batch, seq, d = x.shape
            d_head = d // HEADS

            def split_heads(t):  # (batch, seq, d) -> (batch, heads, seq, d_head)
                return t.reshape(batch, seq, HEADS, d_head).transpose(1, 2)

            q, k, v = split_heads(self.q(x)), split_heads(self.k(x)), split_heads(self.v(x))
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(d_head)      # (batch, heads, seq, seq)
            weights = F.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)
            merged = (weights @ v).transpose(1, 2).reshape(batch, seq, d)  # merge the heads
            return self.out(merged)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1 = nn.LayerNorm(D_MODEL)
            self.attn = CausalSelfAttention()
            self.ln2 = nn.LayerNorm(D_MODEL)
            self.ff = nn.Sequential(nn.Linear(D_MODEL, D_FF), nn.ReLU(), nn.Linear(D_FF, D_MODEL))

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.ff(self.ln2(x))

    class TinyLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(VOCAB, D_MODEL)
            self.pos = nn.Parameter(b.lib.randn(SEQ, D_MODEL) * 0.02)
            self.blocks = nn.Sequential(*[Block() for _ in range(BLOCKS)])
            self.ln_f = nn.LayerNorm(D_MODEL)
            self.head = nn.Linear(D_MODEL, VOCAB)

        def forward(self, tokens):
            x = self.tok(tokens) + self.pos  # (batch, seq, d); positions broadcast over the batch
            return self.head(self.ln_f(self.blocks(x)))

    model = TinyLM()
    optimizer = b.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    inputs, targets = b.tensor(data["inputs"]), b.tensor(data["targets"])
    net = b.run(model)

    def compute_loss():
        logits = net(inputs)
        return F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))
    return Task(_train_step(model, optimizer, compute_loss), model)


def vae_data(rng, quick):
    # pixel intensities in [0, 1] (BCE targets) and the reparameterization noise, shared by both
    return {"x": rng.random((128, 784)).astype(np.float32),
            "eps": rng.standard_normal((128, 20)).astype(np.float32)}


def build_vae(b: Backend, data: dict) -> Task:
    """784-400-(20, 20) encoder, z = mu + exp(logvar / 2) * eps, 20-400-784 sigmoid decoder, Adam.

    Loss: binary cross-entropy summed over pixels plus the KL divergence to N(0, I),
    as in PyTorch's VAE example. `eps` comes from the data, so both libraries draw the same z.
    """
    nn, F = b.nn, b.F

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Linear(784, 400)
            self.mu = nn.Linear(400, 20)
            self.logvar = nn.Linear(400, 20)
            self.dec1 = nn.Linear(20, 400)
            self.dec2 = nn.Linear(400, 784)

        def forward(self, x, eps):
            h = F.relu(self.enc(x))
            mu, logvar = self.mu(h), self.logvar(h)
            z = mu + (0.5 * logvar).exp() * eps
            return F.sigmoid(self.dec2(F.relu(self.dec1(z)))), mu, logvar

    model = VAE()
    optimizer = b.optim.Adam(model.parameters(), lr=1e-3)
    x, eps = b.tensor(data["x"]), b.tensor(data["eps"])
    net = b.run(model)

    def compute_loss():
        recon, mu, logvar = net(x, eps)
        bce = F.binary_cross_entropy(recon, x, reduction="sum")
        kl = -0.5 * (1 + logvar - mu * mu - logvar.exp()).sum()
        return bce + kl
    return Task(_train_step(model, optimizer, compute_loss), model)


WORKLOADS: dict[str, Workload] = {w.name: w for w in [
    Workload("tiny_ops", 0.8, "1000 chained elementwise ops on 16 floats + backward (per op)",
             _chain_data(1000), build_chain, steps_per_repeat=20, per_op=True),
    Workload("mlp", 1.2, "784-512-256-10 ReLU, batch 128, cross-entropy, SGD momentum 0.9",
             mlp_data, build_mlp, steps_per_repeat=20),
    Workload("cnn", 1.0, "conv16-pool-conv32-pool-linear, batch 64 of 1x28x28, Adam",
             cnn_data, build_cnn, steps_per_repeat=5),
    Workload("lstm", 1.5, "LSTM(64 -> 128), seq 32, batch 32, last step -> Linear(128, 10), Adam",
             rnn_data, build_lstm, steps_per_repeat=5),
    Workload("gru", 1.2, "GRU(64 -> 128), seq 32, batch 32, last step -> Linear(128, 10), Adam",
             rnn_data, build_gru, steps_per_repeat=5),
    Workload("transformer", 1.0, "2-block causal 4-head transformer, d 128, seq 64, batch 16, AdamW",
             transformer_data, build_transformer, steps_per_repeat=3),
    Workload("vae", 0.9, "784-400-(20, 20) VAE, BCE(sum) + KL, batch 128, Adam",
             vae_data, build_vae, steps_per_repeat=20),
    Workload("deep_chain", 1.0, "100 000 chained elementwise ops on 16 floats + backward",
             _chain_data(100_000), build_chain, steps_per_repeat=1),
]}
