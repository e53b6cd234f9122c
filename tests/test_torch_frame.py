"""The frame around the model: what PyTorch programs ask of `torch` besides tensors and layers.

Devices (only the CPU, others refused by name), the modules that report no GPU or process group
(cuda, accelerator, backends, distributed), mixed precision (autocast, GradScaler), compile and
thread settings, printing (format specs), inference_mode, dtype names (bfloat16), the PyTorch
module paths (nn.modules.*, nn.parallel), and the refusals that say what to do instead.
"""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn, optim

README_SECTION = "Where minigrad differs from PyTorch"


# ---- devices --------------------------------------------------------------------------

def test_device_objects():
    cpu = mg.device("cpu")
    assert cpu.type == "cpu" and cpu.index is None
    assert repr(cpu) == "device(type='cpu')" and str(cpu) == "cpu"
    assert cpu == "cpu" and cpu == mg.device("cpu") and cpu != "cuda"
    assert mg.device("cpu", 0) == "cpu:0" and mg.device("cpu", 0) != cpu
    cuda1 = mg.device("cuda:1")
    assert (cuda1.type, cuda1.index) == ("cuda", 1)
    assert repr(cuda1) == "device(type='cuda', index=1)" and cuda1 == mg.device("cuda", 1)
    assert mg.device("cuda").type == "cuda"       # asking about cuda is fine
    assert mg.device(cuda1) == cuda1
    assert len({mg.device("cpu"), mg.device("cpu")}) == 1
    with pytest.raises(RuntimeError, match="'gpu'"):
        mg.device("gpu")


def test_tensor_device_properties():
    x = mg.ones(2)
    assert x.device == "cpu" and x.device == mg.device("cpu") and x.device.type == "cpu"
    assert repr(x.device) == "device(type='cpu')"
    assert x.is_cuda is False and x.is_mps is False and x.is_xpu is False
    assert x.cpu() is x


def test_to_device_and_dtype():
    x = mg.tensor([1.0, 2.0])
    assert x.to("cpu") is x and x.to(mg.device("cpu")) is x and x.to(device="cpu") is x
    assert x.to("cpu", mg.float64).dtype == mg.float64
    assert x.to(mg.device("cpu"), dtype=mg.float64).dtype == mg.float64
    assert x.to(mg.zeros(1, dtype=mg.float64)).dtype == mg.float64
    assert x.to("cpu", non_blocking=True) is x
    device = mg.device("cuda" if mg.cuda.is_available() else "cpu")
    assert x.to(device) is x


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps", mg.device("cuda", 1)])
def test_gpu_devices_are_refused_by_name(device):
    x = mg.ones(2)
    name = str(device)
    for action in (lambda: x.to(device), lambda: mg.zeros(2, device=device),
                   lambda: mg.tensor([1.0], device=device), lambda: mg.ones_like(x, device=device),
                   lambda: x.new_zeros(2, device=device), lambda: nn.Linear(2, 2).to(device)):
        with pytest.raises(RuntimeError, match="runs on the CPU") as info:
            action()
        assert f"'{name}'" in str(info.value)


def test_cuda_methods_refused():
    with pytest.raises(RuntimeError, match="cuda: minigrad runs on the CPU only"):
        mg.ones(2).cuda()
    with pytest.raises(RuntimeError, match="cuda: minigrad runs on the CPU only"):
        nn.Linear(2, 2).cuda()


