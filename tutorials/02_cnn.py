# %% [markdown]
# # 2.1 Convolutional networks
#
# A fully-connected layer treats pixels that are far apart and pixels that are
# close by alike, and needs a weight for every (pixel, neuron) pair. A
# convolution slides one small kernel over the image instead: few parameters,
# and the spatial structure is built in. We train the course's
# `CNN(in_channels, hidden_channels, out_features)` on the 8x8 digits (MNIST
# when its files are on disk), look at how the receptive field grows layer by
# layer, and count parameters against an MLP.
#
# Pictures go to `tutorials/outputs/02_cnn/`.

# %%
import numpy as np
from matplotlib.patches import Rectangle

from common import SMOKE, output_dir, plt, report, savefig, tqdm

import minigrad as torch
from minigrad import nn, optim
import minigrad.nn.functional as F
from minigrad.data import MNIST, DataLoader, Digits, Subset

OUT = output_dir("02_cnn")
torch.manual_seed(0)

# %% [markdown]
# ## Data
# The 8x8 digits ship with scikit-learn. MNIST (28x28) is used instead when
# its four files are in `$MINIGRAD_DATA/MNIST` or `~/.cache/minigrad/MNIST`;
# we then train on a subset so that the chapter still runs in minutes.

# %%
try:
    train_set, test_set = MNIST(train=True), MNIST(train=False)
    dataset = "MNIST"
    train_set = Subset(train_set, np.arange(200 if SMOKE else 10_000))
    test_set = Subset(test_set, np.arange(200 if SMOKE else 2000))
except FileNotFoundError:
    train_set, test_set = Digits(train=True), Digits(train=False)
    dataset = "digits"
    if SMOKE:
        train_set = Subset(train_set, np.arange(128))


def as_tensors(data):
    """All images and labels of a dataset as two tensors (N, 1, H, W) and (N,)."""
    images, labels = data.get_batch(np.arange(len(data)))
    return torch.from_numpy(images), torch.from_numpy(labels)


test_images, test_labels = as_tensors(test_set)
image_size = test_images.shape[-1]
print(f"{dataset}: {len(train_set)} training and {len(test_set)} test images of {image_size}x{image_size}")

# %% [markdown]
# ## The model
#
# Two 3x3 convolutions, a 2x2 max-pool, a third convolution and a second pool,
# then one linear layer: (N, 1, 8, 8) -> (N, h, 8, 8) -> (N, h, 4, 4) ->
# (N, 2h, 2, 2) -> (N, 10). With padding 1 a 3x3 convolution keeps the size:
# $H' = 1 + (H + 2 \cdot 1 - 3) / 1 = H$.

