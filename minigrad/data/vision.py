"""Image classification datasets: MNIST, Fashion-MNIST (IDX files) and scikit-learn's 8x8 digits.

Every dataset here keeps its images as one uint8 array `data` (N, H, W) and
its labels as one int64 array `targets` (N,). A sample is
`(image, label)`: the image a float32 tensor (1, H, W) scaled to [0, 1], the
label a Python int. Batches are cut from the whole arrays at once.

MNIST and Fashion-MNIST read the four standard files
(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, gzip-compressed or
not) from a folder: `root`, or by default `$MINIGRAD_DATA/<Name>` or
`~/.cache/minigrad/<Name>`. torchvision's layout `<root>/<Name>/raw/` is found
too. With `download=True` missing files are fetched from the mirrors and
checked against their published MD5 sums.
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..tensor import Tensor, _make
from ..utils.data.dataset import Dataset
from .idx import read_idx


def default_root(name: str) -> Path:
    """The cache folder of dataset `name`: `$MINIGRAD_DATA/<name>`, else `~/.cache/minigrad/<name>`."""
    base = os.environ.get("MINIGRAD_DATA")
    return Path(base).expanduser() / name if base else Path.home() / ".cache" / "minigrad" / name


class ChecksumError(RuntimeError):
    """A downloaded file's MD5 sum is not the published one."""


def download_file(url: str, path, md5: str, timeout: float = 60.0) -> Path:
    """Download `url` to `path`, keeping it only if its MD5 sum is `md5`.

    The bytes go to a temporary file next to `path`, which is renamed to `path`
    only after the checksum matched, so `path` never holds a partial or wrong file.

    Args:
        url: any URL urllib opens (https://, http://, file://).
        path: the destination file.
        md5: the expected MD5 hex digest.
        timeout: seconds to wait for the server.

    Returns:
        `path`, as a Path.

    Raises:
        ChecksumError: the downloaded bytes have another MD5 sum (the temporary file is deleted).
        OSError (urllib.error.URLError): the download failed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    import urllib.request  # here, not at the top: `import minigrad` should not load an HTTP client

    digest = hashlib.md5(usedforsecurity=False)
    with atomic_write(path, "download") as out, urllib.request.urlopen(url, timeout=timeout) as response:
        for chunk in iter(lambda: response.read(1 << 20), b""):
            out.write(chunk)
            digest.update(chunk)
        if digest.hexdigest() != md5:  # raised inside the block: the temporary file is removed
            raise ChecksumError(f"download: {url} has MD5 {digest.hexdigest()}, expected {md5} - the file "
                                f"is corrupt or not the published one; it was deleted, not kept")
    return path


def _to_float(images: np.ndarray, scale: float) -> np.ndarray:
    """uint8 images (..., H, W) -> float32 (..., 1, H, W) in [0, 1]."""
    out = images.astype(np.float32)
    out /= np.float32(scale)
    return out[..., None, :, :]


class _ImageClassification(Dataset):
    """Shared by MNIST, FashionMNIST and Digits: `data` (N, H, W) uint8, `targets` (N,) int64."""

    data: np.ndarray
    targets: np.ndarray
    classes: list[str]
    scale = 255.0  # the value of a white pixel in `data`

    def __init__(self, transform=None, target_transform=None):
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple:
        image = _make(_to_float(self.data[index], self.scale))
        label = int(self.targets[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def get_batch(self, indices: np.ndarray):
        if self.transform is not None or self.target_transform is not None:
            return None  # transforms work on single samples: let the loader go one by one
        return _to_float(self.data[indices], self.scale), self.targets[indices]

    def tensors(self, flatten: bool = False) -> tuple[Tensor, Tensor]:
        """The whole dataset as two tensors (no transforms applied).

        Args:
            flatten: give images as rows (N, H*W) instead of (N, 1, H, W).

        Returns:
            `(images, labels)`: float32 (N, 1, H, W) or (N, H*W) in [0, 1], and int64 (N,).
        """
        images = _to_float(self.data, self.scale)
        if flatten:
            images = images.reshape(len(images), -1)
        return _make(images), _make(self.targets.copy())

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"{type(self).__name__}({split}, {len(self)} images of {self.data.shape[1:]})"


class MNIST(_ImageClassification):
    """The MNIST handwritten digits: 60 000 training and 10 000 test images, 28x28, labels 0-9.

    Args:
        root: folder holding the IDX files (default: `$MINIGRAD_DATA/MNIST` or
            `~/.cache/minigrad/MNIST`); torchvision's `<root>/MNIST/raw/` is also searched.
        train: the training split (else the test split).
        transform: optional function applied to each image tensor (turns the loader's fast path off).
        target_transform: optional function applied to each label.
        download: fetch missing files from `mirrors` into `root`, checking their MD5 sums.

    Attributes:
        data: uint8 array (N, 28, 28), 0 = background.
        targets: int64 array (N,).
        classes: the class names.

    A sample is `(image, label)`: float32 tensor (1, 28, 28) in [0, 1], int.

    Example:
        >>> train = MNIST(train=True, download=True)
        >>> loader = DataLoader(train, batch_size=128, shuffle=True)
    """

    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
               "https://storage.googleapis.com/cvdf-datasets/mnist/"]
    resources = {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]
    image_size = (28, 28)

    def __init__(self, root=None, train: bool = True, transform=None, target_transform=None,
                 download: bool = False):
        super().__init__(transform, target_transform)
        self.name = type(self).__name__
        self.root = Path(root).expanduser() if root is not None else default_root(self.name)
        self.train = bool(train)
        prefix = "train" if self.train else "t10k"
        images_path = self._find(f"{prefix}-images-idx3-ubyte", download)
        labels_path = self._find(f"{prefix}-labels-idx1-ubyte", download)
        self.data = self._read(images_path, 3, np.uint8)
        self.targets = self._read(labels_path, 1, np.uint8).astype(np.int64)
        if len(self.data) != len(self.targets):
            raise ValueError(f"{self.name}: {images_path} has {len(self.data)} images but {labels_path} "
                             f"has {len(self.targets)} labels")
        if self.data.shape[1:] != self.image_size:
            raise ValueError(f"{self.name}: {images_path} holds images of shape {self.data.shape[1:]}, "
                             f"expected {self.image_size}")

    def _folders(self) -> list[Path]:
        return [self.root, self.root / self.name, self.root / self.name / "raw"]

    def _find(self, stem: str, download: bool) -> Path:
        for folder in self._folders():
            for name in (stem + ".gz", stem):
                if (folder / name).is_file():
                    return folder / name
        if download:
            return self._download(stem + ".gz")
        raise FileNotFoundError(
            f"{self.name}: {stem}.gz (or {stem}) not found in {self.root}. Pass download=True to fetch "
            f"it from {self.mirrors[0]}, or put the four files {', '.join(self.resources)} there "
            f"yourself (or pass root=, or set $MINIGRAD_DATA). Offline, minigrad.data.Digits() gives "
            f"8x8 digits that ship with scikit-learn.")

    def _download(self, filename: str) -> Path:
        destination = self.root / filename
        failures = []
        for mirror in self.mirrors:
            url = mirror + filename
            print(f"{self.name}: downloading {url} to {destination}", file=sys.stderr)
            try:
                return download_file(url, destination, self.resources[filename])
            except ChecksumError as error:
                failures.append(error)
            except (OSError, ValueError) as error:  # URLError is an OSError; ValueError: a bad URL
                failures.append(f"{url}: {error}")
        if any(isinstance(f, ChecksumError) for f in failures):
            raise ChecksumError(f"{self.name}: no mirror served a correct {filename}:\n  "
                                + "\n  ".join(map(str, failures)))
        raise RuntimeError(
            f"{self.name}: could not download {filename} (no internet connection?):\n  "
            + "\n  ".join(map(str, failures))
            + f"\nOn a machine with internet, fetch {', '.join(self.resources)} from {self.mirrors[0]} "
              f"and copy them into {self.root} (or pass root=, or set $MINIGRAD_DATA). Offline, "
              f"minigrad.data.Digits() gives 8x8 digits that ship with scikit-learn.")

    def _read(self, path: Path, ndim: int, dtype) -> np.ndarray:
        array = read_idx(path)
        if array.ndim != ndim or array.dtype != dtype:
            raise ValueError(f"{self.name}: {path} holds {array.dtype} of shape {array.shape}, expected "
                             f"{np.dtype(dtype)} with {ndim} dimension(s)")
        return array


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 28x28 grey images of 10 kinds of clothing, MNIST's file format.

    Same arguments, attributes and samples as `MNIST`; files live in
    `$MINIGRAD_DATA/FashionMNIST` or `~/.cache/minigrad/FashionMNIST` by default.
    """

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
               "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"]
    resources = {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    }
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


