# %% [markdown]
# # 4.2 Unsupervised learning: auto-encoders, VAEs and GANs
#
# No labels this time: the models learn the structure of the images
# themselves. An auto-encoder compresses each image to a few numbers and
# rebuilds it; a variational auto-encoder (VAE) makes that code space a
# proper distribution we can sample new images from; a generative adversarial
# network (GAN) learns to generate images by fooling a discriminator. All on
# the 8x8 digits (the labels are only used to colour plots).
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


def show_grid(rows, path, titles=None, suptitle=None):
    """Save rows of 8x8 images (a list of arrays (n, 8, 8)) as one picture."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    figure, axes = plt.subplots(n_rows, n_cols, figsize=(0.9 * n_cols, 0.95 * n_rows + 0.4), squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            axis = axes[i, j]
            axis.axis("off")
            if j < len(row):
                axis.imshow(row[j], cmap="gray_r", vmin=0, vmax=1)
        if titles:
            title = axes[i, 0].set_title(titles[i], fontsize=8, loc="left")
            title.set_in_layout(False)  # a long row label must not shrink the first image
    if suptitle:
        figure.suptitle(suptitle, fontsize=10)
    return savefig(figure, path)


# %% [markdown]
# ## The auto-encoder
#
# $y = g(h(x))$: the encoder $h$ maps the 64 pixels to a latent code of
# `latent_dims` numbers, the decoder $g$ maps it back, and the MSE between
# $x$ and $y$ is the loss. We use a 2-dimensional code so that we can plot it.

# %%
latent_dims = 2
epochs = 1 if SMOKE else 60


def train_autoencoder(model, epochs, variational):
    """Adam, per epoch: mean squared error, KL and loss per image.

    The auto-encoder's loss is the MSE (summed over pixels). The VAE's is the
    binary cross-entropy (summed over pixels) plus the encoder's KL, i.e. minus the ELBO.
    """
    optimizer = optim.Adam(model.parameters(), lr=2e-3)
    history = []
    for epoch in trange(epochs, desc="VAE" if variational else "auto-encoder"):
        totals = np.zeros(3)
        for (x,) in loader:
            y = model(x)
            squared_error = F.mse_loss(y, x, reduction="sum")
            if variational:
                kl = model.encoder.kl
                loss = (F.binary_cross_entropy(y, x, reduction="sum") + kl) / len(x)
            else:
                kl = torch.tensor(0.0)
                loss = squared_error / len(x)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            totals += [squared_error.item(), kl.item(), loss.item() * len(x)]
        history.append(totals / len(images))
    return np.array(history)


autoencoder = nn.course.Autoencoder(latent_dims, s_img, hdim=[100, 50])
ae_history = train_autoencoder(autoencoder, epochs, variational=False)
print(f"auto-encoder: reconstruction error {ae_history[0, 0]:.2f} -> {ae_history[-1, 0]:.2f} "
      f"(squared error per image)")

# %% [markdown]
# ## The variational auto-encoder
#
# The encoder now outputs a distribution $\mathcal{N}(\mu_x, \sigma_x^2)$ and the
# decoder gets a sample of it, drawn with the *reparameterisation trick*
# $z = \mu_x + \sigma_x \zeta$, $\zeta \sim \mathcal{N}(0, I)$: the randomness is
# an input, so gradients flow to $\mu_x$ and $\sigma_x$. The loss adds the KL
# divergence between $\mathcal{N}(\mu_x, \sigma_x^2)$ and $\mathcal{N}(0, I)$
# (`encoder.kl`, computed in every forward pass).
#
# The notes use the MSE as the reconstruction term. For pixels in [0, 1] we
# take the binary cross-entropy instead (a Bernoulli decoder, the usual
# choice): on these tiny images the summed MSE is so small next to the KL
# term that the encoder learns to ignore the input (try it). Reconstruction +
# KL is then exactly minus the evidence lower bound (ELBO), which training raises.

# %%
vae = nn.course.VarAutoencoder(latent_dims, s_img, hdim=[100, 50])
vae_history = train_autoencoder(vae, epochs, variational=True)
elbo = -vae_history[:, 2]
print(f"VAE: squared error {vae_history[0, 0]:.2f} -> {vae_history[-1, 0]:.2f}, "
      f"KL {vae_history[0, 1]:.2f} -> {vae_history[-1, 1]:.2f}, ELBO {elbo[0]:.2f} -> {elbo[-1]:.2f}")
if not SMOKE:
    assert elbo[-1] > elbo[0] + 1, "the VAE's ELBO did not improve"

figure, axes = plt.subplots(figsize=(6, 3.5))
axes.plot(ae_history[:, 0], label="auto-encoder: squared error")
axes.plot(vae_history[:, 0], label="VAE: squared error")
axes.plot(vae_history[:, 1], label="VAE: KL")
axes.plot(-elbo, "k--", label="VAE: -ELBO = cross-entropy + KL")
axes.set(xlabel="epoch", ylabel="per image", title="training", yscale="log")
axes.legend(fontsize=8)
savefig(figure, OUT / "ae_vae_losses.png")


def encode_mean(vae, x):
    """The VAE encoder's mean mu_x (the g1 branch), without sampling."""
    e = vae.encoder
    h = x.flatten(1)
    return e.linear3_1(e.relu(e.linear2_1(e.relu(e.linear1_1(h)))))


