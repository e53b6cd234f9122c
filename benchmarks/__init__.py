"""Benchmarks: minigrad against PyTorch on the same models, weights and data.

Run `python -m benchmarks --help`. The workloads are in `benchmarks/workloads.py`
(each model written once for both libraries), the runner in `benchmarks/run.py`.
This package imports nothing on import, so `--threads` can be applied before numpy loads.
"""
