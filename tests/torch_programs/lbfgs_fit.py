"""Curve fitting with L-BFGS and a strong-Wolfe line search, plain PyTorch.

Noisy samples of y = a*sin(b*x) + c with known a, b, c; the model starts from a guess and
optim.LBFGS, driven by a closure, must recover the three numbers.
"""
import torch
import torch.nn as nn
import torch.optim as optim

TRUE_A, TRUE_B, TRUE_C = 2.0, 1.5, 0.5


class Sine(nn.Module):
    def __init__(self, a, b, c):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a))
        self.b = nn.Parameter(torch.tensor(b))
        self.c = nn.Parameter(torch.tensor(c))

    def forward(self, x):
        return self.a * torch.sin(self.b * x) + self.c


def main():
    torch.manual_seed(0)
    x = torch.linspace(-3, 3, 200)
    y = TRUE_A * torch.sin(TRUE_B * x) + TRUE_C + 0.01 * torch.randn(200)

    model = Sine(1.0, 1.2, 0.0)
    loss_fn = nn.MSELoss()
    optimizer = optim.LBFGS(model.parameters(), lr=1, max_iter=20, history_size=10,
                            line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss

    with torch.no_grad():
        initial = loss_fn(model(x), y).item()
    for step in range(10):
        loss = optimizer.step(closure)
        print(f"step {step}: loss {loss.item():.6f}  a={model.a.item():.4f} "
              f"b={model.b.item():.4f} c={model.c.item():.4f}")
    with torch.no_grad():
        final = loss_fn(model(x), y).item()

    a, b, c = model.a.item(), model.b.item(), model.c.item()
    print(f"PARAMS a={a:.5f} b={b:.5f} c={c:.5f}")
    print(f"RESULT initial_loss={initial:.6f} final_loss={final:.6f}")
    assert final < 1e-3 * initial, (initial, final)
    assert abs(a - TRUE_A) < 0.02 and abs(b - TRUE_B) < 0.01 and abs(c - TRUE_C) < 0.01, (a, b, c)


if __name__ == "__main__":
    main()
