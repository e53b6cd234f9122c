"""Smoke tests of the benchmark runner (`python -m benchmarks`): it runs, reports, and applies --threads.

No timing is asserted. PyTorch is optional: with it installed, the run must also
find that both libraries computed the same losses; without it, minigrad runs alone.
"""
import importlib.util
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = ("| workload | minigrad ms | torch ms | ratio minigrad/torch | goal | met? "
          "| peak MB minigrad | peak MB torch | memory ratio |")
TORCH_INSTALLED = importlib.util.find_spec("torch") is not None


def run(args, *, code=None, timeout=30, **env_overrides):
    env = dict(os.environ, PYTHONPATH=REPO, **env_overrides)
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "benchmarks", *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def squeeze(line):
    """A table line with its column padding removed."""
    return "| " + " | ".join(cell.strip() for cell in line.strip().strip("|").split("|")) + " |"


def test_quick_run_prints_the_table(tmp_path):
    out = tmp_path / "results.json"
    done = run(["--quick", "--workloads", "tiny_ops,mlp", "--repeats", "1", "--json", str(out)])
    assert done.returncode == 0, done.stderr
    lines = [squeeze(line) for line in done.stdout.splitlines() if line.startswith("|")]
    assert lines and lines[0].startswith(HEADER), done.stdout
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| tiny_ops", "| mlp"]

    results = {r["workload"]: r for r in json.loads(out.read_text())["results"]}
    assert set(results) == {"tiny_ops", "mlp"}
    for result in results.values():
        assert result["status"] == "ok", result["status"]
        assert result["minigrad_ms"] > 0
        assert result["memory_minigrad"].get("peak_mb", -1) >= 0, result["memory_minigrad"]
    assert results["tiny_ops"]["ops_per_step"] == 1000
    # the op chains have a compiled column too, replaying the eager losses bit for bit
    tiny = results["tiny_ops"]
    assert tiny["compiled_us_per_op"] > 0 and tiny["losses_compiled"] == tiny["losses_minigrad"]
    if TORCH_INSTALLED:
        # same weights and data: the libraries must agree on the losses, or the timing means nothing
        for result in results.values():
            assert result["check"] == "ok", result["check"]
            assert result["torch_ms"] > 0
        assert "WARNING" not in done.stdout


def test_without_torch_reports_minigrad_alone(tmp_path):
    out = tmp_path / "results.json"
    done = run(["--quick", "--workloads", "mlp", "--repeats", "1", "--no-torch", "--no-memory",
                "--json", str(out)])
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(out.read_text())["results"]
    assert result["minigrad_ms"] > 0
    assert result["torch_ms"] is None and result["ratio"] is None and result["check"] == "-"
    assert result["compiled_ms"] > 0  # the compiled column is on by default


def test_no_compiled_skips_the_compiled_column(tmp_path):
    out = tmp_path / "results.json"
    done = run(["--quick", "--workloads", "mlp", "--repeats", "1", "--no-torch", "--no-memory", "--no-compiled",
                "--json", str(out)])
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(out.read_text())["results"]
    assert result["minigrad_ms"] > 0 and not result.get("compiled_ms")


def test_threads_restart_the_process_when_numpy_is_already_loaded(tmp_path):
    out = tmp_path / "results.json"
    # numpy loads before main(): the BLAS pool is already sized, so the runner must start over
    code = ("import sys, numpy; from benchmarks.run import main; "
            "sys.exit(main(sys.argv[1:]))")
    args = ["--threads", "2", "--quick", "--workloads", "tiny_ops", "--repeats", "1", "--no-torch",
                "--no-memory", "--json", str(out)]
    done = run(args, code=code, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    assert done.returncode == 0, done.stderr
    environment = json.loads(out.read_text())["environment"]
    assert environment["threads"] == 2
    assert set(environment["thread_env"].values()) == {"2"}


def test_unknown_workload_is_an_error():
    done = run(["--workloads", "nope"])
    assert done.returncode == 2
    assert "unknown workload(s) nope" in done.stderr


def test_the_compiled_column_compiles_the_model_as_a_module():
    """The workloads' nn is minigrad.nn itself (not a second copy of the package), so that
    mg.compile(model) wraps the model as a module instead of taking it for a plain function."""
    code = ("from benchmarks.run import load_minigrad; import minigrad; b = load_minigrad(); "
            "assert b.nn is minigrad.nn and b.F is minigrad.nn.functional and b.optim is minigrad.optim; "
            "assert type(b.lib.compile(b.nn.Linear(3, 2))).__name__ == '_CompiledModule'")
    done = run([], code=code)
    assert done.returncode == 0, done.stderr
