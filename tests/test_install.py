"""One import package: a non-editable install puts only `minigrad` into site-packages, and a user's
own nn.py / optim.py beside the script changes nothing.

The checkout is copied to a temporary folder, built into a fresh venv (pip fetches the build
backend, as any install does) and probed from a working directory that holds its own nn.py and
optim.py. numpy and graphviz come from the test's own environment through a .pth file, so the
fresh venv needs no download of them.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent('''
    import importlib, json, pkgutil, sys, sysconfig
    from pathlib import Path

    import minigrad as mg
    import minigrad.nn.functional as F
    from minigrad import nn, optim

    report = {"minigrad_file": mg.__file__, "nn_file": nn.__file__, "optim_file": optim.__file__}
    site = Path(sysconfig.get_paths()["purelib"])
    report["top_level"] = sorted(p.name for p in site.iterdir()
                                 if not p.name.endswith((".dist-info", ".pth")) and p.name != "__pycache__")
    report["user_nn_imported"] = "USER_NN_LOADED" in dir(sys.modules.get("nn", None))
    # every submodule of minigrad.nn / minigrad.optim, imported by name, is the module its parent holds
    identity = {}
    for package in (nn, optim):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            module = importlib.import_module(info.name)
            parent_name, _, child = info.name.rpartition(".")
            identity[info.name] = (sys.modules[info.name] is module
                                   and getattr(sys.modules[parent_name], child) is module
                                   and module.__name__.startswith("minigrad."))
    report["identity"] = identity
    report["installed_packages"] = sorted(".".join(("minigrad",) + path.parent.relative_to(site / "minigrad").parts)
                                          for path in (site / "minigrad").rglob("__init__.py"))
    report["stray_modules"] = sorted(name for name in sys.modules
                                     if name.split(".")[0] in ("nn", "optim") and "USER" not in dir(sys.modules[name]))
    report["qualnames"] = {name: getattr(mg.Tensor, name).__qualname__
                           for name in ("__add__", "__matmul__", "sum", "max", "view", "softmax", "exp",
                                        "reshape", "transpose", "add_", "copy_", "numpy")}
    report["functional_linear"] = F.linear is nn.functional.linear
    report["sgd"] = optim.SGD.__module__

    # Parameter.data: a tensor sharing memory, recording nothing; assignment checks the shape
    p = nn.Parameter(mg.zeros(2, 3))
    d = p.data
    d.add_(mg.ones(2, 3), alpha=2.0)
    report["data_is_tensor"] = type(d).__name__ == "Tensor" and not d.requires_grad and d.grad_fn is None
    report["data_shares_memory"] = p.detach().numpy().tolist() == [[2.0] * 3] * 2
    p.data = mg.full((2, 3), 5.0)
    report["data_assigned"] = float(p.sum().item()) == 30.0 and p.requires_grad
    try:
        p.data = mg.zeros(3, 2)
        report["data_shape_checked"] = False
    except RuntimeError as error:
        report["data_shape_checked"] = "shape" in str(error)
    print(json.dumps(report))
''')


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("install")
    source = base / "source"
    for name in ("minigrad", "nn", "optim"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # numpy, graphviz: from this environment, behind the fresh venv's own site-packages
    (Path(site) / "test_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    result = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(source)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        if "Could not find a version" in result.stderr or "No matching distribution" in result.stderr:
            pytest.skip("the build backend could not be fetched (offline): " + result.stderr[-300:])
        raise AssertionError("pip install failed:\n" + result.stderr[-3000:])
    # the user's working directory: their own nn.py and optim.py beside their script
    work = base / "work"
    work.mkdir()
    (work / "nn.py").write_text("USER_NN_LOADED = True\nLinear = None\n")
    (work / "optim.py").write_text("USER_OPTIM_LOADED = True\nSGD = None\n")
    (work / "probe.py").write_text(PROBE)
    run = subprocess.run([str(python), "probe.py"], cwd=work, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1]), Path(site)


def test_site_packages_holds_minigrad_and_nothing_named_nn_or_optim(installed):
    report, site = installed
    assert "minigrad" in report["top_level"]
    assert "nn" not in report["top_level"] and "optim" not in report["top_level"]
    assert (site / "minigrad" / "nn" / "functional.py").is_file()
    assert (site / "minigrad" / "optim" / "sgd.py").is_file()
    assert (site / "minigrad" / "py.typed").is_file()


def test_the_users_own_nn_and_optim_change_nothing(installed):
    report, site = installed
    for key in ("minigrad_file", "nn_file", "optim_file"):
        assert report[key].startswith(str(site)), (key, report[key])
    assert not report["user_nn_imported"]
    assert report["stray_modules"] == []
    assert report["functional_linear"]
    assert report["sgd"] == "minigrad.optim.sgd"


def test_every_package_of_the_checkout_is_installed(installed):
    """pyproject lists the packages by hand (nn/ and optim/ are mapped into minigrad): none may be left out."""
    report, _ = installed
    expected = set()
    for top, name in (("minigrad", "minigrad"), ("nn", "minigrad.nn"), ("optim", "minigrad.optim")):
        for init in (ROOT / top).rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                relative = init.parent.relative_to(ROOT / top).parts
                expected.add(".".join((name,) + relative))
    assert sorted(expected) == report["installed_packages"]


def test_every_submodule_is_one_module_object(installed):
    report, _ = installed
    assert len(report["identity"]) >= 20  # nn's and optim's submodules were all walked
    assert all(report["identity"].values()), [k for k, v in report["identity"].items() if not v]


def test_tensor_methods_are_defined_in_the_class(installed):
    report, _ = installed
    for name, qualname in report["qualnames"].items():
        assert qualname == f"Tensor.{name}", (name, qualname)


def test_parameter_data_is_a_tensor_sharing_memory(installed):
    report, _ = installed
    assert report["data_is_tensor"]
    assert report["data_shares_memory"]
    assert report["data_assigned"]
    assert report["data_shape_checked"]


def test_the_checkout_itself_gives_the_same_answers():
    """In the test's own (editable) environment, too: methods in the class, one module per name."""
    import minigrad as mg
    import minigrad.nn.functional as F
    from minigrad import nn

    assert mg.Tensor.sum.__qualname__ == "Tensor.sum"
    assert sys.modules["minigrad.nn.functional"] is F is nn.functional
    assert "nn" not in sys.modules or sys.modules["nn"] is not nn
