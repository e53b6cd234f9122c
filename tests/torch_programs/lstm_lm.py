"""An LSTM word-level language model in the classic style, plain PyTorch.

The corpus is synthetic: 24 "words", each usually followed by one fixed successor and sometimes
by a random word. Training is truncated backpropagation through time over batchified columns,
with the hidden state carried across batches and cut from the graph with .detach(), gradients
clipped with clip_grad_norm_, and parameters updated by hand: p.data.add_(p.grad, alpha=-lr).
"""
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

NTOKENS = 24
EMSIZE = 32
NHID = 64
NLAYERS = 2
BPTT = 20
CLIP = 0.25
EPOCHS = 6


def make_corpus(n_words, successor, generator):
    """A stream of word ids from a sticky chain: word w is followed by successor[w] 85% of the time."""
    jumps = (torch.rand(n_words, generator=generator) < 0.15).tolist()
    random_words = torch.randint(NTOKENS, (n_words,), generator=generator).tolist()
    succ = successor.tolist()
    words = [0]
    for i in range(1, n_words):
        words.append(random_words[i] if jumps[i] else succ[words[-1]])
    return torch.tensor(words, dtype=torch.long)


def batchify(data, bsz, device):
    # trim what does not fit, then lay the stream out as bsz independent columns
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    data = data.view(bsz, -1).t().contiguous()
    return data.to(device)


def get_batch(source, i):
    seq_len = min(BPTT, len(source) - 1 - i)
    data = source[i:i + seq_len]
    target = source[i + 1:i + 1 + seq_len].view(-1)
    return data, target


def repackage_hidden(h):
    """Wraps hidden states in new Tensors, to detach them from their history."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    else:
        return tuple(repackage_hidden(v) for v in h)


class RNNModel(nn.Module):
    """Encoder, a recurrent module, and a decoder."""

    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.2):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        self.init_weights()
        self.nhid = nhid
        self.nlayers = nlayers

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                weight.new_zeros(self.nlayers, bsz, self.nhid))


def evaluate(model, criterion, data_source, eval_batch_size):
    model.eval()
    total_loss = 0.0
    hidden = model.init_hidden(eval_batch_size)
    with torch.no_grad():
        for i in range(0, data_source.size(0) - 1, BPTT):
            data, targets = get_batch(data_source, i)
            output, hidden = model(data, hidden)
            hidden = repackage_hidden(hidden)
            total_loss += len(data) * criterion(output, targets).item()
    return total_loss / (len(data_source) - 1)


def train(model, criterion, train_data, batch_size, lr, epoch):
    model.train()
    total_loss = 0.0
    start_time = time.time()
    hidden = model.init_hidden(batch_size)
    for batch, i in enumerate(range(0, train_data.size(0) - 1, BPTT)):
        data, targets = get_batch(train_data, i)
        # Starting each batch, we detach the hidden state from how it was previously produced.
        # Otherwise backprop would go all the way to the start of the dataset.
        model.zero_grad()
        hidden = repackage_hidden(hidden)
        output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()

        # clip_grad_norm_ helps prevent the exploding gradient problem in RNNs / LSTMs
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)

        total_loss += loss.item()
    cur_loss = total_loss / (batch + 1)
    elapsed = time.time() - start_time
    print(f"| epoch {epoch:3d} | {batch + 1:5d} batches | lr {lr:02.2f} | {elapsed:5.2f} s | "
          f"loss {cur_loss:5.2f} | ppl {math.exp(cur_loss):8.2f}")


def main():
    torch.manual_seed(1111)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    corpus_gen = torch.Generator().manual_seed(5)
    successor = torch.randperm(NTOKENS, generator=corpus_gen)
    train_words = make_corpus(12000, successor, corpus_gen)
    valid_words = make_corpus(2000, successor, corpus_gen)
    batch_size, eval_batch_size = 20, 10
    train_data = batchify(train_words, batch_size, device)
    val_data = batchify(valid_words, eval_batch_size, device)

    model = RNNModel(NTOKENS, EMSIZE, NHID, NLAYERS).to(device)
    criterion = nn.NLLLoss()

    initial = evaluate(model, criterion, val_data, eval_batch_size)
    print(f"| before training | valid loss {initial:5.2f} | valid ppl {math.exp(initial):8.2f}")

    lr = 20.0
    best_val_loss = None
    for epoch in range(1, EPOCHS + 1):
        train(model, criterion, train_data, batch_size, lr, epoch)
        val_loss = evaluate(model, criterion, val_data, eval_batch_size)
        print(f"| end of epoch {epoch:3d} | valid loss {val_loss:5.2f} | valid ppl {math.exp(val_loss):8.2f}")
        if best_val_loss is None or val_loss < best_val_loss:
            best_val_loss = val_loss
        else:
            # anneal the learning rate when validation stops improving
            lr /= 4.0

    print(f"RESULT initial_loss={initial:.4f} final_loss={best_val_loss:.4f}")
    assert best_val_loss < 0.6 * initial, (initial, best_val_loss)


if __name__ == "__main__":
    main()
