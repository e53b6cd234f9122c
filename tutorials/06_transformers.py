# %% [markdown]
# # 4.1 Self-attention and transformers
#
# A transformer processes a set of units (tokens) where the only interaction
# between units is self-attention. Unlike an RNN, every position is computed
# at once (parallel), and a token can look at any other token directly, however
# far away. As in an RNN or a CNN the weights are shared, so the number of
# parameters does not grow with the sequence length.
#
# We write the pieces here, after Peter Bloem's *Transformers from scratch*:
# scaled dot-product attention with its causal mask, single-head
# self-attention, wide and narrow multi-head attention, sinusoidal positional
# encodings and the transformer block. Each is checked against the library
# (`F.scaled_dot_product_attention`, `nn.MultiheadAttention`,
# `nn.TransformerEncoderLayer`, `nn.PositionalEncoding`). Then a small causal
# transformer learns the reversal task that took the LSTM of chapter 5
# thousands of steps, and we look at what its heads attend to.
#
# Pictures go to `tutorials/outputs/06_transformers/`.

# %%
import numpy as np

from common import SMOKE, output_dir, plt, report, savefig, say, tqdm

import minigrad as torch
from minigrad import nn, optim
import minigrad.nn.functional as F
from minigrad.data import DataLoader, SequenceTask

OUT = output_dir("06_transformers")
torch.manual_seed(0)

# %% [markdown]
# ## Scaled dot-product attention and the causal mask
#
# Each input vector $x_i$ is projected to a query $q_i = W_q x_i$, a key
# $k_i = W_k x_i$ and a value $v_i = W_v x_i$. Output $i$ is a weighted
# average of all values, $y_i = \sum_j w_{ij} v_j$, with weights
#
# $$w_{ij} = \mathrm{softmax}_j\Big(\frac{q_i^T k_j}{\sqrt{s}}\Big),$$
#
# $s$ the dimension of a query. The scaling keeps the dot products from
# growing with the dimension and saturating the softmax. With the queries,
# keys and values as the rows of $Q, K, V$, all outputs at once are
# $Y = \mathrm{softmax}(QK^T/\sqrt{s})\,V$: two matrix products.
#
# For autoregressive tasks (predict the next token) position $i$ must not look
# ahead. Setting the scores with $j > i$ to $-\infty$ before the softmax gives
# them weight exactly 0: the *causal mask*.

# %%
def causal_mask(t):
    """(t, t) bool, True above the diagonal: the positions j > i that query i may not see."""
    return torch.ones(t, t, dtype=torch.bool).triu(1)


def attention(queries, keys, values, mask=False):
    """softmax(Q K^T / sqrt(s)) V over (..., t, s) tensors; returns (output, weights (..., t, t))."""
    s = queries.shape[-1]
    scores = queries @ keys.transpose(-2, -1) / s ** 0.5
    if mask:
        scores = scores.masked_fill(causal_mask(scores.shape[-1]), float("-inf"))
    weights = F.softmax(scores, dim=-1)
    return weights @ values, weights


# %% [markdown]
# ## Self-attention
#
# The course's `SelfAttention(k)`: three $k \times k$ projections without bias,
# then `attention`. It keeps the last attention weights in `self.weights`
# (detached) so that we can look at them later.

# %%
class SelfAttention(nn.Module):
    """Single-head self-attention: x (b, t, k) -> (b, t, k)."""

    def __init__(self, k, mask=False):
        super().__init__()
        self.mask = mask
        self.tokeys = nn.Linear(k, k, bias=False)
        self.toqueries = nn.Linear(k, k, bias=False)
        self.tovalues = nn.Linear(k, k, bias=False)

    def forward(self, x):
        out, weights = attention(self.toqueries(x), self.tokeys(x), self.tovalues(x), self.mask)
        self.weights = weights.detach()
        return out


