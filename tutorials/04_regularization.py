# %% [markdown]
# # 3.1 Regularisation
#
# *"Regularisation are techniques to reduce the test error, possibly at the
# expense of increased training error."* We first look at learning curves, which
# show when a model has too little data, and then try the course's regularisers
# one by one on a deliberately small training set of handwritten digits, where
# a network overfits easily: parameter norms (L2 = weight decay, L1), early
# stopping, noise on the inputs and on the labels, and dropout.
#
# Pictures go to `tutorials/outputs/04_regularization/`.

# %%
import numpy as np

from common import SMOKE, output_dir, plt, report, savefig, tqdm

import minigrad as torch
from minigrad import nn, optim
import minigrad.nn.functional as F
from minigrad.data import DataLoader, Digits, TensorDataset

OUT = output_dir("04_regularization")
torch.manual_seed(0)

# %% [markdown]
# ## Data
# The 1 438 training digits are split once into a pool to train on and 300
# validation images; the 359 test images stay aside.

# %%
images, labels = Digits(train=True).tensors(flatten=True)
test_images, test_labels = Digits(train=False).tensors(flatten=True)
order = torch.randperm(len(labels)).numpy()
val_images, val_labels = images[order[:300]], labels[order[:300]]
pool_images, pool_labels = images[order[300:]], labels[order[300:]]
print(f"{len(pool_labels)} images to train on, {len(val_labels)} for validation, {len(test_labels)} for test")


def error(model, x, y):
    """Classification error in [0, 1], in evaluation mode (no dropout, no noise)."""
    model.eval()
    with torch.no_grad():
        wrong = (model(x).argmax(dim=1) != y).float().mean().item()
    model.train()
    return wrong


# %% [markdown]
# ## Learning curves
#
# Train error (the *apparent* error) and validation error (an estimate of the
# *true* error) against the number of training samples. With few samples the
# model fits them perfectly and the gap is large (overfitting); with more data
# the curves approach each other and the asymptotic error. The linear model
# cannot even fit its training set once it grows: its two curves meet at a
# high asymptote. The more complex model (a hidden layer of 256) reaches a
# lower one, but needs more data to get there; regularisation (here weight
# decay) flattens the curve.

# %%
def fit(model, x, y, steps, weight_decay=0.0):
    """Full-batch Adam: enough steps to (nearly) fit a small training set."""
    optimizer = optim.Adam(model.parameters(), lr=1e-2, weight_decay=weight_decay)
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


sizes = [20, 50] if SMOKE else [20, 50, 100, 200, 400, 800, len(pool_labels)]
variants = {"linear (no hidden layer)": (0, 0.0), "hidden 256": (256, 0.0), "hidden 256 + weight decay": (256, 5e-3)}
fit_steps = 5 if SMOKE else 150
curves = {name: [] for name in variants}
for n in tqdm(sizes, desc="learning curves"):
    for name, (width, decay) in variants.items():
        torch.manual_seed(n)
        if width == 0:
            model = nn.Linear(64, 10)  # multinomial logistic regression
        else:
            model = nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Linear(width, 10))
        fit(model, pool_images[:n], pool_labels[:n], fit_steps, decay)
        curves[name].append((error(model, pool_images[:n], pool_labels[:n]), error(model, val_images, val_labels)))
for name, points in curves.items():
    print(f"{name:26s} validation error: " + ", ".join(f"{n}: {v:.1%}" for n, (_, v) in zip(sizes, points)))

figure, axes = plt.subplots(figsize=(7, 4))
for (name, points), colour in zip(curves.items(), ["tab:blue", "tab:orange", "tab:green"]):
    axes.plot(sizes, [p[1] for p in points], "o-", color=colour, label=f"{name}: validation")
    axes.plot(sizes, [p[0] for p in points], "o--", color=colour, alpha=0.6, label=f"{name}: train")
axes.set(xscale="log", xlabel="training-set size", ylabel="error", title="learning curves on digits")
axes.legend(fontsize=8)
savefig(figure, OUT / "learning_curves.png")

# %% [markdown]
# ## The network and the training loop
#
# The residual network of the notes, with two dropout layers (`p=0` turns them
# off). Every experiment trains it on the same 200 images from the same
# initial weights with SGD + momentum, and records train and validation error
# after each epoch. `penalty` adds a term to the loss; `early_stopping` may end
# the run.

