"""Time minigrad against PyTorch on the same models, weights and data, in one run.

    python -m benchmarks                      # every workload, 1 thread
    python -m benchmarks --threads 2 --workloads mlp,cnn --repeats 7 --json out.json
    python benchmarks/run.py --quick          # a few steps only (the smoke test)

For each workload both libraries build the same model (one builder in
`benchmarks/workloads.py` serves both); minigrad's initial weights are copied
into the torch model by state_dict key, and both are fed the same float32
data. The first step's loss must agree between the two (rtol 1e-4): a
benchmark of two different computations means nothing, so a disagreement is
printed in the `check` column. The second step's loss (after one optimizer
update) is compared too, at rtol 1e-3, which also checks the gradients and
the optimizer.

Speed: after warm-up steps, `--repeats` repetitions each time a fixed number
of full training steps (forward, backward, optimizer step, zero_grad); the
report gives the median time per step (µs per op for `tiny_ops`). The
repetitions of the two libraries alternate, so slow drifts of the machine
affect both alike; at 2 threads each repetition waits 0.15 s first, so that
the other library's thread pool, still spinning on the second core, has gone
to sleep (as when one library runs alone).

Memory: after all the timing, a fresh subprocess per (library, workload), one
per CPU at a time, builds the workload, runs two steps (so optimizer state and
caches exist), then measures the peak resident set size (RSS) of one more step
above the RSS just before it: the kernel's high-water mark (VmHWM) is reset
through /proc/self/clear_refs and read back after the step. The same measure
serves both libraries, since tracemalloc cannot see torch's allocator. To make
the RSS follow the live memory in both: glibc's malloc serves every block of
64 KiB or more with its own mmap (MALLOC_MMAP_THRESHOLD_), so a freed array
goes back to the kernel at once; malloc_trim returns the heap's free pages
before the baseline is read, so memory that the warm-up steps freed and the
measured step reuses is counted; numpy's transparent-huge-page hint is off, so
the RSS does not move in 2 MiB jumps. For minigrad the JSON also gives
tracemalloc's peak of one step as a cross-check. Where clear_refs is not
available the peak comes from getrusage's ru_maxrss and may include the
warm-up steps' peak.

`--profile` adds, for each workload, where minigrad's step spends its time:
cProfile's top functions and each primitive's forward / VJP own time.

PyTorch is optional (`pip install .[bench]`); without it the report shows
minigrad alone. minigrad itself never imports torch.

Thread counts must be fixed before numpy or torch load their thread pools, so
this file imports nothing but the standard library until `--threads` has set
OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS; if numpy was
already imported the process starts itself again.
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO not in sys.path:  # `python benchmarks/run.py` puts benchmarks/, not the repo, on the path
    sys.path.insert(0, _REPO)

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
_FIRST_LOSS_RTOL = 1e-4
_SECOND_LOSS_RTOL = 1e-3


def _apply_threads(threads: int, argv: list[str]) -> None:
    """Set the thread-count variables; restart the process if numpy or torch was already loaded."""
    wanted = str(threads)
    if all(os.environ.get(name) == wanted for name in _THREAD_VARIABLES):
        return
    for name in _THREAD_VARIABLES:
        os.environ[name] = wanted
    if "numpy" in sys.modules or "torch" in sys.modules:
        # their BLAS/OpenMP pools were sized at load time: only a new process honours the change
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_REPO, os.environ.get("PYTHONPATH")) if p)
        os.execv(sys.executable, [sys.executable, "-m", "benchmarks", *argv])


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time minigrad against PyTorch (if installed) on the same models, weights and data.")
    parser.add_argument("--threads", type=int, choices=(1, 2), default=1,
                        help="BLAS/OpenMP threads for both libraries (default 1)")
    parser.add_argument("--workloads", default=None,
                        help="comma-separated workload names (default: all)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed repetitions per library; the median is reported (default 5)")
    parser.add_argument("--quick", action="store_true",
                        help="one warm-up step and one step per repetition, deep_chain cut to 10 000 ops")
    parser.add_argument("--json", metavar="PATH", default=None, help="also write the results as JSON")
    parser.add_argument("--no-torch", action="store_true", help="benchmark minigrad alone")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--no-compiled", action="store_true",
                        help="skip the compiled column (an A/B of eager against a checkout without mg.compile: "
                             "each library's steps are timed in turn, so the same libraries must take turns)")
    parser.add_argument("--profile", action="store_true",
                        help="after the table, print where minigrad's training step spends its time: "
                             "cProfile's top functions and each primitive's forward/VJP own time")
    parser.add_argument("--probe-memory", metavar="LIB:WORKLOAD", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    return args


# ---- libraries ---------------------------------------------------------------------

class Unavailable(Exception):
    """A piece of a library that the workload needs is missing."""


class _Missing:
    """Stands in for a module that failed to import; using it says why."""

    def __init__(self, name: str, error: BaseException):
        self._reason = f"{name} could not be imported ({type(error).__name__}: {error})"

    def __getattr__(self, attribute):
        raise Unavailable(self._reason)


def load_minigrad():
    """minigrad's Backend; a sub-package that does not import yet is replaced by a `_Missing`."""
    from benchmarks.workloads import Backend
    import minigrad
    parts = {}
    for name in ("nn", "nn.functional", "optim"):
        try:
            # minigrad.nn, not the checkout's top-level nn/: that would be a second copy of the package,
            # whose Module is not minigrad's (mg.compile would take a model for a plain function)
            parts[name] = __import__(f"minigrad.{name}", fromlist=["_"])
        except Exception as error:  # another engineer's half-written file must not stop the run
            parts[name] = _Missing(name, error)
    return Backend("minigrad", minigrad, parts["nn"], parts["nn.functional"], parts["optim"])


