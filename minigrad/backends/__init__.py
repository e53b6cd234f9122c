"""minigrad.backends: PyTorch's backend switches, readable and assignable, reporting no GPU backend.

`torch.backends.cudnn.benchmark = True`, `torch.backends.cuda.matmul.allow_tf32 = True` and
the like are kept as plain values that nothing in minigrad reads: numpy on the CPU has no
cuDNN, TF32 or MPS to switch, so a program that sets them computes exactly as before.
"""
from . import cpu, cuda, cudnn, mkldnn, mps

__all__ = ["cpu", "cuda", "cudnn", "mkldnn", "mps"]