def test_every_factory_accepts_device_cpu():
    x = mg.ones(2, 3)
    made = [mg.tensor([1.0], device="cpu"), mg.as_tensor([1.0], device="cpu"),
            mg.zeros(2, device="cpu"), mg.ones(2, device=mg.device("cpu")),
            mg.full((2,), 3.0, device="cpu"), mg.empty(2, device="cpu"),
            mg.zeros_like(x, device="cpu"), mg.ones_like(x, device="cpu"),
            mg.full_like(x, 2.0, device="cpu"), mg.empty_like(x, device="cpu"),
            mg.arange(3, device="cpu"), mg.linspace(0, 1, 3, device="cpu"), mg.eye(2, device="cpu"),
            mg.rand(2, device="cpu"), mg.randn(2, device="cpu"), mg.randint(0, 3, (2,), device="cpu"),
            mg.randperm(3, device="cpu"), mg.rand_like(x, device="cpu"), mg.randn_like(x, device="cpu"),
            x.new_zeros(2, device="cpu"), x.new_ones(2, device="cpu"), x.new_full((2,), 1.0, device="cpu"),
            x.new_empty(2, device="cpu"), x.new_tensor([1.0], device="cpu")]
    assert all(t.device == "cpu" for t in made)


def test_module_to_cpu_and_dtype():
    model = nn.Linear(2, 3)
    assert model.to("cpu") is model and model.to(mg.device("cpu")) is model and model.cpu() is model
    model.to("cpu", mg.float64)
    assert model.weight.dtype == mg.float64


# ---- reporting no GPU -----------------------------------------------------------------

def test_cuda_module_reports_none():
    assert mg.cuda.is_available() is False and mg.cuda.device_count() == 0
    assert mg.cuda.is_bf16_supported() is False
    for call in (lambda: mg.cuda.manual_seed(0), lambda: mg.cuda.manual_seed_all(0),
                 mg.cuda.synchronize, mg.cuda.empty_cache):
        assert call() is None
    with pytest.raises(RuntimeError, match="get_device_name.*CPU only"):
        mg.cuda.get_device_name(0)


def test_accelerator_and_backends():
    assert mg.accelerator.is_available() is False and mg.accelerator.current_accelerator() is None
    cudnn = mg.backends.cudnn
    assert cudnn.is_available() is False
    assert (cudnn.enabled, cudnn.benchmark, cudnn.deterministic) == (True, False, False)
    assert mg.backends.mps.is_available() is False and mg.backends.mps.is_built() is False


def test_backend_flags_are_assignable():
    import minigrad.backends.cudnn as cudnn   # `import torch.backends.cudnn as cudnn`
    saved = (cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32, mg.backends.cuda.matmul.allow_tf32)
    try:
        mg.backends.cudnn.benchmark = True
        mg.backends.cudnn.deterministic = True
        mg.backends.cudnn.allow_tf32 = False
        mg.backends.cuda.matmul.allow_tf32 = True
        assert cudnn.benchmark is True and cudnn.deterministic is True and cudnn.allow_tf32 is False
        assert mg.backends.cuda.matmul.allow_tf32 is True
    finally:
        (cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32,
         mg.backends.cuda.matmul.allow_tf32) = saved


def test_compile_wraps_the_model():
    model = nn.Linear(2, 2)  # mg.compile is capture and replay (tests/test_compile.py); the module is kept
    assert mg.compile(model)._orig_mod is model
    assert mg.compile(model, mode="max-autotune", fullgraph=True, dynamic=False, backend="inductor")._orig_mod is model

    @mg.compile
    def f(x):
        return x * 2

    @mg.compile(mode="reduce-overhead")
    def g(x):
        return x * 3

    assert f(mg.ones(1)).item() == 2 and g(mg.ones(1)).item() == 3


def test_threads_and_matmul_precision():
    before = mg.get_num_threads()
    try:
        mg.set_num_threads(1)
        assert mg.get_num_threads() == 1
        threadpoolctl = pytest.importorskip("threadpoolctl")
        blas = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
        assert all(n == 1 for n in blas)
    finally:
        mg.set_num_threads(before)
    assert mg.get_float32_matmul_precision() == "highest"
    mg.set_float32_matmul_precision("high")
    assert mg.get_float32_matmul_precision() == "high"
    mg.set_float32_matmul_precision("highest")
    with pytest.raises(ValueError, match="'low'"):
        mg.set_float32_matmul_precision("low")
    assert isinstance(mg.__version__, str)


# ---- mixed precision ------------------------------------------------------------------

