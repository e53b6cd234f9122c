"""Shared by the tutorial chapters: the smoke flag, the output folder, a progress bar, plotting.

    from common import SMOKE, output_dir, tqdm, trange, say, plt, savefig, report

- `SMOKE`: True when `MINIGRAD_SMOKE=1`; the test suite then runs each chapter
  with tiny data and a handful of steps.
- `output_dir(name)`: `tutorials/outputs/<name>/`, or `$MINIGRAD_OUTPUTS/<name>/`.
- `tqdm`, `trange`: the real progress bar when tqdm is installed (`tqdm.auto`: a widget in
  Jupyter), else a silent stand-in;
  `say` prints a line without breaking a bar.
- `plt`: matplotlib's pyplot, on the non-interactive Agg backend unless run in Jupyter.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
try:  # run straight from a checkout: `python tutorials/01_backprop.py` without `pip install`
    import minigrad  # noqa: F401
except ImportError:
    sys.path.insert(0, str(HERE.parent))
import minigrad.viz  # noqa: E402,F401  (makes `torch.viz` available after `import minigrad as torch`)

import matplotlib  # noqa: E402

IN_NOTEBOOK = "ipykernel" in sys.modules  # run as a notebook (make notebooks): show figures inline too
if not IN_NOTEBOOK:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

try:  # tqdm.auto: a text bar in a terminal, a widget bar in Jupyter (when ipywidgets is installed)
    from tqdm.auto import tqdm as _tqdm
except ImportError:  # the bar is a nicety, not a requirement
    _tqdm = None

# The chapters multiply small matrices, where BLAS threads cost more than they give (on a busy
# machine, many times more). Set OMP_NUM_THREADS or OPENBLAS_NUM_THREADS yourself to choose.
if not any(name in os.environ for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")):
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
    except ImportError:  # comes with scikit-learn; without it numpy keeps its own default
        pass

SMOKE = os.environ.get("MINIGRAD_SMOKE") == "1"
START = time.perf_counter()


def output_dir(name: str) -> Path:
    """The folder for a chapter's pictures, created if needed.

    Args:
        name: the chapter's name, e.g. "01_backprop".

    Returns:
        `$MINIGRAD_OUTPUTS/<name>` if that variable is set, else `tutorials/outputs/<name>`.
    """
    folder = Path(os.environ.get("MINIGRAD_OUTPUTS", HERE / "outputs")) / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def tqdm(iterable=None, **kwargs):
    """A progress bar on stdout (tqdm's, if installed; else the iterable itself)."""
    if _tqdm is None:
        return iterable if iterable is not None else range(kwargs.get("total", 0))
    kwargs.setdefault("file", sys.stdout)
    kwargs.setdefault("leave", False)
    kwargs.setdefault("dynamic_ncols", True)
    return _tqdm(iterable, **kwargs)


def say(message: str) -> None:
    """Print a line without breaking a progress bar that is being drawn."""
    if _tqdm is None:
        print(message)
    else:
        _tqdm.write(message, file=sys.stdout)


def trange(n: int, **kwargs):
    """`tqdm(range(n))`."""
    return tqdm(range(n), **kwargs)


def savefig(figure, path, tight: bool = True) -> Path:
    """Save a matplotlib figure (tight layout unless `tight=False`, 110 dpi) and close it; returns the path."""
    if tight:
        figure.tight_layout()
    figure.savefig(path, dpi=110)
    if IN_NOTEBOOK:
        plt.show()
    plt.close(figure)
    return Path(path)


def elapsed() -> float:
    """Seconds since the chapter started (since `common` was imported)."""
    return time.perf_counter() - START


def report(chapter: str, results: dict, folder: Path) -> None:
    """Print a chapter's key results, its run time and where its pictures are."""
    print(f"\n== {chapter}: done in {elapsed():.0f} s{' (smoke run)' if SMOKE else ''}")
    for key, value in results.items():
        print(f"   {key}: {value:.4g}" if isinstance(value, float) else f"   {key}: {value}")
    files = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    print(f"   pictures in {folder}: {', '.join(files)}")