def load_torch(threads: int):
    """torch's Backend with its thread count set, or None when torch is not installed."""
    from benchmarks.workloads import Backend
    try:
        import torch
        import torch.nn.functional
    except ImportError:
        return None
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # only allowed once, before any parallel work
        pass
    return Backend("torch", torch, torch.nn, torch.nn.functional, torch.optim)


# ---- one workload ------------------------------------------------------------------

def _describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    text = " ".join(text.split())
    return text if len(text) <= 160 else text[:157] + "..."


def _loss_value(loss) -> float:
    return float(loss.item())


def _copy_weights(source_model, target_model, target) -> None:
    """Load minigrad's weights into the torch model, by state_dict key (strict: the keys must match)."""
    import numpy as np
    state = {key: target.lib.from_numpy(np.array(value.numpy(), copy=True))
             for key, value in source_model.state_dict().items()}
    target_model.load_state_dict(state, strict=True)


def _losses_agree(a: float, b: float, rtol: float) -> bool:
    return abs(a - b) <= rtol * max(abs(a), abs(b)) or a == b


# Worker threads of a BLAS or OpenMP pool spin on a core for a while after their last job before
# they sleep: OpenBLAS for up to 2^28 cycles (~0.1 s). At 2 threads the spinning pool of the library
# that just ran would take the second core from the other; a pause before each repetition lets it
# fall asleep, as it has when a user runs one library alone.
_SETTLE_SECONDS = 0.15


