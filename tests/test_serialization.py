"""Checkpoints: round trips, refusals, corruption and crash safety of minigrad.serialization."""
import hashlib
import io
import json
import os
import pathlib
import re
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import minigrad as mg
from minigrad.serialization import CheckpointError, load, save

ROOT = pathlib.Path(__file__).resolve().parents[1]


# ---- helpers --------------------------------------------------------------------------

def assert_same(got, want, where="obj"):
    """Same structure, same key types and order, bit-identical arrays, same tensor flags."""
    assert type(got) is type(want), f"{where}: type {type(got).__name__} != {type(want).__name__}"
    if isinstance(want, dict):
        assert list(got) == list(want), f"{where}: keys {list(got)} != {list(want)}"
        for (kg, vg), kw in zip(got.items(), want):
            assert type(kg) is type(kw), f"{where}: key {kw!r} came back as {kg!r}"
            assert_same(vg, want[kw], f"{where}[{kw!r}]")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), f"{where}: length {len(got)} != {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, mg.Tensor):
        assert got.requires_grad == want.requires_grad, f"{where}: requires_grad differs"
        assert got.is_leaf and got.grad is None
        assert_same(got.array, want.array, f"{where}.data")
    elif isinstance(want, (np.ndarray, np.generic)):
        assert got.dtype == want.dtype, f"{where}: dtype {got.dtype} != {want.dtype}"
        assert got.shape == want.shape, f"{where}: shape {got.shape} != {want.shape}"
        assert got.tobytes() == want.tobytes(), f"{where}: bytes differ"
    elif isinstance(want, float):
        assert repr(got) == repr(want), f"{where}: {got!r} != {want!r}"   # exact, nan and -0.0 too
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def state(seed=0):
    """A small model + optimizer state dict with the usual key and value kinds."""
    rng = np.random.default_rng(seed)
    return {
        "model": {
            "fc1.weight": mg.tensor(rng.standard_normal((4, 3)), dtype=mg.float32, requires_grad=True),
            "fc1.bias": mg.zeros(4, dtype=mg.float64),
            "embedding.weight": mg.tensor(rng.integers(-5, 5, (5,))),
        },
        "optimizer": {
            "state": {0: {"step": 7, "exp_avg": rng.standard_normal(6)},
                      1: {"step": 7, "exp_avg": rng.standard_normal(4).astype(np.float32)}},
            "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1], "name": None}],
        },
        "mask": np.array([True, False, True]),
        "epoch": 3,
    }