k = 16
x = torch.randn(2, 5, k)
for mask in (False, True):
    single = SelfAttention(k, mask=mask)
    with torch.no_grad():
        q, keys, v = single.toqueries(x), single.tokeys(x), single.tovalues(x)
        expected = F.scaled_dot_product_attention(q, keys, v, is_causal=mask)
        np.testing.assert_allclose(single(x).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    print(f"SelfAttention({k}, mask={mask}): {tuple(x.shape)} -> {tuple(single(x).shape)}, "
          f"equal to F.scaled_dot_product_attention(is_causal={mask}); rows of weights sum to 1: "
          f"{np.allclose(single.weights.sum(-1).numpy(), 1)}")
assert np.all(np.triu(single.weights.numpy(), 1) == 0)  # the masked one: nothing above the diagonal

# %% [markdown]
# Self-attention by itself ignores the order of its inputs: permuting the
# input vectors permutes the outputs the same way (it is *permutation
# equivariant*). That is why a transformer adds position information.

# %%
attention_layer = SelfAttention(k)
permutation = torch.tensor([4, 2, 0, 1, 3])
with torch.no_grad():
    np.testing.assert_allclose(attention_layer(x[:, permutation]).numpy(), attention_layer(x)[:, permutation].numpy(),
                               rtol=1e-4, atol=1e-5)
print("permuting the inputs permutes the outputs: self-attention alone sees a set, not a sequence")

# %% [markdown]
# The causal weights of a random masked layer: a lower-triangular matrix.

# %%
masked = SelfAttention(16, mask=True)
with torch.no_grad():
    masked(torch.randn(1, 8, 16))
figure, axes = plt.subplots(figsize=(4, 3.6))
image = axes.imshow(masked.weights[0].numpy(), cmap="viridis")
axes.set(xlabel="key position j", ylabel="query position i", title="causal self-attention weights")
figure.colorbar(image, ax=axes)
savefig(figure, OUT / "causal_mask.png")

# %% [markdown]
# ## Wide and narrow multi-head attention
#
# Several heads let a token attend to different things at once. Head $r$ has
# its own $W_q^r, W_k^r, W_v^r$; the heads' outputs are concatenated and
# `unifyheads` (a linear layer) maps them back to $k$ dimensions.
#
# - *Wide* heads each project to the full $k$ dimensions: the projections
#   are $k \times hk$ (all heads in one matrix), so parameters grow with the
#   number of heads $h$.
# - *Narrow* heads cut the $k$ dimensions into $h$ chunks of $s = k/h$: the
#   projections stay $k \times k$ whatever $h$, at the price of less
#   expressive power per head. PyTorch's `nn.MultiheadAttention` is narrow.
#
# One class does both: only the size of the projections differs. The heads
# become a batch dimension, (b, t, h s) -> (b, h, t, s), so `attention`
# handles all of them in the same two matrix products.

# %%
class MultiHeadAttention(nn.Module):
    """Multi-head self-attention: x (b, t, k) -> (b, t, k); wide (s = k) or narrow (s = k / heads) heads."""

    def __init__(self, k, heads=8, mask=False, wide=True):
        super().__init__()
        if not wide and k % heads:
            raise ValueError(f"narrow heads: k ({k}) must be divisible by heads ({heads})")
        self.heads, self.mask = heads, mask
        width = k * heads if wide else k  # all heads' queries (keys, values) side by side
        self.tokeys = nn.Linear(k, width, bias=False)
        self.toqueries = nn.Linear(k, width, bias=False)
        self.tovalues = nn.Linear(k, width, bias=False)
        self.unifyheads = nn.Linear(width, k)

    def forward(self, x):
        b, t, _ = x.shape

        def split(y):  # (b, t, h s) -> (b, h, t, s)
            return y.reshape(b, t, self.heads, -1).transpose(1, 2)

        out, weights = attention(split(self.toqueries(x)), split(self.tokeys(x)), split(self.tovalues(x)), self.mask)
        self.weights = weights.detach()  # (b, h, t, t)
        return self.unifyheads(out.transpose(1, 2).reshape(b, t, -1))


# %% [markdown]
# Two checks. Wide attention with $h$ heads is $h$ single-head
# `SelfAttention`s side by side: give head $r$ rows $rk$ to $(r+1)k$ of each
# projection, concatenate the outputs, apply `unifyheads`. Narrow attention is
# exactly `nn.MultiheadAttention`, whose `in_proj_weight` stacks
# $W_q, W_k, W_v$ (its `in_proj_bias` is zero here, our projections have no
# bias), with its `attn_mask` taking our causal mask as it is (True = may not
# attend).

# %%
k, h = 16, 4
x = torch.randn(2, 6, k)
wide = MultiHeadAttention(k, heads=h, mask=True)
heads = [SelfAttention(k, mask=True) for _ in range(h)]
for r, head in enumerate(heads):
    rows = slice(r * k, (r + 1) * k)
    head.load_state_dict({f"{name}.weight": getattr(wide, name).weight[rows]
                          for name in ("tokeys", "toqueries", "tovalues")})
with torch.no_grad():
    side_by_side = wide.unifyheads(torch.cat([head(x) for head in heads], dim=-1))
    np.testing.assert_allclose(wide(x).numpy(), side_by_side.numpy(), rtol=1e-5, atol=1e-6)
print(f"wide, {h} heads == {h} SelfAttention heads side by side + unifyheads")


def library_state(att):
    """A narrow MultiHeadAttention's weights as the state_dict of the nn.MultiheadAttention it equals."""
    return {"in_proj_weight": torch.cat([att.toqueries.weight, att.tokeys.weight, att.tovalues.weight]),
            "in_proj_bias": torch.zeros(3 * att.unifyheads.out_features),
            "out_proj.weight": att.unifyheads.weight, "out_proj.bias": att.unifyheads.bias}


narrow = MultiHeadAttention(k, heads=h, mask=True, wide=False)
library = nn.MultiheadAttention(k, h, batch_first=True)
library.load_state_dict(library_state(narrow))
with torch.no_grad():
    theirs, their_weights = library(x, x, x, attn_mask=causal_mask(6), average_attn_weights=False)
    np.testing.assert_allclose(narrow(x).numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(narrow.weights.numpy(), their_weights.numpy(), rtol=1e-5, atol=1e-6)
print(f"narrow, {h} heads == nn.MultiheadAttention({k}, {h}): same outputs and same attention weights")

# %% [markdown]
# Parameters: three $k \times hk$ projections and `unifyheads` make $4hk^2 + k$ for
# wide heads; narrow heads cost $4k^2 + k$ for any $h$.

# %%
def count(module):
    return sum(p.numel() for p in module.parameters())


k = 64
head_counts = [1, 2, 4, 8]
wide_counts = [count(MultiHeadAttention(k, heads=h)) for h in head_counts]
narrow_counts = [count(MultiHeadAttention(k, heads=h, wide=False)) for h in head_counts]
library_counts = [count(nn.MultiheadAttention(k, h)) for h in head_counts]
for h, w, n, l in zip(head_counts, wide_counts, narrow_counts, library_counts):
    print(f"k={k}, {h} heads: wide {w:7,}  narrow {n:6,}  nn.MultiheadAttention {l:6,} parameters")

figure, axes = plt.subplots(figsize=(6, 3.5))
positions = np.arange(len(head_counts))
axes.bar(positions - 0.25, wide_counts, 0.25, label="wide heads")
axes.bar(positions, narrow_counts, 0.25, label="narrow heads")
axes.bar(positions + 0.25, library_counts, 0.25, label="nn.MultiheadAttention (+ in_proj_bias)")
axes.set_xticks(positions, [str(h) for h in head_counts])
axes.set(xlabel="heads", ylabel="parameters", title=f"multi-head attention, k = {k}")
axes.legend(fontsize=8)
savefig(figure, OUT / "multihead_parameters.png")

# %% [markdown]
# ## The transformer block
#
# Attention, then a position-wise feed-forward net (the same small MLP on
# every position), each with a residual connection and layer normalisation:
#
# $$x' = \mathrm{norm}_1(\mathrm{att}(x) + x), \qquad y = \mathrm{norm}_2(\mathrm{ff}(x') + x').$$
#
# Input and output have the same shape, so blocks stack. With narrow heads
# this is `nn.TransformerEncoderLayer` (post-norm, ReLU, feed-forward width
# $4k$, no dropout): same weights, same outputs.

# %%
class TransformerBlock(nn.Module):
    """The course's basic transformer block: x (b, t, k) -> (b, t, k)."""

    def __init__(self, k, heads, mask=False, wide=True):
        super().__init__()
        self.att = MultiHeadAttention(k, heads=heads, mask=mask, wide=wide)
        self.norm1 = nn.LayerNorm(k)
        self.ff = nn.Sequential(nn.Linear(k, 4 * k), nn.ReLU(), nn.Linear(4 * k, k))
        self.norm2 = nn.LayerNorm(k)

    def forward(self, x):
        x = self.norm1(self.att(x) + x)
        return self.norm2(self.ff(x) + x)


block = TransformerBlock(16, heads=4, mask=True, wide=False)
layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=64, dropout=0.0, batch_first=True)
layer.load_state_dict({f"self_attn.{name}": value for name, value in library_state(block.att).items()}
                      | {"linear1.weight": block.ff[0].weight, "linear1.bias": block.ff[0].bias,
                         "linear2.weight": block.ff[2].weight, "linear2.bias": block.ff[2].bias}
                      | {f"{norm}.{p}": getattr(getattr(block, norm), p) for norm in ("norm1", "norm2")
                         for p in ("weight", "bias")})
x = torch.randn(2, 6, 16)
with torch.no_grad():
    np.testing.assert_allclose(block(x).numpy(), layer(x, src_mask=causal_mask(6)).numpy(), rtol=1e-4, atol=1e-5)
print("TransformerBlock with narrow heads == nn.TransformerEncoderLayer (causal mask): same outputs")
print(f"TransformerBlock(k=64, heads=4), wide heads: {count(TransformerBlock(64, 4)):,} parameters")

# %% [markdown]
# ## Positional encoding
#
# The sinusoidal code of *Attention is all you need*: dimension $2i$ of position
# $p$ is $\sin(p / 10000^{2i/k})$ and dimension $2i+1$ is $\cos(p / 10000^{2i/k})$.
# Every position gets a distinct pattern, low dimensions vary fast and high
# ones slowly (like the digits of a counter), and it extends to any length.
# It is added to the token embeddings.

# %%
def positional_encoding(length, k):
    """(length, k): sines in the even dimensions, cosines in the odd ones."""
    p = torch.arange(length).float()[:, None]                      # (length, 1)
    frequencies = 10000 ** (-torch.arange(0, k, 2).float() / k)     # (k / 2,)
    angles = p * frequencies                                        # (length, k / 2)
    return torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).reshape(length, k)  # interleave


