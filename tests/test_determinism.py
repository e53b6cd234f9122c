"""`mg.manual_seed(s)` makes training runs bit-for-bit repeatable.

One generator (per thread, `minigrad.random.generator()`) feeds every random
thing: initialisation, dropout masks, sampling (mg.randn, distributions.Normal)
and DataLoader shuffling. Two runs from the same seed must end with exactly
the same weights (np.array_equal, not allclose); two seeds must differ.
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
import minigrad.nn.functional as F
from minigrad import optim
from minigrad.data import DataLoader, TensorDataset

# Fixed data, drawn from numpy's own generator: only minigrad's seed varies between runs.
_DATA = np.random.default_rng(1234)


def _weights(model) -> dict:
    return {name: value.array.copy() for name, value in model.state_dict().items()}


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name], b[name]), f"{name} differs between two runs from the same seed"


def _assert_differ(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    assert any(not np.array_equal(a[name], b[name]) for name in a), "two seeds gave the same weights"


# ---- the training runs ------------------------------------------------------------------

def _fit(model, optimizer, loader, loss_function, epochs: int) -> dict:
    """Train for `epochs` passes over the (shuffling) loader; return the final weights."""
    for _ in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss_function(model(x), y).backward()
            optimizer.step()
    return _weights(model)


X_TABLE = _DATA.standard_normal((48, 6)).astype(np.float32)
Y_TABLE = (X_TABLE[:, 0] + X_TABLE[:, 1] > 0).astype(np.int64)
X_IMAGES = _DATA.standard_normal((16, 1, 8, 8)).astype(np.float32)
Y_IMAGES = (X_IMAGES.mean(axis=(1, 2, 3)) > 0).astype(np.int64)
X_SEQUENCES = _DATA.standard_normal((12, 5, 3)).astype(np.float32)
Y_SEQUENCES = X_SEQUENCES.sum(axis=(1, 2)).astype(np.float32)


def train_mlp(seed: int, steps: int = 3) -> dict:
    mg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = DataLoader(TensorDataset(mg.tensor(X_TABLE), mg.tensor(Y_TABLE)), batch_size=8, shuffle=True)
    return _fit(model, optimizer, loader, F.cross_entropy, steps)


def train_cnn(seed: int, steps: int = 2) -> dict:
    mg.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    loader = DataLoader(TensorDataset(mg.tensor(X_IMAGES), mg.tensor(Y_IMAGES)), batch_size=4, shuffle=True)
    return _fit(model, optimizer, loader, F.cross_entropy, steps)


class SequenceRegressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 8, num_layers=2, batch_first=True, dropout=0.2)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1]).squeeze(-1)


def train_lstm(seed: int, steps: int = 2) -> dict:
    mg.manual_seed(seed)
    model = SequenceRegressor()
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    loader = DataLoader(TensorDataset(mg.tensor(X_SEQUENCES), mg.tensor(Y_SEQUENCES)), batch_size=4,
                        shuffle=True)
    return _fit(model, optimizer, loader, F.mse_loss, steps)


class VAE(nn.Module):
    def __init__(self, features: int = 6, latent: int = 2):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(features, 12), nn.Tanh(), nn.Dropout(0.2))
        self.mu = nn.Linear(12, latent)
        self.log_var = nn.Linear(12, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, 12), nn.Tanh(), nn.Linear(12, features))

    def forward(self, x):
        h = self.encoder(x)
        mu, log_var = self.mu(h), self.log_var(h)
        z = mg.distributions.Normal(mu, mg.exp(0.5 * log_var)).rsample()  # sampled from the generator
        return self.decoder(z), mu, log_var


def train_vae(seed: int, steps: int = 3) -> dict:
    mg.manual_seed(seed)
    model = VAE()
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    loader = DataLoader(TensorDataset(mg.tensor(X_TABLE)), batch_size=12, shuffle=True)
    for _ in range(steps):
        for (x,) in loader:
            optimizer.zero_grad()
            reconstruction, mu, log_var = model(x)
            kl = -0.5 * (1 + log_var - mu * mu - mg.exp(log_var)).sum(dim=1).mean()
            (F.mse_loss(reconstruction, x) + 0.1 * kl).backward()
            optimizer.step()
    # sample from the prior too: mg.randn must follow the seed as well
    with mg.no_grad():
        samples = model.decoder(mg.randn(4, 2))
    weights = _weights(model)
    weights["samples"] = samples.array.copy()
    return weights


TRAININGS = [train_mlp, train_cnn, train_lstm, train_vae]


@pytest.mark.parametrize("train", TRAININGS, ids=lambda f: f.__name__)
def test_same_seed_same_weights_bit_for_bit(train):
    first = train(0)
    mg.randn(100)  # draws in between must not matter: the seed resets the generator
    second = train(0)
    _assert_same(first, second)


@pytest.mark.parametrize("train", TRAININGS, ids=lambda f: f.__name__)
def test_different_seeds_different_weights(train):
    _assert_differ(train(0), train(1))


def test_training_really_changes_the_weights():
    """Guard against a vacuous pass: the runs above must train, not just initialise."""
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))
    initial = _weights(model)
    _assert_differ(initial, train_mlp(0))


def _train_from(initial: dict, seed: int, dropout: float, shuffle: bool) -> dict:
    """Train an MLP that starts from `initial`, seeding only the training loop."""
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 2))
    model.load_state_dict({name: mg.tensor(value) for name, value in initial.items()})
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(TensorDataset(mg.tensor(X_TABLE), mg.tensor(Y_TABLE)), batch_size=8, shuffle=shuffle)
    mg.manual_seed(seed)
    for x, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return _weights(model)


def test_dropout_and_shuffling_follow_the_seed_and_nothing_else_is_random():
    mg.manual_seed(0)
    initial = _weights(nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2)))
    # same start, same data: with neither dropout nor shuffling the seed must not matter at all
    _assert_same(_train_from(initial, 1, 0.0, False), _train_from(initial, 2, 0.0, False))
    # dropout masks alone, and the shuffled order alone, each follow the seed
    _assert_differ(_train_from(initial, 1, 0.3, False), _train_from(initial, 2, 0.3, False))
    _assert_differ(_train_from(initial, 1, 0.0, True), _train_from(initial, 2, 0.0, True))
    _assert_same(_train_from(initial, 1, 0.3, True), _train_from(initial, 1, 0.3, True))


# ---- each source of randomness on its own ------------------------------------------------

def _dropout_mask():
    return F.dropout(mg.ones(50), p=0.5, training=True).array


def _loader_order():
    loader = DataLoader(TensorDataset(mg.arange(20)), batch_size=5, shuffle=True)
    return np.concatenate([batch.array for (batch,) in loader])


def _two_epochs():
    loader = DataLoader(TensorDataset(mg.arange(20)), batch_size=20, shuffle=True)
    return np.concatenate([batch.array for _ in range(2) for (batch,) in loader])


SOURCES = {
    "randn": lambda: mg.randn(20).array,
    "rand": lambda: mg.rand(3, 4, dtype=mg.float64).array,
    "randint": lambda: mg.randint(0, 1000, (20,)).array,
    "randperm": lambda: mg.randperm(20).array,
    "normal": lambda: mg.normal(mg.zeros(20), 1.0).array,
    "bernoulli": lambda: mg.bernoulli(mg.full((40,), 0.5)).array,
    "multinomial": lambda: mg.multinomial(mg.ones(10), 5).array,
    "randn_like": lambda: mg.randn_like(mg.zeros(20)).array,
    "normal_": lambda: mg.zeros(20).normal_().array,
    "uniform_": lambda: mg.zeros(20).uniform_().array,
    "Normal.sample": lambda: mg.distributions.Normal(mg.zeros(20), mg.ones(20)).sample().array,
    "Normal.rsample": lambda: mg.distributions.Normal(mg.zeros(20), mg.ones(20)).rsample().array,
    "dropout": _dropout_mask,
    "nn.Dropout": lambda: nn.Dropout(0.5)(mg.ones(50)).array,
    "nn.Linear init": lambda: nn.Linear(5, 5).weight.array,
    "nn.Conv2d init": lambda: nn.Conv2d(2, 3, 3).weight.array,
    "nn.LSTM init": lambda: nn.LSTM(3, 4).weight_hh_l0.array,
    "nn.Embedding init": lambda: nn.Embedding(10, 4).weight.array,
    "nn.init.kaiming_uniform_": lambda: nn.init.kaiming_uniform_(mg.empty(4, 4)).array,
    "nn.init.xavier_normal_": lambda: nn.init.xavier_normal_(mg.empty(4, 4)).array,
    "DataLoader shuffle": _loader_order,
    "DataLoader epochs": _two_epochs,
}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_each_source_of_randomness_follows_the_seed(name):
    draw = SOURCES[name]
    mg.manual_seed(7)
    first = np.array(draw(), copy=True)
    mg.manual_seed(7)
    again = np.array(draw(), copy=True)
    mg.manual_seed(8)
    other = np.array(draw(), copy=True)
    assert np.array_equal(first, again), f"{name}: the same seed gave different values"
    assert not np.array_equal(first, other), f"{name}: two seeds gave the same values"


def test_loader_epochs_differ_but_repeat():
    mg.manual_seed(3)
    order = _two_epochs()
    assert not np.array_equal(order[:20], order[20:])  # a new order every epoch
    assert sorted(order[:20]) == list(range(20))


def test_rng_state_round_trip_replays_the_same_numbers():
    mg.manual_seed(11)
    state = mg.get_rng_state()
    first = mg.randn(10).array.copy()
    mg.randn(5)
    mg.set_rng_state(state)
    assert np.array_equal(mg.randn(10).array, first)
    assert mg.initial_seed() == 11


def test_manual_seed_refuses_a_negative_seed():
    with pytest.raises(ValueError, match=r"manual_seed: seed must be non-negative, got -1"):
        mg.manual_seed(-1)
