# %% [markdown]
# # 1 Activations and backpropagation
#
# We first write a small network the hard way: every layer is a class with a
# `forward` that caches what it needs and a `backward` that turns the gradient
# of the loss w.r.t. its output (`dupstream`) into the gradients of its
# parameters and of its input. Then we build the very same network with
# minigrad, which records the forward pass and runs backpropagation for us, and
# check that both give the same gradients. Finally we let autograd train it on
# XOR and on handwritten digits, and look at what initialisation does.
#
# Pictures go to `tutorials/outputs/01_backprop/`.

# %%
import numpy as np

from common import SMOKE, output_dir, plt, report, savefig, trange

import minigrad as torch
from minigrad import nn, optim
import minigrad.nn.functional as F
from minigrad.data import DataLoader, Digits, TensorDataset

OUT = output_dir("01_backprop")
torch.manual_seed(0)
rng = torch.random.generator()  # minigrad's numpy Generator: manual_seed makes the numpy net repeatable too

# %% [markdown]
# ## Layers with a hand-written backward pass
#
# `Linear` computes $y = xW + b$ for a batch $x \in \mathbb{R}^{N \times N_{in}}$,
# with $W \in \mathbb{R}^{N_{in} \times N_{out}}$. Its backward pass is two
# matrix products and a sum: $\partial L/\partial W = x^T \delta$,
# $\partial L/\partial b = \sum_n \delta_n$ and $\partial L/\partial x = \delta W^T$,
# where $\delta$ is `dupstream`.

# %%
class Linear:
    """Fully-connected layer y = x W + b with W (in_features, out_features)."""

    def __init__(self, in_features, out_features):
        self.weight = np.zeros((in_features, out_features))
        self.bias = np.zeros(out_features)
        self.init_params()

    def init_params(self, std=1.):
        """Initialize layer parameters. Sample weight from Gaussian distribution
        and bias uniform distribution.

        Args:
            std: Standard deviation of Gaussian distribution (default: 1.0)
        """
        self.weight = std * rng.standard_normal(self.weight.shape)
        self.bias = rng.uniform(0.0, 1.0, self.bias.shape)

    def forward(self, x):
        """Multiply the input (N, in) by the weights and add the bias; cache x for backward.

        Returns:
            y: (N, out)
        """
        self.cache = x
        return x @ self.weight + self.bias

    def backward(self, dupstream):
        """Gradients of the loss w.r.t. weight and bias; returns dx (N, in)."""
        x = self.cache
        self.weight_grad = x.T @ dupstream
        self.bias_grad = dupstream.sum(axis=0)
        return dupstream @ self.weight.T


class ReLU:
    def forward(self, x):
        self.cache = x
        return np.maximum(x, 0)

    def backward(self, dupstream):
        return dupstream * (self.cache > 0)


class Sigmoid:
    def forward(self, x):
        self.cache = 1 / (1 + np.exp(-x))
        return self.cache

    def backward(self, dupstream):
        s = self.cache
        return dupstream * s * (1 - s)  # sigma'(x) = sigma(x) (1 - sigma(x))


class Net:
    """A network given as a list of layers, applied in order."""

    def __init__(self, layers):
        self.layers = layers

    def reset_params(self, std=1.):
        """Apply `init_params(std)` to all layers with learnable parameters."""
        for layer in self.layers:
            if hasattr(layer, "init_params"):
                layer.init_params(std)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dupstream):
        """Backward pass through all layers, last to first (the chain rule)."""
        for layer in reversed(self.layers):
            dupstream = layer.backward(dupstream)

    def optimizer_step(self, lr):
        """One step in the negative gradient direction in each layer."""
        for layer in self.layers:
            if hasattr(layer, "weight"):
                layer.weight -= lr * layer.weight_grad
                layer.bias -= lr * layer.bias_grad


def mse(y, target):
    """Mean squared error and its gradient w.r.t. y."""
    return np.mean((y - target) ** 2), 2 * (y - target) / y.size


# %% [markdown]
# ## The same network in minigrad
#
# `TorchNet` declares its layers and only writes `forward`; backward comes
# from the recorded graph. `load_from` copies the numpy net's parameters in
# with `nn.Parameter` (note that `nn.Linear` stores its weight transposed,
# as (out_features, in_features)). The check runs in float64.