def _model_and_step(seed=0):
    mg.manual_seed(seed)
    model = nn.Linear(3, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = mg.randn(4, 3), mg.randn(4, 1)
    return model, opt, lambda: F.mse_loss(model(x), y)


def test_grad_scaler_disabled_passes_through():
    model, opt, loss_fn = _model_and_step()
    scaler = mg.amp.GradScaler(enabled=False)
    loss = loss_fn()
    assert scaler.scale(loss) is loss and scaler.is_enabled() is False and scaler.get_scale() == 1.0
    loss.backward()
    before = model.weight.detach().numpy().copy()
    scaler.step(opt)
    scaler.update()
    assert not np.allclose(before, model.weight.detach().numpy())
    assert scaler.state_dict() == {}


def test_grad_scaler_cuda_is_disabled_with_a_warning():
    with pytest.warns(UserWarning, match="GradScaler"):
        mg.amp._warned.discard("scaler-cuda")
        scaler = mg.amp.GradScaler("cuda")
    assert scaler.is_enabled() is False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert mg.cuda.amp.GradScaler().is_enabled() is False
        assert mg.GradScaler().is_enabled() is False


def test_grad_scaler_cpu_scales_and_matches_plain_sgd():
    model, opt, loss_fn = _model_and_step()
    scaler = mg.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=2)
    scaled = scaler.scale(loss_fn())
    plain = loss_fn()
    assert np.isclose(scaled.item(), plain.item() * 1024.0, rtol=1e-6)
    scaled.backward()
    scaler.unscale_(opt)
    reference, ref_opt, ref_loss_fn = _model_and_step()
    ref_loss_fn().backward()
    np.testing.assert_allclose(model.weight.grad.numpy(), reference.weight.grad.numpy(), rtol=1e-5)
    scaler.step(opt)
    ref_opt.step()
    np.testing.assert_allclose(model.weight.detach().numpy(), reference.weight.detach().numpy(), rtol=1e-5)
    scaler.update()
    assert scaler.get_scale() == 1024.0            # one clean step of growth_interval 2
    opt.zero_grad()
    scaler.scale(loss_fn()).backward()
    scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 2048.0            # two clean steps: grown
    state = scaler.state_dict()
    other = mg.amp.GradScaler("cpu")
    other.load_state_dict(state)
    assert other.get_scale() == 2048.0 and other.state_dict() == state


def test_grad_scaler_skips_a_step_with_inf_and_backs_off():
    model, opt, loss_fn = _model_and_step()
    scaler = mg.amp.GradScaler("cpu", init_scale=8.0)
    scaler.scale(loss_fn()).backward()
    model.weight.grad = mg.full(model.weight.shape, float("inf"))
    before = model.weight.detach().numpy().copy()
    assert scaler.step(opt) is None
    np.testing.assert_array_equal(model.weight.detach().numpy(), before)
    scaler.update()
    assert scaler.get_scale() == 4.0
    scaler.scale(loss_fn()).backward()
    scaler.unscale_(opt)               # once after update() is fine ...
    with pytest.raises(RuntimeError, match="unscale_: already called"):
        scaler.unscale_(opt)           # ... a second time is refused


