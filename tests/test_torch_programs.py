"""PyTorch programs run unchanged on minigrad.

Each script in tests/torch_programs/ is written for real PyTorch (`import torch`, `import
torch.nn as nn`, `from torch.utils.data import DataLoader`, ...) and trains on synthetic data it
makes itself. It runs in its own interpreter with tests/torch_programs/shim first on PYTHONPATH:
the shim's sitecustomize.py makes every `torch.X.Y` the module `minigrad.X.Y`, generically, so a
missing feature fails here under its own name. Each program asserts that it trained and prints
a `RESULT initial_loss=... final_loss=...` line, which this test checks again.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "tests" / "torch_programs"
SHIM = PROGRAMS / "shim"
TIMEOUT = 240  # seconds; each program takes a few on an idle 2-core machine

# program -> the largest final/initial loss ratio that counts as "trained"
PROGRAM_RATIOS = {
    "gpt_char.py": 0.5,
    "dcgan.py": 0.3,
    "lbfgs_fit.py": 1e-3,
    "lstm_lm.py": 0.6,
    "bigram.py": 0.85,
    "mnist_cnn.py": 0.5,
}


def run_program(name, *args):
    """Runs tests/torch_programs/<name> with `torch` aliased to minigrad; returns the process."""
    env = dict(os.environ)
    # minigrad itself comes from the installed package, as it would for a user
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SHIM), env.get("PYTHONPATH")]))
    # small matrices: BLAS threads only cost time on a shared 2-core machine
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    return subprocess.run([sys.executable, str(PROGRAMS / name), *args], cwd=PROGRAMS, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)


def result_numbers(stdout):
    """The key=value numbers of the program's RESULT line."""
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, f"expected one RESULT line, got {lines}"
    return {key: float(value) for key, value in re.findall(r"(\w+)=(\S+)", lines[0])}


def test_every_program_is_listed():
    scripts = {path.name for path in PROGRAMS.glob("*.py")}
    assert scripts == set(PROGRAM_RATIOS), sorted(scripts ^ set(PROGRAM_RATIOS))


@pytest.mark.parametrize("name", sorted(PROGRAM_RATIOS))
def test_program_is_plain_pytorch(name):
    """The programs are what a PyTorch user writes: torch imports, no word of minigrad."""
    source = (PROGRAMS / name).read_text()
    assert "minigrad" not in source
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert "import torch" in imports, imports
    assert all(line.split()[1].split(".")[0] in {"torch", "math", "time", "os", "argparse", "tempfile"}
               for line in imports), imports


def test_seeded_program_repeats_itself():
    """Seeded with torch.manual_seed and torch.Generator, a program prints the same twice."""
    first, second = run_program("bigram.py"), run_program("bigram.py")
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout == second.stdout


def test_shim_aliases_modules_not_copies():
    code = ("import torch, torch.nn as nn, torch.nn.functional as F, torch.optim as optim, minigrad\n"
            "import minigrad.nn.functional\n"
            "assert torch is minigrad and nn is minigrad.nn and optim is minigrad.optim\n"
            "assert F is minigrad.nn.functional and F.__name__ == 'minigrad.nn.functional'\n"
            "assert F.__spec__.name == 'minigrad.nn.functional'\n"
            "try:\n"
            "    import torch.no_such_module\n"
            "except ModuleNotFoundError as error:\n"
            "    assert error.name == 'minigrad.no_such_module', error.name\n"
            "else:\n"
            "    raise AssertionError('a missing module imported')\n"
            "print('ok')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SHIM), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize("name", sorted(PROGRAM_RATIOS))
def test_program_trains(name):
    done = run_program(name)
    assert done.returncode == 0, f"{name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    numbers = result_numbers(done.stdout)
    assert numbers["final_loss"] < PROGRAM_RATIOS[name] * numbers["initial_loss"], numbers
    if name == "lbfgs_fit.py":
        params = re.search(r"PARAMS a=(\S+) b=(\S+) c=(\S+)", done.stdout)
        a, b, c = map(float, params.groups())
        assert abs(a - 2.0) < 0.02 and abs(b - 1.5) < 0.01 and abs(c - 0.5) < 0.01, (a, b, c)
    if name == "bigram.py":
        # gradient descent gets at least as low as the (add-one smoothed) counting model
        assert numbers["final_loss"] < numbers["count_nll"] + 0.05, numbers
