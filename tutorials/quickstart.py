# %% [markdown]
# # Quick start: a CNN on handwritten digits
#
# This is `make demo`. In a few seconds on a laptop CPU it trains a small
# convolutional network on the 8x8 handwritten digits that scikit-learn ships
# (no download), prints its progress, and saves two pictures into
# `tutorials/outputs/quickstart/`: the loss curve and the graph of one
# training step, drawn by graphviz.
#
# Everything below is plain PyTorch code: only the imports differ.

# %%
from common import SMOKE, output_dir, plt, report, savefig, say, tqdm  # also limits BLAS to one thread

import numpy as np

import minigrad as torch
from minigrad import nn, optim
import minigrad.nn.functional as F
from minigrad.data import DataLoader, Digits

OUT = output_dir("quickstart")
torch.manual_seed(0)

# %% [markdown]
# ## Data
# 1 438 training and 359 test images of 8x8 pixels, values in [0, 1].

# %%
train_set, test_set = Digits(train=True), Digits(train=False)
train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
test_images, test_labels = test_set.tensors()
print(f"{len(train_set)} training images, {len(test_set)} test images of shape {tuple(test_images.shape[1:])}")

# %% [markdown]
# ## Model
# Two convolution + ReLU + max-pool stages, then a linear classifier:
# (N, 1, 8, 8) -> (N, 16, 4, 4) -> (N, 32, 2, 2) -> (N, 10).

# %%
class CNN(nn.Module):
    def __init__(self, hidden_channels: int = 32, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, hidden_channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(hidden_channels, 2 * hidden_channels, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(2 * hidden_channels * 2 * 2, num_classes)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        return self.fc(x.view(x.shape[0], -1))


model = CNN()
optimizer = optim.Adam(model.parameters(), lr=3e-3)
print(model)


def accuracy(images, labels) -> float:
    with torch.no_grad():
        return (model(images).argmax(dim=1) == labels).float().mean().item()


# %% [markdown]
# ## Training
# A few epochs of Adam. `tqdm` draws the progress bar when it is installed.

# %%
epochs = 1 if SMOKE else 15
losses = []
for epoch in range(epochs):
    model.train()
    for step, (images, labels) in enumerate(tqdm(train_loader, desc=f"epoch {epoch + 1}/{epochs}")):
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if SMOKE and step == 4:
            break
    model.eval()
    say(f"epoch {epoch + 1:2d}: loss {np.mean(losses[-len(train_loader):]):.4f}, "
        f"test accuracy {accuracy(test_images, test_labels):.2%}")
test_accuracy = accuracy(test_images, test_labels)

# %% [markdown]
# ## Pictures
# The loss curve, and the graph of one training step: every op recorded by
# the forward pass, grouped by the layer that ran it, with the parameters
# labelled by name and coloured by the size of their gradient.

# %%
figure, axes = plt.subplots(figsize=(6, 3.5))
axes.plot(losses, lw=0.8)
axes.set(xlabel="step", ylabel="cross-entropy loss", yscale="log", title="quick start: CNN on digits")
savefig(figure, OUT / "loss.png")

images, labels = next(iter(DataLoader(train_set, batch_size=8)))
loss = F.cross_entropy(model(images), labels)
optimizer.zero_grad()
loss.backward()
graph = torch.viz.draw(loss, params=model, show_grads=True)
torch.viz.save(graph, OUT / "train_step.svg")
report("quickstart", {"test accuracy": test_accuracy}, OUT)

if not SMOKE and test_accuracy < 0.95:
    raise SystemExit(f"quick start reached only {test_accuracy:.2%} test accuracy (expected >= 95%)")