def test_autocast_runs_float32_as_context_and_decorator():
    x = mg.randn(2, 3)
    w = mg.randn(3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mg.autocast("cpu", dtype=mg.bfloat16):
            y = x @ w
        with mg.amp.autocast(device_type="cuda", dtype=mg.float16):
            z = x @ w
        with mg.cuda.amp.autocast():
            pass

        @mg.autocast("cpu")
        def f(a):
            return a @ w

    assert y.dtype == mg.float32 and z.dtype == mg.float32 and f(x).dtype == mg.float32
    np.testing.assert_allclose(y.numpy(), x.numpy() @ w.numpy(), rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # disabled: no warning at all
        with mg.autocast("cuda", enabled=False):
            pass


def test_autocast_warns_once_per_device():
    mg.amp._warned.discard("autocast-cpu")
    with pytest.warns(UserWarning, match="float32"):
        mg.autocast("cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mg.autocast("cpu")


# ---- printing and modes ---------------------------------------------------------------

def test_format_specs():
    loss = mg.tensor(1.23456)
    assert f"{loss:.4f}" == "1.2346"
    assert "{:+.2f}".format(mg.tensor([[2.5]])) == "+2.50"
    assert f"{mg.tensor(7):03d}" == "007"
    assert f"{loss}" == repr(loss) and f"{mg.ones(2)}" == repr(mg.ones(2))
    with pytest.raises(TypeError, match=r"one-element.*\(3,\)"):
        f"{mg.ones(3):.2f}"


@mg.inference_mode()
def _decorated_with_parentheses(x):
    return (x * 2).requires_grad, mg.is_inference_mode_enabled(), mg.is_grad_enabled()


@mg.inference_mode
def _decorated_bare(x):
    return (x * 2).requires_grad, mg.is_inference_mode_enabled(), mg.is_grad_enabled()


@mg.no_grad
def _no_grad_bare(x):
    return (x * 2).requires_grad


@mg.no_grad()
def _no_grad_called(x):
    return (x * 2).requires_grad


def test_decorators_applied_at_import_time():
    x = mg.ones(2, requires_grad=True)
    assert _decorated_with_parentheses(x) == (False, True, False)
    assert _decorated_bare(x) == (False, True, False)
    assert _decorated_bare.__name__ == "_decorated_bare"
    assert _no_grad_bare(x) is False and _no_grad_called(x) is False
    assert mg.is_grad_enabled() and not mg.is_inference_mode_enabled()
    assert (x * 2).requires_grad


def test_inference_mode_context():
    x = mg.ones(2, requires_grad=True)
    assert mg.is_inference_mode_enabled() is False
    with mg.inference_mode():
        assert mg.is_inference_mode_enabled() and not (x * 2).requires_grad
        with mg.inference_mode(False):
            assert not mg.is_inference_mode_enabled()
            assert not mg.is_grad_enabled()      # mode=False leaves grad mode as it was
        assert mg.is_inference_mode_enabled()
    assert not mg.is_inference_mode_enabled() and (x * 2).requires_grad
    with pytest.raises(ValueError):
        with mg.inference_mode():
            raise ValueError
    assert mg.is_grad_enabled() and not mg.is_inference_mode_enabled()


# ---- dtype names ----------------------------------------------------------------------

def test_bfloat16_can_be_named_but_not_used():
    x = mg.ones(2)
    assert (x.dtype == mg.bfloat16) is False and (x.dtype != mg.bfloat16) is True
    dtype = mg.bfloat16 if False else mg.float32
    assert dtype == mg.float32 and repr(mg.bfloat16) == "minigrad.bfloat16"
    assert mg.float16 == np.float16
    for use in (lambda: x.to(mg.bfloat16), lambda: mg.zeros(2, dtype=mg.bfloat16),
                lambda: mg.tensor([1.0], dtype=mg.bfloat16), lambda: nn.Linear(2, 2).to(mg.bfloat16),
                lambda: x.to(dtype=mg.bfloat16)):
        with pytest.raises(TypeError, match="numpy has no bfloat16.*float32"):
            use()


def test_finfo_iinfo_default_dtype():
    assert mg.finfo(mg.float32).eps == np.finfo(np.float32).eps
    assert mg.finfo().bits == 32
    assert mg.finfo(mg.bfloat16).eps == 2.0 ** -7
    assert mg.iinfo(mg.int64).max == 2 ** 63 - 1
    assert mg.get_default_dtype() == mg.float32
    try:
        mg.set_default_dtype(mg.float64)
        assert mg.ones(1).dtype == mg.float64 and mg.tensor([0.5]).dtype == mg.float64
        assert mg.get_default_dtype() == mg.float64
    finally:
        mg.set_default_dtype(mg.float32)
    assert mg.ones(1).dtype == mg.float32
    with pytest.raises(TypeError, match="int64"):
        mg.set_default_dtype(mg.int64)
    assert mg.is_floating_point(mg.ones(1)) and not mg.is_floating_point(mg.arange(2))


# ---- modules programs import -----------------------------------------------------------

def test_nn_modules_paths_are_the_same_classes():
    from minigrad.nn.modules.module import Module
    from minigrad.nn.modules.linear import Linear
    from minigrad.nn.modules.loss import _Loss, _WeightedLoss
    from minigrad.nn.modules import (activation, batchnorm, container, conv, dropout, normalization,
                                     pooling, rnn, sparse, transformer)
    assert Module is nn.Module and Linear is nn.Linear
    assert issubclass(nn.MSELoss, _Loss) and issubclass(nn.CrossEntropyLoss, _WeightedLoss)
    pairs = [(conv.Conv2d, nn.Conv2d), (batchnorm.BatchNorm1d, nn.BatchNorm1d),
             (activation.ReLU, nn.ReLU), (activation.MultiheadAttention, nn.MultiheadAttention),
             (container.Sequential, nn.Sequential), (rnn.LSTM, nn.LSTM),
             (transformer.TransformerEncoderLayer, nn.TransformerEncoderLayer),
             (dropout.Dropout, nn.Dropout), (normalization.LayerNorm, nn.LayerNorm),
             (sparse.Embedding, nn.Embedding), (pooling.MaxPool2d, nn.MaxPool2d),
             (nn.modules.Linear, nn.Linear)]
    for path_class, nn_class in pairs:
        assert path_class is nn_class
    assert "BatchNorm1d" not in normalization.__all__ and "Conv2d" not in pooling.__all__


def test_clip_grad_norm_exists():
    assert callable(nn.utils.clip_grad_norm_)


def test_data_parallel_passes_through_and_ddp_is_refused():
    model = nn.Linear(2, 3)
    wrapped = nn.DataParallel(model)
    assert wrapped.module is model
    x = mg.randn(4, 2)
    np.testing.assert_array_equal(wrapped(x).detach().numpy(), model(x).detach().numpy())
    assert list(wrapped.state_dict()) == ["module.weight", "module.bias"]
    with pytest.raises(RuntimeError, match="device_ids.*CPU only"):
        nn.DataParallel(model, device_ids=[0, 1])
    from minigrad.nn.parallel import DistributedDataParallel
    with pytest.raises(RuntimeError, match="DistributedDataParallel.*single process.*without the wrapper"):
        DistributedDataParallel(model)


def test_distributed_reports_one_process():
    import minigrad.distributed as dist
    assert dist.is_available() is False and dist.is_initialized() is False
    assert dist.get_rank() == 0 and dist.get_world_size() == 1
    assert dist.destroy_process_group() is None
    with pytest.raises(RuntimeError, match="init_process_group.*single process"):
        dist.init_process_group("nccl")
    with pytest.raises(RuntimeError, match="all_reduce.*single process"):
        dist.all_reduce(mg.ones(1))


def test_safe_globals_accepted():
    from minigrad import serialization
    before = serialization.get_safe_globals()
    with serialization.safe_globals([np.dtype, dict]):
        assert dict in serialization.get_safe_globals()
    assert serialization.get_safe_globals() == before
    serialization.add_safe_globals([nn.Linear])
    assert nn.Linear in serialization.get_safe_globals()
    serialization.clear_safe_globals()


# ---- refusals that help -----------------------------------------------------------------

def test_saving_a_whole_module_is_refused(tmp_path):
    model = nn.Linear(2, 2)
    path = tmp_path / "model.pt"
    with pytest.raises(TypeError) as info:
        mg.save(model, path)
    assert "model.state_dict()" in str(info.value) and "mg.save(model.state_dict(), f)" in str(info.value)
    assert not path.exists()
    with pytest.raises(TypeError, match="optimizer.state_dict"):
        mg.save(optim.SGD(model.parameters(), lr=0.1), path)
    with pytest.raises(TypeError, match="model.state_dict"):
        mg.save({"model": model}, path)
    mg.save(model.state_dict(), path)   # the way the message names works
    model.load_state_dict(mg.load(path))


def test_load_state_dict_of_a_path_says_to_load_first(tmp_path):
    with pytest.raises(TypeError, match=r"mg\.load\('file\.pt'\)"):
        nn.Linear(2, 2).load_state_dict("file.pt")
    with pytest.raises(TypeError, match="load the file first"):
        nn.Linear(2, 2).load_state_dict(tmp_path / "file.pt")


@pytest.mark.parametrize("namespace, prefix", [(mg, ""), (nn, "nn."), (F, "nn.functional."),
                                               (optim, "optim."), (mg.cuda, "cuda."),
                                               (mg.distributed, "distributed.")])
def test_missing_names_say_minigrad_has_no(namespace, prefix):
    with pytest.raises(AttributeError) as info:
        namespace.divid
    assert str(info.value) == (f"minigrad has no `{prefix}divid` - see \"{README_SECTION}\" in "
                               f"minigrad's README.md for what minigrad leaves out and what to use instead")
    assert not hasattr(namespace, "no_such_thing")
    assert info.value.name == "divid"


def test_missing_name_has_no_near_miss_suggestion():
    result = subprocess.run([sys.executable, "-c", "import minigrad; minigrad.divid"],
                            capture_output=True, text=True, timeout=120)
    assert "minigrad has no `divid`" in result.stderr and "Did you mean" not in result.stderr


def test_readme_has_the_section_the_messages_name():
    readme = os.path.join(os.path.dirname(__file__), "..", "README.md")
    with open(readme, encoding="utf-8") as fh:
        assert f"## {README_SECTION}" in fh.read()


# ---- a PyTorch program, unchanged, with `torch` meaning minigrad ---------------------------

PROGRAM = '''
import torch
import torch.nn as nn
import torch.backends.cudnn as cudnn
from torch.nn.modules.loss import _Loss
from torch.amp import GradScaler

torch.backends.cudnn.benchmark = True
torch.backends.cuda.matmul.allow_tf32 = True
torch.set_float32_matmul_precision("high")
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
torch.manual_seed(0)
torch.cuda.manual_seed_all(0)


class Loss(_Loss):
    def forward(self, a, b):
        return ((a - b) ** 2).mean()


model = torch.compile(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)).to(device))
if torch.cuda.device_count() > 1:
    model = nn.DataParallel(model)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
scaler = GradScaler(enabled=device.type == "cuda")
x, y = torch.randn(32, 4, device=device), torch.randn(32, 1).to(device)
first = None
for step in range(20):
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        loss = Loss()(model(x), y)
    opt.zero_grad()
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    first = first if first is not None else loss.item()


@torch.inference_mode()
def evaluate():
    return Loss()(model(x), y)


last = evaluate()
print(f"device={device} first={first:.4f} last={last:.4f} smaller={last.item() < first}")
'''


def test_a_pytorch_program_runs_unchanged(tmp_path):
    shim = os.path.join(os.path.dirname(__file__), "torch_programs", "shim")
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    env = dict(os.environ, PYTHONPATH=shim + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-W", "error", str(script)], capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "device=cpu" in result.stdout and "smaller=True" in result.stdout


def test_load_map_location_spellings(tmp_path):
    path = tmp_path / "state.pt"
    mg.save({"w": mg.ones(2)}, path)
    for where in ("cpu", mg.device("cpu"), {"cuda:0": "cpu"}, lambda storage, location: storage):
        np.testing.assert_array_equal(mg.load(path, map_location=where)["w"].numpy(), [1.0, 1.0])
    with pytest.raises(RuntimeError, match="load: minigrad runs on the CPU only.*'cuda'"):
        mg.load(path, map_location="cuda")
    with pytest.raises(RuntimeError, match="'cuda:1'"):
        mg.load(path, map_location={"cpu": "cuda:1"})
