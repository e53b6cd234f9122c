# %% [markdown]
# # 3.2 Recurrent networks: Elman RNN, GRU and LSTM
#
# A recurrent network reads a sequence one token at a time and carries a
# hidden state $h_t$ from step to step. The weights are shared across time
# steps, so the number of parameters does not grow with the sequence length,
# and the same network handles sequences of any length.
#
# We train the course's three cells, written out by hand in `nn.course`
# (`ElmanRNN`, `GRUFromScratch`, `LSTMFromScratch`), on a synthetic task:
# read 10 digits, then write them out reversed. The last answer digit
# depends on the first input, 19 steps earlier: a long way for a gradient to
# travel. We then move the trained weights into PyTorch-style `nn.RNN`,
# `nn.GRU` and `nn.LSTM`, and use their cells to measure how the gradient
# fades as it flows back through time.
#
# Pictures go to `tutorials/outputs/05_rnn/`.

# %%
import numpy as np

from common import SMOKE, output_dir, plt, report, savefig, tqdm

import minigrad as torch
from minigrad import nn, optim
import minigrad.nn.functional as F
from minigrad.data import DataLoader, SequenceTask

OUT = output_dir("05_rnn")
torch.manual_seed(0)

# %% [markdown]
# ## The task
#
# `SequenceTask("reverse", causal=True)` writes each problem as one sequence
# `inputs SEP answer` and asks for the next token at every step. Only the
# answer positions are scored; the others have target -100, which
# `F.cross_entropy` ignores. Guessing gives 10% accuracy.

# %%
seq_len = 4 if SMOKE else 10
train_set = SequenceTask("reverse", 20_000, seed=0, causal=True, seq_len=seq_len, vocab_size=10)
test_set = SequenceTask("reverse", 200 if SMOKE else 1000, seed=1, causal=True, seq_len=seq_len, vocab_size=10)
vocab = train_set.vocab_size
x, y = train_set[0]
print(train_set)
print("input :", x.numpy())
print("target:", y.numpy())

# %% [markdown]
# ## The cells
#
# The course's parameter layout concatenates the gates: `weight_xh` is
# (input, k * hidden) with k = 1 (Elman), 3 (GRU: reset, update, candidate)
# or 4 (LSTM: input, forget, candidate, output). The tokens go in one-hot
# encoded; a linear layer reads the next token off every hidden state.

# %%
class Tagger(nn.Module):
    """One-hot tokens (N, T) -> recurrent layer -> next-token logits (N, T, vocab)."""

    def __init__(self, rnn, hidden_size, vocab):
        super().__init__()
        self.vocab = vocab
        self.rnn = rnn
        self.head = nn.Linear(hidden_size, vocab)

    def forward(self, tokens):
        h = self.rnn(F.one_hot(tokens, self.vocab).float())
        if isinstance(h, tuple):  # nn.RNN/GRU/LSTM return (output, final state)
            h = h[0]
        return self.head(h)


hidden = 64
cells = {"Elman RNN": nn.course.ElmanRNN, "GRU": nn.course.GRUFromScratch, "LSTM": nn.course.LSTMFromScratch}
models = {name: Tagger(cell(vocab, hidden), hidden, vocab) for name, cell in cells.items()}
for name, model in models.items():
    print(f"{name:9s}: {sum(p.numel() for p in model.rnn.parameters()):6,} recurrent parameters, "
          f"weight_xh {tuple(model.rnn.weight_xh.shape)}")

# %% [markdown]
# ## Training
#
# Adam with gradient clipping (`clip_grad_norm_`), the usual guard against
# the occasional exploding gradient of recurrent nets. Every model sees the
# same batches.

# %%
test_x, test_y = torch.from_numpy(test_set.x), torch.from_numpy(test_set.y)


def evaluate(model):
    """Accuracy over all answer tokens, and per answer position."""
    with torch.no_grad():
        right = (model(test_x).argmax(dim=-1) == test_y).float().numpy()[:, seq_len:]
    return right.mean(), right.mean(axis=0)


