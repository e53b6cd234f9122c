"""Checkpoints: `save(obj, path)` and `load(path)` for state dicts, without pickle.

A checkpoint is a zip archive of stored (uncompressed) members, readable by
`np.load(path)` as well:

- one `.npy` member per array (a tensor's data or a numpy array), named after
  its key path: `{"model": {"fc.weight": w}}` puts `w` in `model.fc.weight.npy`,
  so `np.load(path)["model.fc.weight"]` works without minigrad;
- `__minigrad__.json`, the manifest: the structure of the saved object
  (dicts with str or int keys, lists, tuples, tensors, arrays, numbers,
  strings, None) and, for every array, its member, dtype, shape and the
  SHA-256 of its bytes (C order);
- the archive comment `minigrad-checkpoint 1 manifest-sha256:<hex>`, the
  SHA-256 of the manifest's bytes.

`load` checks every one of those before it returns anything, so a damaged
file raises `CheckpointError` instead of loading changed numbers, and it
never unpickles: object arrays are refused when saving and when loading.

`save` writes a temporary file next to the target (`.{name}.tmp-<pid>-<hex>`),
fsyncs it and renames it over the target, so a crash leaves either the
previous checkpoint or the new one at the path, never a mix.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import struct
import zipfile
from typing import Any, BinaryIO

import numpy as np

from .atomic import atomic_write
from .tensor import Tensor, _check_device, _make

__all__ = ["save", "load", "CheckpointError", "add_safe_globals", "safe_globals",
           "get_safe_globals", "clear_safe_globals"]

FORMAT = "minigrad-checkpoint"
VERSION = 1
MANIFEST = "__minigrad__.json"
_COMMENT_PREFIX = b"minigrad-checkpoint 1 manifest-sha256:"
_DATE = (1980, 1, 1, 0, 0, 0)      # a fixed date: the same state always gives the same bytes
_ARRAY_KINDS = "biufc"             # bool, int, uint, float, complex: nothing that needs pickle
_CHUNK = 1 << 23                   # hash and write 8 MiB at a time, so both passes hit the cache
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")   # a zip local file header (30 bytes)


class CheckpointError(ValueError):
    """A file that `load` refuses: corrupt, truncated, or not a minigrad checkpoint.

    `path` is the file's name as given to `load` (or the file object's name).
    """

    def __init__(self, path: str, problem: str):
        self.path = path
        super().__init__(f"load: '{path}' {problem}")


# ---- save ---------------------------------------------------------------------------

def save(obj: Any, f) -> None:
    """Save a state dict (or any nesting of the types below) as a checkpoint file.

    Args:
        obj: dicts (str or int keys), lists, tuples, Tensors, numpy arrays of
            bool/int/float/complex dtype, numpy scalars, int, float, bool, str
            and None, nested to any depth. Tensors keep dtype, shape and
            `requires_grad`; `.grad` and the graph are not saved. An array that
            appears several times is stored once and loads as one array.
        f: a path (str or os.PathLike) or a writable binary file object. A path
            is written atomically: to a temporary file in the same directory,
            fsynced, then renamed over `f`, so `f` always holds either its
            previous content or the whole new checkpoint. A file object is
            written in place, without those guarantees.

    Raises:
        TypeError: `obj` holds something else (a set, a custom object, an object
            array, a dict key that is not str or int); the message names its key path.
    """
    if callable(getattr(obj, "state_dict", None)):
        raise TypeError(_whole_object(obj, "save"))
    root, entries, arrays = _encode_all(obj)   # all type errors come before touching the disk
    if hasattr(f, "write"):
        _write_zip(f, root, entries, arrays)
        return
    with atomic_write(f, "save") as out:
        _write_zip(out, root, entries, arrays)


def _whole_object(obj, where: str) -> str:
    """The refusal for a whole Module or Optimizer: checkpoints hold their state dicts."""
    kind = type(obj).__name__
    name = "model" if hasattr(obj, "parameters") and hasattr(obj, "forward") else "optimizer"
    return (f"{where}: cannot store a whole {kind} object - minigrad saves data, not objects "
            f"(nothing is pickled); save its state dict: `mg.save({name}.state_dict(), f)`, and "
            f"later build the {name} again and call `{name}.load_state_dict(mg.load(f))`")


def _encode_all(obj):
    """Turn `obj` into (manifest tree, array entries, contiguous arrays)."""
    entries: list[dict] = []
    arrays: list[np.ndarray] = []
    memo: dict[int, int] = {}            # id(original array) -> index, to store shared arrays once
    keep: list[np.ndarray] = []          # keeps the originals alive so their ids stay unique
    used = {MANIFEST}
    open_containers: set[int] = set()

    def add_array(array: np.ndarray, path: tuple) -> int:
        if id(array) in memo:
            return memo[id(array)]
        if array.dtype.hasobject or array.dtype.kind not in _ARRAY_KINDS:
            raise TypeError(
                f"save: the array at {_where(path)} has dtype {array.dtype} - checkpoints hold "
                f"only bool, integer, float and complex arrays (an object array would need "
                f"pickle, which minigrad never uses)")
        data = array if array.flags.c_contiguous else array.copy(order="C")
        entries.append({"member": member_name(path), "dtype": data.dtype.str,
                        "shape": list(data.shape)})
        arrays.append(data)
        keep.append(array)
        memo[id(array)] = len(arrays) - 1
        return len(arrays) - 1

    def member_name(path: tuple) -> str:
        stem = re.sub(r"[^A-Za-z0-9_.+-]", "_", ".".join(str(p) for p in path))[:200] or "root"
        name, n = stem + ".npy", 1
        while name in used:   # "~" never survives the substitution above, so this ends
            name, n = f"{stem}~{n}.npy", n + 1
        used.add(name)
        return name

    def encode(value, path: tuple) -> dict:
        if value is None:
            return {"type": "none"}
        if isinstance(value, np.generic):   # before float: np.float64 is a float subclass
            return {"type": "scalar", "array": add_array(np.asarray(value), path)}
        if isinstance(value, bool):
            return {"type": "bool", "value": bool(value)}
        if isinstance(value, int):
            return {"type": "int", "value": int(value)}
        if isinstance(value, float):
            return {"type": "float", "value": repr(float(value))}   # repr round-trips exactly
        if isinstance(value, str):
            return {"type": "str", "value": str(value)}
        if isinstance(value, Tensor):
            return {"type": "tensor", "array": add_array(value.array, path),
                    "requires_grad": bool(value.requires_grad)}
        if isinstance(value, np.ndarray):
            return {"type": "ndarray", "array": add_array(value, path)}
        if isinstance(value, (dict, list, tuple)):
            if id(value) in open_containers:
                raise ValueError(f"save: the {type(value).__name__} at {_where(path)} contains "
                                 f"itself - checkpoints hold trees, not cycles")
            open_containers.add(id(value))
            try:
                if isinstance(value, dict):
                    return {"type": "dict", "items": [encode_item(k, v, path) for k, v in value.items()]}
                kind = "tuple" if isinstance(value, tuple) else "list"
                return {"type": kind, "items": [encode(v, path + (i,)) for i, v in enumerate(value)]}
            finally:
                open_containers.discard(id(value))
        if callable(getattr(value, "state_dict", None)):
            raise TypeError(_whole_object(value, f"save ({_where(path)})"))
        raise TypeError(
            f"save: cannot store the {type(value).__name__} at {_where(path)} - expected dict, "
            f"list, tuple, Tensor, np.ndarray, int, float, bool, str or None")

    def encode_item(key, value, path: tuple) -> list:
        if isinstance(key, str):
            return ["str", str(key), encode(value, path + (key,))]
        if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
            return ["int", int(key), encode(value, path + (int(key),))]
        raise TypeError(f"save: the dict at {_where(path)} has a key {key!r} of type "
                        f"{type(key).__name__} - checkpoint dict keys must be str or int")

    root = encode(obj, ())
    return root, entries, arrays


def _where(path: tuple) -> str:
    return repr(".".join(str(p) for p in path)) if path else "the top level"


def _write_zip(out: BinaryIO, root: dict, entries: list, arrays: list) -> None:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for entry, data in zip(entries, arrays):
            header = _npy_header(data)
            info = _zip_info(entry["member"])
            info.file_size = len(header) + data.nbytes   # lets zipfile choose zip64 for > 2 GiB
            digest = hashlib.sha256()
            flat = memoryview(data.reshape(-1).view(np.uint8))   # no copy: data is C-contiguous
            with zf.open(info, "w") as member:
                member.write(header)
                for start in range(0, len(flat), _CHUNK):
                    chunk = flat[start:start + _CHUNK]
                    digest.update(chunk)
                    member.write(chunk)
            entry["sha256"] = digest.hexdigest()
        manifest = {"format": FORMAT, "version": VERSION, "arrays": entries, "root": root}
        manifest_bytes = json.dumps(manifest).encode("utf-8")
        zf.writestr(_zip_info(MANIFEST), manifest_bytes)
        zf.comment = _COMMENT_PREFIX + hashlib.sha256(manifest_bytes).hexdigest().encode("ascii")


def _zip_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_DATE)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def _npy_header(data: np.ndarray) -> bytes:
    """The .npy magic and header for a C-contiguous array, as np.save writes them."""
    fields = np.lib.format.header_data_from_array_1_0(data)
    buf = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(buf, fields)
    except ValueError:   # header longer than 64 KiB (a huge ndim): format 2.0 allows it
        buf = io.BytesIO()
        np.lib.format.write_array_header_2_0(buf, fields)
    return buf.getvalue()


# ---- load ---------------------------------------------------------------------------

def load(f, map_location=None, *, weights_only: bool = True) -> Any:
    """Load a checkpoint written by `save`, checking it completely first.

    Args:
        f: a path (str or os.PathLike) or a readable, seekable binary file object.
        map_location: accepted for PyTorch compatibility: None, 'cpu' (or device('cpu')), a dict
            whose targets are all 'cpu', or a callable (ignored: everything loads on the CPU).
        weights_only: accepted for PyTorch compatibility; minigrad always loads
            data only (nothing is ever unpickled), whatever its value.

    Returns:
        The saved structure: dicts (same key types and order), lists, tuples,
        Tensors where Tensors were saved (dtype, shape and requires_grad kept),
        writable numpy arrays where arrays were saved, bit-identical to what
        was saved, and the same numbers, strings and None.

    Raises:
        FileNotFoundError: there is no file at `f`.
        CheckpointError: the file is truncated, corrupt (any checksum fails),
            holds an object array or pickled data, or is not a minigrad
            checkpoint at all (e.g. a plain np.savez file). The message names the file.
    """
    if isinstance(map_location, dict):   # {'cuda:0': 'cpu'}: every target must be the CPU
        for target in map_location.values():
            _check_device(target, "load")
    elif map_location is not None and not callable(map_location):
        # a callable (`lambda storage, loc: storage`) is PyTorch's spelling of "onto the CPU"
        _check_device(map_location, "load")
    if hasattr(f, "read"):
        name = getattr(f, "name", None)
        return _load_checked(f, name if isinstance(name, str) else "<file object>")
    path = os.fsdecode(os.fspath(f))
    with open(path, "rb") as fh:   # a missing file raises FileNotFoundError naming the path
        return _load_checked(fh, path)


def _load_checked(fh: BinaryIO, label: str) -> Any:
    try:
        return _read_checkpoint(fh, label)
    except (CheckpointError, MemoryError):
        raise
    except Exception as exc:   # zipfile, json, numpy and struct all fail differently on damage
        raise CheckpointError(label, f"is corrupt or truncated - it cannot be read as a minigrad "
                              f"checkpoint ({type(exc).__name__}: {exc})") from exc


def _read_checkpoint(fh: BinaryIO, label: str) -> Any:
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(0)
    if size == 0:
        raise CheckpointError(label, "is empty (0 bytes) - it is truncated, or not a minigrad checkpoint")
    magic = fh.read(4)
    if magic != b"PK\x03\x04":
        raise CheckpointError(label, f"is not a minigrad checkpoint, or is corrupt: it does not start "
                              f"like a zip archive (first bytes {magic!r}, expected b'PK\\x03\\x04')")
    try:
        zf = zipfile.ZipFile(fh)
    except Exception as exc:
        raise CheckpointError(label, f"is truncated or corrupt: its zip directory cannot be read "
                              f"({type(exc).__name__}: {exc})") from exc
    with zf:
        infos = {info.filename: info for info in zf.infolist()}
        if MANIFEST not in infos:
            pickled = [n for n in infos if n.endswith(".pkl")]
            hint = (f"; it holds pickled data ({pickled[0]}), which minigrad never loads" if pickled
                    else "; a plain np.savez file can be read with np.load(path, allow_pickle=False)")
            raise CheckpointError(label, f"is not a minigrad checkpoint: it has no {MANIFEST} manifest{hint}")
        try:
            manifest_bytes = zf.read(MANIFEST)   # zipfile checks its CRC-32 here
        except Exception as exc:
            raise CheckpointError(label, f"is corrupt or truncated: its {MANIFEST} manifest cannot "
                                  f"be read ({type(exc).__name__}: {exc})") from exc
        comment = zf.comment

    expected = comment[len(_COMMENT_PREFIX):] if comment.startswith(_COMMENT_PREFIX) else None
    if expected is None or len(expected) != 64:
        raise CheckpointError(label, "is corrupt or truncated: the archive comment holding the "
                              "manifest's SHA-256 is missing or damaged")
    if hashlib.sha256(manifest_bytes).hexdigest().encode("ascii") != expected:
        raise CheckpointError(label, f"is corrupt: {MANIFEST} does not match its SHA-256 checksum")
    manifest = json.loads(manifest_bytes)
    if manifest.get("format") != FORMAT:
        raise CheckpointError(label, f"is not a minigrad checkpoint: format {manifest.get('format')!r}")
    if manifest.get("version") != VERSION:
        raise CheckpointError(label, f"has checkpoint format version {manifest.get('version')!r}; "
                              f"this minigrad reads version {VERSION} (is it from a newer minigrad?)")
    arrays = [_read_array(fh, infos, entry, label) for entry in manifest["arrays"]]
    return _decode(manifest["root"], arrays, label)


def _read_array(fh: BinaryIO, infos: dict, entry: dict, label: str) -> np.ndarray:
    member = entry["member"]
    dtype = np.dtype(entry["dtype"])
    if dtype.hasobject or dtype.kind not in _ARRAY_KINDS:
        raise CheckpointError(label, f"holds an array '{member}' of dtype {dtype} - refused: "
                              f"checkpoints hold only bool, integer, float and complex arrays, "
                              f"never Python objects (loading those would need pickle)")
    shape = tuple(entry["shape"])
    if not all(type(n) is int and n >= 0 for n in shape):
        raise CheckpointError(label, f"is corrupt: array '{member}' has shape {shape}")
    nbytes = math.prod(shape) * dtype.itemsize

    def corrupt(why: str) -> CheckpointError:
        return CheckpointError(label, f"is corrupt or truncated: array '{member}' {why}")

    info = infos.get(member)
    if info is None:
        raise corrupt("is missing from the archive")
    if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
        raise corrupt("is not stored uncompressed as minigrad writes it")
    # Read the member's bytes straight from the file into the new array (one copy, no
    # zipfile buffering): find the data after the local header, then check the .npy header.
    fh.seek(info.header_offset)
    local = fh.read(_LOCAL_HEADER.size)
    if len(local) != _LOCAL_HEADER.size or local[:4] != b"PK\x03\x04":
        raise corrupt("has a damaged zip header")
    name_len, extra_len = _LOCAL_HEADER.unpack(local)[-2:]
    if fh.read(name_len) != member.encode("utf-8"):
        raise corrupt("has a damaged zip header (its name differs)")
    fh.seek(extra_len, os.SEEK_CUR)
    start = fh.tell()
    try:   # numpy parses the header with ast.literal_eval: safe, but it fails in many ways
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            header = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f".npy format version {version}, expected (1, 0) or (2, 0)")
    except Exception as exc:
        raise corrupt(f"has a damaged .npy header ({type(exc).__name__}: {exc})") from exc
    if header != (shape, False, dtype):
        raise corrupt(f"has a .npy header (shape, fortran_order, dtype) = {header} that disagrees "
                      f"with the manifest ({shape}, False, {dtype})")
    if info.file_size != fh.tell() - start + nbytes:
        raise corrupt(f"has {info.file_size} bytes in the archive, expected "
                      f"{fh.tell() - start + nbytes}")
    array = np.empty(shape, dtype)
    view = memoryview(array.reshape(-1).view(np.uint8))
    done = 0
    while done < nbytes:
        n = fh.readinto(view[done:])
        if not n:
            raise corrupt(f"ends after {done} of its {nbytes} bytes")
        done += n
    if hashlib.sha256(view).hexdigest() != entry["sha256"]:
        raise corrupt("does not match its SHA-256 checksum - its bytes were changed after saving")
    return array


def _decode(node: dict, arrays: list, label: str) -> Any:
    kind = node["type"]
    if kind == "dict":
        out = {}
        for key_type, key, value in node["items"]:
            if key_type not in ("str", "int") or type(key) is not {"str": str, "int": int}[key_type]:
                raise CheckpointError(label, f"is corrupt: a dict key {key!r} is not of type {key_type}")
            out[key] = _decode(value, arrays, label)
        return out
    if kind in ("list", "tuple"):
        items = [_decode(value, arrays, label) for value in node["items"]]
        return items if kind == "list" else tuple(items)
    if kind in ("tensor", "ndarray", "scalar"):
        index = node["array"]
        if type(index) is not int or not 0 <= index < len(arrays):
            raise CheckpointError(label, f"is corrupt: it refers to array {index!r} of {len(arrays)}")
        array = arrays[index]
        if kind == "ndarray":
            return array
        if kind == "scalar":
            return array[()]
        requires_grad = node.get("requires_grad", False)
        if requires_grad is not False and not (requires_grad is True and array.dtype.kind == "f"):
            raise CheckpointError(label, f"is corrupt: requires_grad={requires_grad!r} for a "
                                  f"{array.dtype} tensor")
        return _make(array, requires_grad=requires_grad)
    if kind == "none":
        return None
    value = node["value"]
    expected = {"bool": bool, "int": int, "float": str, "str": str}.get(kind)
    if expected is None:
        raise CheckpointError(label, f"is corrupt: unknown node type {kind!r} in its manifest")
    if type(value) is not expected:
        raise CheckpointError(label, f"is corrupt: a {kind} holds {value!r}")
    return float(value) if kind == "float" else value


# ---- PyTorch's allow-list for unpickling ---------------------------------------------

_safe_globals: list = []


def add_safe_globals(safe_globals: list) -> None:
    """Accepted for PyTorch compatibility (torch.serialization.add_safe_globals).

    PyTorch's `load(weights_only=True)` unpickles only the classes on this list. minigrad never
    unpickles anything, so the list changes nothing: it is only kept, for `get_safe_globals`.
    """
    _safe_globals.extend(safe_globals)


def get_safe_globals() -> list:
    return list(_safe_globals)


def clear_safe_globals() -> None:
    _safe_globals.clear()


class safe_globals:
    """Context manager accepted for PyTorch compatibility: within it, `safe_globals` are on the
    allow-list, which changes nothing in minigrad (it never unpickles; see add_safe_globals)."""

    def __init__(self, safe_globals: list):
        self.safe_globals = list(safe_globals)

    def __enter__(self):
        self._saved = list(_safe_globals)
        _safe_globals.extend(self.safe_globals)
        return self

    def __exit__(self, *exc):
        _safe_globals[:] = self._saved
        return False
