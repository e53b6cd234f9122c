"""Training sanity: small models built from nn and trained with optim really learn.

Each task is seeded (mg.manual_seed), takes a few seconds at most and asserts
a threshold far from what an untrained (or wrongly differentiated) model
reaches: chance accuracy, the initial loss, the initial generator mean.
"""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
import minigrad.nn.functional as F
from minigrad import optim
from minigrad.random import generator


def accuracy(logits, target) -> float:
    return float((logits.detach().numpy().argmax(-1) == target.numpy()).mean())


def test_mlp_learns_xor():
    mg.manual_seed(0)
    x = mg.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=mg.float32)
    y = mg.tensor([[0.0], [1.0], [1.0], [0.0]])
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = optim.Adam(model.parameters(), lr=0.05)
    first = F.binary_cross_entropy_with_logits(model(x), y).item()
    for _ in range(300):
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > 0.6
    assert loss.item() < 0.05
    assert np.array_equal(model(x).detach().numpy() > 0, y.numpy() > 0.5)


def square_images(n, rng):
    """8x8 noisy images with a bright 3x2 patch in the left (label 0) or right (label 1) half."""
    images = 0.3 * rng.standard_normal((n, 1, 8, 8)).astype(np.float32)
    labels = rng.integers(0, 2, n)
    for i, label in enumerate(labels):
        row, col = rng.integers(0, 6), rng.integers(0, 2) + 4 * label
        images[i, 0, row:row + 3, col:col + 2] += 1.0
    return mg.from_numpy(images), mg.from_numpy(labels)


