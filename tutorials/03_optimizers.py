# %% [markdown]
# # 2.2 Optimisation algorithms
#
# Stochastic gradient descent follows a noisy estimate of the gradient. The
# better optimisers keep a memory of past gradients, and the memory they all
# use is the exponentially weighted moving average (EWMA):
# $S_t = \rho S_{t-1} + (1 - \rho) y_t$. It needs one stored value per
# quantity, however long the history.
#
# - **Momentum** averages the gradients themselves and steps along the average.
# - **RMSProp** averages the squared gradients and divides the step by their
#   root: large steps where gradients are small and steady, small steps where
#   they are large or noisy.
# - **Adam** does both (with bias correction).
#
# Pictures go to `tutorials/outputs/03_optimizers/`.

# %%
import numpy as np

from common import SMOKE, output_dir, plt, report, savefig, trange

import minigrad as torch
from minigrad import nn, optim
import minigrad.nn.functional as F
from minigrad.data import DataLoader, Digits, TensorDataset

OUT = output_dir("03_optimizers")
torch.manual_seed(0)

# %% [markdown]
# ## The EWMA
#
# A noisy series and its EWMA for several $\rho$: the larger $\rho$, the
# smoother and the more delayed. Starting from $S_0 = 0$ the average is biased
# towards zero for the first $\approx 1/(1-\rho)$ steps; dividing by
# $1 - \rho^t$ (bias correction, as Adam does) removes that.

# %%
rng = torch.random.generator()
steps = np.arange(1, 201)
series = 2 + np.sin(steps / 20) + rng.normal(0, 0.5, len(steps))


def ewma(values, rho, correct):
    s, out = 0.0, []
    for t, y in enumerate(values, start=1):
        s = rho * s + (1 - rho) * y
        out.append(s / (1 - rho ** t) if correct else s)
    return np.array(out)


figure, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
for axis, correct in zip(axes, [False, True]):
    axis.plot(steps, series, ".", color="grey", ms=3, label="noisy series $y_t$")
    for rho in (0.5, 0.9, 0.98):
        axis.plot(steps, ewma(series, rho, correct), lw=1.5, label=f"rho = {rho}")
    axis.set(xlabel="t", title="EWMA with bias correction" if correct else "EWMA, S_0 = 0 (biased at the start)")
axes[0].set_ylabel("value")
axes[0].legend(fontsize=8)
savefig(figure, OUT / "ewma.png")

# %% [markdown]
# ## The update rules, written out
#
# For a parameter $w$ with gradient $g$ (all operations elementwise):
#
# - SGD: $w \leftarrow w - \eta g$
# - Momentum: $v \leftarrow \mu v + g$; $w \leftarrow w - \eta v$
# - RMSProp: $s \leftarrow \alpha s + (1 - \alpha) g^2$; $w \leftarrow w - \eta g / (\sqrt{s} + \epsilon)$
# - Adam: $m \leftarrow \beta_1 m + (1 - \beta_1) g$, $s \leftarrow \beta_2 s + (1 - \beta_2) g^2$;
#   $w \leftarrow w - \eta \hat m / (\sqrt{\hat s} + \epsilon)$ with $\hat m = m / (1 - \beta_1^t)$,
#   $\hat s = s / (1 - \beta_2^t)$.
#
# We write them in numpy and check them against `optim` on a 2-D problem, a
# long narrow valley $f(x, y) = x^2 / 50 + y^2$ (condition number 50),
# starting from the same point.

# %%
def valley(w):
    return w[0] ** 2 / 50 + w[1] ** 2


def valley_grad(w):
    return np.array([w[0] / 25, 2 * w[1]])


def by_hand(rule, start, lr, steps, momentum=0.9, alpha=0.99, betas=(0.9, 0.999), eps=1e-8):
    w, v, s, path = np.array(start, dtype=np.float64), 0.0, 0.0, [np.array(start, dtype=np.float64)]
    for t in range(1, steps + 1):
        g = valley_grad(w)
        if rule == "SGD":
            w = w - lr * g
        elif rule == "Momentum":
            v = momentum * v + g
            w = w - lr * v
        elif rule == "RMSProp":
            s = alpha * s + (1 - alpha) * g ** 2
            w = w - lr * g / (np.sqrt(s) + eps)
        else:  # Adam
            v = betas[0] * v + (1 - betas[0]) * g
            s = betas[1] * s + (1 - betas[1]) * g ** 2
            w = w - lr * (v / (1 - betas[0] ** t)) / (np.sqrt(s / (1 - betas[1] ** t)) + eps)
        path.append(w)
    return np.array(path)