# %% [markdown]
# ## Reconstructions and the two latent spaces
#
# The auto-encoder's codes lie wherever training put them, in an arbitrary
# range: it is hard to pick a code that decodes to a good image. The VAE's
# KL term pulls them towards $\mathcal{N}(0, I)$, so the latent space is
# *continuous* (nearby codes decode alike) and *complete* (codes near the
# origin decode to digits).

# %%
autoencoder.eval()
vae.eval()
with torch.no_grad():
    originals = test_images[:12]
    show_grid([originals[:, 0].numpy(), autoencoder(originals)[:, 0].numpy(),
               vae.decoder(encode_mean(vae, originals))[:, 0].numpy()],
              OUT / "reconstructions.png", titles=["test images", "auto-encoder", "VAE (decoded mean)"],
              suptitle=f"reconstructions through a {latent_dims}-D code")
    ae_codes = autoencoder.encoder(test_images).numpy()
    vae_codes = encode_mean(vae, test_images).numpy()

figure, axes = plt.subplots(1, 2, figsize=(10, 4.2))
for axis, codes, title in [(axes[0], ae_codes, "auto-encoder codes"), (axes[1], vae_codes, "VAE means mu_x")]:
    points = axis.scatter(codes[:, 0], codes[:, 1], c=test_labels.numpy(), cmap="tab10", s=8)
    axis.set(xlabel="z_1", ylabel="z_2", title=title)
figure.colorbar(points, ax=axes, label="digit (not used in training)")
savefig(figure, OUT / "latent_spaces.png", tight=False)  # tight_layout cannot place a shared colorbar

# %% [markdown]
# ## New digits from the VAE
#
# Decode a grid of codes over $[-2, 2]^2$ (the bulk of $\mathcal{N}(0, I)$), and
# walk in a straight line between the codes of two test digits.

# %%
with torch.no_grad():
    grid = np.linspace(-2, 2, 10, dtype=np.float32)
    codes = torch.from_numpy(np.array([[a, b] for b in grid[::-1] for a in grid], dtype=np.float32))
    decoded = vae.decoder(codes)[:, 0].numpy().reshape(10, 10, s_img, s_img)
    show_grid(list(decoded), OUT / "vae_latent_grid.png", suptitle="VAE decoder over the latent square [-2, 2]^2")

    start, end = encode_mean(vae, test_images[:1]), encode_mean(vae, test_images[5:6])
    steps = torch.linspace(0, 1, 10).view(-1, 1)
    path = vae.decoder(start + steps * (end - start))[:, 0].numpy()
    samples = vae.decoder(torch.randn(10, latent_dims))[:, 0].numpy()
    show_grid([path, samples], OUT / "vae_interpolation_and_samples.png",
              titles=[f"from a {test_labels[0].item()} to a {test_labels[5].item()}", "z ~ N(0, I)"],
              suptitle="VAE: latent interpolation and random samples")

# %% [markdown]
# One VAE training step, drawn: the sampling node sits between the two
# encoder branches (mean and standard deviation) and the decoder.

# %%
vae.train()
x = images[:4]
loss = F.binary_cross_entropy(vae(x), x, reduction="sum") + vae.encoder.kl
loss.backward(retain_graph=True)
torch.viz.save(torch.viz.draw(loss, params=vae, show_grads=True), OUT / "vae_step.svg")