def test_cnn_finds_the_bright_square():
    mg.manual_seed(0)
    rng = generator()
    x, y = square_images(256, rng)
    x_test, y_test = square_images(256, rng)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    first = F.cross_entropy(model(x), y).item()
    for _ in range(60):
        batch = rng.permutation(256)[:64]
        loss = F.cross_entropy(model(x[batch]), y[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
    final = F.cross_entropy(model(x), y).item()
    assert first > 0.5
    assert final < 0.1 * first
    assert accuracy(model(x_test), y_test) > 0.95


class FirstTokenLSTM(nn.Module):
    def __init__(self, vocab, hidden):
        super().__init__()
        self.lstm = nn.LSTM(vocab, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x):
        _, (h_n, _) = self.lstm(x)
        return self.head(h_n[-1])


def test_lstm_remembers_the_first_token():
    # the answer is the first of 6 one-hot tokens, so it must be carried through 5 recurrent steps
    mg.manual_seed(0)
    rng = generator()
    vocab, length = 4, 6

    def batch(n):
        tokens = rng.integers(0, vocab, (n, length))
        return mg.from_numpy(np.eye(vocab, dtype=np.float32)[tokens]), mg.from_numpy(tokens[:, 0])

    model = FirstTokenLSTM(vocab, 16)
    opt = optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        x, y = batch(64)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = batch(500)
    assert accuracy(model(x), y) > 0.95  # chance: 0.25


class Reverser(nn.Module):
    """Token embedding + position code + one attention layer + per-position classifier."""

    def __init__(self, vocab, length, dim):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.PositionalEncoding(dim, max_len=length, batch_first=True)
        self.layer = nn.TransformerEncoderLayer(dim, 4, dim_feedforward=2 * dim, dropout=0.0, batch_first=True)
        self.head = nn.Linear(dim, vocab)

    def forward(self, tokens):
        return self.head(self.layer(self.pos(self.embed(tokens))))


def test_transformer_encoder_layer_learns_to_reverse():
    # reversing needs attention across positions (a per-token model is at chance, 1/6)
    mg.manual_seed(0)
    rng = generator()
    vocab, length = 6, 6
    model = Reverser(vocab, length, 32)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(200):
        tokens = mg.from_numpy(rng.integers(0, vocab, (64, length)))
        loss = F.cross_entropy(model(tokens).reshape(-1, vocab), mg.flip(tokens, 1).reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    tokens = mg.from_numpy(rng.integers(0, vocab, (500, length)))
    assert accuracy(model(tokens), mg.flip(tokens, 1)) > 0.95


def bar_images(n, rng):
    """6x6 images, each one full horizontal or vertical bar of ones: 12 patterns."""
    images = np.zeros((n, 1, 6, 6), np.float32)
    for i in range(n):
        k = rng.integers(0, 6)
        if rng.random() < 0.5:
            images[i, 0, k, :] = 1
        else:
            images[i, 0, :, k] = 1
    return mg.from_numpy(images)


def mlp(*sizes, last=None):
    """Linear layers of the given sizes, ReLU between them, `last` (a module) at the end if given."""
    layers = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1], *([last] if last is not None else []))


class SmallVAE(nn.Module):
    """Two encoder MLPs to mu and log sigma, a reparameterised sample, a sigmoid decoder; keeps the last KL."""

    def __init__(self, pixels, latent, hidden):
        super().__init__()
        self.mean = mlp(pixels, *hidden, latent)
        self.log_std = mlp(pixels, *hidden, latent)
        self.decoder = mlp(latent, *reversed(hidden), pixels, last=nn.Sigmoid())

    def forward(self, x):
        x = x.flatten(1)
        mu, log_sigma = self.mean(x), self.log_std(x)
        sigma = log_sigma.exp()
        self.kl = 0.5 * (sigma ** 2 + mu ** 2 - 2 * log_sigma - 1).sum()  # KL(N(mu, sigma^2) || N(0, I))
        return self.decoder(mu + sigma * mg.randn_like(mu))


def test_vae_elbo_improves():
    mg.manual_seed(0)
    rng = generator()
    x = bar_images(256, rng)
    model = SmallVAE(36, 2, hidden=(32, 16))
    opt = optim.Adam(model.parameters(), lr=3e-3)

    def negative_elbo(batch):  # per image: reconstruction (Bernoulli) + KL to N(0, I)
        y = model(batch)
        return (F.binary_cross_entropy(y, batch.flatten(1), reduction="sum") + model.kl) / batch.shape[0]

    with mg.no_grad():
        first = np.mean([negative_elbo(x).item() for _ in range(5)])
    for _ in range(300):
        batch = x[rng.permutation(256)[:64]]
        loss = negative_elbo(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with mg.no_grad():
        last = np.mean([negative_elbo(x).item() for _ in range(5)])
        kl = model.kl.item() / 256
    assert first > 20
    assert last < 0.5 * first
    assert kl > 0.5  # the latent code is used, not collapsed onto the prior


def test_gan_generator_moves_to_the_target():
    # 1-D target N(4, 0.5^2); the untrained generator's samples are centred near 0
    mg.manual_seed(0)
    generator_net = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 16), nn.LeakyReLU(0.2),
                                  nn.Linear(16, 1))
    discriminator = nn.Sequential(nn.Linear(1, 16), nn.LeakyReLU(0.2), nn.Linear(16, 16), nn.LeakyReLU(0.2),
                                  nn.Linear(16, 1), nn.Sigmoid())
    opt_g = optim.Adam(generator_net.parameters(), lr=3e-3, betas=(0.5, 0.999))
    opt_d = optim.Adam(discriminator.parameters(), lr=3e-3, betas=(0.5, 0.999))
    bce = nn.BCELoss()
    n = 64
    real_label, fake_label = mg.ones(n, 1), mg.zeros(n, 1)
    with mg.no_grad():
        start_mean = generator_net(mg.randn(1000, 2)).mean().item()
    d_losses, g_losses = [], []
    for _ in range(300):
        real = mg.randn(n, 1) * 0.5 + 4.0
        fake = generator_net(mg.randn(n, 2))
        d_loss = bce(discriminator(real), real_label) + bce(discriminator(fake.detach()), fake_label)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = bce(discriminator(fake), real_label)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        d_losses.append(d_loss.item())
        g_losses.append(g_loss.item())
    with mg.no_grad():
        samples = generator_net(mg.randn(2000, 2)).numpy()
    assert abs(start_mean - 4.0) > 3.0
    assert abs(samples.mean() - 4.0) < 0.3
    assert 0.2 < samples.std() < 1.0
    # early on the discriminator separates real from fake (its loss falls well below 2 log 2) ...
    assert min(d_losses[:100]) < 1.1
    # ... and at the end it cannot: both losses sit at the equilibrium values 2 log 2 and log 2
    assert abs(np.mean(d_losses[-50:]) - 2 * math.log(2)) < 0.1
    assert abs(np.mean(g_losses[-50:]) - math.log(2)) < 0.1