def _time_alternately(steps: dict, warmup: int, repeats: int, steps_per_repeat: int, settle: float = 0.0) -> dict:
    """Median seconds per step for each library; their repetitions alternate, `settle` s apart."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    samples = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            gc.collect()
            if settle:
                time.sleep(settle)
            start = time.perf_counter()
            for _ in range(steps_per_repeat):
                step()
            samples[name].append((time.perf_counter() - start) / steps_per_repeat)
    return {name: (statistics.median(times), times) for name, times in samples.items()}


# numpy's BLAS entry points as minigrad calls them (`a @ b` on plain arrays cannot be watched: conv's
# weight gradient and the sums written as products with a vector of ones are not counted)
_BLAS_FUNCTIONS = ("matmul", "dot", "tensordot", "einsum", "inner")


def _record_blas_calls(step) -> list:
    """Run `step()` once with numpy's BLAS functions wrapped; returns [(function, args, kwargs)],
    operands by reference and any `out=` replaced by a scratch array of its shape."""
    import numpy as np
    calls, originals = [], {name: getattr(np, name) for name in _BLAS_FUNCTIONS}

    def watched(function):
        def call(*args, **kwargs):
            result = function(*args, **kwargs)
            kept = dict(kwargs)
            if kept.get("out") is not None:
                kept["out"] = np.empty_like(kept["out"])
            calls.append((function, tuple(np.asarray(a) if hasattr(a, "__array__") else a for a in args), kept))
            return result
        return call
    try:
        for name, function in originals.items():
            setattr(np, name, watched(function))
        step()
    finally:
        for name, function in originals.items():
            setattr(np, name, function)
    return calls


def matmul_floor(step, repeats: int) -> tuple[float, int]:
    """numpy's matmul-only floor of a training step: the median seconds of running only the BLAS
    calls one eager step made (same shapes, dtypes and memory layouts), and their number."""
    calls = _record_blas_calls(step)
    samples = []
    for _ in range(max(repeats, 3) + 1):
        start = time.perf_counter()
        for function, args, kwargs in calls:
            function(*args, **kwargs)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples[1:]), len(calls)


def run_workload(workload, minigrad_backend, torch_backend, args) -> dict:
    """Build, check and time one workload in both libraries; returns its result record."""
    import numpy as np
    result = {"workload": workload.name, "goal": workload.goal, "description": workload.describe,
              "status": "ok", "unit": "ms", "minigrad_ms": None, "torch_ms": None, "ratio": None,
              "met": None, "check": "-", "losses_minigrad": None, "losses_torch": None}
    data = workload.make_data(np.random.default_rng(0), args.quick)
    try:
        minigrad_backend.lib.manual_seed(0)
        minigrad_task = workload.build(minigrad_backend, data)
    except Exception as error:
        result["status"] = "unavailable: " + _describe(error)
        return result
    torch_task = None
    if torch_backend is not None:
        try:
            torch_backend.lib.manual_seed(0)
            torch_task = workload.build(torch_backend, data)
        except Exception as error:
            result["status"] = "error: the torch version does not build: " + _describe(error)
            return result
        if minigrad_task.model is not None:
            try:
                _copy_weights(minigrad_task.model, torch_task.model, torch_backend)
            except Exception as error:
                result["status"] = "error: weights do not transfer to torch: " + _describe(error)
                return result

    # the compiled column: the same model (or op chain) through mg.compile (capture and replay),
    # same initial weights
    compiled_task = None
    if not args.no_compiled:
        try:
            minigrad_backend.lib.manual_seed(0)
            compiled_task = workload.build(dataclasses.replace(minigrad_backend, compiled=True), data)
            if minigrad_task.model is not None:
                compiled_task.model.load_state_dict(minigrad_task.model.state_dict())
        except Exception as error:
            result["compiled_status"] = "error: " + _describe(error)
            compiled_task = None

    # the first two steps check that both libraries compute the same thing
    try:
        result["losses_minigrad"] = [_loss_value(minigrad_task.step()) for _ in range(2)]
        if compiled_task is not None:
            # capture, then replay: the same losses as eager, bit for bit
            result["losses_compiled"] = [_loss_value(compiled_task.step()) for _ in range(2)]
            if result["losses_compiled"] != result["losses_minigrad"]:
                result["check"] = "COMPILED DIFFERS from eager"
    except (Unavailable, AttributeError, NotImplementedError) as error:  # a layer or op not written yet
        result["status"] = "unavailable: " + _describe(error)
        return result
    except Exception as error:
        result["status"] = "error: " + _describe(error)
        return result
    if torch_task is not None:
        result["losses_torch"] = [_loss_value(torch_task.step()) for _ in range(2)]
        (m1, m2), (t1, t2) = result["losses_minigrad"], result["losses_torch"]
        if not _losses_agree(m1, t1, _FIRST_LOSS_RTOL):
            result["check"] = f"LOSS MISMATCH step 1: {m1:.7g} vs {t1:.7g}"
        elif not _losses_agree(m2, t2, _SECOND_LOSS_RTOL):
            result["check"] = f"LOSS MISMATCH step 2: {m2:.7g} vs {t2:.7g}"
        elif result["check"] == "-":
            result["check"] = "ok"

    steps = {"minigrad": minigrad_task.step}
    if compiled_task is not None:
        steps["compiled"] = compiled_task.step
    if torch_task is not None:
        steps["torch"] = torch_task.step
    per_repeat = 1 if args.quick else workload.steps_per_repeat
    try:
        timings = _time_alternately(steps, warmup=1 if args.quick else 3, repeats=args.repeats,
                                    steps_per_repeat=per_repeat,
                                    settle=_SETTLE_SECONDS if args.threads > 1 and len(steps) > 1 else 0.0)
    except Exception as error:
        result["status"] = "error: " + _describe(error)
        return result
    for name, (median, samples) in timings.items():
        result[f"{name}_ms"] = median * 1e3
        result[f"{name}_samples_ms"] = [s * 1e3 for s in samples]
        result[f"{name}_min_ms"] = min(samples) * 1e3
    if minigrad_task.ops_per_step:
        result["unit"] = "us/op" if workload.per_op else "ms"
        result["ops_per_step"] = minigrad_task.ops_per_step
        for name in timings:
            result[f"{name}_us_per_op"] = result[f"{name}_ms"] * 1e3 / minigrad_task.ops_per_step
    if minigrad_task.model is not None:
        try:
            floor, count = matmul_floor(minigrad_task.step, args.repeats)
            result["floor_ms"], result["floor_calls"] = floor * 1e3, count
        except Exception as error:
            result["floor_status"] = "error: " + _describe(error)
    if result["torch_ms"]:
        if result.get("floor_ms"):
            result["floor_ratio"] = result["floor_ms"] / result["torch_ms"]
        if result.get("compiled_ms"):
            result["compiled_ratio"] = result["compiled_ms"] / result["torch_ms"]
        result["ratio"] = result["minigrad_ms"] / result["torch_ms"]
        result["met"] = result["ratio"] <= workload.goal
    return result


# ---- peak memory, one subprocess per (library, workload) ----------------------------

def _proc_status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _release_free_heap() -> None:
    """Give the heap's free pages back to the kernel (glibc's malloc_trim), so that memory the
    warm-up steps freed but malloc kept is counted again when the measured step reuses it."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def probe_memory(spec: str, threads: int, quick: bool) -> dict:
    """In this (fresh) process: the peak extra memory of one training step of one library."""
    import resource
    import tracemalloc
    import numpy as np
    from benchmarks.workloads import WORKLOADS
    try:  # numpy asks for huge pages on big arrays: RSS would move in 2 MiB jumps
        np._core.multiarray._set_madvise_hugepage(False)
    except AttributeError:
        pass
    library, name = spec.split(":")
    backend = load_minigrad() if library in ("minigrad", "compiled") else load_torch(threads)
    if library == "compiled":  # the same model through mg.compile
        backend = dataclasses.replace(backend, compiled=True)
    workload = WORKLOADS[name]
    backend.lib.manual_seed(0)
    task = workload.build(backend, workload.make_data(np.random.default_rng(0), quick))
    for _ in range(2):  # optimizer state and first-call caches are made here, not in the measured step
        task.step()
    gc.collect()
    _release_free_heap()
    before_kib = _proc_status_kib("VmRSS")
    if before_kib is not None and _reset_peak_rss():
        task.step()
        peak_kib, method = _proc_status_kib("VmHWM"), "VmHWM after clear_refs"
    else:
        before_kib = before_kib or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        task.step()
        peak_kib, method = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss"
    record = {"peak_mb": max(peak_kib - before_kib, 0) / 1024, "method": method}
    if library != "torch":  # numpy registers its buffers with tracemalloc; torch's allocator does not
        gc.collect()
        _release_free_heap()
        tracemalloc.start()
        task.step()
        record["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return record


def measure_memory(library: str, workload: str, args) -> dict:
    """Run `probe_memory` in a fresh interpreter; returns its record or {'error': ...}."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_REPO, env.get("PYTHONPATH")) if p)
    env["MALLOC_MMAP_THRESHOLD_"] = str(64 * 1024)  # big blocks are mmapped, so freeing them lowers RSS
    env["MALLOC_TRIM_THRESHOLD_"] = str(128 * 1024)
    command = [sys.executable, "-m", "benchmarks", "--probe-memory", f"{library}:{workload}",
               "--threads", str(args.threads)] + (["--quick"] if args.quick else [])
    try:
        done = subprocess.run(command, cwd=_REPO, env=env, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        return {"error": "memory probe timed out"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["exit code %d" % done.returncode])[-1]
        return {"error": last}
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_all_memory(results: list[dict], libraries: list[str], args) -> None:
    """Fill `memory_<library>` of each successful result; the probes run side by side, one per CPU,
    after all the timing is done (RSS is per process, so running them together does not bias it)."""
    from concurrent.futures import ThreadPoolExecutor
    jobs = [(result, library) for result in results if result["status"] == "ok" for library in libraries
            if library != "compiled" or result.get("compiled_ms")]
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        records = pool.map(lambda job: measure_memory(job[1], job[0]["workload"], args), jobs)
        for (result, library), record in zip(jobs, records):
            result[f"memory_{library}"] = record


# ---- report ------------------------------------------------------------------------

COLUMNS = ["workload", "minigrad ms", "torch ms", "ratio minigrad/torch", "goal", "met?",
           "peak MB minigrad", "peak MB torch", "memory ratio", "check", "compiled ms",
           "ratio compiled/torch", "peak MB compiled", "matmul floor ms", "floor/torch"]


def _time_cell(result: dict, library: str) -> str:
    if result["unit"] == "us/op" and result.get(f"{library}_us_per_op") is not None:
        return f"{result[f'{library}_us_per_op']:.2f} µs/op"
    value = result.get(f"{library}_ms")
    return "-" if value is None else f"{value:.2f}"


def _memory_cell(result: dict, library: str) -> str:
    record = result.get(f"memory_{library}")
    if not record:
        return "-"
    if "error" in record:
        return "error"
    return f"{record['peak_mb']:.2f}"


def table_rows(results: list[dict]) -> list[list[str]]:
    rows = []
    for r in results:
        if r["status"] != "ok":
            rows.append([r["workload"], r["status"]] + [""] * (len(COLUMNS) - 2))
            continue
        goal = f"≤ {r['goal']:.1f}" + (", no error" if r["workload"] == "deep_chain" else "")
        met = "-" if r["met"] is None else ("yes" if r["met"] else "NO")
        m, t = r.get("memory_minigrad") or {}, r.get("memory_torch") or {}
        memory_ratio = "-"
        if m.get("peak_mb") is not None and t.get("peak_mb"):
            memory_ratio = f"{m['peak_mb'] / t['peak_mb']:.2f}"
        rows.append([r["workload"], _time_cell(r, "minigrad"), _time_cell(r, "torch"),
                     "-" if r["ratio"] is None else f"{r['ratio']:.2f}", goal, met,
                     _memory_cell(r, "minigrad"), _memory_cell(r, "torch"), memory_ratio, r["check"],
                     _time_cell(r, "compiled"),
                     f"{r['compiled_ratio']:.2f}" if r.get("compiled_ratio") else "-",
                     _memory_cell(r, "compiled"),
                     _time_cell(r, "floor") if r["unit"] == "ms" else "-",
                     f"{r['floor_ratio']:.2f}" if r.get("floor_ratio") else "-"])
    return rows


def format_table(results: list[dict]) -> str:
    """The results as a Markdown table (workload | minigrad ms | torch ms | ... | check)."""
    rows = [COLUMNS] + table_rows(results)
    widths = [max(len(row[i]) for row in rows if len(row) > i) for i in range(len(COLUMNS))]
    # a status message spans the row: do not widen the minigrad column for it
    widths[1] = max(len(row[1]) for row in rows if row[2] or row is rows[0])
    lines = []
    for index, row in enumerate(rows):
        if row[2] == "" and index > 0:
            lines.append(f"| {row[0].ljust(widths[0])} | {row[1]} |")
        else:
            lines.append("| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " |")
        if index == 0:
            lines.append("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


def blas_kernels() -> str:
    """Which kernels numpy's BLAS runs (OpenBLAS's core name, e.g. SkylakeX), from threadpoolctl if installed."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (pip install threadpoolctl to see)"
    blas = [pool for pool in threadpool_info() if pool.get("user_api") == "blas"]
    if not blas:
        return "unknown"
    return ", ".join(f"{pool.get('internal_api')} {pool.get('architecture', '?')}" for pool in blas)