# %% [markdown]
# ## The GAN
#
# The discriminator $D$ learns to tell real samples (label 1) from generated
# ones (label 0); the generator $G$ learns to make $D$ say 1 on its samples.
# We alternate one step of each, with the binary cross-entropy. First on a 2-D
# toy distribution where we can see everything: 8 Gaussian blobs on a circle.

# %%
def train_gan(generator, discriminator, sample_real, latent_dim, steps, batch_size, lr, name, snapshot_at=()):
    d_optimizer = optim.Adam(discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
    g_optimizer = optim.Adam(generator.parameters(), lr=lr, betas=(0.5, 0.999))
    ones, zeros = torch.ones(batch_size, 1), torch.zeros(batch_size, 1)
    history, snapshots = [], {}
    fixed_z = torch.randn(512, latent_dim)
    for step in trange(steps, desc=name):
        real = sample_real(batch_size)
        fake = generator(torch.randn(batch_size, latent_dim))
        # discriminator: real -> 1, fake -> 0 (fake detached: this step does not train G)
        d_loss = F.binary_cross_entropy(discriminator(real), ones) + \
            F.binary_cross_entropy(discriminator(fake.detach()), zeros)
        d_optimizer.zero_grad()
        d_loss.backward()
        d_optimizer.step()
        # generator: make D say "real" on fresh fakes
        g_loss = F.binary_cross_entropy(discriminator(generator(torch.randn(batch_size, latent_dim))), ones)
        g_optimizer.zero_grad()
        g_loss.backward()
        g_optimizer.step()
        history.append((d_loss.item(), g_loss.item()))
        if step + 1 in snapshot_at:
            with torch.no_grad():
                snapshots[step + 1] = generator(fixed_z).numpy()
    return np.array(history), snapshots


rng = torch.random.generator()
angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
centres = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32) * 2


def ring(n):
    """n points from 8 Gaussian blobs (std 0.05) on a circle of radius 2."""
    chosen = centres[rng.integers(0, 8, n)]
    return torch.from_numpy(chosen + rng.normal(0, 0.05, (n, 2)).astype(np.float32))


toy_steps = 30 if SMOKE else 2000
snapshot_at = sorted({max(1, toy_steps // 10), toy_steps // 2, toy_steps})
toy_g, toy_d = nn.course.Generator(8, 64, 2), nn.course.Discriminator(2, 64)
toy_history, toy_snapshots = train_gan(toy_g, toy_d, ring, 8, toy_steps, 128, 1e-3, "GAN on 2-D toy data",
                                       snapshot_at=snapshot_at)

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


digit_g = nn.Sequential(nn.course.Generator(gan_latent, 128, s_img * s_img), nn.Sigmoid())
digit_d = nn.course.Discriminator(s_img * s_img, 128)
digit_steps = 30 if SMOKE else 3000
digit_history, _ = train_gan(digit_g, digit_d, real_digits, gan_latent, digit_steps, 64, 1e-3, "GAN on digits")
with torch.no_grad():
    samples = digit_g(torch.randn(30, gan_latent)).numpy().reshape(3, 10, s_img, s_img)
    a, b = torch.randn(1, gan_latent), torch.randn(1, gan_latent)
    walk = digit_g(a + torch.linspace(0, 1, 10).view(-1, 1) * (b - a)).numpy().reshape(10, s_img, s_img)
    real_score = digit_d(flat[:500]).mean().item()
    fake_score = digit_d(digit_g(torch.randn(500, gan_latent))).mean().item()
show_grid(list(samples) + [walk], OUT / "gan_digits.png",
          titles=["samples", "", "", "interpolation between two noise vectors"],
          suptitle=f"GAN on digits after {digit_steps} steps")
print(f"digits GAN: D(real) = {real_score:.2f}, D(generated) = {fake_score:.2f} "
      f"(0.5 and 0.5 when D can no longer tell them apart)")

# %%
report("07 unsupervised", {"auto-encoder squared error per image": float(ae_history[-1, 0]),
                           "VAE squared error per image": float(vae_history[-1, 0]), "VAE KL": float(vae_history[-1, 1]),
                           "VAE ELBO first epoch": float(elbo[0]), "VAE ELBO last epoch": float(elbo[-1]),
                           "toy GAN distance to the blobs": toy_distance, "toy GAN blobs covered": modes,
                           "digits GAN D(real)": real_score, "digits GAN D(generated)": fake_score}, OUT)