# %%
class TorchNet(nn.Module):
    def __init__(self, in_features, hidden_dim, out_features, out_act=None):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_dim)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden_dim, out_features)
        self.out_act = nn.Sigmoid() if out_act is None else out_act

    def forward(self, x):
        return self.out_act(self.fc2(self.relu(self.fc1(x))))

    def load_from(self, net):
        """Copy the parameters of a numpy `Net` [Linear, ReLU, Linear, ...]."""
        first, second = [layer for layer in net.layers if isinstance(layer, Linear)]
        self.fc1.weight = nn.Parameter(torch.from_numpy(first.weight.T.copy()))
        self.fc1.bias = nn.Parameter(torch.from_numpy(first.bias.copy()))
        self.fc2.weight = nn.Parameter(torch.from_numpy(second.weight.T.copy()))
        self.fc2.bias = nn.Parameter(torch.from_numpy(second.bias.copy()))
        return self


x_xor = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float32)
y_xor = torch.tensor([[0], [1], [1], [0]], dtype=torch.float32)

hidden = 8
net = Net([Linear(2, hidden), ReLU(), Linear(hidden, 1), Sigmoid()])
torch_net = TorchNet(2, hidden, 1).load_from(net)

x64, y64 = x_xor.numpy().astype(np.float64), y_xor.numpy().astype(np.float64)
out = net.forward(x64)
loss, dloss = mse(out, y64)
net.backward(dloss)

torch_out = torch_net(torch.from_numpy(x64))
torch_loss = F.mse_loss(torch_out, torch.from_numpy(y64))
torch_loss.backward()

np.testing.assert_allclose(torch_out.detach().numpy(), out, atol=1e-12)
pairs = [(net.layers[0].weight_grad.T, torch_net.fc1.weight.grad), (net.layers[0].bias_grad, torch_net.fc1.bias.grad),
         (net.layers[2].weight_grad.T, torch_net.fc2.weight.grad), (net.layers[2].bias_grad, torch_net.fc2.bias.grad)]
for name, (ours, theirs) in zip(["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"], pairs):
    np.testing.assert_allclose(theirs.numpy(), ours, atol=1e-5, err_msg=name)
    print(f"{name:10s} gradient: hand-written == autograd (max |diff| {np.abs(theirs.numpy() - ours).max():.1e})")

# %% [markdown]
# ## Training on XOR: hand-written loop vs autograd
#
# Both start from the same weights and take the same plain gradient steps, so
# their loss curves lie on top of each other. XOR is not linearly separable: the
# hidden ReLU layer is what makes it learnable.

# %%
steps = 50 if SMOKE else 2000
lr = 0.5
torch_net = TorchNet(2, hidden, 1).load_from(net)  # same starting point as the numpy net
optimizer = optim.SGD(torch_net.parameters(), lr=lr)
numpy_losses, torch_losses = [], []
for step in trange(steps, desc="XOR"):
    loss, dloss = mse(net.forward(x64), y64)
    net.backward(dloss)
    net.optimizer_step(lr)
    numpy_losses.append(loss)

    torch_loss = F.mse_loss(torch_net(torch.from_numpy(x64)), torch.from_numpy(y64))
    optimizer.zero_grad()
    torch_loss.backward()
    optimizer.step()
    torch_losses.append(torch_loss.item())

print(f"XOR after {steps} steps: loss {numpy_losses[-1]:.2e} (numpy) vs {torch_losses[-1]:.2e} (autograd); "
      f"predictions {np.round(net.forward(x64).ravel(), 2)}")
np.testing.assert_allclose(torch_losses, numpy_losses, rtol=1e-6, atol=1e-9)

figure, axes = plt.subplots(figsize=(6, 3.5))
axes.plot(numpy_losses, lw=3, alpha=0.5, label="hand-written backward (numpy)")
axes.plot(torch_losses, "k--", lw=1, label="minigrad autograd")
axes.set(xlabel="step", ylabel="MSE", yscale="log", title="XOR: same init, same steps, same curve")
axes.legend()
savefig(figure, OUT / "xor_loss.png")

# %% [markdown]
# ## One training step, drawn
#
# Every op the forward pass recorded, grouped by the module that ran it. After
# `backward()`, `show_grads=True` colours each parameter by the size of its gradient.

