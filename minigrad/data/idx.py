"""The IDX file format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

An IDX file is a 4-byte magic number, then one big-endian uint32 per
dimension, then the values in C order, big-endian:

    magic = 0x00 0x00 <type code> <number of dims>
    type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64

MNIST's image files are 0x00000803 (uint8, 3 dims: N, 28, 28) and its label
files 0x00000801 (uint8, 1 dim: N). The files are usually gzip-compressed;
gzip is recognised by its own magic bytes, not by the file name.
"""
from __future__ import annotations

import gzip
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np

_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
          0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_CODES = {dtype.newbyteorder("="): code for code, dtype in _TYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_source(source) -> tuple[bytes, str]:
    """The raw bytes of a path, bytes-like or binary file object, and a name for messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "<bytes>"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            return path.read_bytes(), str(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"read_idx: no such file {str(path)!r}") from None
    if hasattr(source, "read"):
        return source.read(), getattr(source, "name", "<file>")
    raise TypeError(f"read_idx: expected a path, bytes or a binary file, got {type(source).__name__}")


def read_idx(path_or_bytes) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into a numpy array.

    Args:
        path_or_bytes: a file path, the file's bytes, or a binary file object.

    Returns:
        An array of the file's shape, in native byte order, of its dtype (uint8 for MNIST).
        It owns its memory (writable).

    Raises:
        ValueError: bad magic number, unknown type code, corrupt gzip data, or a
            file shorter or longer than its header says.
    """
    data, name = _read_source(path_or_bytes)
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(f"read_idx: {name} looks gzip-compressed but cannot be decompressed "
                             f"({error}) - the file is probably truncated or corrupt; delete it and "
                             f"fetch it again") from None
    if len(data) < 4:
        raise ValueError(f"read_idx: {name} is {len(data)} bytes long, too short for an IDX header "
                         f"(at least 4 bytes)")
    magic = int.from_bytes(data[:4], "big")
    zeros, code, ndim = data[0:2], data[2], data[3]
    if zeros != b"\x00\x00":
        raise ValueError(f"read_idx: bad magic number 0x{magic:08x} in {name} - an IDX file starts with "
                         f"two zero bytes, a type code and the number of dimensions (MNIST images: "
                         f"0x00000803, labels: 0x00000801); is this an IDX file?")
    if code not in _TYPES:
        known = ", ".join(f"0x{c:02x} {d.newbyteorder('=').name}" for c, d in _TYPES.items())
        raise ValueError(f"read_idx: unknown type code 0x{code:02x} in the magic number 0x{magic:08x} "
                         f"of {name} - expected one of {known}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"read_idx: {name} is truncated: its header declares {ndim} dimensions "
                         f"({header} bytes of header) but the file has only {len(data)} bytes")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _TYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header
    if actual != expected:
        what = "truncated" if actual < expected else "longer than its header says"
        raise ValueError(f"read_idx: {name} is {what}: shape {shape} of {dtype.newbyteorder('=').name} "
                         f"needs {expected} bytes of data, found {actual}")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path, array, compress: bool | None = None) -> None:
    """Write an array as an IDX file (the inverse of `read_idx`).

    Args:
        path: where to write; the file is gzip-compressed when `compress` is True, or
            when it is None and the name ends in ".gz".
        array: an array (or nested lists) of uint8, int8, int16, int32, float32 or float64.
        compress: force gzip on or off.
    """
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        raise ValueError(f"write_idx: dtype {array.dtype} has no IDX type code - use uint8, int8, int16, "
                         f"int32, float32 or float64")
    if array.ndim > 255:
        raise ValueError(f"write_idx: an IDX file has at most 255 dimensions, got {array.ndim}")
    code = _CODES[native]
    buffer = io.BytesIO()
    buffer.write(bytes([0, 0, code, array.ndim]))
    buffer.write(struct.pack(f">{array.ndim}I", *array.shape))
    buffer.write(np.ascontiguousarray(array, dtype=_TYPES[code]).tobytes())
    data = buffer.getvalue()
    path = Path(path)
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
