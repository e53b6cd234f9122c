"""`make notebooks`: each tutorial turned into a notebook (jupytext) and executed (nbclient), so the
.ipynb next to it holds its printed results and its pictures.

    python tutorials/tools/notebooks.py                       # every chapter: tutorials/<name>.ipynb
    python tutorials/tools/notebooks.py tutorials/quickstart.py
    MINIGRAD_SMOKE=1 python tutorials/tools/notebooks.py ...  # the chapters' few-second smoke runs

Needs the `notebook` extra (pip install -e ".[notebook]"): a Jupyter kernel, nbclient, jupytext.
The kernel runs in tutorials/, with this process's environment (MINIGRAD_SMOKE, MINIGRAD_OUTPUTS).
The notebooks are git-ignored: they are made, not kept.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

TUTORIALS = Path(__file__).resolve().parent.parent


def chapters() -> list:
    """The tutorial scripts, quick start first."""
    return [TUTORIALS / "quickstart.py"] + sorted(TUTORIALS.glob("[0-9]*.py"))


def execute(script, notebook=None, timeout: int | None = None):
    """Convert `script` to a notebook, execute every cell, write it; returns the executed notebook.

    Args:
        script: a tutorial in `# %%` percent format.
        notebook: where to write the .ipynb; default: beside the script.
        timeout: seconds one cell may take (None: no limit).

    Raises:
        nbclient.exceptions.CellExecutionError: a cell raised; the message holds its traceback.
    """
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    script = Path(script)
    notebook = Path(notebook) if notebook is not None else script.with_suffix(".ipynb")
    nb = jupytext.read(script)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(script.parent)}})
    try:
        client.execute()
    finally:  # a failed run is kept too: its last cell shows the error
        nbformat.write(nb, notebook)
    return nb


def main(argv: list) -> int:
    scripts = [Path(a) for a in argv] or chapters()
    for script in scripts:
        start = time.perf_counter()
        execute(script)
        print(f"{script.with_suffix('.ipynb')}: executed in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