pe = positional_encoding(100, 64).numpy()
np.testing.assert_allclose(pe, nn.PositionalEncoding(64, max_len=100).pe.numpy()[:, 0], atol=1e-5)
print("positional_encoding(100, 64) == nn.PositionalEncoding(64).pe")
figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
image = left.imshow(pe.T, aspect="auto", cmap="RdBu", origin="lower")
left.set(xlabel="position p", ylabel="dimension", title="positional encoding (k = 64)")
figure.colorbar(image, ax=left)
for dimension in (4, 10, 20, 32):
    right.plot(pe[:, dimension], label=f"dimension {dimension}")
right.set(xlabel="position p", title="some dimensions (sin)")
right.legend(fontsize=8)
savefig(figure, OUT / "positional_encoding.png")

# %% [markdown]
# ## A small causal transformer: reversing digits
#
# The task of chapter 5: read 10 digits and a separator, then write the digits
# in reverse, predicting each next token. Model: token embedding + positional
# encoding, two causal `TransformerBlock`s (4 wide heads, k = 64) and a
# linear layer to the vocabulary.

# %%
seq_len = 4 if SMOKE else 10
train_set = SequenceTask("reverse", 20_000, seed=0, causal=True, seq_len=seq_len, vocab_size=10)
test_set = SequenceTask("reverse", 200 if SMOKE else 1000, seed=1, causal=True, seq_len=seq_len, vocab_size=10)
vocab = train_set.vocab_size


