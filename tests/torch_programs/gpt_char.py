"""A tiny GPT on a synthetic character stream, written as plain PyTorch.

The stream follows a rule a model can only learn by looking back two places: every token is the
sum of the two before it, modulo the vocabulary size (each segment starts from two random
tokens). The model is a decoder-only transformer with hand-written causal self-attention; batches
come from a DataLoader driven by a custom Sampler and a seeded torch.Generator, and text is
sampled at the end with torch.multinomial from the same kind of generator.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

VOCAB = 10
BLOCK = 16
N_EMBD = 32
N_HEAD = 4
N_LAYER = 2
BATCH = 32
STEPS = 300


def make_stream(n_segments, segment_length, generator):
    """Segments of a two-back recurrence, glued together into one 1-D LongTensor."""
    starts = torch.randint(0, VOCAB, (n_segments, 2), generator=generator).tolist()
    tokens = []
    for a, b in starts:
        segment = [a, b]
        while len(segment) < segment_length:
            segment.append((segment[-1] + segment[-2]) % VOCAB)
        tokens.extend(segment)
    return torch.tensor(tokens, dtype=torch.long)


class WindowDataset(Dataset):
    """Item i is the window stream[i:i+BLOCK] and the same window shifted by one."""

    def __init__(self, stream, block_size):
        self.stream = stream
        self.block_size = block_size

    def __len__(self):
        return len(self.stream) - self.block_size - 1

    def __getitem__(self, i):
        chunk = self.stream[i:i + self.block_size + 1]
        return chunk[:-1], chunk[1:]


class RandomWindowSampler(Sampler):
    """Draws window starts with replacement, a fixed number per epoch, from its own generator."""

    def __init__(self, data_source, num_samples, generator=None):
        self.data_source = data_source
        self.num_samples = num_samples
        self.generator = generator

    def __iter__(self):
        picks = torch.randint(len(self.data_source), (self.num_samples,), generator=self.generator)
        return iter(picks.tolist())

    def __len__(self):
        return self.num_samples


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, block_size):
        super().__init__()
        assert n_embd % n_head == 0
        self.n_head = n_head
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)
        self.attn_drop = nn.Dropout(0.0)
        # lower-triangular ones: position t may look at positions <= t only
        self.register_buffer("mask", torch.tril(torch.ones(block_size, block_size))
                             .view(1, 1, block_size, block_size))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.qkv(x).split(C, dim=2)
        head = C // self.n_head
        q = q.view(B, T, self.n_head, head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, head).transpose(1, 2)
        v = v.view(B, T, self.n_head, head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(head))
        att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        att = self.attn_drop(att)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.proj(y)


class Block(nn.Module):
    def __init__(self, n_embd, n_head, block_size):
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size)
        self.ln2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd),
            nn.GELU(),
            nn.Linear(4 * n_embd, n_embd),
        )

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        x = x + self.mlp(self.ln2(x))
        return x


class TinyGPT(nn.Module):
    def __init__(self, vocab_size, block_size, n_embd, n_head, n_layer):
        super().__init__()
        self.block_size = block_size
        self.tok_emb = nn.Embedding(vocab_size, n_embd)
        self.pos_emb = nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleList([Block(n_embd, n_head, block_size) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab_size, bias=False)
        self.apply(self._init_weights)

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        assert T <= self.block_size, f"sequence of {T} is longer than the block size {self.block_size}"
        pos = torch.arange(0, T, dtype=torch.long, device=idx.device)
        x = self.tok_emb(idx) + self.pos_emb(pos)
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
        for _ in range(max_new_tokens):
            idx_cond = idx if idx.size(1) <= self.block_size else idx[:, -self.block_size:]
            logits, _ = self(idx_cond)
            logits = logits[:, -1, :] / temperature
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float("Inf")
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1, generator=generator)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


def main():
    torch.manual_seed(1337)
    data_gen = torch.Generator().manual_seed(42)
    stream = make_stream(n_segments=120, segment_length=40, generator=data_gen)
    dataset = WindowDataset(stream, BLOCK)

    loader_gen = torch.Generator()
    loader_gen.manual_seed(7)
    sampler = RandomWindowSampler(dataset, num_samples=STEPS * BATCH, generator=loader_gen)
    loader = DataLoader(dataset, batch_size=BATCH, sampler=sampler, generator=loader_gen)

    model = TinyGPT(VOCAB, BLOCK, N_EMBD, N_HEAD, N_LAYER)
    # weight decay on matrices only, not on biases and LayerNorm gains
    param_dict = {pn: p for pn, p in model.named_parameters() if p.requires_grad}
    decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
    nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
    optim_groups = [
        {"params": decay_params, "weight_decay": 0.01},
        {"params": nodecay_params, "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(optim_groups, lr=6e-3, betas=(0.9, 0.95))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{n_params} parameters, {len(loader)} batches")

    # a fixed held-out batch measures the loss before and after
    eval_x, eval_y = next(iter(DataLoader(dataset, batch_size=64, shuffle=True,
                                          generator=torch.Generator().manual_seed(3))))
    model.eval()
    with torch.no_grad():
        _, initial = model(eval_x, eval_y)
    model.train()

    for step, (xb, yb) in enumerate(loader):
        logits, loss = model(xb, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % 50 == 0:
            print(f"step {step:4d} loss {loss.item():.4f}")

    model.eval()
    with torch.no_grad():
        _, final = model(eval_x, eval_y)

    # sample: give it the two seed tokens of a segment and let it continue
    sample_gen = torch.Generator().manual_seed(2024)
    context = torch.tensor([[3, 4]], dtype=torch.long)
    out = model.generate(context, max_new_tokens=30, top_k=3, generator=sample_gen)[0].tolist()
    follows = sum(out[i] == (out[i - 1] + out[i - 2]) % VOCAB for i in range(2, len(out)))
    print("sample:", out, f"({follows}/{len(out) - 2} follow the rule)")
    # the same seed gives the same sample
    again = model.generate(context, max_new_tokens=30, top_k=3,
                           generator=torch.Generator().manual_seed(2024))[0].tolist()
    assert again == out, (out, again)

    print(f"RESULT initial_loss={initial.item():.4f} final_loss={final.item():.4f}")
    assert final.item() < 0.5 * initial.item(), (initial.item(), final.item())
    assert follows >= 0.6 * (len(out) - 2), out  # chance would be 10%


if __name__ == "__main__":
    main()
