"""A DCGAN on synthetic 16x16 images (one soft bright spot on a dark field), plain PyTorch.

Generator: transposed convolutions with BatchNorm and ReLU, Tanh at the end. Discriminator:
strided convolutions with LeakyReLU and a Sigmoid. BCELoss, two Adam optimizers with
betas=(0.5, 0.999), the customary N(0, 0.02) weight init, and fake.detach() in the D step.

A GAN's losses do not fall steadily, so training is judged on the samples: how far the mean
image and the pixel-value histogram of generated images are from those of real images.
"""
import torch
import torch.nn as nn
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset

IMAGE = 16
NZ = 16   # size of the latent vector
NGF = 16  # generator feature maps
NDF = 16  # discriminator feature maps
EPOCHS = 15


def make_spots(n, generator):
    """n images in [-1, 1]: a Gaussian spot of random centre and width on a -1 background."""
    centres = torch.rand(n, 2, generator=generator) * 8 + 4          # keep the spot inside
    widths = torch.rand(n, 1, 1, generator=generator) * 1.0 + 1.5
    grid = torch.arange(IMAGE, dtype=torch.float32)
    dy = (grid.view(1, IMAGE, 1) - centres[:, 0].view(n, 1, 1)) ** 2
    dx = (grid.view(1, 1, IMAGE) - centres[:, 1].view(n, 1, 1)) ** 2
    spot = torch.exp(-(dx + dy) / (2 * widths ** 2))
    return (spot * 2 - 1).unsqueeze(1)  # (n, 1, 16, 16)


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        m.weight.data.normal_(0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        m.weight.data.normal_(1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            # NZ x 1 x 1 -> (NGF*4) x 4 x 4
            nn.ConvTranspose2d(NZ, NGF * 4, 4, 1, 0, bias=False),
            nn.BatchNorm2d(NGF * 4),
            nn.ReLU(True),
            # -> (NGF*2) x 8 x 8
            nn.ConvTranspose2d(NGF * 4, NGF * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(NGF * 2),
            nn.ReLU(True),
            # -> 1 x 16 x 16
            nn.ConvTranspose2d(NGF * 2, 1, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            # 1 x 16 x 16 -> NDF x 8 x 8
            nn.Conv2d(1, NDF, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            # -> (NDF*2) x 4 x 4
            nn.Conv2d(NDF, NDF * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(NDF * 2),
            nn.LeakyReLU(0.2, inplace=True),
            # -> 1 x 1 x 1
            nn.Conv2d(NDF * 2, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, input):
        return self.main(input)


def sample_distance(fake, real):
    """Mean-image distance plus histogram distance of pixel values, both on [-1, 1] images."""
    mean_gap = ((fake.mean(0) - real.mean(0)) ** 2).mean()
    bins = torch.linspace(-1, 1, 9)
    fake_hist = torch.stack([(fake < b).float().mean() for b in bins[1:]])
    real_hist = torch.stack([(real < b).float().mean() for b in bins[1:]])
    return (mean_gap + (fake_hist - real_hist).abs().mean()).item()


def main():
    torch.manual_seed(999)
    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")

    images = make_spots(512, torch.Generator().manual_seed(0))
    dataloader = DataLoader(TensorDataset(images), batch_size=64, shuffle=True)

    netG = Generator().to(device)
    netG.apply(weights_init)
    netD = Discriminator().to(device)
    netD.apply(weights_init)

    criterion = nn.BCELoss()
    fixed_noise = torch.randn(256, NZ, 1, 1, device=device)
    real_label = 1.0
    fake_label = 0.0
    optimizerD = optim.Adam(netD.parameters(), lr=0.0002 * 5, betas=(0.5, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=0.0002 * 5, betas=(0.5, 0.999))

    reference = images[:256].to(device)
    with torch.no_grad():
        netG.eval()
        initial = sample_distance(netG(fixed_noise), reference)
        netG.train()

    iters = 0
    for epoch in range(EPOCHS):
        for i, (real_cpu,) in enumerate(dataloader):
            # (1) update D: maximize log(D(x)) + log(1 - D(G(z)))
            netD.zero_grad()
            real = real_cpu.to(device)
            b_size = real.size(0)
            label = torch.full((b_size,), real_label, dtype=torch.float, device=device)
            output = netD(real).view(-1)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()

            noise = torch.randn(b_size, NZ, 1, 1, device=device)
            fake = netG(noise)
            label.fill_(fake_label)
            output = netD(fake.detach()).view(-1)
            errD_fake = criterion(output, label)
            errD_fake.backward()
            D_G_z1 = output.mean().item()
            errD = errD_real + errD_fake
            optimizerD.step()

            # (2) update G: maximize log(D(G(z)))
            netG.zero_grad()
            label.fill_(real_label)  # fake labels are real for the generator's cost
            output = netD(fake).view(-1)
            errG = criterion(output, label)
            errG.backward()
            D_G_z2 = output.mean().item()
            optimizerG.step()

            if i == 0:
                print(f"[{epoch}/{EPOCHS}][{i}/{len(dataloader)}]\tLoss_D: {errD.item():.4f}\t"
                      f"Loss_G: {errG.item():.4f}\tD(x): {D_x:.4f}\tD(G(z)): {D_G_z1:.4f} / {D_G_z2:.4f}")
            iters += 1

    with torch.no_grad():
        netG.eval()
        final = sample_distance(netG(fixed_noise).detach().cpu(), reference)

    print(f"RESULT initial_loss={initial:.4f} final_loss={final:.4f}")
    assert final < 0.3 * initial, (initial, final)


if __name__ == "__main__":
    main()
