# %% [markdown]
# # 3.2 Recurrent networks: Elman RNN, GRU and LSTM
#
# A recurrent network reads a sequence one token at a time and carries a
# hidden state $h_t$ from step to step. The weights are shared across time
# steps, so the number of parameters does not grow with the sequence length,
# and the same network handles sequences of any length.
#
# We write the course's three cells here, from minigrad ops and in the course's
# parameter layout, and train them on a synthetic task: read 10 digits, then
# write them out reversed. The last answer digit depends on the first input, 19
# steps earlier: a long way for a gradient to travel. We then load the trained
# weights into the library's `nn.RNN`, `nn.GRU` and `nn.LSTM`, check that they
# compute exactly what our cells compute. Finally we unroll our cells step by
# step to measure how the gradient fades as it flows back through time.
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
# ## The parameters, in the course's layout
#
# A token $x_t$ is a row vector (the batch stacks N of them), so every product
# is "row times matrix": $x_t W_{xh}$. The course concatenates the weight
# matrices of all gates side by side, because every gate is computed from the
# same $x_t$ and $h_{t-1}$: one product gives all of them at once.
#
# | cell | `weight_xh` | `weight_hh` | `bias_xh`, `bias_hh` | column blocks |
# |---|---|---|---|---|
# | Elman | (input, H) | (H, H) | (H,) | $h$ |
# | GRU | (input, 3H) | (H, 3H) | (3H,) | $r, z, n$ |
# | LSTM | (input, 4H) | (H, 4H) | (4H,) | $i, f, g, o$ |
#
# Every parameter starts uniform in $[-1/\sqrt{H}, 1/\sqrt{H}]$ (PyTorch's
# choice). `Recurrent` holds the parameters and runs the loop over time;
# each cell only writes its `step`: $(x_t, \text{state}_{t-1}) \to \text{state}_t$.
# `torch.addmm(b, x, W)` is $b + xW$ in one call.