def write_zip(path, members, comment=b""):
    """A zip archive holding `members` (name -> bytes), stored uncompressed."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.comment = comment


def npy_bytes(array, allow_pickle=False):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


_tripped = []


def _trip():
    _tripped.append(True)
    return "unpickled!"


class _Tripwire:
    """Unpickling this object records it: proof that load never unpickles."""

    def __reduce__(self):
        return (_trip, ())


def pickled_object_array():
    array = np.empty(2, dtype=object)
    array[0], array[1] = _Tripwire(), {"a": 1}
    return array


# ---- round trips ----------------------------------------------------------------------

def test_round_trip_nested_structures(tmp_path):
    obj = state()
    obj.update({
        "float32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "float64": np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324, 1.7976931348623157e308]),
        "int64": np.array([np.iinfo(np.int64).min, -1, 0, np.iinfo(np.int64).max]),
        "bool": np.ones((2, 2), dtype=bool),
        "uint8": np.arange(250, 256, dtype=np.uint8),
        "float16": np.array([1.5, -2.25], dtype=np.float16),
        "complex": np.array([1 + 2j, -3j]),
        "big_endian": np.arange(3, dtype=">i4"),
        "zero_d_array": np.array(2.5),
        "zero_d_tensor": mg.tensor(3.0),
        "zero_size": np.zeros((0, 3), dtype=np.float32),
        "zero_size_tensor": mg.zeros(2, 0, 4, dtype=mg.int64),
        "numpy_scalars": [np.float32(1.5), np.int64(-3), np.bool_(True), np.float64(0.1)],
        "numbers": [0, -1, 2**100, 0.1, float("nan"), float("inf"), -0.0, True, False],
        "strings": ["", "hé ☃", "\udc80", "a.b/c"],
        "none": None,
        "tuple_in_list": [(1, (2, [3])), ()],
        "empty": {"dict": {}, "list": [], "tuple": ()},
        7: "int key at the top",
        -1: {"negative": 1},
        "": "empty key",
    })
    path = tmp_path / "state.ckpt"
    save(obj, path)
    assert_same(load(path), obj)


def test_tensors_come_back_as_tensors_and_arrays_as_writable_arrays(tmp_path):
    w = mg.randn(3, 2, requires_grad=True)
    a = np.arange(4.0)
    save({"w": w, "a": a, "frozen": mg.randn(2)}, tmp_path / "c.ckpt")
    out = load(str(tmp_path / "c.ckpt"))
    assert isinstance(out["w"], mg.Tensor) and out["w"].requires_grad and out["w"].dtype == mg.float32
    assert isinstance(out["a"], np.ndarray) and not isinstance(out["a"], mg.Tensor)
    assert not out["frozen"].requires_grad
    out["a"][0] = 10.0            # arrays are writable, and not the saved objects
    out["w"].array[0, 0] = 10.0
    assert a[0] == 0.0 and w.array[0, 0] != 10.0
    (out["w"] * 2).sum().backward()
    np.testing.assert_array_equal(out["w"].grad.array, np.full((3, 2), 2.0, np.float32))


def test_int_and_str_keys_stay_distinct(tmp_path):
    obj = {1: "int", "1": "str", 0: {0: [1], "0": [2]}}
    save(obj, tmp_path / "k.ckpt")
    assert_same(load(tmp_path / "k.ckpt"), obj)


def test_non_contiguous_and_fortran_arrays_round_trip_by_value(tmp_path):
    base = np.arange(24.0).reshape(4, 6)
    obj = {"strided": base[::2, 1::2], "fortran": np.asfortranarray(base), "transposed": mg.tensor(base).T}
    save(obj, tmp_path / "v.ckpt")
    out = load(tmp_path / "v.ckpt")
    np.testing.assert_array_equal(out["strided"], base[::2, 1::2])
    np.testing.assert_array_equal(out["fortran"], base)
    np.testing.assert_array_equal(out["transposed"].array, base.T)


def test_shared_array_is_stored_once_and_loads_shared(tmp_path):
    weight = mg.randn(100, 100)
    save({"embed.weight": weight, "head.weight": weight}, tmp_path / "tied.ckpt")
    out = load(tmp_path / "tied.ckpt")
    assert out["embed.weight"].array is out["head.weight"].array
    assert len(np.load(tmp_path / "tied.ckpt").files) == 2   # one array + the manifest


def test_same_state_gives_same_bytes(tmp_path):
    save(state(), tmp_path / "a.ckpt")
    save(state(), tmp_path / "b.ckpt")
    assert (tmp_path / "a.ckpt").read_bytes() == (tmp_path / "b.ckpt").read_bytes()


def test_readable_by_numpy_without_pickle(tmp_path):
    obj = state()
    save(obj, tmp_path / "c.ckpt")
    with np.load(tmp_path / "c.ckpt", allow_pickle=False) as z:
        np.testing.assert_array_equal(z["model.fc1.weight"], obj["model"]["fc1.weight"].array)
        np.testing.assert_array_equal(z["optimizer.state.0.exp_avg"], obj["optimizer"]["state"][0]["exp_avg"])
        manifest = json.loads(z["__minigrad__.json"])
    assert manifest["format"] == "minigrad-checkpoint" and manifest["version"] == 1
    entry = next(e for e in manifest["arrays"] if e["member"] == "mask.npy")
    assert entry["dtype"] == "|b1" and entry["shape"] == [3]
    assert entry["sha256"] == hashlib.sha256(obj["mask"].tobytes()).hexdigest()


def test_colliding_member_names_are_made_unique(tmp_path):
    obj = {"a.b": np.zeros(1), "a": {"b": np.ones(1)}, "__minigrad__.json": np.full(1, 2.0)}
    save(obj, tmp_path / "c.ckpt")
    assert_same(load(tmp_path / "c.ckpt"), obj)


def test_file_objects(tmp_path):
    buf = io.BytesIO()
    save(state(), buf)
    buf.seek(0)
    assert_same(load(buf), state())
    with open(tmp_path / "f.ckpt", "wb") as f:
        save(state(), f)
    with open(tmp_path / "f.ckpt", "rb") as f:
        assert_same(load(f, map_location="cpu", weights_only=True), state())


def test_mg_save_and_load_are_exposed():
    if not hasattr(mg, "save"):
        pytest.skip("minigrad/__init__.py does not export save/load yet")
    assert mg.save is save and mg.load is load


# ---- refusals at save time ------------------------------------------------------------

@pytest.mark.parametrize("bad, key, words", [
    ({"opt": {"state": {0: {"ids": np.array([1, "x"], dtype=object)}}}}, "'opt.state.0.ids'", "object"),
    ({"a": [1, {2, 3}]}, "'a.1'", "set"),
    ({"a": {(1, 2): 0}}, "'a'", "key (1, 2)"),
    ({"a": {1.5: 0}}, "'a'", "key 1.5"),
    ({"a": object()}, "'a'", "object"),
    ({"a": np.array(["x", "y"])}, "'a'", "<U1"),
])
def test_save_refuses_unstorable_values_naming_the_key(tmp_path, bad, key, words):
    path = tmp_path / "c.ckpt"
    with pytest.raises(TypeError) as info:
        save(bad, path)
    assert key in str(info.value) and words in str(info.value), str(info.value)
    assert list(tmp_path.iterdir()) == []   # nothing written, not even a temp file


def test_save_refuses_cycles(tmp_path):
    obj = {"a": []}
    obj["a"].append(obj)
    with pytest.raises(ValueError, match="contains itself"):
        save(obj, tmp_path / "c.ckpt")


def test_failed_save_keeps_previous_checkpoint_and_leaves_no_temp_file(tmp_path, monkeypatch):
    import minigrad.serialization as serialization

    path = tmp_path / "c.ckpt"
    save(state(0), path)
    before = path.read_bytes()

    def write_half_then_fail(out, *args):
        out.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(serialization, "_write_zip", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save(state(1), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.ckpt"]


def test_save_into_missing_directory_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        save({"a": 1}, tmp_path / "nowhere" / "c.ckpt")


# ---- refusals at load time ------------------------------------------------------------

def test_missing_file_raises_file_not_found_naming_it(tmp_path):
    path = tmp_path / "absent.ckpt"
    with pytest.raises(FileNotFoundError) as info:
        load(path)
    assert str(path) in str(info.value)


def test_refuses_npz_with_a_pickled_object_array(tmp_path):
    path = tmp_path / "evil.npz"
    write_zip(path, {"x.npy": npy_bytes(pickled_object_array(), allow_pickle=True)})
    _tripped.clear()
    with pytest.raises(CheckpointError, match="not a minigrad checkpoint") as info:
        load(path)
    assert str(path) in str(info.value)
    assert not _tripped


def test_refuses_manifest_declaring_an_object_array(tmp_path):
    # A file that passes every checksum but declares an object array: refused by its dtype,
    # before a byte of the pickle is read.
    path = tmp_path / "forged.ckpt"
    save({"x": np.zeros(2)}, path)
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("__minigrad__.json"))
    payload = npy_bytes(pickled_object_array(), allow_pickle=True)
    manifest["arrays"][0].update(dtype="|O", sha256=hashlib.sha256(payload).hexdigest())
    manifest_bytes = json.dumps(manifest).encode()
    write_zip(path, {"x.npy": payload, "__minigrad__.json": manifest_bytes},
              b"minigrad-checkpoint 1 manifest-sha256:" + hashlib.sha256(manifest_bytes).hexdigest().encode())
    _tripped.clear()
    with pytest.raises(CheckpointError, match="dtype object") as info:
        load(path)
    assert "pickle" in str(info.value) and str(path) in str(info.value)
    assert not _tripped


def test_refuses_plain_np_savez_file(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, w=np.ones(3))
    with pytest.raises(CheckpointError, match="not a minigrad checkpoint") as info:
        load(path)
    assert str(path) in str(info.value) and "__minigrad__.json" in str(info.value)


def test_refuses_pytorch_style_pickle_archive(tmp_path):
    path = tmp_path / "model.pt"
    write_zip(path, {"archive/data.pkl": b"\x80\x02}q\x00.", "archive/version": b"3\n"})
    with pytest.raises(CheckpointError, match="pickled data"):
        load(path)


@pytest.mark.parametrize("content, words", [
    (b"", "empty"),
    (b"\x80\x04\x95 a pickle", "not a minigrad checkpoint"),
    (b"hello, world\n", "not a minigrad checkpoint"),
    (b"PK\x03\x04" + b"\x00" * 40, "truncated or corrupt"),
])
def test_refuses_files_that_are_not_checkpoints(tmp_path, content, words):
    path = tmp_path / "junk.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=words) as info:
        load(path)
    assert str(path) in str(info.value)


def test_refuses_newer_format_version(tmp_path):
    path = tmp_path / "future.ckpt"
    manifest_bytes = json.dumps({"format": "minigrad-checkpoint", "version": 2, "arrays": [],
                                 "root": {"type": "none"}}).encode()
    write_zip(path, {"__minigrad__.json": manifest_bytes},
              b"minigrad-checkpoint 1 manifest-sha256:" + hashlib.sha256(manifest_bytes).hexdigest().encode())
    with pytest.raises(CheckpointError, match="version 2"):
        load(path)


def test_checkpoint_error_is_a_value_error():
    assert issubclass(CheckpointError, ValueError)


# ---- corruption -------------------------------------------------------------------------

def test_truncated_files_are_refused(tmp_path):
    path = tmp_path / "c.ckpt"
    save(state(), path)
    data = path.read_bytes()
    cut_path = tmp_path / "cut.ckpt"
    cuts = sorted({int(len(data) * k / 14) for k in range(14)} | {1, len(data) - 1})
    for cut in cuts:
        cut_path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError) as info:
            load(cut_path)
        message = str(info.value)
        assert str(cut_path) in message, message
        assert re.search(r"corrupt|truncated|empty|not a minigrad checkpoint", message), message


def test_every_single_bit_flip_is_refused_or_harmless(tmp_path):
    # np.load alone lets some of these through as silently changed numbers; here each flip
    # must raise CheckpointError or load exactly what was saved.
    path = tmp_path / "c.ckpt"
    obj = state()
    save(obj, path)
    data = path.read_bytes()
    rng = np.random.default_rng(1234)
    positions = np.sort(rng.choice(len(data), size=200, replace=False))
    bits = rng.integers(0, 8, size=200)
    flipped = tmp_path / "flipped.ckpt"
    refused = 0
    for pos, bit in zip(positions, bits):
        damaged = bytearray(data)
        damaged[pos] ^= 1 << int(bit)
        flipped.write_bytes(damaged)
        try:
            out = load(flipped)
        except CheckpointError as exc:
            assert str(flipped) in str(exc), str(exc)
            refused += 1
            continue
        assert_same(out, obj, f"flip of bit {bit} at byte {pos}")
    assert refused > 150   # most bytes matter: only zip timestamps, versions, CRCs and padding don't


def test_damaged_blocks_are_refused_or_harmless(tmp_path):
    # A bad sector or a partial overwrite: 16 random bytes anywhere in the file.
    path = tmp_path / "c.ckpt"
    obj = state()
    save(obj, path)
    data = path.read_bytes()
    rng = np.random.default_rng(99)
    for _ in range(60):
        start = int(rng.integers(0, len(data) - 16))
        damaged = bytearray(data)
        damaged[start:start + 16] = rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
        path.write_bytes(damaged)
        try:
            out = load(path)
        except CheckpointError:
            continue
        assert_same(out, obj, f"16 random bytes at {start}")


def test_manifest_edited_with_a_valid_zip_crc_is_refused(tmp_path):
    # zipfile's CRC-32 only catches accidents; the manifest's SHA-256 catches any edit.
    path = tmp_path / "c.ckpt"
    save({"w": np.zeros((2, 3))}, path)
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
        comment = zf.comment
    members["__minigrad__.json"] = members["__minigrad__.json"].replace(b'"<f8"', b'"<i8"')
    write_zip(path, members, comment)
    with pytest.raises(CheckpointError, match="__minigrad__.json does not match its SHA-256"):
        load(path)


def test_flips_in_array_bytes_are_caught_by_the_checksum(tmp_path):
    path = tmp_path / "c.ckpt"
    weight = np.arange(1000, dtype=np.float32)
    save({"w": weight}, path)
    data = bytearray(path.read_bytes())
    start = data.index(weight.tobytes())
    for offset in (0, 1, 2001, 3999):
        damaged = bytearray(data)
        damaged[start + offset] ^= 0x10
        path.write_bytes(damaged)
        with pytest.raises(CheckpointError, match="'w.npy' does not match its SHA-256"):
            load(path)


# ---- crash safety ---------------------------------------------------------------------

CHILD = r"""
import sys
sys.path.insert(0, sys.argv[3])
import numpy as np
import minigrad as mg
from minigrad.serialization import save
path, generation = sys.argv[1], int(sys.argv[2])
print("ready", flush=True)
while True:
    generation += 1
    save({"generation": generation,
          "weight": mg.tensor(np.full((500, 1000), generation, np.float32), requires_grad=True),
          "optimizer": {"state": {0: {"exp_avg": np.full(250_000, generation, np.float64)}},
                        "name": f"gen-{generation}"},
          "steps": [generation, np.full(3, generation, np.int64)]}, path)
    print(generation, flush=True)
