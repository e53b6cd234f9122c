"""An MNIST-style convolutional classifier on synthetic 28x28 digits, plain PyTorch.

Each of the ten classes is a fixed random stroke pattern; an image is its class pattern, shifted
by up to two pixels, plus noise. The script is laid out like the well-known MNIST example: a
device, DataLoaders with workers and pinned memory, train/test functions, Adadelta with a
StepLR schedule, and a checkpoint saved with torch.save(model.state_dict()) and loaded into a
fresh model.
"""
import argparse
import os
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, Dataset


class SyntheticDigits(Dataset):
    def __init__(self, n, templates, generator):
        self.labels = torch.randint(0, 10, (n,), generator=generator)
        shifts = torch.randint(-2, 3, (n, 2), generator=generator).tolist()
        noise = 0.3 * torch.randn(n, 1, 28, 28, generator=generator)
        padded = F.pad(templates, (2, 2, 2, 2))
        images = []
        for i, (dy, dx) in enumerate(shifts):
            images.append(padded[self.labels[i], :, 2 + dy:30 + dy, 2 + dx:30 + dx])
        self.images = torch.stack(images) + noise
        # normalise the way the MNIST example does, with the data's own mean and std
        self.images = (self.images - self.images.mean()) / self.images.std()

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        return self.images[idx], self.labels[idx]


def make_templates(generator):
    """Ten 1x28x28 patterns: a few thick random strokes each, values in [0, 1]."""
    coarse = (torch.rand(10, 1, 7, 7, generator=generator) > 0.6).float()
    upsample = torch.arange(28) // 4  # each coarse cell becomes a 4x4 block
    return coarse[:, :, upsample][:, :, :, upsample]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(2304, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def train(args, model, device, train_loader, optimizer, epoch):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % args.log_interval == 0:
            print(f"Train Epoch: {epoch} [{batch_idx * len(data)}/{len(train_loader.dataset)} "
                  f"({100. * batch_idx / len(train_loader):.0f}%)]\tLoss: {loss.item():.4f} ({loss:.4f})")


def test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()  # sum up batch loss
            pred = output.argmax(dim=1, keepdim=True)  # index of the max log-probability
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(test_loader.dataset)
    accuracy = 100. * correct / len(test_loader.dataset)
    print(f"Test set: Average loss: {test_loss:.4f}, Accuracy: {correct}/{len(test_loader.dataset)} "
          f"({accuracy:.0f}%)")
    return test_loss, accuracy


def main():
    parser = argparse.ArgumentParser(description="synthetic MNIST-style example")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--test-batch-size", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--gamma", type=float, default=0.7)
    parser.add_argument("--no-cuda", action="store_true", default=False)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-interval", type=int, default=5)
    args = parser.parse_args()
    use_cuda = not args.no_cuda and torch.cuda.is_available()

    torch.manual_seed(args.seed)
    torch.backends.cudnn.benchmark = True
    device = torch.device("cuda" if use_cuda else "cpu")

    data_gen = torch.Generator().manual_seed(123)
    templates = make_templates(data_gen)
    train_set = SyntheticDigits(1024, templates, data_gen)
    test_set = SyntheticDigits(400, templates, data_gen)

    train_loader = DataLoader(train_set, batch_size=args.batch_size, num_workers=2, pin_memory=True,
                              shuffle=True)
    test_loader = DataLoader(test_set, batch_size=args.test_batch_size, num_workers=2, pin_memory=True)

    model = Net().to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)
    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)

    initial_loss, _ = test(model, device, test_loader)
    for epoch in range(1, args.epochs + 1):
        train(args, model, device, train_loader, optimizer, epoch)
        final_loss, accuracy = test(model, device, test_loader)
        scheduler.step()
    assert abs(optimizer.param_groups[0]["lr"] - args.lr * args.gamma ** args.epochs) < 1e-9

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "mnist_cnn.pt")
        torch.save(model.state_dict(), path)
        restored = Net().to(device)
        restored.load_state_dict(torch.load(path, map_location=device))
    restored.eval()
    model.eval()
    with torch.no_grad():
        batch, _ = next(iter(test_loader))
        same = torch.equal(model(batch.to(device)), restored(batch.to(device)))
    print("restored model gives the same outputs:", same)

    print(f"RESULT initial_loss={initial_loss:.4f} final_loss={final_loss:.4f} accuracy={accuracy:.1f}")
    assert same
    assert final_loss < 0.5 * initial_loss and accuracy > 80, (initial_loss, final_loss, accuracy)


if __name__ == "__main__":
    main()