# %%
class ResidualNet(nn.Module):
    def __init__(self, hidden=256, p_dropout=0.0, input_noise=0.0):
        super().__init__()
        self.noise = nn.GaussianNoise(input_noise)  # identity in eval mode
        self.fc1 = nn.Linear(64, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, hidden)
        self.fc4 = nn.Linear(hidden, hidden)
        self.fc5 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 10)
        self.do1 = nn.Dropout(p_dropout)
        self.do2 = nn.Dropout(p_dropout)

    def forward(self, x):
        x = self.noise(x)
        h = F.relu(self.fc1(x))
        h = self.do1(h + F.relu(self.fc2(h)))
        h = h + F.relu(self.fc3(h))
        h = self.do2(h + F.relu(self.fc4(h)))
        h = h + F.relu(self.fc5(h))
        return self.out(h)


n_train = 200
train_x, train_y = pool_images[:n_train], pool_labels[:n_train]
epochs = 2 if SMOKE else 150
torch.manual_seed(0)
initial = ResidualNet().state_dict()


def experiment(name, model=None, weight_decay=0.0, penalty=None, label_smoothing=0.0, early_stopping=None):
    model = model or ResidualNet()
    model.load_state_dict(initial)
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=weight_decay)
    torch.manual_seed(1)  # the same batches (and noise) for every experiment
    loader = DataLoader(TensorDataset(train_x, train_y), batch_size=32, shuffle=True)
    history = []
    for epoch in tqdm(range(epochs), desc=name):
        for x, y in loader:
            loss = F.cross_entropy(model(x), y, label_smoothing=label_smoothing)
            if penalty is not None:
                loss = loss + penalty(model)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        history.append((error(model, train_x, train_y), error(model, val_images, val_labels)))
        if early_stopping is not None and early_stopping.step(1 - history[-1][1], model):
            early_stopping.restore(model)  # back to the weights of the best epoch
            break
    final_val = error(model, val_images, val_labels)
    test = error(model, test_images, test_labels)
    norm = sum(p.pow(2).sum().item() for name_, p in model.named_parameters() if "weight" in name_) ** 0.5
    print(f"{name:22s}: train error {history[-1][0]:.1%}, validation error {final_val:.1%}, "
          f"test error {test:.1%}, weight norm {norm:.1f}")
    return {"history": history, "val": final_val, "test": test, "norm": norm, "model": model}


results = {}
results["no regularisation"] = experiment("no regularisation")

# %% [markdown]
# ## Parameter norm penalties
#
# L2 (ridge, *weight decay*): $\mathcal{L} = \mathcal{L}_0 + \frac{\lambda}{2}\sum_w w^2$. Written
# out as in the notes, or as the optimiser's `weight_decay`, which adds
# $\lambda w$ to each gradient: for SGD the two are the same thing, which we
# check on a few steps. (Here both also shrink the biases, as `weight_decay` does.)

# %%
wd = 3e-3


def l2_penalty(net):
    l2 = 0
    for p in net.parameters():  # loop through the network parameters
        l2 += torch.pow(p, 2).sum()
    return 0.5 * wd * l2


a, b = ResidualNet(), ResidualNet()
b.load_state_dict(a.state_dict())
opt_a = optim.SGD(a.parameters(), lr=5e-1, weight_decay=wd)
opt_b = optim.SGD(b.parameters(), lr=5e-1)
for step in range(3):
    for model, opt, extra in [(a, opt_a, 0), (b, opt_b, l2_penalty(b))]:
        loss = F.cross_entropy(model(train_x), train_y) + extra
        opt.zero_grad()
        loss.backward()
        opt.step()
for (name, p), q in zip(a.named_parameters(), b.parameters()):
    np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
print("SGD(weight_decay=wd) == SGD on loss + 0.5 * wd * sum(w^2): same weights after 3 steps")

results["L2 (weight_decay)"] = experiment("L2 (weight_decay)", weight_decay=wd)

# %% [markdown]
# L1 (lasso): $\mathcal{L} = \mathcal{L}_0 + \lambda \sum_w |w|$ pulls every weight
# towards zero by the same amount, so unimportant weights end up (near) zero:
# a sparse network.