class Digits(_ImageClassification):
    """scikit-learn's 1 797 handwritten digits, 8x8: MNIST's small offline stand-in.

    The images ship with scikit-learn (no download). The split is stratified and
    fixed by `seed`: in every class, a `test_fraction` share (rounded) goes to test.

    Args:
        train: the training split (else the test split).
        test_fraction: share of each class held out for testing, in (0, 1).
        seed: seed of the split (independent of `mg.manual_seed`).
        transform, target_transform: as in `MNIST`.

    Attributes:
        data: uint8 array (N, 8, 8) of values 0..16 (scikit-learn's).
        targets: int64 array (N,).

    A sample is `(image, label)`: float32 tensor (1, 8, 8) in [0, 1] (value / 16), int.
    """

    scale = 16.0
    classes = [str(d) for d in range(10)]

    def __init__(self, train: bool = True, test_fraction: float = 0.2, seed: int = 0,
                 transform=None, target_transform=None):
        super().__init__(transform, target_transform)
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"Digits: test_fraction must be in (0, 1), got {test_fraction}")
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise ImportError("Digits: needs scikit-learn, which ships these images - "
                              "pip install minigrad[tutorials] (or pip install scikit-learn)") from None
        digits = load_digits()
        images = digits.images.astype(np.uint8)  # integers 0..16 stored as floats
        labels = digits.target.astype(np.int64)
        generator = np.random.default_rng(seed)
        test = np.zeros(len(labels), dtype=bool)
        for label in np.unique(labels):
            members = np.flatnonzero(labels == label)
            chosen = generator.permutation(members)[:int(round(test_fraction * len(members)))]
            test[chosen] = True
        keep = ~test if train else test
        self.train = bool(train)
        self.test_fraction = float(test_fraction)
        self.seed = seed
        self.data = images[keep]
        self.targets = labels[keep]
