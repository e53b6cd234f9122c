"""torch.utils.checkpoint: accepted, and run without recomputation.

PyTorch's checkpoint saves memory by dropping a block's activations in the forward pass and
recomputing them in backward; the values and gradients are the same as running the block
normally. minigrad runs the block normally, so a program that checkpoints gets PyTorch's
results and minigrad's usual memory use (the activations are kept).
"""
from __future__ import annotations

__all__ = ["checkpoint", "checkpoint_sequential"]


def checkpoint(function, *args, use_reentrant: bool | None = None, context_fn=None,
               determinism_check: str = "default", debug: bool = False,
               preserve_rng_state: bool = True, **kwargs):
    """`function(*args, **kwargs)`: the other arguments are PyTorch's and change nothing here."""
    return function(*args, **kwargs)


def checkpoint_sequential(functions, segments: int, input, use_reentrant: bool | None = None, **kwargs):
    """Run `functions` (an nn.Sequential or a list of modules/functions) one after another on input."""
    if int(segments) < 1:
        raise ValueError(f"checkpoint_sequential: segments must be positive, got {segments}")
    if hasattr(functions, "children") and not isinstance(functions, (list, tuple)):
        functions = list(functions.children())
    for function in functions:
        input = function(input)
    return input
