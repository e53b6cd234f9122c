# %% [markdown]
# # 4.1 Self-attention and transformers
#
# A transformer processes a set of units (tokens) where the only interaction
# between units is self-attention. Unlike an RNN, every position is computed
# at once (parallel), and a token can look at any other token directly, however
# far away. As in an RNN or a CNN the weights are shared, so the number of
# parameters does not grow with the sequence length.
#
# We build the pieces with the course's modules (`nn.course.SelfAttention`,
# `MultiHeadAttention`, `NarrowMultiHeadAttention`, `TransformerBlock`, after
# Peter Bloem's *Transformers from scratch*), then train a small causal
# transformer on the reversal task that took the LSTM of chapter 5 thousands
# of steps.
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
# ## Self-attention
#
# Each input vector $x_i$ is projected to a query $q_i = W_q x_i$, a key
# $k_i = W_k x_i$ and a value $v_i = W_v x_i$. Output $i$ is a weighted
# average of all values, $y_i = \sum_j w_{ij} v_j$, with weights
# $w_{ij} = \mathrm{softmax}_j(q_i^T k_j / \sqrt{k})$. The scaling by $\sqrt{k}$
# keeps the dot products from growing with the dimension and saturating the
# softmax.
#
# `attention_weights` recomputes the weights $w$ from a module's projections;
# we check that weights times values is exactly what the module returns.

# %%
def attention_weights(att, x):
    """The attention weights of a course attention module for input x (b, t, k): (b, heads, t, t)."""
    b, t, _ = x.shape
    heads = getattr(att, "heads", 1)
    s = att.toqueries.out_features // heads  # each head's dimension
    def split(y):  # (b, t, heads * s) -> (b, heads, t, s)
        return y.reshape(b, t, heads, s).transpose(1, 2)
    dot = split(att.toqueries(x)) @ split(att.tokeys(x)).transpose(-2, -1) / s ** 0.5
    if att.mask:  # position i may not look at later positions j > i
        dot = dot.masked_fill(torch.ones(t, t).triu(1).bool(), float("-inf"))
    return F.softmax(dot, dim=-1)


k = 16
x = torch.randn(2, 5, k)
attention = nn.course.SelfAttention(k)
with torch.no_grad():
    weights = attention_weights(attention, x)[:, 0]                  # (b, t, t)
    by_hand = weights @ attention.tovalues(x)
    np.testing.assert_allclose(by_hand.numpy(), attention(x).numpy(), rtol=1e-4, atol=1e-5)
print(f"SelfAttention({k}): input {tuple(x.shape)} -> output {tuple(attention(x).shape)}; "
      f"every row of weights sums to 1: {np.allclose(weights.sum(-1).numpy(), 1)}")

# %% [markdown]
# Self-attention by itself ignores the order of its inputs: permuting the
# input vectors permutes the outputs the same way (it is *permutation
# equivariant*). That is why a transformer adds position information.

# %%
permutation = torch.tensor([4, 2, 0, 1, 3])
with torch.no_grad():
    np.testing.assert_allclose(attention(x[:, permutation]).numpy(), attention(x)[:, permutation].numpy(),
                               rtol=1e-4, atol=1e-5)
print("permuting the inputs permutes the outputs: self-attention alone sees a set, not a sequence")

# %% [markdown]
# ## Wide and narrow multi-head attention
#
# Several heads let a token attend to different things at once. *Wide*
# heads (`MultiHeadAttention(k, heads)`) each project to the full k
# dimensions: the projections are $k \times hk$, so parameters grow with the
# number of heads. *Narrow* heads (`NarrowMultiHeadAttention`, and PyTorch's
# `nn.MultiheadAttention`) cut the k dimensions into `heads` chunks of k/heads:
# the same parameters for any number of heads, at the price of less
# expressive power per head.

# %%
def count(module):
    return sum(p.numel() for p in module.parameters())


k = 64
head_counts = [1, 2, 4, 8]
wide = [count(nn.course.MultiHeadAttention(k, heads=h)) for h in head_counts]
narrow = [count(nn.course.NarrowMultiHeadAttention(k, heads=h)) for h in head_counts]
library = [count(nn.MultiheadAttention(k, h)) for h in head_counts]
for h, w, n, l in zip(head_counts, wide, narrow, library):
    print(f"k={k}, {h} heads: wide {w:7,}  narrow {n:6,}  nn.MultiheadAttention {l:6,} parameters")

figure, axes = plt.subplots(figsize=(6, 3.5))
positions = np.arange(len(head_counts))
axes.bar(positions - 0.25, wide, 0.25, label="wide (MultiHeadAttention)")
axes.bar(positions, narrow, 0.25, label="narrow (NarrowMultiHeadAttention)")
axes.bar(positions + 0.25, library, 0.25, label="nn.MultiheadAttention")
axes.set_xticks(positions, [str(h) for h in head_counts])
axes.set(xlabel="heads", ylabel="parameters", title=f"multi-head attention, k = {k}")
axes.legend(fontsize=8)
savefig(figure, OUT / "multihead_parameters.png")