# %%
class CNN(nn.Module):
    def __init__(self, in_channels, hidden_channels, out_features, image_size=8):
        super().__init__()
        h = hidden_channels
        self.conv1 = nn.Conv2d(in_channels, h, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(h, h, kernel_size=3, stride=1, padding=1)
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv3 = nn.Conv2d(h, 2 * h, kernel_size=3, stride=1, padding=1)
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.fc = nn.Linear(2 * h * (image_size // 4) ** 2, out_features)

    def features(self, x):
        """The convolutional part, (N, C, H, W) -> (N, 2h, H/4, W/4); any image size works."""
        x = F.relu(self.conv1(x))
        x = self.pool1(F.relu(self.conv2(x)))
        return self.pool2(F.relu(self.conv3(x)))

    def forward(self, x):
        """Forward pass of CNN: chains inputs and outputs."""
        x = self.features(x)
        return self.fc(x.view(x.shape[0], -1))


class MLP(nn.Module):
    """The fully-connected alternative: flatten the image, two hidden layers."""

    def __init__(self, in_features, hidden, out_features):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out_features))

    def forward(self, x):
        return self.net(x)


def count(model):
    return sum(p.numel() for p in model.parameters())


def accuracy(model, images, labels, batch_size=500):
    model.eval()
    with torch.no_grad():
        right = sum((model(images[i:i + batch_size]).argmax(dim=1) == labels[i:i + batch_size]).sum().item()
                    for i in range(0, len(labels), batch_size))
    return right / len(labels)


hidden_channels = 32 if dataset == "digits" else 16
cnn = CNN(1, hidden_channels, 10, image_size=image_size)
print(cnn)
print(f"CNN parameters: {count(cnn):,}")

# %% [markdown]
# ## Training
# AdamW with a cosine learning-rate schedule; the test accuracy after every epoch.

# %%
def train(model, epochs, lr, weight_decay, name):
    loader = DataLoader(train_set, batch_size=32, shuffle=True)
    optimizer = optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    history = []
    for epoch in range(epochs):
        model.train()
        total = 0.0
        for images, labels in tqdm(loader, desc=f"{name} epoch {epoch + 1}/{epochs}"):
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(labels)
        schedule.step()
        history.append((total / len(train_set), accuracy(model, test_images, test_labels)))
        print(f"{name} epoch {epoch + 1:2d}: loss {history[-1][0]:.4f}, test accuracy {history[-1][1]:.2%}")
    return history


epochs = 1 if SMOKE else (20 if dataset == "digits" else 4)
cnn_history = train(cnn, epochs, lr=3e-3, weight_decay=0.05, name="CNN")
cnn_accuracy = cnn_history[-1][1]

mlp = MLP(image_size * image_size, 256, 10)
mlp_history = train(mlp, epochs, lr=1e-3, weight_decay=0.05, name="MLP")
mlp_accuracy = mlp_history[-1][1]

figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
for name, history in [("CNN", cnn_history), ("MLP", mlp_history)]:
    left.plot(range(1, epochs + 1), [h[0] for h in history], "o-", ms=3, label=name)
    right.plot(range(1, epochs + 1), [h[1] for h in history], "o-", ms=3, label=name)
left.set(xlabel="epoch", ylabel="training loss", yscale="log", title=f"{dataset}: training loss")
right.set(xlabel="epoch", ylabel="test accuracy", title="test accuracy")
left.legend()
right.legend()
savefig(figure, OUT / "training.png")

# %% [markdown]
# ## Receptive fields
#
# The receptive field (RF) of a unit is the patch of input pixels it can see.
# With kernel size $k$ and stride $s$, and $j$ the distance in input pixels
# between neighbouring units of the layer below ("jump"):
# $RF_{out} = RF_{in} + (k - 1)\, j_{in}$ and $j_{out} = j_{in} \cdot s$.
# A convolution (s = 1) adds $(k - 1) j$: linear growth; a pool multiplies
# the jump, so every later layer grows the RF faster.
#
# We check it with autograd: the gradient of one output unit (at the centre
# of the feature map) w.r.t. the input image is non-zero exactly inside its
# RF. A 32x32 input makes the patches easy to see; we average |gradient| over
# a few random images so that no ReLU happens to hide a pixel.

# %%
stages = [("conv1", cnn.conv1, 3, 1), ("conv2", cnn.conv2, 3, 1), ("pool1", cnn.pool1, 2, 2),
          ("conv3", cnn.conv3, 3, 1), ("pool2", cnn.pool2, 2, 2)]
rf, jump, table = 1, 1, []
for name, _, k, s in stages:
    rf, jump = rf + (k - 1) * jump, jump * s
    table.append((name, rf, jump))
    print(f"{name}: kernel {k}, stride {s} -> receptive field {rf}x{rf}, jump {jump}")

size = 32
probe = torch.rand(8, 1, size, size, requires_grad=True)
cnn.eval()
figure, axes = plt.subplots(1, len(stages), figsize=(3 * len(stages), 3.2))
x = probe
for axis, (name, layer, _, _), (_, rf, _) in zip(axes, stages, table):
    x = F.relu(layer(x)) if isinstance(layer, nn.Conv2d) else layer(x)  # a ReLU follows every convolution
    centre = x.shape[-1] // 2
    unit = x[:, :, centre, centre].sum()  # one spatial position, all channels, summed over the batch
    (gradient,) = torch.grad(unit, probe, retain_graph=True)
    heat = np.abs(gradient.numpy()).mean(axis=(0, 1))
    axis.imshow(heat, cmap="magma")
    support = np.argwhere(heat > 0)
    measured = support.max(axis=0) - support.min(axis=0) + 1
    top, left_edge = support.min(axis=0)
    axis.add_patch(Rectangle((left_edge - 0.5, top - 0.5), rf, rf, fill=False, edgecolor="cyan", lw=1))
    axis.set_title(f"{name}: RF {rf} (measured {measured[0]})", fontsize=9)
    axis.axis("off")
    assert measured[0] == rf, f"{name}: the gradient covers {measured[0]} pixels, the formula says {rf}"
figure.suptitle("|d unit / d input| of one centre unit after each layer (32x32 input)")
savefig(figure, OUT / "receptive_fields.png")

# %% [markdown]
# The same gradient for a real digit and the trained network's predicted
# class shows which pixels the decision depends on (a saliency map).

# %%
images = test_images[:6].detach()
images.requires_grad_(True)
logits = cnn(images)
predicted = logits.argmax(dim=1)
chosen = logits.gather(1, predicted.view(-1, 1)).sum()
(saliency,) = torch.grad(chosen, images)
figure, axes = plt.subplots(2, 6, figsize=(9, 3.4))
for i in range(6):
    axes[0, i].imshow(images[i, 0].detach().numpy(), cmap="gray_r")
    axes[0, i].set_title(f"predicted {predicted[i].item()}", fontsize=9)
    axes[1, i].imshow(np.abs(saliency[i, 0].numpy()), cmap="magma")
for axis in axes.ravel():
    axis.axis("off")
figure.suptitle("test digits (top) and |d logit / d pixel| of the predicted class (bottom)")
savefig(figure, OUT / "saliency.png")

# %% [markdown]
# ## Parameters: CNN vs MLP
#
# A convolution's parameters do not depend on the image size, only on kernel
# size and channels; the MLP's first layer grows with the number of pixels.

# %%
sizes = [8, 28, 64]
cnn_counts = [count(CNN(1, hidden_channels, 10, image_size=s)) for s in sizes]
mlp_counts = [count(MLP(s * s, 256, 10)) for s in sizes]
for s, c, m in zip(sizes, cnn_counts, mlp_counts):
    print(f"{s}x{s} images: CNN {c:>9,} parameters, MLP {m:>9,} parameters")
conv_only = sum(p.numel() for name, p in cnn.named_parameters() if name.startswith("conv"))
print(f"(of the CNN's, the convolutions hold {conv_only:,} at every image size)")

figure, axes = plt.subplots(figsize=(6, 3.5))
positions = np.arange(len(sizes))
axes.bar(positions - 0.2, cnn_counts, 0.4, label=f"CNN (h={hidden_channels})")
axes.bar(positions + 0.2, mlp_counts, 0.4, label="MLP (256-256)")
axes.set_xticks(positions, [f"{s}x{s}" for s in sizes])
axes.set(ylabel="parameters", yscale="log",
         title=f"{dataset} test accuracy: CNN {cnn_accuracy:.1%}, MLP {mlp_accuracy:.1%}")
axes.legend()
savefig(figure, OUT / "parameters.png")

# %% [markdown]
# ## One training step, drawn

# %%
images, labels = next(iter(DataLoader(train_set, batch_size=4)))
cnn.train()
loss = F.cross_entropy(cnn(images), labels)
loss.backward(retain_graph=True)
torch.viz.save(torch.viz.draw(loss, params=cnn, show_grads=True), OUT / "cnn_step.svg")

if not SMOKE and dataset == "digits":
    assert cnn_accuracy >= 0.97, f"the CNN reached only {cnn_accuracy:.2%} test accuracy on digits (expected >= 97%)"

# %%
report("02 CNN", {"dataset": dataset, "CNN test accuracy": cnn_accuracy, "CNN parameters": count(cnn),
                  "MLP test accuracy": mlp_accuracy, "MLP parameters": count(mlp)}, OUT)