steps = 20 if SMOKE else 2500
every = 10 if SMOKE else 250
histories, accuracy, per_position = {}, {}, {}
for name, model in models.items():
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    torch.manual_seed(1)
    loader = DataLoader(train_set, batch_size=64, shuffle=True)
    batches = (batch for epoch in range(1000) for batch in loader)  # as many epochs as the steps need
    histories[name] = []
    for step in tqdm(range(1, steps + 1), desc=name):
        tokens, targets = next(batches)
        loss = F.cross_entropy(model(tokens).reshape(-1, vocab), targets.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % every == 0:
            histories[name].append((step, evaluate(model)[0]))
    accuracy[name], per_position[name] = evaluate(model)
    print(f"{name:9s}: test accuracy {accuracy[name]:.1%} "
          f"(per answer position: {' '.join(f'{a:.2f}' for a in per_position[name])})")

figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
for name, history in histories.items():
    left.plot(*zip(*history), "o-", ms=3, label=name)
    right.plot(np.arange(1, seq_len + 1), per_position[name], "o-", ms=3, label=name)
left.axhline(0.1, color="grey", ls=":", label="chance")
left.set(xlabel="training step", ylabel="test accuracy", title=f"reversing {seq_len} digits")
right.set(xlabel="answer position (later = first inputs, longer lag)", ylabel="test accuracy",
          title="accuracy per answer position", xticks=np.arange(1, seq_len + 1))
left.legend(fontsize=8)
savefig(figure, OUT / "training.png")

# %% [markdown]
# ## The same models with `nn.RNN`, `nn.GRU` and `nn.LSTM`
#
# PyTorch stores `weight_ih_l0` as (k * hidden, input), the transpose of the
# course's `weight_xh`, with the same gate order. Moving the trained weights
# over gives exactly the same outputs.

# %%
library = {"Elman RNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}
library_models = {}
for name, model in models.items():
    layer = library[name](vocab, hidden, batch_first=True)
    layer.load_state_dict({"weight_ih_l0": model.rnn.weight_xh.T, "weight_hh_l0": model.rnn.weight_hh.T,
                           "bias_ih_l0": model.rnn.bias_xh, "bias_hh_l0": model.rnn.bias_hh})
    twin = Tagger(layer, hidden, vocab)
    twin.head.load_state_dict(model.head.state_dict())
    with torch.no_grad():
        np.testing.assert_allclose(twin(test_x[:50]).numpy(), model(test_x[:50]).numpy(), atol=1e-4)
    library_models[name] = twin
    print(f"{name:9s}: nn.{type(layer).__name__} with the course cell's weights gives the same outputs")

# %% [markdown]
# ## Vanishing and exploding gradients
#
# How much does the loss of the *last* prediction depend on the hidden state
# at each earlier step? We unroll a cell (`nn.RNNCell`, `nn.GRUCell`,
# `nn.LSTMCell`) by hand, call `retain_grad()` on every $h_t$ (and $c_t$),
# backpropagate the last step's loss and plot $\lVert \partial L / \partial h_t \rVert$.
#
# Going back one step, the Elman RNN multiplies the gradient by
# $W_{hh}^T \mathrm{diag}(1 - h_t^2)$: over many steps the product shrinks
# or grows geometrically, depending on the size of $W_{hh}$. The LSTM's cell
# state $c_t = f_t \odot c_{t-1} + i_t \odot g_t$ is a "conveyor belt": going
# back one step only multiplies by the forget gate $f_t$, so when the gate is
# open ($f_t \approx 1$, e.g. with a positive forget-gate bias) the gradient
# reaches far back. First at initialisation, on 50 random tokens:

# %%
cell_classes = {"Elman RNN": nn.RNNCell, "GRU": nn.GRUCell, "LSTM": nn.LSTMCell}


def hidden_state_gradients(cell, head, tokens, target):
    """Mean ||dL/dh_t|| (and ||dL/dc_t|| for an LSTM) for the loss of the last step's prediction."""
    inputs = F.one_hot(tokens, vocab).float()
    state, hs, cs = None, [], []
    for t in range(inputs.shape[1]):
        state = cell(inputs[:, t], state)
        h = state[0] if isinstance(state, tuple) else state
        h.retain_grad()
        hs.append(h)
        if isinstance(state, tuple):
            state[1].retain_grad()
            cs.append(state[1])
    F.cross_entropy(head(hs[-1]), target).backward()
    return (np.array([h.grad.norm(dim=1).mean().item() for h in hs]),
            np.array([c.grad.norm(dim=1).mean().item() for c in cs]))


torch.manual_seed(2)
long_tokens, long_target = torch.randint(0, 10, (200, 50)), torch.randint(0, 10, (200,))
head = nn.Linear(hidden, vocab)
figure, axes = plt.subplots(1, 3, figsize=(15, 4), sharey=True)
ratios = {}
for scale in (1, 4, 8):
    cell = nn.RNNCell(vocab, hidden)
    with torch.no_grad():
        cell.weight_hh.mul_(scale)
    norms, _ = hidden_state_gradients(cell, head, long_tokens, long_target)
    ratios[f"Elman, W_hh x{scale}"] = norms[0] / norms[-1]
    axes[0].plot(norms, "o-", ms=2, label=f"W_hh x {scale}: ||W_hh||_2 = {np.linalg.norm(cell.weight_hh.detach().numpy(), 2):.1f}")
axes[0].set(yscale="log", xlabel="time step t", ylabel="mean ||dL/dh_t||",
            title="Elman RNN at init: vanishes or explodes")
for bias, colour in zip((0, 1, 3), ("tab:blue", "tab:orange", "tab:green")):
    cell = nn.LSTMCell(vocab, hidden)
    with torch.no_grad():
        cell.bias_ih[hidden:2 * hidden] = bias  # gate order i, f, g, o: the forget gate's bias
    norms, cell_norms = hidden_state_gradients(cell, head, long_tokens, long_target)
    ratios[f"LSTM, forget bias {bias}"] = norms[0] / norms[-1]
    axes[1].plot(norms, "o-", ms=2, color=colour, label=f"forget bias {bias}: h_t")
    axes[1].plot(cell_norms, "--", color=colour, label=f"forget bias {bias}: c_t")
norms, _ = hidden_state_gradients(nn.GRUCell(vocab, hidden), head, long_tokens, long_target)
ratios["GRU"] = norms[0] / norms[-1]
axes[1].plot(norms, ":", color="grey", label="GRU (default init)")
axes[1].set(xlabel="time step t", title="LSTM at init: the forget gate decides")
for name, ratio in ratios.items():
    print(f"at init, {name:22s}: ||dL/dh_0|| / ||dL/dh_49|| = {ratio:.1e}")

# %% [markdown]
# And after training on the reversal task (20 steps): every trained model
# has learned to carry the gradient from the last answer back to the first
# input, which is what the task demands. The Elman RNN gets there by growing
# $W_{hh}$ (its spectral norm is printed below), towards the exploding side
# of the left panel: one reason to clip gradients when training RNNs.

# %%
for name, twin in library_models.items():
    layer = twin.rnn
    cell = cell_classes[name](vocab, hidden)
    cell.load_state_dict({key.removesuffix("_l0"): value for key, value in layer.state_dict().items()})
    norms, _ = hidden_state_gradients(cell, twin.head, test_x[:200], test_y[:200, -1])
    ratios[f"trained {name}"] = norms[0] / norms[-1]
    axes[2].plot(norms, "o-", ms=3, label=name)
    print(f"trained {name:9s}: ||dL/dh_0|| / ||dL/dh_T|| = {ratios[f'trained {name}']:.1e}")
initial_norm = np.linalg.norm(nn.course.ElmanRNN(vocab, hidden).weight_hh.detach().numpy(), 2)
trained_norm = np.linalg.norm(models["Elman RNN"].rnn.weight_hh.detach().numpy(), 2)
print(f"Elman ||W_hh||_2: {initial_norm:.2f} at init, {trained_norm:.2f} after training")
axes[2].set(xlabel="time step t", title="after training on the reversal task")
for axis in axes:
    axis.legend(fontsize=7)
savefig(figure, OUT / "gradient_norms.png")

# %% [markdown]
# ## The unrolled graph
#
# A small Elman RNN (hidden size 3) over 4 time steps: the same four
# parameters feed every step. With `show_grads=True` and the gradients
# captured during backward (`capture_gradients`), every box is coloured by
# the norm of the gradient that reached it: each step's `tanh` receives
# gradient from its own prediction and, through `weight_hh`, from all later steps.

# %%
small = Tagger(nn.course.ElmanRNN(vocab, 3), 3, vocab)
loss = F.cross_entropy(small(tokens[:2, :4]).reshape(-1, vocab), tokens[:2, 1:5].reshape(-1))
with torch.viz.capture_gradients(loss) as grads:
    loss.backward(retain_graph=True)
graph = torch.viz.draw(loss, params=small, show_grads=True, grads=grads)
torch.viz.save(graph, OUT / "unrolled_elman.svg")

if not SMOKE:
    assert accuracy["LSTM"] >= 0.6, f"the LSTM reached only {accuracy['LSTM']:.1%} (chance is 10%)"
    assert accuracy["LSTM"] > accuracy["Elman RNN"], "the LSTM should beat the Elman RNN on this task"
assert ratios["Elman, W_hh x1"] < 1e-6 < 1e-2 < ratios["LSTM, forget bias 3"], "no vanishing-gradient contrast"

# %%
report("05 RNN", {f"{name} test accuracy": float(a) for name, a in accuracy.items()}
       | {f"gradient ratio h_0/h_T, {name}": float(r) for name, r in ratios.items()}, OUT)