# %% [markdown]
# ## The transformer block
#
# Attention, then a position-wise feed-forward net, each with a residual
# connection and layer normalisation: `norm1(att(x) + x)`, then
# `norm2(ff(x) + x)`. Input and output have the same shape, so blocks stack.

# %%
block = nn.course.TransformerBlock(k, heads=4)
print(block)
print(f"TransformerBlock(k={k}, heads=4): {count(block):,} parameters, (2, 5, {k}) -> "
      f"{tuple(block(torch.randn(2, 5, k)).shape)}")

# %% [markdown]
# ## Positional encoding
#
# The sinusoidal code of *Attention is all you need*: dimension 2i of position
# p is $\sin(p / 10000^{2i/k})$ and dimension 2i+1 its cosine. Every position
# gets a distinct pattern, low dimensions vary fast and high ones slowly (like
# the digits of a counter), and it extends to any length. `nn.PositionalEncoding`
# adds it to the embeddings.

# %%
encoding = nn.PositionalEncoding(k, max_len=100, batch_first=True)
pe = encoding.pe.numpy()[:, 0]  # (max_len, k)
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
# ## The causal mask
#
# For autoregressive tasks (predict the next token) position i must not look
# ahead. Setting the scores $q_i^T k_j$ with $j > i$ to $-\infty$ before the
# softmax gives them weight exactly 0: a lower-triangular attention matrix.

# %%
masked = nn.course.SelfAttention(16, mask=True)
with torch.no_grad():
    causal_weights = attention_weights(masked, torch.randn(1, 8, 16))[0, 0].numpy()
assert np.all(np.triu(causal_weights, 1) == 0)
figure, axes = plt.subplots(figsize=(4, 3.6))
image = axes.imshow(causal_weights, cmap="viridis")
axes.set(xlabel="key position j", ylabel="query position i", title="causal self-attention weights")
figure.colorbar(image, ax=axes)
savefig(figure, OUT / "causal_mask.png")

# %% [markdown]
# ## A small causal transformer: reversing digits
#
# The task of chapter 5: read 10 digits and a separator, then write the digits
# in reverse, predicting each next token. Model: token embedding +
# positional encoding, two causal `TransformerBlock`s (4 wide heads, k = 64)
# and a linear layer to the vocabulary.

# %%
seq_len = 4 if SMOKE else 10
train_set = SequenceTask("reverse", 20_000, seed=0, causal=True, seq_len=seq_len, vocab_size=10)
test_set = SequenceTask("reverse", 200 if SMOKE else 1000, seed=1, causal=True, seq_len=seq_len, vocab_size=10)
vocab = train_set.vocab_size


class Transformer(nn.Module):
    def __init__(self, vocab, k=64, heads=4, depth=2, max_len=128):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, k)
        self.position = nn.PositionalEncoding(k, max_len=max_len, batch_first=True)
        self.blocks = nn.Sequential(*[nn.course.TransformerBlock(k, heads, mask=True) for _ in range(depth)])
        self.toprobs = nn.Linear(k, vocab)

    def forward(self, tokens):
        """Tokens (b, t) -> next-token logits (b, t, vocab)."""
        return self.toprobs(self.blocks(self.position(self.token_embedding(tokens))))


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
# The attention weights of every head in both blocks for one test sequence.
# To write the reversed digits, answer position i must fetch input digit
# L + 1 - i: look for the anti-diagonal in the lower-left part.

# %%
example = test_x[:1]
labels = [str(t) if t < 10 else "|" for t in example[0].numpy()]  # "|" is the separator
model.eval()
with torch.no_grad():
    h = model.position(model.token_embedding(example))
    maps = []
    for block in model.blocks:
        maps.append(attention_weights(block.att, h)[0].numpy())  # (heads, t, t)
        h = block(h)
figure, axes = plt.subplots(len(maps), maps[0].shape[0], figsize=(3 * maps[0].shape[0], 3.1 * len(maps)))
for layer, layer_maps in enumerate(maps):
    for head, weights in enumerate(layer_maps):
        axis = axes[layer, head]
        axis.imshow(weights, cmap="viridis", vmin=0, vmax=1)
        axis.set_xticks(range(len(labels)), labels, fontsize=6)
        axis.set_yticks(range(len(labels)), labels, fontsize=6)
        axis.set_title(f"block {layer + 1}, head {head + 1}", fontsize=9)
figure.suptitle("attention weights (rows: query position, columns: key position)")
savefig(figure, OUT / "attention_maps.png")

# %% [markdown]
# ## One self-attention step, drawn
# The graph of `SelfAttention(4)` on a batch of one sequence of 3 tokens.

# %%
small = nn.course.SelfAttention(4)
out = small(torch.randn(1, 3, 4)).sum()
out.backward(retain_graph=True)
torch.viz.save(torch.viz.draw(out, params=small, show_grads=True), OUT / "self_attention.svg")

if not SMOKE:
    assert test_accuracy >= 0.5, f"the transformer reached only {test_accuracy:.1%} (chance is 10%)"

# %%
report("06 transformers", {"reversal test accuracy": float(test_accuracy), "final loss": float(np.mean(losses[-every:])),
                           "parameters": count(model)}, OUT)