def environment(args, torch_backend) -> dict:
    import numpy as np
    info = {"python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine(),
            "cpus": os.cpu_count(), "threads": args.threads, "repeats": args.repeats, "quick": args.quick,
            "torch": torch_backend.lib.__version__ if torch_backend is not None else None,
            "thread_env": {name: os.environ.get(name) for name in _THREAD_VARIABLES},
            "torch_threads": torch_backend.lib.get_num_threads() if torch_backend is not None else None,
            "blas_kernels": blas_kernels(),
            "openblas_env": {name: os.environ.get(name) for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
            "memory_method": "peak RSS of one step above the RSS before it (VmHWM reset by clear_refs), "
                             "fresh process per library and workload, MALLOC_MMAP_THRESHOLD_=65536"}
    return info


def profile_minigrad(workload, backend, quick: bool, top: int = 15) -> str:
    """cProfile's top entries (by own time) over a few minigrad training steps of `workload`."""
    import cProfile
    import pstats
    import numpy as np
    backend.lib.manual_seed(0)
    task = workload.build(backend, workload.make_data(np.random.default_rng(0), quick))
    task.step()
    task.step()  # a compiled model captures on the first call and records its backward on the second
    profiler = cProfile.Profile()
    steps = 1 if quick else max(1, min(workload.steps_per_repeat, 5))
    profiler.enable()
    for _ in range(steps):
        task.step()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt or 1e-12
    entries = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    label = "compiled" if backend.compiled else "minigrad"
    lines = [f"{workload.name}: {steps} {label} step(s), {total * 1e3 / steps:.1f} ms/step under cProfile",
             f"  {'own %':>6} {'own ms/step':>11} {'cum ms/step':>11} {'calls/step':>10}  function"]
    for (filename, line, function), (_, calls, own, cumulative, _) in entries:
        where = os.path.relpath(filename, _REPO) if filename.startswith(_REPO) else os.path.basename(filename)
        lines.append(f"  {100 * own / total:6.1f} {own * 1e3 / steps:11.2f} {cumulative * 1e3 / steps:11.2f} "
                     f"{calls / steps:10.0f}  {function} ({where}:{line})")
    return "\n".join(lines)


def primitive_times(workload, backend, quick: bool, top: int = 12) -> str:
    """Own time of each minigrad primitive's forward and VJP over a few training steps.

    Wraps every `Function` subclass's forward/backward with a timer for the
    duration (and puts them back after). A VJP's own time excludes the
    primitives it calls, which are counted under their own names.
    """
    import collections
    import numpy as np
    from minigrad.function import Function

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    own, calls, stack, originals = collections.Counter(), collections.Counter(), [], []

    def timed(function, key):
        def wrapper(*args, **kwargs):
            stack.append(0.0)
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                own[key] += elapsed - stack.pop()
                calls[key] += 1
                if stack:
                    stack[-1] += elapsed
        return staticmethod(wrapper)

    backend.lib.manual_seed(0)
    task = workload.build(backend, workload.make_data(np.random.default_rng(0), quick))
    task.step()
    for cls in set(subclasses(Function)):
        for method in ("forward", "backward"):
            raw = cls.__dict__.get(method)
            if isinstance(raw, staticmethod):
                originals.append((cls, method, raw))
                setattr(cls, method, timed(raw.__func__, f"{cls.__name__}.{method}"))
    steps = 1 if quick else max(1, min(workload.steps_per_repeat, 5))
    try:
        start = time.perf_counter()
        for _ in range(steps):
            task.step()
        total = (time.perf_counter() - start) / steps
    finally:
        for cls, method, raw in originals:
            setattr(cls, method, raw)
    lines = [f"{workload.name}: {total * 1e3:.1f} ms/step with timers; primitives' own time "
             f"{sum(own.values()) / steps * 1e3:.1f} ms, the rest is Python outside them (engine, layers, optimizer)",
             f"  {'% step':>6} {'ms/step':>8} {'calls/step':>10}  primitive"]
    for key, seconds in own.most_common(top):
        lines.append(f"  {100 * seconds / steps / total:6.1f} {seconds / steps * 1e3:8.2f} "
                     f"{calls[key] / steps:10.0f}  {key}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    _apply_threads(args.threads, argv)

    if args.probe_memory:
        print(json.dumps(probe_memory(args.probe_memory, args.threads, args.quick)))
        return 0

    from benchmarks.workloads import WORKLOADS
    names = list(WORKLOADS) if args.workloads is None else [n.strip() for n in args.workloads.split(",") if n.strip()]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        print(f"benchmarks: unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}",
              file=sys.stderr)
        return 2

    minigrad_backend = load_minigrad()
    torch_backend = None if args.no_torch else load_torch(args.threads)
    info = environment(args, torch_backend)
    print(f"minigrad vs {'torch ' + info['torch'] if torch_backend else 'nothing (torch not installed)'} | "
          f"numpy {info['numpy']} | python {info['python']} | {info['cpus']} cpus | "
          f"threads {args.threads} | repeats {args.repeats}{' | quick' if args.quick else ''} | "
          f"numpy's BLAS kernels: {info['blas_kernels']}", flush=True)
    if os.environ.get("OPENBLAS_CORETYPE"):
        print(f"note: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set, so numpy's OpenBLAS runs that "
              "CPU's kernels whatever this CPU is; unset it (and OPENBLAS_L2_SIZE) in this command alone to "
              "let OpenBLAS choose, e.g. `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m benchmarks`",
              flush=True)

    results = []
    for name in names:
        workload = WORKLOADS[name]
        print(f"  {name} ...", end="", flush=True)
        result = run_workload(workload, minigrad_backend, torch_backend, args)
        print(" " + (result["status"] if result["status"] != "ok" else
                     f"minigrad {_time_cell(result, 'minigrad')}, compiled {_time_cell(result, 'compiled')}, "
                     f"torch {_time_cell(result, 'torch')}, matmul floor {_time_cell(result, 'floor')}"),
              flush=True)
        for column in ("compiled", "floor"):  # a column that could not be measured says why
            if f"{column}_status" in result:
                print(f"    {column}: {result[f'{column}_status']}", flush=True)
        results.append(result)

    if not args.no_memory:
        libraries = ["minigrad", "compiled"] + (["torch"] if torch_backend is not None else [])
        print(f"  peak memory: {len(libraries) * len(results)} fresh processes ...", flush=True)
        measure_all_memory(results, libraries, args)

    print()
    print(format_table(results))
    print("\ntimes: median per training step (forward, backward, optimizer step, zero_grad) over "
          f"{args.repeats} repetition(s); tiny_ops in µs per op. peak MB: extra resident memory of one step, "
          "measured in a fresh process per library (see benchmarks/run.py). check: losses of steps 1 and 2 "
          "agree between the libraries. matmul floor: only the BLAS calls (np.matmul, np.dot, np.einsum, "
          "np.tensordot) of one eager minigrad step, run back to back on the same operands - no Python, "
          "no elementwise work; `a @ b` on plain arrays is not seen (cnn's weight gradient).")
    for r in results:
        for library in ("minigrad", "compiled", "torch"):
            error = (r.get(f"memory_{library}") or {}).get("error")
            if error:
                print(f"memory probe of {library} on {r['workload']} failed: {error}")
    mismatches = [r["workload"] for r in results if r["check"].startswith("LOSS MISMATCH")]
    if mismatches:
        print(f"WARNING: the two libraries computed different losses in: {', '.join(mismatches)}")

    if args.profile:
        for name in names:
            result = next(r for r in results if r["workload"] == name)
            if result["status"] == "ok":
                print()
                print(profile_minigrad(WORKLOADS[name], minigrad_backend, args.quick))
                if result.get("compiled_ms"):
                    print(profile_minigrad(WORKLOADS[name], dataclasses.replace(minigrad_backend, compiled=True),
                                           args.quick))
                print(primitive_times(WORKLOADS[name], minigrad_backend, args.quick))

    if args.json:
        with open(args.json, "w") as out:
            json.dump({"environment": info, "results": results}, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