def with_optim(make, start, steps):
    w = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = make([w])
    path = [w.detach().numpy().copy()]
    for _ in range(steps):
        loss = w[0] ** 2 / 50 + w[1] ** 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        path.append(w.detach().numpy().copy())
    return np.array(path)


start, valley_steps = [-9.0, 2.5], 60
rules = {
    "SGD": (0.9, lambda p: optim.SGD(p, lr=0.9)),
    "Momentum": (0.1, lambda p: optim.SGD(p, lr=0.1, momentum=0.9)),
    "RMSProp": (0.1, lambda p: optim.RMSprop(p, lr=0.1, alpha=0.99)),
    "Adam": (0.5, lambda p: optim.Adam(p, lr=0.5)),
}
paths = {}
for rule, (lr, make) in rules.items():
    paths[rule] = by_hand(rule, start, lr, valley_steps)
    np.testing.assert_allclose(with_optim(make, start, valley_steps), paths[rule], rtol=1e-9, atol=1e-9)
    print(f"{rule:8s}: by hand == optim ({valley_steps} steps), final f = {valley(paths[rule][-1]):.2e}")

xs, ys = np.meshgrid(np.linspace(-10, 10, 200), np.linspace(-3.5, 3.5, 120))
figure, axes = plt.subplots(figsize=(8, 3.6))
axes.contour(xs, ys, valley([xs, ys]), levels=np.geomspace(0.01, 12, 14), colors="lightgrey", linewidths=0.8)
for rule, path in paths.items():
    axes.plot(path[:, 0], path[:, 1], ".-", ms=3, lw=1, label=f"{rule}: f = {valley(path[-1]):.1e}")
axes.plot(*start, "k*", ms=10)
axes.set(xlabel="x", ylabel="y", title=f"f(x, y) = x^2/50 + y^2: {valley_steps} steps from the same start")
axes.legend(fontsize=8, loc="lower right")
savefig(figure, OUT / "valley_paths.png")

# %% [markdown]
# ## Side by side on digits
#
# The same MLP, the same initial weights (one `state_dict` loaded into each
# copy) and the same mini-batches (the loader's shuffling is re-seeded), so
# the optimiser is the only difference. Learning rates are each method's
# usual ones.

# %%
train_images, train_labels = Digits(train=True).tensors(flatten=True)
test_images, test_labels = Digits(train=False).tensors(flatten=True)
if SMOKE:
    train_images, train_labels = train_images[:256], train_labels[:256]
train_set = TensorDataset(train_images, train_labels)


def make_model():
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))


initial = make_model().state_dict()
optimizers = {
    "SGD (lr 0.05)": lambda p: optim.SGD(p, lr=0.05),
    "Momentum (lr 0.05, 0.9)": lambda p: optim.SGD(p, lr=0.05, momentum=0.9),
    "RMSProp (lr 1e-3)": lambda p: optim.RMSprop(p, lr=1e-3),
    "Adam (lr 1e-3)": lambda p: optim.Adam(p, lr=1e-3),
}
epochs = 1 if SMOKE else 25
curves, results = {}, {}
for name, make in optimizers.items():
    model = make_model()
    model.load_state_dict(initial)
    optimizer = make(model.parameters())
    torch.manual_seed(1)  # the same shuffling for every optimiser
    loader = DataLoader(train_set, batch_size=32, shuffle=True)
    losses = []
    for epoch in trange(epochs, desc=name):
        for images, labels in loader:
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    with torch.no_grad():
        test_accuracy = (model(test_images).argmax(dim=1) == test_labels).float().mean().item()
    curves[name], results[name] = losses, (np.mean(losses[-len(loader):]), test_accuracy)
    print(f"{name:24s}: last-epoch loss {results[name][0]:.4f}, test accuracy {test_accuracy:.2%}")

figure, axes = plt.subplots(figsize=(7, 4))
window = 1 if SMOKE else 20
for name, losses in curves.items():
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    axes.plot(np.arange(len(smooth)) + window, smooth, lw=1.2,
              label=f"{name}: test acc {results[name][1]:.1%}")
axes.set(xlabel="step", ylabel=f"training loss (mean of {window} steps)", yscale="log",
         title="digits MLP: same init, same batches")
axes.legend(fontsize=8)
savefig(figure, OUT / "digits_loss_curves.png")

if not SMOKE:
    adam_accuracy = results["Adam (lr 1e-3)"][1]
    assert adam_accuracy >= 0.94, f"Adam reached only {adam_accuracy:.2%} test accuracy (expected >= 94%)"

# %%
report("03 optimizers", {f"{name} test accuracy": acc for name, (_, acc) in results.items()}
       | {f"{name} final loss": loss for name, (loss, _) in results.items()}, OUT)