# %%
l1 = 1e-4
results["L1"] = experiment("L1", penalty=lambda net: l1 * sum(p.abs().sum() for p in net.parameters()))

# %% [markdown]
# ## Early stopping
#
# Stop when the validation accuracy has not improved for `patience` epochs,
# and go back to the best weights (the notes' patience counter is what
# `optim.EarlyStopping` keeps).

# %%
stopper = optim.EarlyStopping(patience=2 if SMOKE else 15, mode="max")
results["early stopping"] = experiment("early stopping", early_stopping=stopper)
print(f"early stopping: stopped after {stopper.epoch} epochs, best epoch {stopper.best_epoch + 1} "
      f"(validation accuracy {stopper.best:.1%})")
assert abs((1 - results["early stopping"]["val"]) - stopper.best) < 1e-9, "restore() did not bring back the best weights"

# %% [markdown]
# ## Noise robustness
#
# Noise on the inputs (a cheap data augmentation) with `nn.GaussianNoise`, and
# noise on the outputs with label smoothing: the target puts $1 - \epsilon$ on
# the true class and spreads $\epsilon$ over all classes, so the network is
# never pushed towards infinitely confident logits.

# %%
results["input noise (std 0.2)"] = experiment("input noise (std 0.2)", model=ResidualNet(input_noise=0.2))
results["label smoothing 0.1"] = experiment("label smoothing 0.1", label_smoothing=0.1)

# %% [markdown]
# ## Dropout
#
# Every training step drops each hidden unit with probability p, so the
# network cannot rely on any single unit: in effect many thinned networks are
# trained at once. The notes rescale the weights by the keep probability at
# evaluation time; `nn.Dropout` (like PyTorch) does the equivalent *inverted*
# dropout, scaling the kept units by $1/(1-p)$ during training, so that
# evaluation is just `model.eval()`.

# %%
results["dropout 0.5"] = experiment("dropout 0.5", model=ResidualNet(p_dropout=0.5))

# %% [markdown]
# ## All of them: train vs validation error

# %%
figure, axes = plt.subplots(2, 4, figsize=(14, 6), sharey=True)
for axis, (name, result) in zip(axes.ravel(), results.items()):
    history = np.array(result["history"])
    axis.plot(np.arange(1, len(history) + 1), history[:, 0], label="train")
    axis.plot(np.arange(1, len(history) + 1), history[:, 1], label="validation")
    axis.set_title(f"{name}\nval {result['val']:.1%}, test {result['test']:.1%}", fontsize=9)
    axis.set(xlabel="epoch")
    if name == "early stopping":
        axis.axvline(stopper.best_epoch + 1, color="k", ls=":", lw=1, label="best (restored)")
for axis in axes[:, 0]:
    axis.set_ylabel("error")
axes[0, 0].set_ylim(0, 0.3)
axes[0, 0].legend(fontsize=8)
axes.ravel()[-1].axis("off")
savefig(figure, OUT / "train_vs_validation.png")

figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
names = list(results)
left.barh(names, [results[n]["val"] for n in names], color="tab:orange", label="validation")
left.barh(names, [results[n]["test"] for n in names], height=0.35, color="tab:blue", label="test")
left.set(xlabel="error", title=f"trained on {n_train} digits",
         xlim=(0, 1.35 * max(max(r["val"], r["test"]) for r in results.values())))
left.invert_yaxis()
left.legend(fontsize=8, loc="lower right")
for name in ["no regularisation", "L2 (weight_decay)", "L1"]:
    weights = np.concatenate([p.detach().numpy().ravel() for n, p in results[name]["model"].named_parameters()
                              if "weight" in n])
    right.hist(np.log10(np.abs(weights) + 1e-12), bins=80, histtype="step", lw=1.5,
               label=f"{name}: |w| norm {results[name]['norm']:.1f}")
right.set(xlabel="log10 |w|", ylabel="weights", title="L2 shrinks the weights, L1 pushes many to ~0")
right.legend(fontsize=8)
savefig(figure, OUT / "summary.png")

# %%
best = min(results, key=lambda n: results[n]["val"])
report("04 regularization", {f"{name} validation error": r["val"] for name, r in results.items()}
       | {"best": best, "learning curve (hidden 256) validation error at full pool": curves["hidden 256"][-1][1]}, OUT)
