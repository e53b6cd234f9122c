# %% [markdown]
# # 4.2 Unsupervised learning: auto-encoders, VAEs and GANs
#
# No labels this time: the models learn the structure of the images
# themselves. An auto-encoder compresses each image to a few numbers and
# rebuilds it; a variational auto-encoder (VAE) makes that code space a
# proper distribution we can sample new images from; a generative adversarial
# network (GAN) learns to generate images by fooling a discriminator. We write
# all three here, with the course's layers, and train them on the 8x8 digits
# (the labels are only used to colour plots).
#
# Pictures go to `tutorials/outputs/07_unsupervised/`.

# %%
import numpy as np

from common import SMOKE, output_dir, plt, report, savefig, trange

import minigrad as torch
from minigrad import nn, optim
import minigrad.nn.functional as F
from minigrad.data import DataLoader, Digits, TensorDataset

OUT = output_dir("07_unsupervised")
torch.manual_seed(0)

images, labels = Digits(train=True).tensors()           # (N, 1, 8, 8) in [0, 1]
test_images, test_labels = Digits(train=False).tensors()
if SMOKE:
    images, labels = images[:256], labels[:256]
s_img = 8
loader = DataLoader(TensorDataset(images), batch_size=64, shuffle=True)
print(f"{len(images)} training images, {len(test_images)} test images of {s_img}x{s_img}")

# %% [markdown]
# Pictures of many digits: `tile` lays them out in one image, one pixel of
# light grey between them, and `show_grid` stacks such blocks, each under its
# title, so that every digit is about half an inch wide.

# %%
GAPS = plt.get_cmap("gray_r").with_extremes(bad="#d5dde8")  # NaN pixels: the grid lines


