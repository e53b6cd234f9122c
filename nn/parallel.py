"""nn.parallel: PyTorch's multi-device wrappers, for programs that import them.

minigrad runs in one process on the CPU. `DataParallel(model)` is what PyTorch's is without
GPUs: a wrapper that calls `model` itself (`.module` is the model; state_dict keys gain the
prefix "module.", as in PyTorch). `DistributedDataParallel` needs a process group, which
minigrad does not have: constructing one raises, saying to train the module itself.
"""
from __future__ import annotations

from .module import Module

__all__ = ["DataParallel", "DistributedDataParallel", "data_parallel"]


def _refuse_gpus(who: str, device_ids) -> None:
    ids = [d for d in (device_ids or []) if str(d) != "cpu"]
    if ids:
        raise RuntimeError(f"{who}: device_ids={list(device_ids)} name GPUs, and minigrad runs on "
                           f"the CPU only - leave device_ids out (the model then runs on the CPU)")


class DataParallel(Module):
    """Wraps `module` and calls it on the CPU, as PyTorch's DataParallel does without GPUs.

    Args:
        module: the model.
        device_ids, output_device: must be None (or 'cpu'): there are no GPUs to spread over.
        dim: accepted (the batch dimension PyTorch would split).
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0):
        super().__init__()
        _refuse_gpus("DataParallel", device_ids)
        _refuse_gpus("DataParallel", [output_device] if output_device is not None else None)
        self.module = module
        self.dim = dim
        self.device_ids = []

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)


class DistributedDataParallel(Module):
    """Refused: minigrad has no process group (one process, one CPU)."""

    def __init__(self, module=None, *args, **kwargs):
        raise RuntimeError(
            "DistributedDataParallel: minigrad runs in a single process and has no process group "
            "(torch.distributed) - train the module itself without the wrapper, in one process "
            "(run the script with python, not torchrun)")


def data_parallel(module, inputs, device_ids=None, output_device=None, dim: int = 0,
                  module_kwargs=None):
    """The functional DataParallel: `module(*inputs)` on the CPU."""
    _refuse_gpus("data_parallel", device_ids)
    if not isinstance(inputs, tuple):
        inputs = (inputs,)
    return module(*inputs, **(module_kwargs or {}))
