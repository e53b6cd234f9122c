"""The README's drawings, made again: `make drawings` (or `python tutorials/tools/drawings.py`).

Writes PNGs (and the DOT text) into tutorials/outputs/drawings/ (or $MINIGRAD_OUTPUTS/drawings/):

- quickstart_cnn.png: the quick-start CNN's training loss, drawn from the call: the images and
  labels as inputs, the shared MaxPool2d as two boxes (`pool (MaxPool2d) · call 1`, `· call 2`),
  the label work of cross-entropy muted (it needs no gradient).
- transformer_collapse1.png: a two-block causal transformer with `collapse=1`: one box per
  top-level child (embeddings, the encoder, the head) with shapes in and out and parameter counts,
  the causal mask and token positions as muted constants.
- transformer_full.png: the same model in full, every op of both blocks, dropout masks muted.
- vae.png: a variational auto-encoder's loss: encoder, the reparameterisation's random draw
  (muted: no gradient flows into it), decoder, reconstruction and KL terms.

The models are small and built here (the CNN has the quick-start's layers), so the script runs in
seconds and needs only the Graphviz `dot` program.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # run from a checkout without `pip install`

import minigrad as torch  # noqa: E402
from minigrad import nn  # noqa: E402
import minigrad.nn.functional as F  # noqa: E402

OUT = Path(os.environ.get("MINIGRAD_OUTPUTS", HERE.parent / "outputs")) / "drawings"


class CNN(nn.Module):
    """tutorials/quickstart.py's model: one MaxPool2d module called twice."""

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


class Transformer(nn.Module):
    """Token and position embeddings, two pre-norm encoder blocks with a causal mask, a linear head."""

    def __init__(self, vocab: int = 12, width: int = 32, heads: int = 4, blocks: int = 2, length: int = 10):
        super().__init__()
        self.tokens = nn.Embedding(vocab, width)
        self.positions = nn.Embedding(length, width)
        block = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.1,
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, blocks)
        self.head = nn.Linear(width, vocab)

    def forward(self, tokens):
        length = tokens.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(length)
        h = self.tokens(tokens) + self.positions(torch.arange(length))
        return self.head(self.blocks(h, mask=mask, is_causal=True))


class VAE(nn.Module):
    """8x8 digits -> a 2-D code (mean and log-variance) -> 8x8 digits."""

    def __init__(self, hidden: int = 64, latent: int = 2):
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, 64), nn.Sigmoid())

    def forward(self, x):
        h = self.encoder(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decoder(z).view(x.shape), mu, logvar


def vae_loss(model, images):
    reconstruction, mu, logvar = model(images)
    squared_error = F.mse_loss(reconstruction, images, reduction="sum") / images.shape[0]
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / images.shape[0]
    return squared_error + kl


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    cnn = CNN()
    images, labels = torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))
    drawings = {
        "quickstart_cnn": torch.viz.draw_call(lambda images, labels: F.cross_entropy(cnn(images), labels),
                                              images, labels, params=cnn),
    }
    transformer = Transformer()
    tokens = torch.randint(0, 12, (4, 10))
    drawings["transformer_collapse1"] = torch.viz.draw(transformer, tokens, collapse=1)
    drawings["transformer_full"] = torch.viz.draw(transformer, tokens)
    vae = VAE()
    drawings["vae"] = torch.viz.draw_call(lambda images: vae_loss(vae, images), torch.rand(16, 1, 8, 8), params=vae)
    for name, graph in drawings.items():
        torch.viz.save(graph, OUT / f"{name}.dot")
        torch.viz.save(graph, OUT / f"{name}.png")
        print(f"{OUT / name}.png")


if __name__ == "__main__":
    main()
