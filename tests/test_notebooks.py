"""CI executes one tutorial as a notebook end to end: tutorials/quickstart.py, converted by jupytext
and run by nbclient in a Jupyter kernel, in smoke mode (what `make notebooks` does for every chapter)."""
import importlib.util
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tutorials" / "tools" / "notebooks.py"


def _tool():
    spec = importlib.util.spec_from_file_location("tutorial_notebooks", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_quickstart_runs_as_a_notebook_with_its_results_and_pictures_inside(tmp_path, monkeypatch):
    for module in ("nbclient", "nbformat", "jupytext", "ipykernel"):
        pytest.importorskip(module, reason=f"{module} is not installed: pip install -e '.[notebook]'")
    for module in ("matplotlib", "sklearn", "graphviz"):
        pytest.importorskip(module, reason=f"the tutorials need {module}: pip install -e '.[tutorials]'")
    if shutil.which("dot") is None:
        pytest.skip("the quick start renders its graph with Graphviz's `dot` program, which is not installed")
    # the kernel inherits this environment: smoke mode, pictures into tmp_path, one BLAS thread
    monkeypatch.setenv("MINIGRAD_SMOKE", "1")
    monkeypatch.setenv("MINIGRAD_OUTPUTS", str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(name, "1")
    notebook = tmp_path / "quickstart.ipynb"
    nb = _tool().execute(ROOT / "tutorials" / "quickstart.py", notebook, timeout=240)
    assert notebook.is_file()
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(cell.get("execution_count") for cell in code), "a code cell did not run"
    outputs = [output for cell in code for output in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "== quickstart: done in" in text and "test accuracy" in text  # the chapter's report
    # the loss curve is shown inline (savefig shows figures when run in a kernel)
    assert any("image/png" in o.get("data", {}) for o in outputs if o.get("output_type") == "display_data")
    assert (tmp_path / "quickstart" / "loss.png").is_file()
