"""The tutorials run: each chapter in smoke mode (MINIGRAD_SMOKE=1: tiny data, a few steps) in
its own process, exits 0 and writes every picture it promises; jupytext turns one into a notebook."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = ROOT / "tutorials"

# script -> the files it must write into $MINIGRAD_OUTPUTS/<output folder>/
EXPECTED = {
    "quickstart.py": ("quickstart", ["loss.png", "train_step.svg"]),
    "01_backprop.py": ("01_backprop", ["xor_loss.png", "xor_step.svg", "init_activations.png", "digits_init.png"]),
    "02_cnn.py": ("02_cnn", ["training.png", "receptive_fields.png", "saliency.png", "parameters.png",
                             "cnn_step.svg"]),
    "03_optimizers.py": ("03_optimizers", ["ewma.png", "valley_paths.png", "digits_loss_curves.png"]),
    "04_regularization.py": ("04_regularization", ["learning_curves.png", "train_vs_validation.png",
                                                   "summary.png"]),
    "05_rnn.py": ("05_rnn", ["lstm_step.svg", "training.png", "gradient_norms.png", "unrolled_elman.svg"]),
    "06_transformers.py": ("06_transformers", ["multihead_parameters.png", "positional_encoding.png",
                                               "causal_mask.png", "training.png", "attention_maps.png",
                                               "self_attention.svg"]),
    "07_unsupervised.py": ("07_unsupervised", ["ae_vae_losses.png", "reconstructions.png", "latent_spaces.png",
                                               "vae_latent_grid.png", "vae_interpolation_and_samples.png",
                                               "vae_step.svg", "gan_2d.png", "gan_digits.png"]),
    "08_compile.py": ("08_compile", ["per_op_cost.png", "captured_call.svg", "step_times.png"]),
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _needs_tutorial_extras():
    """Skip unless what the tutorials import and draw with is installed."""
    for module in ("matplotlib", "sklearn", "graphviz"):
        pytest.importorskip(module, reason=f"the tutorials need {module}: pip install minigrad[tutorials]")
    if shutil.which("dot") is None:
        pytest.skip("the tutorials render graphs with Graphviz's `dot` program, which is not installed")


def _environment(outputs: Path) -> dict:
    env = dict(os.environ)
    env["MINIGRAD_SMOKE"] = "1"
    env["MINIGRAD_OUTPUTS"] = str(outputs)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    # small matrices: BLAS threads only cost time, and on a busy machine a lot of it
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    return env


def test_every_tutorial_is_listed():
    scripts = {path.name for path in TUTORIALS.glob("*.py") if path.name != "common.py"}
    assert scripts == set(EXPECTED), f"tutorials without an entry in EXPECTED (or entries without a file): " \
                                     f"{sorted(scripts ^ set(EXPECTED))}"


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_tutorial_runs_in_smoke_mode(script, tmp_path):
    _needs_tutorial_extras()
    folder, files = EXPECTED[script]
    done = subprocess.run([sys.executable, str(TUTORIALS / script)], cwd=tmp_path, env=_environment(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (f"{script} exited with {done.returncode}\n--- stdout (end) ---\n"
                                  f"{done.stdout[-3000:]}\n--- stderr (end) ---\n{done.stderr[-5000:]}")
    for name in files:
        path = tmp_path / folder / name
        assert path.is_file(), f"{script} did not write {path}"
        data = path.read_bytes()
        assert data, f"{script} wrote an empty {path}"
        if name.endswith(".png"):
            assert data.startswith(PNG_SIGNATURE), f"{path} is not a PNG file (starts with {data[:8]!r})"
        elif name.endswith(".svg"):
            assert b"<svg" in data[:4000], f"{path} has no <svg> element near its start"


def test_jupytext_turns_a_tutorial_into_a_notebook(tmp_path):
    """What `make notebooks` does, on one chapter: percent cells become markdown and code cells."""
    pytest.importorskip("jupytext", reason="jupytext is not installed: pip install minigrad[tutorials]")
    nbformat = pytest.importorskip("nbformat")
    notebook = tmp_path / "01_backprop.ipynb"
    done = subprocess.run([sys.executable, "-m", "jupytext", "--to", "ipynb", "--output", str(notebook),
                           str(TUTORIALS / "01_backprop.py")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"jupytext failed:\n{done.stdout}\n{done.stderr}"
    cells = nbformat.read(notebook, as_version=4).cells
    kinds = [cell.cell_type for cell in cells]
    assert kinds.count("markdown") >= 5 and kinds.count("code") >= 5, f"unexpected cells: {kinds}"
    assert cells[0].cell_type == "markdown" and "backpropagation" in cells[0].source.lower()
    assert any("class Linear" in cell.source for cell in cells if cell.cell_type == "code")