# %%
class Recurrent(nn.Module):
    """The course's recurrent layer: x (N, T, input) -> every hidden state (N, T, H).

    Subclasses set `gates` (k: the parameters are (input, k H), (H, k H), (k H,), (k H,))
    and write `step(x_t, state) -> state`.
    """

    gates = 1

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        k = self.gates
        self.weight_xh = nn.Parameter(torch.empty(input_size, k * hidden_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, k * hidden_size))
        self.bias_xh = nn.Parameter(torch.empty(k * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(k * hidden_size))
        bound = 1 / hidden_size ** 0.5
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def initial_state(self, batch):
        return torch.zeros(batch, self.hidden_size)

    def forward(self, x):
        state = self.initial_state(x.shape[0])
        outputs = []
        for x_t in x.unbind(1):  # time steps, each (N, input)
            state = self.step(x_t, state)
            outputs.append(state[0] if isinstance(state, tuple) else state)  # an LSTM's state is (h, c)
        return torch.stack(outputs, 1)


# %% [markdown]
# ### Elman RNN
#
# $$h_t = \tanh(x_t W_{xh} + b_{xh} + h_{t-1} W_{hh} + b_{hh})$$

# %%
class ElmanRNN(Recurrent):
    gates = 1

    def step(self, x_t, h):
        return torch.tanh(torch.addmm(self.bias_xh, x_t, self.weight_xh) + torch.addmm(self.bias_hh, h, self.weight_hh))


# %% [markdown]
# ### GRU
#
# The reset gate $R_t$ decides how much of $h_{t-1}$ the candidate state
# $\hat H_t$ may see; the update gate $Z_t$ weighs the old state against the
# candidate ($\sigma$ is the sigmoid, $\odot$ the elementwise product):
#
# $$\begin{aligned}
# R_t &= \sigma(x_t W_{xr} + b_{xr} + h_{t-1} W_{hr} + b_{hr}) \\
# Z_t &= \sigma(x_t W_{xz} + b_{xz} + h_{t-1} W_{hz} + b_{hz}) \\
# \hat H_t &= \tanh\big(x_t W_{xn} + b_{xn} + R_t \odot (h_{t-1} W_{hn} + b_{hn})\big) \\
# h_t &= (1 - Z_t) \odot \hat H_t + Z_t \odot h_{t-1}
# \end{aligned}$$
#
# The three column blocks of `weight_xh` are $W_{xr}, W_{xz}, W_{xn}$, in that
# order (PyTorch's order, so that the weights move to `nn.GRU` as they are).

# %%
class GRU(Recurrent):
    gates = 3

    def step(self, x_t, h):
        H = self.hidden_size
        xh = torch.addmm(self.bias_xh, x_t, self.weight_xh)  # (N, 3H): r, z, n blocks
        hh = torch.addmm(self.bias_hh, h, self.weight_hh)
        r = torch.sigmoid(xh[:, :H] + hh[:, :H])
        z = torch.sigmoid(xh[:, H:2 * H] + hh[:, H:2 * H])
        candidate = torch.tanh(xh[:, 2 * H:] + r * hh[:, 2 * H:])
        return (1 - z) * candidate + z * h


# %% [markdown]
# ### LSTM
#
# The cell state $c_t$ is the "conveyor belt": the forget gate $F_t$ scales
# what it carries, the input gate $I_t$ lets new content $G_t$ on, and the
# output gate $O_t$ decides how much of it shows in $h_t$. With
# $a_t = x_t W_{xh} + b_{xh} + h_{t-1} W_{hh} + b_{hh}$ cut into four blocks:
#
# $$\begin{aligned}
# I_t &= \sigma(a_t^{(i)}), \quad F_t = \sigma(a_t^{(f)}), \quad G_t = \tanh(a_t^{(g)}), \quad O_t = \sigma(a_t^{(o)}) \\
# c_t &= F_t \odot c_{t-1} + I_t \odot G_t \\
# h_t &= O_t \odot \tanh(c_t)
# \end{aligned}$$

# %%
class LSTM(Recurrent):
    gates = 4

    def initial_state(self, batch):
        return torch.zeros(batch, self.hidden_size), torch.zeros(batch, self.hidden_size)

    def step(self, x_t, state):
        h, c = state
        H = self.hidden_size
        a = torch.addmm(self.bias_xh, x_t, self.weight_xh) + torch.addmm(self.bias_hh, h, self.weight_hh)
        i, f = torch.sigmoid(a[:, :H]), torch.sigmoid(a[:, H:2 * H])
        g, o = torch.tanh(a[:, 2 * H:3 * H]), torch.sigmoid(a[:, 3 * H:])
        c = f * c + i * g
        return o * torch.tanh(c), c


# %% [markdown]
# The tokens go in one-hot encoded; a linear layer reads the next token off
# every hidden state.

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
cells = {"Elman RNN": ElmanRNN, "GRU": GRU, "LSTM": LSTM}
models = {name: Tagger(cell(vocab, hidden), hidden, vocab) for name, cell in cells.items()}
for name, model in models.items():
    print(f"{name:9s}: {sum(p.numel() for p in model.rnn.parameters()):6,} recurrent parameters, "
          f"weight_xh {tuple(model.rnn.weight_xh.shape)}")

# %% [markdown]
# ## One unrolled LSTM step, drawn
#
# An LSTM with 3 hidden units reads one token; the loss is the cross-entropy
# of its prediction. The drawing shows the two `addmm` products, the four
# gate slices with their sigmoids and tanh, and the update of $c$ and $h$;
# after `backward()`, every box is coloured by the norm of the gradient that
# reached it (`capture_gradients` records the ops' gradients too). At the
# first step $h_0 = c_0 = 0$: `weight_hh` and the forget gate (the slice
# `[:, 3:6]`) get no gradient at all, drawn dashed.

# %%
tiny = Tagger(LSTM(vocab, 3), 3, vocab)
loss = F.cross_entropy(tiny(x[None, :1])[0], x[1:2])  # read the first token, predict the second
with torch.viz.capture_gradients(loss) as grads:
    loss.backward(retain_graph=True)
torch.viz.save(torch.viz.draw(loss, params=tiny, show_grads=True, grads=grads), OUT / "lstm_step.svg")


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
# ## Our cells against `nn.RNN`, `nn.GRU` and `nn.LSTM`
#
# PyTorch stores `weight_ih_l0` as (k * hidden, input), the transpose of the
# course's `weight_xh` (it computes $W x_t$ for a column vector), with the
# same gate order. Moving the trained weights over must give the same outputs
# and, backpropagating the same loss, the same gradients.

# %%
library = {"Elman RNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}
for name, model in models.items():
    layer = library[name](vocab, hidden, batch_first=True)
    layer.load_state_dict({"weight_ih_l0": model.rnn.weight_xh.T, "weight_hh_l0": model.rnn.weight_hh.T,
                           "bias_ih_l0": model.rnn.bias_xh, "bias_hh_l0": model.rnn.bias_hh})
    twin = Tagger(layer, hidden, vocab)
    twin.head.load_state_dict(model.head.state_dict())
    outputs = []
    for tagger in (model, twin):
        tagger.zero_grad()
        logits = tagger(test_x[:50])
        F.cross_entropy(logits.reshape(-1, vocab), test_y[:50].reshape(-1)).backward()
        outputs.append(logits.detach().numpy())
    np.testing.assert_allclose(outputs[1], outputs[0], atol=1e-4)
    np.testing.assert_allclose(layer.weight_hh_l0.grad.numpy(), model.rnn.weight_hh.grad.numpy().T, atol=1e-5)
    np.testing.assert_allclose(layer.bias_ih_l0.grad.numpy(), model.rnn.bias_xh.grad.numpy(), atol=1e-5)
    print(f"{name:9s}: nn.{type(layer).__name__} with our weights gives the same outputs (max |diff| "
          f"{np.abs(outputs[1] - outputs[0]).max():.1e}) and the same gradients")

# %% [markdown]
# ## Vanishing and exploding gradients
#
# How much does the loss of the *last* prediction depend on the hidden state
# at each earlier step? We unroll our cells by hand with their `step`, call
# `retain_grad()` on every $h_t$ (and $c_t$), backpropagate the last step's
# loss and plot $\lVert \partial L / \partial h_t \rVert$.
#
# Going back one step, the Elman RNN multiplies the gradient by
# $W_{hh}^T \mathrm{diag}(1 - h_t^2)$: over many steps the product shrinks
# or grows geometrically, depending on the size of $W_{hh}$. The LSTM's cell
# state $c_t = f_t \odot c_{t-1} + i_t \odot g_t$ is a "conveyor belt": going
# back one step only multiplies by the forget gate $f_t$, so when the gate is
# open ($f_t \approx 1$, e.g. with a positive forget-gate bias) the gradient
# reaches far back. First at initialisation, on 50 random tokens:

# %%
def hidden_state_gradients(rnn, head, tokens, target):
    """Mean ||dL/dh_t|| (and ||dL/dc_t|| for an LSTM) for the loss of the last step's prediction."""
    state, hs, cs = rnn.initial_state(len(tokens)), [], []
    for x_t in F.one_hot(tokens, vocab).float().unbind(1):
        state = rnn.step(x_t, state)
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
    cell = ElmanRNN(vocab, hidden)
    with torch.no_grad():
        cell.weight_hh.mul_(scale)
    norms, _ = hidden_state_gradients(cell, head, long_tokens, long_target)
    ratios[f"Elman, W_hh x{scale}"] = norms[0] / norms[-1]
    axes[0].plot(norms, "o-", ms=2, label=f"W_hh x {scale}: ||W_hh||_2 = {np.linalg.norm(cell.weight_hh.detach().numpy(), 2):.1f}")
axes[0].set(yscale="log", xlabel="time step t", ylabel="mean ||dL/dh_t||",
            title="Elman RNN at init: vanishes or explodes")
for bias, colour in zip((0, 1, 3), ("tab:blue", "tab:orange", "tab:green")):
    cell = LSTM(vocab, hidden)
    with torch.no_grad():
        cell.bias_xh[hidden:2 * hidden] = bias  # gate blocks i, f, g, o: the forget gate's bias
    norms, cell_norms = hidden_state_gradients(cell, head, long_tokens, long_target)
    ratios[f"LSTM, forget bias {bias}"] = norms[0] / norms[-1]
    axes[1].plot(norms, "o-", ms=2, color=colour, label=f"forget bias {bias}: h_t")
    axes[1].plot(cell_norms, "--", color=colour, label=f"forget bias {bias}: c_t")
norms, _ = hidden_state_gradients(GRU(vocab, hidden), head, long_tokens, long_target)
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
for name, model in models.items():
    norms, _ = hidden_state_gradients(model.rnn, model.head, test_x[:200], test_y[:200, -1])
    ratios[f"trained {name}"] = norms[0] / norms[-1]
    axes[2].plot(norms, "o-", ms=3, label=name)
    print(f"trained {name:9s}: ||dL/dh_0|| / ||dL/dh_T|| = {ratios[f'trained {name}']:.1e}")
initial_norm = np.linalg.norm(ElmanRNN(vocab, hidden).weight_hh.detach().numpy(), 2)
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
small = Tagger(ElmanRNN(vocab, 3), 3, vocab)
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
