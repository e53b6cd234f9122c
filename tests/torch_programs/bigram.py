"""A character bigram model of names, two ways, in the makemore style, plain PyTorch.

The "names" are sampled from a hidden random bigram table, so the script needs no data file.
First the model is a table of counts; then the same model is a 27x27 weight matrix trained by
gradient descent on one-hot inputs, which should get at least as low as the counting model.
"""
import torch
import torch.nn.functional as F

CHARS = "abcdefghijklmnopqrstuvwxyz"
stoi = {s: i + 1 for i, s in enumerate(CHARS)}
stoi["."] = 0
itos = {i: s for s, i in stoi.items()}


def make_names(n, g):
    """n names drawn from a hidden bigram table; '.' (index 0) starts and ends every name."""
    logits = torch.randn((27, 27), generator=g) * 2.0
    logits[:, 0] += 3.0   # names end reasonably soon
    logits[0, 0] = -1e9   # and are never empty
    table = logits.softmax(dim=1)
    names = []
    for _ in range(n):
        out = []
        ix = 0
        while True:
            ix = torch.multinomial(table[ix], num_samples=1, replacement=True, generator=g).item()
            if ix == 0 or len(out) == 10:
                break
            out.append(itos[ix])
        names.append("".join(out))
    return names


def main():
    words = make_names(1000, torch.Generator().manual_seed(1234))
    print(len(words), "names, e.g.", words[:5])

    # --- counting ---------------------------------------------------------------------------
    N = torch.zeros((27, 27), dtype=torch.int32)
    for w in words:
        chs = ["."] + list(w) + ["."]
        for ch1, ch2 in zip(chs, chs[1:]):
            ix1 = stoi[ch1]
            ix2 = stoi[ch2]
            N[ix1, ix2] += 1
    assert N.sum().item() == sum(len(w) + 1 for w in words)

    P = (N + 1).float()  # add-one smoothing
    P /= P.sum(1, keepdims=True)

    g = torch.Generator().manual_seed(2147483647)
    for _ in range(5):
        out = []
        ix = 0
        while True:
            p = P[ix]
            ix = torch.multinomial(p, num_samples=1, replacement=True, generator=g).item()
            out.append(itos[ix])
            if ix == 0:
                break
        print("".join(out))

    log_likelihood = 0.0
    n = 0
    for w in words:
        chs = ["."] + list(w) + ["."]
        for ch1, ch2 in zip(chs, chs[1:]):
            prob = P[stoi[ch1], stoi[ch2]]
            log_likelihood += torch.log(prob)
            n += 1
    count_nll = (-log_likelihood / n).item()
    print(f"counting model: nll={count_nll:.4f}")

    # --- the same model as a neural net ----------------------------------------------------
    xs, ys = [], []
    for w in words:
        chs = ["."] + list(w) + ["."]
        for ch1, ch2 in zip(chs, chs[1:]):
            xs.append(stoi[ch1])
            ys.append(stoi[ch2])
    xs = torch.tensor(xs)
    ys = torch.tensor(ys)
    num = xs.nelement()

    g = torch.Generator().manual_seed(2147483647)
    W = torch.randn((27, 27), generator=g, requires_grad=True)

    initial = None
    for k in range(150):
        # forward pass
        xenc = F.one_hot(xs, num_classes=27).float()
        logits = xenc @ W  # log-counts
        counts = logits.exp()
        probs = counts / counts.sum(1, keepdims=True)
        loss = -probs[torch.arange(num), ys].log().mean() + 0.001 * (W ** 2).mean()
        if initial is None:
            initial = loss.item()
        if k % 30 == 0:
            print(f"step {k}: loss {loss.item():.4f}")

        # backward pass
        W.grad = None
        loss.backward()

        # update
        W.data += -50 * W.grad

    final = loss.item()
    print(f"RESULT initial_loss={initial:.4f} final_loss={final:.4f} count_nll={count_nll:.4f}")
    assert final < initial - 0.5, (initial, final)
    # the net is the counting model without its add-one smoothing: it gets at least as low
    assert final < count_nll + 0.05, (final, count_nll)


if __name__ == "__main__":
    main()