def tile(images, cols, gap=1):
    """Images (n, s, s) -> one array, `cols` per row, `gap` NaN pixels between them."""
    n, s = len(images), images.shape[-1]
    rows = -(-n // cols)
    canvas = np.full((rows * (s + gap) - gap, cols * (s + gap) - gap), np.nan)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        canvas[r * (s + gap):r * (s + gap) + s, c * (s + gap):c * (s + gap) + s] = image
    return canvas


def show_grid(blocks, path, cols, titles=None, suptitle=None, inches=0.55):
    """Save blocks of digits (arrays (n, s, s)), each tiled `cols` wide under its title, one above the other."""
    titles = titles or [None] * len(blocks)
    pictures = [tile(block, cols) for block in blocks]
    pixel = inches / (s_img + 1)
    width = pictures[0].shape[1] * pixel
    label, top, margin = 0.24, (0.4 if suptitle else 0.05), 0.05
    height = top + sum(p.shape[0] * pixel + (label if t else 0.08) for p, t in zip(pictures, titles))
    figure = plt.figure(figsize=(width + 2 * margin, height))
    y = height - top
    for picture, title in zip(pictures, titles):
        y -= label if title else 0.08
        if title:
            figure.text(margin / (width + 2 * margin), (y + 0.05) / height, title, fontsize=9)
        y -= picture.shape[0] * pixel
        axis = figure.add_axes([margin / (width + 2 * margin), y / height, width / (width + 2 * margin),
                                picture.shape[0] * pixel / height])
        axis.imshow(picture, cmap=GAPS, vmin=0, vmax=1, interpolation="nearest")
        axis.axis("off")
    if suptitle:
        figure.suptitle(suptitle, fontsize=10, y=1 - 0.08 / height, va="top")
    return savefig(figure, path, tight=False)


# %% [markdown]
# ## The auto-encoder
#
# Two parts, $y = g(h(x))$: the encoder $h$ maps the 64 pixels to a latent code
# of `latent_dims` numbers (a hyperparameter), the decoder $g$ maps it back to
# 64 pixels, and the MSE $L(x, y)$ teaches both. The course's layers: three
# linear layers each way, ReLU between them and a sigmoid at the end, so that
# the pixels lie in (0, 1) like the data. We use a 2-dimensional code so that
# we can plot it.

# %%
class Encoder(nn.Module):
    """Image (N, 1, s_img, s_img) -> code (N, latent_dims)."""

    def __init__(self, latent_dims, s_img, hdim):
        super().__init__()
        self.linear1 = nn.Linear(s_img * s_img, hdim[0])
        self.linear2 = nn.Linear(hdim[0], hdim[1])
        self.linear3 = nn.Linear(hdim[1], latent_dims)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = x.view(x.shape[0], -1)
        return self.linear3(self.relu(self.linear2(self.relu(self.linear1(x)))))


class Decoder(nn.Module):
    """Code (N, latent_dims) -> image (N, 1, s_img, s_img) in (0, 1)."""

    def __init__(self, latent_dims, s_img, hdim):
        super().__init__()
        self.s_img = s_img
        self.linear1 = nn.Linear(latent_dims, hdim[1])
        self.linear2 = nn.Linear(hdim[1], hdim[0])
        self.linear3 = nn.Linear(hdim[0], s_img * s_img)
        self.relu = nn.ReLU()
        self.sigmoid = nn.Sigmoid()

    def forward(self, z):
        y = self.sigmoid(self.linear3(self.relu(self.linear2(self.relu(self.linear1(z))))))
        return y.view(-1, 1, self.s_img, self.s_img)


class Autoencoder(nn.Module):
    def __init__(self, latent_dims, s_img, hdim=(100, 50)):
        super().__init__()
        self.encoder = Encoder(latent_dims, s_img, hdim)
        self.decoder = Decoder(latent_dims, s_img, hdim)

    def forward(self, x):
        return self.decoder(self.encoder(x))


latent_dims = 2
epochs = 1 if SMOKE else 60


def train_autoencoder(model, epochs):
    """Adam on the squared error summed over pixels; returns it per image and epoch."""
    optimizer = optim.Adam(model.parameters(), lr=2e-3)
    history = []
    for epoch in trange(epochs, desc="auto-encoder"):
        total = 0.0
        for (x,) in loader:
            squared_error = F.mse_loss(model(x), x, reduction="sum")
            optimizer.zero_grad()
            (squared_error / len(x)).backward()
            optimizer.step()
            total += squared_error.item()
        history.append(total / len(images))
    return np.array(history)


autoencoder = Autoencoder(latent_dims, s_img)
ae_history = train_autoencoder(autoencoder, epochs)
print(f"auto-encoder: reconstruction error {ae_history[0]:.2f} -> {ae_history[-1]:.2f} (squared error per image)")

# %% [markdown]
# ## The variational auto-encoder
#
# The encoder now outputs a distribution $\mathcal{N}(\mu_x, \sigma_x^2)$ per
# image, with two MLPs: $g_1(x) = \mu_x$ and $g_2(x) = \log \sigma_x^2$ (the
# course's $g_2$ gives $\sigma_x$; its logarithm can be any real number, so no
# constraint is needed to keep $\sigma_x$ positive). The decoder is unchanged.
#
# The decoder gets a *sample* $z$ of that distribution, drawn with the
# *reparameterisation trick*
#
# $$z = \mu_x + \sigma_x \zeta = g_1(x) + e^{g_2(x)/2} \zeta, \qquad \zeta \sim \mathcal{N}(0, I):$$
#
# the randomness $\zeta$ is an input like $x$, so backpropagation reaches
# $\mu_x$ and $\sigma_x$.
#
# The loss is minus the *evidence lower bound* (ELBO) of $\log p(x)$:
#
# $$-\mathrm{ELBO} = \underbrace{-\log p(x \mid z)}_{\text{reconstruction}}
#   + \underbrace{KL\big(\mathcal{N}(\mu_x, \sigma_x^2) \,\|\, \mathcal{N}(0, I)\big)}_{\text{regularisation}},
# \qquad KL = \tfrac12 \sum_j \big(\sigma_j^2 + \mu_j^2 - \log \sigma_j^2 - 1\big).$$
#
# The KL term pulls every code distribution towards $\mathcal{N}(0, I)$. (The
# notes write $\sum (\sigma^2 + \mu^2 - \log\sigma - \tfrac12)$, which has twice
# our $\sigma^2$ and $\mu^2$ terms and is smallest at $\sigma = 1/\sqrt2$; the
# closed form above is the KL itself, checked against `torch.distributions` below.)
#
# For the reconstruction term the notes use the MSE. For pixels in [0, 1] we
# take a Bernoulli decoder, whose $-\log p(x \mid z)$ is the binary
# cross-entropy summed over pixels: on these tiny images the summed MSE is so
# small next to the KL that the encoder learns to ignore the input (try it).

# %%
class VarEncoder(nn.Module):
    """Image (N, 1, s_img, s_img) -> (mu, logvar), each (N, latent_dims): two auto-encoder encoders."""

    def __init__(self, latent_dims, s_img, hdim):
        super().__init__()
        self.g1 = Encoder(latent_dims, s_img, hdim)  # the mean
        self.g2 = Encoder(latent_dims, s_img, hdim)  # the log-variance

    def forward(self, x):
        return self.g1(x), self.g2(x)


def reparameterise(mu, logvar):
    """z = mu + sigma * zeta, zeta ~ N(0, I)."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def kl_divergence(mu, logvar):
    """KL(N(mu, sigma^2) || N(0, I)) summed over the batch and the latent dimensions."""
    return 0.5 * (logvar.exp() + mu ** 2 - logvar - 1).sum()


class VarAutoencoder(nn.Module):
    """x -> (reconstruction of a sampled code, mu, logvar)."""

    def __init__(self, latent_dims, s_img, hdim=(100, 50)):
        super().__init__()
        self.encoder = VarEncoder(latent_dims, s_img, hdim)
        self.decoder = Decoder(latent_dims, s_img, hdim)

    def forward(self, x):
        mu, logvar = self.encoder(x)
        return self.decoder(reparameterise(mu, logvar)), mu, logvar


def negative_elbo(x, y, mu, logvar):
    """-ELBO per image (one sample of z), and its KL part per image."""
    kl = kl_divergence(mu, logvar)
    return (F.binary_cross_entropy(y, x, reduction="sum") + kl) / len(x), kl / len(x)


mu, logvar = torch.randn(5, 2), torch.randn(5, 2)
reference = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * logvar).exp()),
                                              torch.distributions.Normal(0.0, 1.0)).sum()
np.testing.assert_allclose(kl_divergence(mu, logvar).item(), reference.item(), rtol=1e-5)
print(f"kl_divergence == torch.distributions.kl_divergence(Normal(mu, sigma), Normal(0, 1)).sum(): "
      f"{kl_divergence(mu, logvar).item():.4f}")


def train_vae(model, epochs):
    """Adam on -ELBO; returns per image and epoch: squared error, KL, -ELBO."""
    optimizer = optim.Adam(model.parameters(), lr=2e-3)
    history = []
    for epoch in trange(epochs, desc="VAE"):
        totals = np.zeros(3)
        for (x,) in loader:
            y, mu, logvar = model(x)
            loss, kl = negative_elbo(x, y, mu, logvar)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            totals += [F.mse_loss(y, x, reduction="sum").item(), kl.item() * len(x), loss.item() * len(x)]
        history.append(totals / len(images))
    return np.array(history)


vae = VarAutoencoder(latent_dims, s_img)
vae_history = train_vae(vae, epochs)
elbo = -vae_history[:, 2]
print(f"VAE: squared error {vae_history[0, 0]:.2f} -> {vae_history[-1, 0]:.2f}, "
      f"KL {vae_history[0, 1]:.2f} -> {vae_history[-1, 1]:.2f}, ELBO {elbo[0]:.2f} -> {elbo[-1]:.2f}")
if not SMOKE:
    assert elbo[-1] > elbo[0] + 1, "the VAE's ELBO did not improve"

figure, axes = plt.subplots(figsize=(6, 3.5))
axes.plot(ae_history, label="auto-encoder: squared error")
axes.plot(vae_history[:, 0], label="VAE: squared error")
axes.plot(vae_history[:, 1], label="VAE: KL")
axes.plot(-elbo, "k--", label="VAE: -ELBO = cross-entropy + KL")
axes.set(xlabel="epoch", ylabel="per image", title="training", yscale="log")
axes.legend(fontsize=8)
savefig(figure, OUT / "ae_vae_losses.png")

# %% [markdown]
# ## Reconstructions and the two latent spaces
#
# The auto-encoder's codes lie wherever training put them, in an arbitrary
# range: it is hard to pick a code that decodes to a good image. The VAE's
# KL term pulls them towards $\mathcal{N}(0, I)$, so the latent space is
# *continuous* (nearby codes decode alike) and *complete* (codes near the
# origin decode to digits). To reconstruct, the VAE decodes the mean $\mu_x$.

# %%
with torch.no_grad():
    originals = test_images[:12]
    vae_means = vae.encoder(test_images)[0]
    show_grid([originals[:, 0].numpy(), autoencoder(originals)[:, 0].numpy(),
               vae.decoder(vae_means[:12])[:, 0].numpy()], OUT / "reconstructions.png", cols=12,
              titles=["test images", "auto-encoder", "VAE (decoded mean)"],
              suptitle=f"reconstructions through a {latent_dims}-D code")
    ae_codes = autoencoder.encoder(test_images).numpy()

figure, axes = plt.subplots(1, 2, figsize=(10, 4.2))
for axis, codes, title in [(axes[0], ae_codes, "auto-encoder codes"), (axes[1], vae_means.numpy(), "VAE means mu_x")]:
    points = axis.scatter(codes[:, 0], codes[:, 1], c=test_labels.numpy(), cmap="tab10", s=8)
    axis.set(xlabel="z_1", ylabel="z_2", title=title)
figure.colorbar(points, ax=axes, label="digit (not used in training)")
savefig(figure, OUT / "latent_spaces.png", tight=False)  # tight_layout cannot place a shared colorbar

# %% [markdown]
# ## New digits from the VAE
#
# The decoder alone is now a generator: decode a grid of codes over
# $[-2, 2]^2$ (the bulk of $\mathcal{N}(0, I)$; $z_1$ grows to the right, $z_2$
# upwards), and draw random codes $z \sim \mathcal{N}(0, I)$. Walking in a
# straight line between the codes of two test digits morphs one into the other.

# %%
with torch.no_grad():
    grid = np.linspace(-2, 2, 10, dtype=np.float32)
    codes = torch.from_numpy(np.array([[a, b] for b in grid[::-1] for a in grid], dtype=np.float32))
    show_grid([vae.decoder(codes)[:, 0].numpy()], OUT / "vae_latent_grid.png", cols=10,
              suptitle="VAE decoder over the latent square [-2, 2]^2")

    pairs = [(i, next(j for j in range(i + 4, len(test_labels)) if test_labels[j] != test_labels[i])) for i in range(4)]
    walks = []
    for i, j in pairs:
        steps = torch.linspace(0, 1, 10).view(-1, 1)
        path = vae.decoder(vae_means[i] + steps * (vae_means[j] - vae_means[i]))[:, 0].numpy()
        walks.append(np.concatenate([test_images[i].numpy(), path, test_images[j].numpy()]))
    samples = vae.decoder(torch.randn(36, latent_dims))[:, 0].numpy()
    show_grid([np.concatenate(walks), samples], OUT / "vae_interpolation_and_samples.png", cols=12,
              titles=["interpolation between the means of two test digits (first and last: the test images)",
                      "random samples, z ~ N(0, I)"], suptitle="VAE: latent interpolation and samples")

# %% [markdown]
# One VAE training step, drawn: the sampling (`randn_like`, `exp`, `mul`,
# `add`) sits between the two encoder branches (mean and log-variance) and the
# decoder; the KL term reads both branches directly.

# %%
x = images[:4]
y, mu, logvar = vae(x)
loss, _ = negative_elbo(x, y, mu, logvar)
loss.backward(retain_graph=True)
torch.viz.save(torch.viz.draw(loss, params=vae, show_grads=True), OUT / "vae_step.svg")

# %% [markdown]
# ## The GAN
#
# Two networks play against each other. The *discriminator* $D$ gives the
# probability that a sample is real; the *generator* $G$ maps noise
# $z \sim \mathcal{N}(0, I)$ to samples and tries to make $D$ say "real".
# Both are MLPs with LeakyReLU(0.2). Our $D$ returns the logit $\ell$ and
# $D(x) = \sigma(\ell)$: then $\log D(x) = \log\sigma(\ell)$ and
# $\log(1 - D(x)) = \log\sigma(-\ell)$ are computed without ever taking the
# log of a rounded 0 (`F.logsigmoid`).
#
# - $D$ maximises $\log D(x) + \log(1 - D(G(z)))$, averaged over a batch of
#   real $x$ and one of fakes: its loss is minus that.
# - $G$ would minimise $\log(1 - D(G(z)))$, but that is flat when $D$ easily
#   spots the fakes, as it does early on. It maximises $\log D(G(z))$
#   instead (the "non-saturating" loss): same goal, strong gradients.
#
# One training step alternates: a step of $D$ on real and fake samples (the
# fakes detached, so this step leaves $G$ alone), then a step of $G$ through
# the updated $D$. Training ends when $D$ can no longer tell the two apart:
# $D = 1/2$ everywhere, and $D$'s loss is $2 \ln 2$.

# %%
class Generator(nn.Module):
    """Noise (N, latent_dim) -> sample (N, out); `last` ends it (e.g. nn.Sigmoid() for pixels)."""

    def __init__(self, latent_dim, hidden, out, last=None):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, out), last or nn.Identity())

    def forward(self, z):
        return self.net(z)


class Discriminator(nn.Module):
    """Sample (N, in_features) -> logit of "real" (N, 1)."""

    def __init__(self, in_features, hidden):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x.view(x.shape[0], -1))


def discriminator_loss(real_logits, fake_logits):
    """-[mean log D(x) + mean log(1 - D(G(z)))]."""
    return -(F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean())


def generator_loss(fake_logits):
    """-mean log D(G(z)), the non-saturating loss."""
    return -F.logsigmoid(fake_logits).mean()


def gan_step(generator, discriminator, real, g_optimizer, d_optimizer):
    """One alternating step; returns (D's loss, G's loss)."""
    noise = torch.randn(len(real), generator.latent_dim)
    d_loss = discriminator_loss(discriminator(real), discriminator(generator(noise).detach()))
    d_optimizer.zero_grad()
    d_loss.backward()
    d_optimizer.step()
    # G's loss also leaves gradients in D's parameters: D's zero_grad clears them next step
    g_loss = generator_loss(discriminator(generator(torch.randn(len(real), generator.latent_dim))))
    g_optimizer.zero_grad()
    g_loss.backward()
    g_optimizer.step()
    return d_loss.item(), g_loss.item()


# the two losses are binary cross-entropies: real -> label 1, fake -> label 0
real_logits, fake_logits = torch.randn(8, 1), torch.randn(8, 1)
ones, zeros = torch.ones(8, 1), torch.zeros(8, 1)
np.testing.assert_allclose(discriminator_loss(real_logits, fake_logits).item(),
                           (F.binary_cross_entropy_with_logits(real_logits, ones)
                            + F.binary_cross_entropy_with_logits(fake_logits, zeros)).item(), rtol=1e-5)
np.testing.assert_allclose(generator_loss(fake_logits).item(),
                           F.binary_cross_entropy_with_logits(fake_logits, ones).item(), rtol=1e-5)
print("discriminator_loss and generator_loss == F.binary_cross_entropy_with_logits with labels 1 / 0")


def train_gan(generator, discriminator, sample_real, steps, batch_size, lr, name, snapshot_at=()):
    """Adam (beta1 = 0.5, the usual GAN setting) for both; returns the losses and G's samples at some steps."""
    d_optimizer = optim.Adam(discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
    g_optimizer = optim.Adam(generator.parameters(), lr=lr, betas=(0.5, 0.999))
    fixed_z = torch.randn(512, generator.latent_dim)
    history, snapshots = [], {}
    for step in trange(steps, desc=name):
        history.append(gan_step(generator, discriminator, sample_real(batch_size), g_optimizer, d_optimizer))
        if step + 1 in snapshot_at:
            with torch.no_grad():
                snapshots[step + 1] = generator(fixed_z).numpy()
    return np.array(history), snapshots


# %% [markdown]
# First on a 2-D toy distribution where we can see everything: 8 Gaussian
# blobs on a circle.

# %%
rng = torch.random.generator()
angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
centres = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32) * 2


def ring(n):
    """n points from 8 Gaussian blobs (std 0.05) on a circle of radius 2."""
    chosen = centres[rng.integers(0, 8, n)]
    return torch.from_numpy(chosen + rng.normal(0, 0.05, (n, 2)).astype(np.float32))


toy_steps = 30 if SMOKE else 2000
snapshot_at = sorted({max(1, toy_steps // 10), toy_steps // 2, toy_steps})
toy_history, toy_snapshots = train_gan(Generator(8, 64, 2), Discriminator(2, 64), ring, toy_steps, 128, 1e-3,
                                       "GAN on 2-D toy data", snapshot_at=snapshot_at)

figure, axes = plt.subplots(1, len(snapshot_at) + 1, figsize=(4 * (len(snapshot_at) + 1), 3.8))
real = ring(512).numpy()
for axis, step in zip(axes, snapshot_at):
    fake = toy_snapshots[step]
    axis.scatter(real[:, 0], real[:, 1], s=3, c="tab:blue", alpha=0.4, label="real")
    axis.scatter(fake[:, 0], fake[:, 1], s=3, c="tab:red", alpha=0.6, label="generated")
    axis.set(xlim=(-3, 3), ylim=(-3, 3), title=f"step {step}", aspect="equal")
axes[0].legend(fontsize=8, loc="upper left")
axes[-1].plot(toy_history[:, 0], lw=0.6, label="D loss")
axes[-1].plot(toy_history[:, 1], lw=0.6, label="G loss")
axes[-1].axhline(2 * np.log(2), color="k", ls=":", lw=1, label="D at equilibrium (2 ln 2)")
axes[-1].set(xlabel="step", title="losses")
axes[-1].legend(fontsize=8)
savefig(figure, OUT / "gan_2d.png")

# mean distance of generated points to the nearest blob centre (0 = on the ring, blobs have std 0.05)
final = toy_snapshots[toy_steps]
toy_distance = float(np.min(np.linalg.norm(final[:, None] - centres[None], axis=2), axis=1).mean())
modes = len(set(np.argmin(np.linalg.norm(final[:, None] - centres[None], axis=2), axis=1)))
print(f"toy GAN: generated points lie {toy_distance:.3f} from the nearest blob centre on average, "
      f"covering {modes} of 8 blobs")

# %% [markdown]
# ## A GAN for digits
#
# The same recipe on the 64 pixels of a digit, the generator ending in a
# sigmoid so that its pixels lie in [0, 1]. The latent space has no meaning
# except what the generator gives it, but it has structure: walking in a
# straight line between two noise vectors morphs one generated digit into another.

# %%
gan_latent = 16
flat = images.view(len(images), -1)


def real_digits(n):
    return flat[torch.from_numpy(rng.integers(0, len(flat), n))]


digit_g = Generator(gan_latent, 128, s_img * s_img, last=nn.Sigmoid())
digit_d = Discriminator(s_img * s_img, 128)
digit_steps = 30 if SMOKE else 3000
digit_history, _ = train_gan(digit_g, digit_d, real_digits, digit_steps, 64, 1e-3, "GAN on digits")
with torch.no_grad():
    samples = digit_g(torch.randn(48, gan_latent)).view(-1, s_img, s_img).numpy()
    a, b = torch.randn(4, 1, gan_latent), torch.randn(4, 1, gan_latent)
    walks = digit_g(a + torch.linspace(0, 1, 12).view(1, -1, 1) * (b - a)).view(-1, s_img, s_img).numpy()
    real_score = torch.sigmoid(digit_d(flat[:500])).mean().item()
    fake_score = torch.sigmoid(digit_d(digit_g(torch.randn(500, gan_latent)))).mean().item()
show_grid([samples, walks], OUT / "gan_digits.png", cols=12,
          titles=["samples, z ~ N(0, I)", "interpolations: each row walks from one noise vector to another"],
          suptitle=f"GAN on digits after {digit_steps} steps")
print(f"digits GAN: D(real) = {real_score:.2f}, D(generated) = {fake_score:.2f} "
      f"(0.5 and 0.5 when D can no longer tell them apart)")

# %%
report("07 unsupervised", {"auto-encoder squared error per image": float(ae_history[-1]),
                           "VAE squared error per image": float(vae_history[-1, 0]), "VAE KL": float(vae_history[-1, 1]),
                           "VAE ELBO first epoch": float(elbo[0]), "VAE ELBO last epoch": float(elbo[-1]),
                           "toy GAN distance to the blobs": toy_distance, "toy GAN blobs covered": modes,
                           "digits GAN D(real)": real_score, "digits GAN D(generated)": fake_score}, OUT)