"""


def check_generation(ckpt):
    """The whole checkpoint comes from one save: every part names the same generation."""
    g = ckpt["generation"]
    assert ckpt["weight"].shape == (500, 1000) and ckpt["weight"].requires_grad
    assert (ckpt["weight"].array == g).all()
    assert (ckpt["optimizer"]["state"][0]["exp_avg"] == g).all()
    assert ckpt["optimizer"]["name"] == f"gen-{g}"
    assert ckpt["steps"][0] == g and (ckpt["steps"][1] == g).all()
    return g


@pytest.mark.skipif(not hasattr(os, "fork"), reason="SIGKILL test needs POSIX")
def test_sigkill_during_saves_leaves_old_or_new_checkpoint(tmp_path):
    rng = np.random.default_rng(7)
    path = tmp_path / "c.ckpt"
    previous = None            # generation at the path before this round, None if no file
    rounds = {"no file": 0, "unchanged": 0, "replaced": 0}
    deadline = time.monotonic() + 20   # rounds are slower on a busy machine: stop early, not late
    for i in range(30):
        if time.monotonic() > deadline:
            break
        if i % 6 == 0:         # a fresh path now and then: before a first save there is no file
            path = tmp_path / f"c{i}.ckpt"
            previous = None
        base = 1000 * (i + 1)
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(base), str(ROOT)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            ready = child.stdout.readline()
            assert ready == "ready\n", child.stderr.read()
            time.sleep(rng.choice([0.0, rng.uniform(0, 0.01), rng.uniform(0.01, 0.15)]))
        finally:
            child.kill()
            child.wait()
        done = [int(line) for line in child.stdout.read().split()]
        child.stdout.close()
        child.stderr.close()
        if not path.exists():
            assert previous is None and not done, f"round {i}: saves {done} completed, yet no file"
            rounds["no file"] += 1
            continue
        g = check_generation(load(path))
        # the save after the last reported one may have renamed its file before it could report
        allowed = {done[-1], done[-1] + 1} if done else {previous, base + 1} - {None}
        assert g in allowed, f"round {i}: generation {g} at the path, expected one of {allowed}"
        rounds["unchanged" if g == previous else "replaced"] += 1
        previous = g
    assert rounds["replaced"] > 0, rounds

    # Killed saves may leave temp files: distinctly named, never the checkpoint, harmless.
    for leftover in tmp_path.iterdir():
        if re.fullmatch(r"c\d+\.ckpt", leftover.name):
            continue
        assert re.fullmatch(r"\.c\d+\.ckpt\.tmp-\d+-[0-9a-f]{8}", leftover.name), leftover.name
        try:
            check_generation(load(leftover))   # one finished but not yet renamed
        except CheckpointError:
            pass
    save({"generation": 0}, path)
    assert load(path) == {"generation": 0}