# %%
xor_net = TorchNet(2, hidden, 1)
loss = F.mse_loss(xor_net(x_xor), y_xor)
loss.backward(retain_graph=True)
graph = torch.viz.draw(loss, params=xor_net, show_grads=True)
torch.viz.save(graph, OUT / "xor_step.svg")

# %% [markdown]
# ## Initialisation: `reset_params(std)` with `model.apply`
#
# The course's `reset_params(std)` draws every weight from $\mathcal{N}(0, std^2)$.
# In a `nn.Module` the same thing is a function handed to `model.apply`, which
# calls it on every submodule. The std matters: in a deep ReLU net the
# activations shrink layer by layer when it is too small and blow up when it is
# too large; $\sqrt{2 / N_{in}}$ (Kaiming He's choice) keeps them steady.

# %%
def init_params(std):
    """The course's init as a function for `model.apply`: N(0, std^2) weights.

    Biases start at zero here (the numpy layers draw them from U(0, 1)), so that
    only `std` sets the scale of the activations.
    """
    def init(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=std)
            nn.init.zeros_(module.bias)
    return init


width, depth = 128, 8
deep = nn.Sequential(*[layer for _ in range(depth) for layer in (nn.Linear(width, width), nn.ReLU())])
probe = torch.randn(256, width)
stds = {"0.01": 0.01, "sqrt(2/128)": (2 / width) ** 0.5, "0.5": 0.5}
figure, axes = plt.subplots(figsize=(6, 3.5))
for label, std in stds.items():
    deep.apply(init_params(std))
    h, spread = probe, []
    with torch.no_grad():
        for layer in deep:
            h = layer(h)
            if isinstance(layer, nn.ReLU):
                spread.append(h.std().item())
    axes.plot(range(1, depth + 1), spread, "o-", label=f"std = {label}")
axes.set(xlabel="layer", ylabel="std of the activations", yscale="log",
         title="activations through 8 ReLU layers at init")
axes.legend()
savefig(figure, OUT / "init_activations.png")

# %% [markdown]
# ## Digits with autograd
#
# The same two-layer net on the 8x8 digits, flattened to 64 inputs; ten
# outputs are the class scores (no sigmoid), trained with cross-entropy and
# SGD. We train it from three initialisations set with `model.apply`.

# %%
train_images, train_labels = Digits(train=True).tensors(flatten=True)
test_images, test_labels = Digits(train=False).tensors(flatten=True)
if SMOKE:
    train_images, train_labels = train_images[:256], train_labels[:256]
loader = DataLoader(TensorDataset(train_images, train_labels), batch_size=32, shuffle=True)
epochs = 1 if SMOKE else 30


def accuracy(model, images, labels):
    with torch.no_grad():
        return (model(images).argmax(dim=1) == labels).float().mean().item()


curves, accuracies = {}, {}
for label, std in {"std = 0.01": 0.01, "std = 0.1": 0.1, "std = 1": 1.0}.items():
    torch.manual_seed(1)
    model = TorchNet(64, 128, 10, out_act=nn.Identity())
    model.apply(init_params(std))
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    curves[label] = []
    for epoch in trange(epochs, desc=f"digits, {label}"):
        total = 0.0
        for images, labels in loader:
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(labels)
        curves[label].append(total / len(loader.dataset))
    accuracies[label] = accuracy(model, test_images, test_labels)
    print(f"digits, {label}: final training loss {curves[label][-1]:.3f}, test accuracy {accuracies[label]:.2%}")

figure, axes = plt.subplots(figsize=(6, 3.5))
for label, losses in curves.items():
    axes.plot(range(1, epochs + 1), losses, "o-", ms=3, label=f"{label}: test acc {accuracies[label]:.1%}")
axes.set(xlabel="epoch", ylabel="training cross-entropy", yscale="log", title="digits MLP (64-128-10), SGD")
axes.legend()
savefig(figure, OUT / "digits_init.png")

best = accuracies["std = 0.1"]
if not SMOKE:
    assert best >= 0.94, f"the digits MLP reached only {best:.2%} test accuracy (expected >= 94%)"

# %%
report("01 backprop", {"XOR final MSE": torch_losses[-1], "digits test accuracy (std 0.1)": best}, OUT)