class Transformer(nn.Module):
    def __init__(self, vocab, k=64, heads=4, depth=2, max_len=128):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, k)
        self.register_buffer("position", positional_encoding(max_len, k))
        self.blocks = nn.Sequential(*[TransformerBlock(k, heads, mask=True) for _ in range(depth)])
        self.toprobs = nn.Linear(k, vocab)

    def forward(self, tokens):
        """Tokens (b, t) -> next-token logits (b, t, vocab)."""
        x = self.token_embedding(tokens) + self.position[:tokens.shape[1]]
        return self.toprobs(self.blocks(x))


model = Transformer(vocab)
print(f"transformer: {count(model):,} parameters")
optimizer = optim.Adam(model.parameters(), lr=1e-3)
test_x, test_y = torch.from_numpy(test_set.x), torch.from_numpy(test_set.y)


def accuracy():
    model.eval()
    with torch.no_grad():
        right = (model(test_x).argmax(dim=-1) == test_y).float().numpy()[:, seq_len:]
    model.train()
    return right.mean()


steps = 20 if SMOKE else 600
every = 10 if SMOKE else 50
loader = DataLoader(train_set, batch_size=64, shuffle=True)
batches = (batch for epoch in range(1000) for batch in loader)
history, losses = [], []
for step in tqdm(range(1, steps + 1), desc="transformer"):
    tokens, targets = next(batches)
    loss = F.cross_entropy(model(tokens).reshape(-1, vocab), targets.reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    if step % every == 0:
        history.append((step, accuracy()))
        say(f"step {step:4d}: loss {np.mean(losses[-every:]):.4f}, test accuracy {history[-1][1]:.1%}")
test_accuracy = accuracy()

figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
left.plot(losses, lw=0.8)
left.set(xlabel="step", ylabel="cross-entropy", yscale="log", title="training loss")
right.plot(*zip(*history), "o-", ms=3)
right.axhline(0.1, color="grey", ls=":", label="chance")
right.set(xlabel="step", ylabel="test accuracy (answer tokens)", title=f"reversing {seq_len} digits")
right.legend()
savefig(figure, OUT / "training.png")

# %% [markdown]
# ## What the heads look at
#
# Every attention layer kept its weights from the last forward pass: run one
# test sequence and plot them, for every head in both blocks. To write the
# reversed digits, answer position $i$ must fetch input digit $L + 1 - i$:
# look for the anti-diagonal in the lower-left part.

# %%
example = test_x[:1]
labels = [str(t) if t < 10 else "|" for t in example[0].numpy()]  # "|" is the separator
model.eval()
with torch.no_grad():
    model(example)
maps = [block.att.weights[0].numpy() for block in model.blocks]  # each (heads, t, t)
figure, axes = plt.subplots(len(maps), maps[0].shape[0], figsize=(3 * maps[0].shape[0], 3.1 * len(maps)))
for layer_index, layer_maps in enumerate(maps):
    for head, weights in enumerate(layer_maps):
        axis = axes[layer_index, head]
        axis.imshow(weights, cmap="viridis", vmin=0, vmax=1)
        axis.set_xticks(range(len(labels)), labels, fontsize=6)
        axis.set_yticks(range(len(labels)), labels, fontsize=6)
        axis.set_title(f"block {layer_index + 1}, head {head + 1}", fontsize=9)
figure.suptitle("attention weights (rows: query position, columns: key position)")
savefig(figure, OUT / "attention_maps.png")

# %% [markdown]
# ## One self-attention step, drawn
# The graph of `SelfAttention(4)` on a batch of one sequence of 3 tokens.

# %%
small = SelfAttention(4)
out = small(torch.randn(1, 3, 4)).sum()
out.backward(retain_graph=True)
torch.viz.save(torch.viz.draw(out, params=small, show_grads=True), OUT / "self_attention.svg")

if not SMOKE:
    assert test_accuracy >= 0.5, f"the transformer reached only {test_accuracy:.1%} (chance is 10%)"

# %%
report("06 transformers", {"reversal test accuracy": float(test_accuracy), "final loss": float(np.mean(losses[-every:])),
                           "parameters": count(model)}, OUT)
