"""minigrad.data: IDX files, MNIST-style folders and checked downloads, DataLoader, splits,
Digits, CharDataset and the synthetic sequence tasks. Nothing here touches the network."""
import gzip
import hashlib
import struct
from collections import namedtuple

import numpy as np
import pytest

import minigrad as mg
import minigrad.data as data
from minigrad.data import (DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split,
                           read_idx, write_idx)

MNIST_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    """An IDX file built by hand, independently of write_idx."""
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def fake_mnist_arrays(n: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=n, dtype=np.uint8)


def write_fake_mnist(folder, n_train=7, n_test=5, gz=True):
    """The four MNIST files with random contents; returns {stem: array}."""
    folder.mkdir(parents=True, exist_ok=True)
    train_x, train_y = fake_mnist_arrays(n_train, 1)
    test_x, test_y = fake_mnist_arrays(n_test, 2)
    arrays = dict(zip(MNIST_FILES, [train_x, train_y, test_x, test_y]))
    for stem, array in arrays.items():
        write_idx(folder / (stem + (".gz" if gz else "")), array)
    return arrays


def md5_of(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# ---- IDX -------------------------------------------------------------------------------------

def test_read_idx_uint8_images_and_labels_raw_and_gz(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([7, 1], dtype=np.uint8)
    raw = idx_bytes(images, 0x08)
    assert raw[:4] == b"\x00\x00\x08\x03"
    (tmp_path / "images").write_bytes(raw)
    (tmp_path / "images.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "labels").write_bytes(idx_bytes(labels, 0x08))
    for name in ["images", "images.gz"]:
        out = read_idx(tmp_path / name)
        assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
        np.testing.assert_array_equal(out, images)
        assert out.flags.writeable
    np.testing.assert_array_equal(read_idx(str(tmp_path / "labels")), labels)
    np.testing.assert_array_equal(read_idx(raw), images)                   # bytes
    np.testing.assert_array_equal(read_idx(gzip.compress(raw)), images)    # gzip bytes, no file name
    with open(tmp_path / "images.gz", "rb") as file:                       # a file object
        np.testing.assert_array_equal(read_idx(file), images)


@pytest.mark.parametrize("dtype,code", [(np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C),
                                        (np.float32, 0x0D), (np.float64, 0x0E)])
def test_read_idx_other_types_are_big_endian(dtype, code):
    array = (np.arange(6).reshape(2, 3) * 37 - 50).astype(dtype)
    out = read_idx(idx_bytes(array, code))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)


def test_write_idx_matches_hand_built_bytes(tmp_path):
    array = np.arange(12, dtype=np.int16).reshape(3, 4) - 5
    write_idx(tmp_path / "a.idx", array)
    assert (tmp_path / "a.idx").read_bytes() == idx_bytes(array, 0x0B)
    write_idx(tmp_path / "a.gz", array)
    assert gzip.decompress((tmp_path / "a.gz").read_bytes()) == idx_bytes(array, 0x0B)
    with pytest.raises(ValueError, match="no IDX type code"):
        write_idx(tmp_path / "b", np.zeros(3, dtype=np.int64))


def test_read_idx_bad_magic():
    good = idx_bytes(np.zeros((2, 2), dtype=np.uint8), 0x08)
    with pytest.raises(ValueError, match=r"bad magic number 0x12340802"):
        read_idx(b"\x12\x34" + good[2:])
    with pytest.raises(ValueError, match="unknown type code 0x07"):
        read_idx(b"\x00\x00\x07\x02" + good[4:])
    with pytest.raises(ValueError, match="too short"):
        read_idx(b"\x00\x00")
    with pytest.raises(ValueError, match="bad magic"):
        read_idx(b"<html>404 Not Found</html>")


def test_read_idx_truncated_and_overlong():
    good = idx_bytes(np.zeros((4, 5), dtype=np.uint8), 0x08)
    with pytest.raises(ValueError, match=r"truncated: shape \(4, 5\) of uint8 needs 20 bytes of data, "
                                         r"found 19"):
        read_idx(good[:-1])
    with pytest.raises(ValueError, match="truncated: its header declares 2 dimensions"):
        read_idx(good[:7])
    with pytest.raises(ValueError, match="longer than its header says"):
        read_idx(good + b"\x00")
    with pytest.raises(ValueError, match="cannot be decompressed"):
        read_idx(gzip.compress(good)[:-10])


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_idx(tmp_path / "nope.gz")


# ---- MNIST folders, cache and downloads --------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_mnist_reads_a_folder_of_idx_files(tmp_path, gz):
    arrays = write_fake_mnist(tmp_path, gz=gz)
    train = data.MNIST(root=tmp_path, train=True)
    test = data.MNIST(tmp_path, train=False)
    assert len(train) == 7 and len(test) == 5
    assert train.data.dtype == np.uint8 and train.data.shape == (7, 28, 28)
    assert train.targets.dtype == np.int64
    np.testing.assert_array_equal(train.data, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(test.targets, arrays["t10k-labels-idx1-ubyte"])
    image, label = train[3]
    assert isinstance(image, mg.Tensor) and image.shape == (1, 28, 28) and image.dtype == mg.float32
    assert type(label) is int and label == arrays["train-labels-idx1-ubyte"][3]
    np.testing.assert_allclose(image.array[0], arrays["train-images-idx3-ubyte"][3] / 255, rtol=1e-6)
    assert 0.0 <= image.array.min() and image.array.max() <= 1.0
    x, y = train.tensors()
    assert x.shape == (7, 1, 28, 28) and x.dtype == mg.float32 and y.dtype == mg.int64
    np.testing.assert_array_equal(x.array[3], image.array)
    assert train.tensors(flatten=True)[0].shape == (7, 784)


def test_mnist_loader_fast_path_equals_per_sample_path(tmp_path):
    write_fake_mnist(tmp_path, n_train=10)
    train = data.MNIST(tmp_path)
    fast = list(DataLoader(train, batch_size=4))
    slow = list(DataLoader(train, batch_size=4, collate_fn=default_collate))
    assert [b[0].shape for b in fast] == [(4, 1, 28, 28), (4, 1, 28, 28), (2, 1, 28, 28)]
    for (xf, yf), (xs, ys) in zip(fast, slow):
        assert xf.dtype == xs.dtype == mg.float32 and yf.dtype == ys.dtype == mg.int64
        np.testing.assert_array_equal(xf.array, xs.array)
        np.testing.assert_array_equal(yf.array, ys.array)


def test_mnist_transform_is_applied_per_sample(tmp_path):
    write_fake_mnist(tmp_path)
    ds = data.MNIST(tmp_path, transform=lambda x: x.reshape(-1), target_transform=lambda y: y + 100)
    image, label = ds[0]
    assert image.shape == (784,) and label >= 100
    xb, yb = next(iter(DataLoader(ds, batch_size=3)))
    assert xb.shape == (3, 784) and (yb.array >= 100).all()


def test_mnist_default_root_is_the_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "cache"))
    assert data.default_root("MNIST") == tmp_path / "cache" / "MNIST"
    write_fake_mnist(tmp_path / "cache" / "FashionMNIST", n_train=3)
    ds = data.FashionMNIST(train=True)
    assert ds.root == tmp_path / "cache" / "FashionMNIST" and len(ds) == 3
    assert ds.classes[0] == "T-shirt/top"
    monkeypatch.delenv("MINIGRAD_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.default_root("MNIST") == tmp_path / "home" / ".cache" / "minigrad" / "MNIST"


def test_mnist_finds_torchvision_layout(tmp_path):
    write_fake_mnist(tmp_path / "MNIST" / "raw", n_train=4, gz=False)
    assert len(data.MNIST(root=tmp_path)) == 4


def test_mnist_missing_files_without_download_explains(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte.gz .*not found in .*download=True"):
        data.MNIST(root=tmp_path)


def test_mnist_rejects_mismatched_files(tmp_path):
    write_fake_mnist(tmp_path, n_train=5)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(4, dtype=np.uint8))
    with pytest.raises(ValueError, match="5 images but .* 4 labels"):
        data.MNIST(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((4, 8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"images of shape \(8, 8\), expected \(28, 28\)"):
        data.MNIST(tmp_path)


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A local file:// "mirror" holding fake MNIST files, with MNIST's checksums patched to match."""
    server = tmp_path / "server"
    arrays = write_fake_mnist(server, n_train=6, n_test=4)
    monkeypatch.setattr(data.MNIST, "mirrors", [server.as_uri() + "/"])
    monkeypatch.setattr(data.MNIST, "resources",
                        {stem + ".gz": md5_of(server / (stem + ".gz")) for stem in MNIST_FILES})
    return server, arrays


def test_mnist_download_with_matching_checksum(tmp_path, mirror):
    server, arrays = mirror
    cache = tmp_path / "cache"
    ds = data.MNIST(root=cache, train=False, download=True)
    np.testing.assert_array_equal(ds.data, arrays["t10k-images-idx3-ubyte"])
    downloaded = sorted(p.name for p in cache.iterdir())
    assert downloaded == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]  # only this split
    # Present files are read without downloading again (the mirror may disappear).
    for file in server.iterdir():
        file.unlink()
    assert len(data.MNIST(root=cache, train=False, download=True)) == 4


def test_mnist_download_refuses_a_corrupt_file(tmp_path, mirror, monkeypatch):
    server, _ = mirror
    corrupt = bytearray((server / "train-images-idx3-ubyte.gz").read_bytes())
    corrupt[-20] ^= 0xFF
    (server / "train-images-idx3-ubyte.gz").write_bytes(bytes(corrupt))
    cache = tmp_path / "cache"
    with pytest.raises(data.ChecksumError, match=r"train-images-idx3-ubyte.gz has MD5 [0-9a-f]{32}, "
                                                 r"expected"):
        data.MNIST(root=cache, download=True)
    # Neither the file nor a temporary part of it is kept.
    assert not any(p.name.startswith("train-images") for p in cache.iterdir())


def test_download_file_keeps_only_matching_files(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"hello minigrad")
    good_md5 = hashlib.md5(b"hello minigrad").hexdigest()
    out = data.download_file(source.as_uri(), tmp_path / "dl" / "a.bin", good_md5)
    assert out.read_bytes() == b"hello minigrad"
    with pytest.raises(data.ChecksumError, match="expected 0{32}"):
        data.download_file(source.as_uri(), tmp_path / "dl" / "b.bin", "0" * 32)
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == ["a.bin"]


def test_mnist_offline_error_says_where_to_put_the_files(tmp_path, monkeypatch):
    monkeypatch.setattr(data.MNIST, "mirrors", [(tmp_path / "no-such-server").as_uri() + "/"])
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="could not download train-images-idx3-ubyte.gz") as info:
        data.MNIST(root=cache, download=True)
    message = str(info.value)
    assert str(cache) in message and "t10k-labels-idx1-ubyte.gz" in message and "Digits" in message
    assert not any(cache.iterdir())


def test_real_mnist_checksums_are_the_published_ones():
    assert data.MNIST.resources["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert data.FashionMNIST.resources["t10k-labels-idx1-ubyte.gz"] == "bb300cfdad3c16e7a12a480ee83cd310"
    assert len(set(data.MNIST.resources.values()) | set(data.FashionMNIST.resources.values())) == 8


# ---- Dataset, TensorDataset, Subset, random_split -----------------------------------------------

def test_dataset_is_abstract():
    with pytest.raises(TypeError):
        Dataset()


def test_tensor_dataset_items_and_errors():
    x = mg.randn(10, 3)
    y = np.arange(10)
    ds = TensorDataset(x, y, [[float(i)] for i in range(10)])
    assert len(ds) == 10
    xi, yi, zi = ds[4]
    np.testing.assert_array_equal(xi.array, x.array[4])
    assert yi.item() == 4 and yi.dtype == mg.int64 and yi.shape == ()
    assert zi.dtype == mg.float32 and zi.shape == (1,)
    assert ds.tensors[0] is x  # shared, not copied
    with pytest.raises(ValueError, match=r"same first dimension .*\(10, 3\), \(9,\)"):
        TensorDataset(x, np.arange(9))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    with pytest.raises(ValueError, match="scalar"):
        TensorDataset(np.float32(3))


def test_subset_and_random_split_counts():
    ds = TensorDataset(np.arange(10))
    sub = Subset(ds, [7, 2, 5])
    assert len(sub) == 3 and sub[1][0].item() == 2
    with pytest.raises(IndexError, match="index 10 is out of range for a dataset of 10"):
        Subset(ds, [1, 10])
    parts = random_split(ds, [3, 7], generator=0)
    assert [len(p) for p in parts] == [3, 7]
    values = np.concatenate([p.indices for p in parts])
    assert sorted(values) == list(range(10))  # disjoint and complete
    assert not np.array_equal(values, np.arange(10))  # actually shuffled
    with pytest.raises(ValueError, match="sum to 9"):
        random_split(ds, [3, 6])


def test_random_split_fractions_like_pytorch():
    ds = TensorDataset(np.arange(10))
    assert [len(p) for p in random_split(ds, [0.5, 0.3, 0.2], generator=0)] == [5, 3, 2]
    # floor(3.33) = 3 each, the leftover sample goes to the first subset
    assert [len(p) for p in random_split(ds, [1 / 3, 1 / 3, 1 / 3], generator=0)] == [4, 3, 3]
    with pytest.raises(ValueError, match="sum to 1"):
        random_split(ds, [0.5, 0.4])


def test_random_split_seeding():
    ds = TensorDataset(np.arange(50))
    a = random_split(ds, [0.8, 0.2], generator=np.random.default_rng(3))
    b = random_split(ds, [0.8, 0.2], generator=3)
    np.testing.assert_array_equal(a[1].indices, b[1].indices)
    mg.manual_seed(11)
    c = random_split(ds, [40, 10])
    mg.manual_seed(11)
    d = random_split(ds, [40, 10])
    np.testing.assert_array_equal(c[0].indices, d[0].indices)


# ---- DataLoader --------------------------------------------------------------------------------

def epoch_order(loader):
    return np.concatenate([batch[0].array for batch in loader])


def test_loader_batches_sizes_len_and_drop_last():
    ds = TensorDataset(np.arange(10), [2.0 * i for i in range(10)], np.zeros((10, 3)))
    loader = DataLoader(ds, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [len(b[0].array) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(epoch_order(loader), np.arange(10))
    x, y, z = batches[0]
    assert isinstance(x, mg.Tensor) and x.dtype == mg.int64 and y.dtype == mg.float32
    assert z.dtype == mg.float64 and z.shape == (4, 3)  # arrays keep their dtype
    np.testing.assert_array_equal(y.array, [0, 2, 4, 6])
    dropped = DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dropped) == 2 and [len(b[0].array) for b in dropped] == [4, 4]
    assert len(DataLoader(ds, batch_size=5, drop_last=True)) == 2
    assert len(DataLoader(ds)) == 10
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        DataLoader(ds, batch_size=0)


def test_loader_shuffle_is_a_new_permutation_each_epoch():
    ds = TensorDataset(np.arange(100))
    loader = DataLoader(ds, batch_size=16, shuffle=True)
    first, second = epoch_order(loader), epoch_order(loader)
    assert sorted(first) == list(range(100)) and sorted(second) == list(range(100))
    assert not np.array_equal(first, np.arange(100))
    assert not np.array_equal(first, second)


def test_loader_shuffle_repeats_with_manual_seed_and_seed():
    ds = TensorDataset(np.arange(100))
    loader = DataLoader(ds, batch_size=16, shuffle=True)
    mg.manual_seed(5)
    a = [epoch_order(loader) for _ in range(2)]
    mg.manual_seed(5)
    b = [epoch_order(loader) for _ in range(2)]
    np.testing.assert_array_equal(a, b)
    seeded = [epoch_order(DataLoader(ds, batch_size=16, shuffle=True, seed=7)) for _ in range(2)]
    np.testing.assert_array_equal(seeded[0], seeded[1])  # a fresh loader with the same seed repeats
    one = DataLoader(ds, batch_size=16, shuffle=True, seed=7)
    assert not np.array_equal(epoch_order(one), epoch_order(one))  # but its epochs differ
    own = DataLoader(ds, batch_size=16, shuffle=True, generator=np.random.default_rng(7))
    np.testing.assert_array_equal(epoch_order(own), seeded[0])
    with pytest.raises(ValueError, match="not both"):
        DataLoader(ds, shuffle=True, generator=np.random.default_rng(0), seed=0)


def test_loader_draws_the_order_when_iteration_starts():
    ds = TensorDataset(np.arange(30))
    loader = DataLoader(ds, batch_size=30, shuffle=True)
    mg.manual_seed(1)
    iterator = iter(loader)
    mg.manual_seed(2)
    a = next(iterator)[0].array
    mg.manual_seed(1)
    np.testing.assert_array_equal(a, epoch_order(loader))


class Squares(Dataset):
    """A dataset without get_batch: samples of mixed Python and numpy types."""

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": np.full(2, i, dtype=np.float64), "n": i, "f": i / 2, "name": f"s{i}"}


def test_default_collate_types_and_dtypes():
    batch = next(iter(DataLoader(Squares(), batch_size=3)))
    assert batch["x"].dtype == mg.float64 and batch["x"].shape == (3, 2)
    assert batch["n"].dtype == mg.int64 and batch["n"].tolist() == [0, 1, 2]
    assert batch["f"].dtype == mg.float32 and batch["f"].array.tolist() == [0.0, 0.5, 1.0]
    assert batch["name"] == ["s0", "s1", "s2"]
    pair = default_collate([(mg.ones(2), 1), (mg.zeros(2), 0)])
    assert isinstance(pair, tuple) and pair[0].shape == (2, 2) and pair[1].dtype == mg.int64
    Point = namedtuple("Point", "x y")
    point = default_collate([Point(1.0, True), Point(2.0, False)])
    assert isinstance(point, Point) and point.y.dtype == mg.bool
    with pytest.raises(ValueError, match=r"cannot stack samples of shapes \[\(2,\), \(3,\)\]"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(TypeError, match="cannot batch samples of type object"):
        default_collate([object()])


def test_loader_custom_collate_and_subset_fast_path():
    ds = TensorDataset(np.arange(20).reshape(10, 2), np.arange(10))
    sums = list(DataLoader(ds, batch_size=5, collate_fn=lambda samples: len(samples)))
    assert sums == [5, 5]
    calls = []

    class Spy(TensorDataset):
        def __getitem__(self, i):
            calls.append(i)
            return super().__getitem__(i)

    train, _ = random_split(Spy(np.arange(20).reshape(10, 2), np.arange(10)), [6, 4], generator=0)
    x, y = next(iter(DataLoader(train, batch_size=6)))
    assert calls == []  # the whole batch came from fancy indexing through the Subset
    np.testing.assert_array_equal(y.array, train.indices)
    np.testing.assert_array_equal(x.array[:, 0], 2 * train.indices)


# ---- Digits ------------------------------------------------------------------------------------

def test_digits_shapes_ranges_and_split():
    pytest.importorskip("sklearn")
    train, test = data.Digits(train=True), data.Digits(train=False)
    assert len(train) + len(test) == 1797
    assert abs(len(test) - 0.2 * 1797) <= 10
    image, label = train[0]
    assert image.shape == (1, 8, 8) and image.dtype == mg.float32 and type(label) is int
    x, y = train.tensors()
    assert x.array.min() == 0.0 and x.array.max() == 1.0 and y.dtype == mg.int64
    assert set(np.unique(test.targets)) == set(range(10))  # stratified: every class in test
    again = data.Digits(train=False, seed=0)
    np.testing.assert_array_equal(again.data, test.data)
    other = data.Digits(train=False, seed=1)
    assert not np.array_equal(other.data, test.data)
    # train and test are disjoint: no test image appears in train (images are distinct enough)
    train_rows = {row.tobytes() for row in train.data.reshape(len(train), -1)}
    test_rows = [row.tobytes() for row in test.data.reshape(len(test), -1)]
    assert sum(row in train_rows for row in test_rows) < 5
    with pytest.raises(ValueError, match="test_fraction"):
        data.Digits(test_fraction=1.0)


# ---- CharDataset -------------------------------------------------------------------------------

def test_char_dataset_round_trip_and_shifted_targets():
    text = "hello, minigrad! hello again."
    ds = data.CharDataset(text, seq_len=5)
    assert ds.vocab == sorted(set(text)) and ds.vocab_size == len(set(text))
    assert ds.decode(ds.encode(text)) == text
    assert ds.encode("hel").dtype == np.int64
    assert ds.itos[ds.stoi["m"]] == "m"
    assert len(ds) == len(text) - 5
    x, y = ds[3]
    assert x.dtype == mg.int64 and x.shape == (5,)
    assert ds.decode(x) == text[3:8] and ds.decode(y) == text[4:9]
    last_x, last_y = ds[len(ds) - 1]
    assert ds.decode(last_y)[-1] == text[-1]
    with pytest.raises(KeyError, match="'Z' is not in the vocabulary"):
        ds.encode("Z")
    xb, yb = next(iter(DataLoader(ds, batch_size=4, shuffle=True, seed=0)))
    assert xb.shape == (4, 5)
    np.testing.assert_array_equal(xb.array[:, 1:], yb.array[:, :-1])


def test_char_dataset_stride_path_and_default_text(tmp_path):
    (tmp_path / "t.txt").write_text("abcdefghij", encoding="utf-8")
    ds = data.CharDataset(path=tmp_path / "t.txt", seq_len=3, stride=3)
    assert len(ds) == 3 and [ds.decode(ds[i][0]) for i in range(3)] == ["abc", "def", "ghi"]
    assert ds.decode(ds[2][1]) == "hij"
    with pytest.raises(ValueError, match="too few"):
        data.CharDataset("abc", seq_len=3)
    default = data.CharDataset(seq_len=32)
    assert len(default.text) > 100_000 and "def " in default.text
    assert data.CharDataset(seq_len=32).text == default.text  # deterministic


# ---- sequence tasks ----------------------------------------------------------------------------

def test_sequence_tasks_are_correct():
    x, y = data.copy_task(50, seq_len=6, vocab_size=7, seed=0)
    assert x.shape == y.shape == (50, 6) and x.dtype == y.dtype == np.int64
    np.testing.assert_array_equal(x, y)
    assert 0 <= x.min() and x.max() < 7
    x, y = data.reverse_task(50, seq_len=6, seed=0)
    for row_x, row_y in zip(x, y):
        assert list(row_y) == list(reversed(row_x))
    x, y = data.sort_task(50, seq_len=6, seed=0)
    assert (np.diff(y, axis=1) >= 0).all()
    np.testing.assert_array_equal(y, np.sort(x, axis=1))
    assert not (np.diff(x, axis=1) >= 0).all()


def test_addition_task_is_correct():
    x, y = data.addition_task(200, digits=3, seed=0)
    assert x.shape == (200, 7) and y.shape == (200, 4)
    assert (x[:, 3] == data.PLUS).all()
    as_number = lambda digits: int("".join(map(str, digits)))
    for row_x, row_y in zip(x, y):
        assert as_number(row_x[:3]) + as_number(row_x[4:]) == as_number(row_y)
    assert (y[:, 0] == 1).any()  # some sums carry into the extra digit


def test_sequence_tasks_seeding():
    a = data.sort_task(20, seed=3)[0]
    mg.manual_seed(0)
    b = data.sort_task(20, seed=3)[0]
    np.testing.assert_array_equal(a, b)  # a seed ignores the global state
    assert not np.array_equal(a, data.sort_task(20, seed=4)[0])
    mg.manual_seed(9)
    c = data.addition_task(20, seed=None)[0]
    mg.manual_seed(9)
    np.testing.assert_array_equal(c, data.addition_task(20)[0])


def test_sequence_task_dataset_formats():
    ds = data.SequenceTask("reverse", 30, seq_len=5, vocab_size=8, seed=0)
    assert len(ds) == 30 and ds.vocab_size == 9 and ds.sep == 8
    x, y = ds[2]
    np.testing.assert_array_equal(y.array, x.array[::-1])
    causal = data.SequenceTask("addition", 30, digits=2, seed=0, causal=True)
    assert causal.x.shape == causal.y.shape == (30, 5 + 3)
    assert causal.vocab_size == data.ADDITION_VOCAB_SIZE
    np.testing.assert_array_equal(causal.x[:, :5], causal.inputs)
    assert (causal.x[:, 5] == data.EQUALS).all()
    assert (causal.y[:, :5] == -100).all()
    np.testing.assert_array_equal(causal.y[:, 5:], causal.targets)   # the answer, scored
    np.testing.assert_array_equal(causal.x[:, 6:], causal.targets[:, :-1])  # teacher forcing
    xb, yb = next(iter(DataLoader(causal, batch_size=8)))
    assert xb.shape == (8, 8) and yb.dtype == mg.int64
    with pytest.raises(ValueError, match="unknown task 'add'"):
        data.SequenceTask("add", 3)


# ---- torch.utils.data: the package, samplers, DataLoader's PyTorch arguments -------------------

from minigrad.utils.data import (BatchSampler, ChainDataset, ConcatDataset, IterableDataset,  # noqa: E402
                                 RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                                 WeightedRandomSampler, default_convert, get_worker_info)


def test_minigrad_data_reexports_the_very_objects_of_utils_data():
    import minigrad.utils.data as utils_data
    from minigrad.utils.data.dataloader import DataLoader as loader_from_submodule
    from minigrad.utils.data.dataset import Dataset as dataset_from_submodule
    from minigrad.utils.data.sampler import SubsetRandomSampler as sampler_from_submodule
    assert mg.utils.data is utils_data
    assert data.DataLoader is utils_data.DataLoader is loader_from_submodule
    assert data.Dataset is utils_data.Dataset is dataset_from_submodule
    assert sampler_from_submodule is utils_data.SubsetRandomSampler is data.SubsetRandomSampler
    for name in utils_data.__all__:
        assert getattr(data, name) is getattr(utils_data, name), name
    from minigrad.data.dataset import TensorDataset as old_dataset_path
    from minigrad.data.loader import default_collate as old_loader_path
    assert old_dataset_path is TensorDataset and old_loader_path is default_collate


def test_a_dataset_needs_no_len_and_adds_into_a_concat():
    class Items(Dataset):
        def __init__(self, items):
            self.items = items

        def __getitem__(self, i):
            return self.items[i]

        def __len__(self):
            return len(self.items)

    class NoLen(Dataset):
        def __getitem__(self, i):
            return i

    assert NoLen()[3] == 3  # PyTorch's Dataset has no abstract __len__
    both = Items([10, 11, 12]) + Items([20, 21])
    assert isinstance(both, ConcatDataset) and len(both) == 5 and both.cumulative_sizes == [3, 5]
    assert [both[i] for i in range(5)] == [10, 11, 12, 20, 21] and both[-1] == 21 and both[-5] == 10
    with pytest.raises(IndexError, match="out of range"):
        both[5]
    with pytest.raises(IndexError, match="out of range"):
        both[-6]
    with pytest.raises(ValueError, match="should not be an empty iterable"):
        ConcatDataset([])
    batch = next(iter(DataLoader(both, batch_size=4)))
    np.testing.assert_array_equal(batch.array, [10, 11, 12, 20])
    assert Dataset[int] is not None  # subscriptable, as PyTorch's generic Dataset


class Countdown(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n - 1, -1, -1))

    def __len__(self):
        return self.n


def test_iterable_dataset_batches_consecutive_items():
    loader = DataLoader(Countdown(7), batch_size=3)
    assert [b.tolist() for b in loader] == [[6, 5, 4], [3, 2, 1], [0]] and len(loader) == 3
    dropped = DataLoader(Countdown(7), batch_size=3, drop_last=True)
    assert [b.tolist() for b in dropped] == [[6, 5, 4], [3, 2, 1]] and len(dropped) == 2
    assert list(DataLoader(Countdown(3), batch_size=None)) == [2, 1, 0]
    chained = Countdown(2) + Countdown(3)
    assert isinstance(chained, ChainDataset) and list(chained) == [1, 0, 2, 1, 0] and len(chained) == 5
    with pytest.raises(TypeError):
        IterableDataset()
    with pytest.raises(TypeError, match="IterableDataset"):
        Countdown(3)[0]
    with pytest.raises(TypeError, match="does not support IterableDataset"):
        ConcatDataset([Countdown(3)])
    for kwargs, name in [({"shuffle": True}, "shuffle"), ({"sampler": [0, 1]}, "sampler"),
                         ({"batch_sampler": [[0]]}, "batch_sampler")]:
        with pytest.raises(ValueError, match=f"IterableDataset: expected unspecified {name} option"):
            DataLoader(Countdown(3), **kwargs)


def test_sequential_and_random_sampler():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3] and len(SequentialSampler(range(4))) == 4
    g = mg.Generator().manual_seed(0)
    perm = list(RandomSampler(range(10), generator=g))
    assert sorted(perm) == list(range(10)) and perm != list(range(10))
    assert all(type(i) is int for i in perm)
    with_rep = RandomSampler(range(5), replacement=True, num_samples=200, generator=g)
    drawn = list(with_rep)
    assert len(with_rep) == 200 and len(drawn) == 200 and set(drawn) == set(range(5))
    # without replacement, more samples than items: whole permutations one after another
    long = list(RandomSampler(range(4), num_samples=10, generator=g))
    assert sorted(long[:4]) == sorted(long[4:8]) == [0, 1, 2, 3] and len(set(long[8:])) == 2
    short = list(RandomSampler(range(10), num_samples=3, generator=g))
    assert len(short) == 3 and len(set(short)) == 3
    with pytest.raises(ValueError,
                       match="num_samples should be a positive integer value, but got num_samples=0"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean value, but got replacement=1"):
        RandomSampler(range(3), replacement=1)


def test_a_generator_makes_samplers_repeat_regardless_of_the_global_seed():
    def orders(seed):
        g = mg.Generator().manual_seed(seed)
        mg.manual_seed(seed + 1000)  # the global stream changes with the seed ...
        return [list(RandomSampler(range(20), generator=g)),
                list(SubsetRandomSampler([3, 5, 7, 9, 11], generator=g)),
                list(WeightedRandomSampler([1, 2, 3], 8, generator=g))]
    a, b = orders(1), orders(1)
    mg.manual_seed(12345)
    mg.rand(50)
    assert orders(1) == a == b  # ... and does not matter
    assert orders(2) != a


def test_subset_random_sampler():
    s = SubsetRandomSampler([10, 20, 30, 40], generator=mg.Generator().manual_seed(3))
    first, second = list(s), list(s)
    assert sorted(first) == sorted(second) == [10, 20, 30, 40] and len(s) == 4
    assert first != second  # a new order each epoch, drawn from the generator
    assert s.indices == [10, 20, 30, 40]


def test_weighted_random_sampler_frequencies_follow_the_weights():
    g = mg.Generator().manual_seed(0)
    s = WeightedRandomSampler([0.1, 0.0, 0.6, 0.3], num_samples=20000, generator=g)
    counts = np.bincount(list(s), minlength=4) / 20000
    np.testing.assert_allclose(counts, [0.1, 0.0, 0.6, 0.3], atol=0.015)
    assert counts[1] == 0 and len(s) == 20000
    once = list(WeightedRandomSampler(mg.tensor([1.0, 1.0, 5.0]), 3, replacement=False))
    assert sorted(once) == [0, 1, 2]
    with pytest.raises(ValueError,
                       match=r"weights should be a 1d sequence but given weights have shape \(2, 2\)"):
        WeightedRandomSampler([[1, 2], [3, 4]], 2)
    with pytest.raises(ValueError, match="cannot draw num_samples=3 without replacement from 2 non-zero"):
        WeightedRandomSampler([1, 0, 1], 3, replacement=False)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        WeightedRandomSampler([1, 2], 0)


def test_batch_sampler_and_drop_last():
    assert list(BatchSampler(SequentialSampler(range(10)), 3, drop_last=False)) == \
        [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert list(BatchSampler(range(10), 3, drop_last=True)) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert len(BatchSampler(range(10), 3, False)) == 4 and len(BatchSampler(range(10), 3, True)) == 3
    with pytest.raises(ValueError,
                       match="batch_size should be a positive integer value, but got batch_size=0"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(TypeError, match="drop_last should be a boolean value"):
        BatchSampler(range(3), 2, "no")


def test_loader_with_a_sampler_or_a_batch_sampler():
    ds = TensorDataset(np.arange(10) * 10)
    picked = DataLoader(ds, batch_size=2, sampler=[9, 0, 3])
    assert [b[0].tolist() for b in picked] == [[90, 0], [30]] and len(picked) == 2
    by_batches = DataLoader(ds, batch_sampler=[[1, 2, 3], [7]])
    assert [b[0].tolist() for b in by_batches] == [[10, 20, 30], [70]] and len(by_batches) == 2
    assert by_batches.batch_size is None and by_batches.drop_last is False

    class Backwards(Sampler):
        def __init__(self, data_source):
            self.data_source = data_source

        def __iter__(self):
            return iter(range(len(self.data_source) - 1, -1, -1))

        def __len__(self):
            return len(self.data_source)

    loader = DataLoader(ds, batch_size=4, sampler=Backwards(ds))
    assert [b[0].tolist() for b in loader] == [[90, 80, 70, 60], [50, 40, 30, 20], [10, 0]]
    assert isinstance(loader.batch_sampler, BatchSampler) and loader.sampler.data_source is ds


def test_loader_mutual_exclusion_errors_are_pytorchs():
    ds = TensorDataset(np.arange(10))
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(ds, shuffle=True, sampler=SequentialSampler(ds))
    batches = BatchSampler(range(10), 2, False)
    for kwargs in [{"batch_size": 2}, {"shuffle": True}, {"sampler": range(10)}, {"drop_last": True}]:
        with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive with batch_size, "
                                             "shuffle, sampler, and drop_last"):
            DataLoader(ds, batch_sampler=batches, **kwargs)
    with pytest.raises(ValueError, match="batch_size=None option disables auto-batching and is mutually "
                                         "exclusive with drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="timeout option should be non-negative"):
        DataLoader(ds, timeout=-1)
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified in multiprocessing"):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(ds, persistent_workers=True)
    with pytest.raises(TypeError, match="generator must be a minigrad.Generator"):
        DataLoader(ds, shuffle=True, generator="seven")


def test_loader_accepts_every_pytorch_argument_and_workers_run_in_process():
    ds = TensorDataset(np.arange(12))
    calls = []
    loader = DataLoader(ds, 4, False, None, None, 2, None, True, False, 5.0, calls.append, None, None,
                        prefetch_factor=2, persistent_workers=False, pin_memory_device="", in_order=True)
    assert [b[0].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    list(loader)
    assert calls == [0, 0]  # worker id 0, once per epoch, in this process
    assert get_worker_info() is None
    persistent = DataLoader(ds, batch_size=4, num_workers=3, worker_init_fn=calls.append,
                            persistent_workers=True)
    list(persistent), list(persistent)
    assert calls == [0, 0, 0]  # persistent "workers" start once
    no_workers = DataLoader(ds, batch_size=4, worker_init_fn=calls.append)
    list(no_workers)
    assert calls == [0, 0, 0]  # as PyTorch: never called without workers


def test_loader_generator_repeats_shuffling_independently_of_the_global_seed():
    ds = TensorDataset(np.arange(50))

    def two_epochs(seed):
        loader = DataLoader(ds, batch_size=7, shuffle=True, generator=mg.Generator().manual_seed(seed))
        mg.manual_seed(seed * 31 + 5)
        return epoch_order(loader), epoch_order(loader)

    first, second = two_epochs(4)
    assert sorted(first) == list(range(50)) and not np.array_equal(first, second)  # epochs differ
    again = two_epochs(4)
    np.testing.assert_array_equal(first, again[0])
    np.testing.assert_array_equal(second, again[1])
    assert not np.array_equal(first, two_epochs(5)[0])
    g = mg.Generator().manual_seed(4)
    assert isinstance(DataLoader(ds, shuffle=True, generator=g).sampler, RandomSampler)
    assert DataLoader(ds, shuffle=True, generator=g).generator is g


def test_loader_without_batching_converts_samples():
    ds = TensorDataset(np.arange(3) * 2.0)
    samples = list(DataLoader(ds, batch_size=None))
    assert [s[0].item() for s in samples] == [0.0, 2.0, 4.0] and len(DataLoader(ds, batch_size=None)) == 3
    converted = default_convert({"a": np.ones(2), "b": [np.int64(3), "s"], "c": 1.5})
    assert isinstance(converted["a"], mg.Tensor) and converted["b"][0].dtype == mg.int64
    assert converted["b"][1] == "s" and converted["c"] == 1.5


def test_loader_fast_path_through_a_batch_sampler_with_replacement():
    calls = []

    class Spy(TensorDataset):
        def __getitem__(self, i):
            calls.append(i)
            return super().__getitem__(i)

    ds = Spy(np.arange(8) * 3)
    sampler = RandomSampler(ds, replacement=True, num_samples=20, generator=mg.Generator().manual_seed(0))
    batches = [b[0].array for b in DataLoader(ds, batch_size=6, sampler=sampler)]
    assert calls == [] and [len(b) for b in batches] == [6, 6, 6, 2]
    assert set(np.concatenate(batches).tolist()) <= set(range(0, 24, 3))


def test_random_split_with_a_minigrad_generator_and_empty_splits():
    ds = TensorDataset(np.arange(30))
    a = random_split(ds, [0.5, 0.5], generator=mg.Generator().manual_seed(8))
    mg.manual_seed(77)
    b = random_split(ds, [15, 15], generator=mg.Generator().manual_seed(8))
    np.testing.assert_array_equal(a[0].indices, b[0].indices)  # the global seed plays no part
    assert not np.array_equal(a[0].indices, random_split(ds, [15, 15], generator=mg.Generator())[0].indices)
    with pytest.warns(UserWarning, match="length of split at index 2 is 0"):
        parts = random_split(TensorDataset(np.arange(2)), [0.5, 0.5, 0.0])
    assert [len(p) for p in parts] == [1, 1, 0]
    with pytest.raises(TypeError, match="random_split: generator must be a minigrad.Generator"):
        random_split(ds, [15, 15], generator="0")


def test_shuffling_an_empty_dataset_is_refused_when_the_loader_is_made():
    empty = TensorDataset(np.zeros((0, 2), np.float32))
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got num_samples=0"):
        DataLoader(empty, shuffle=True)
    with pytest.raises(ValueError, match="RandomSampler: the dataset is empty"):
        RandomSampler(empty, num_samples=3)
