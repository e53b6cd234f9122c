"""minigrad.distributed: there is one process, and this module says so.

Programs written for several processes ask first: `is_available()` and `is_initialized()` are
False here, `get_rank()` is 0 and `get_world_size()` is 1 (what a single process is), and
`destroy_process_group()` does nothing. Anything that would really talk to other processes
(`init_process_group`, the collectives, `barrier`) raises a RuntimeError naming it and saying
to run a single process.
"""
from __future__ import annotations

import enum

from ._missing import missing, refusals

__all__ = ["is_available", "is_initialized", "is_torchelastic_launched", "get_rank",
           "get_world_size", "get_local_rank", "destroy_process_group", "init_process_group",
           "ReduceOp", "Backend"]


def is_available() -> bool:
    """False: minigrad has no process groups."""
    return False


def is_initialized() -> bool:
    return False


def is_torchelastic_launched() -> bool:
    return False


def get_rank(group=None) -> int:
    """0: the only process."""
    return 0


def get_world_size(group=None) -> int:
    """1: the only process."""
    return 1


def get_local_rank() -> int:
    return 0


def destroy_process_group(group=None) -> None:
    """Does nothing: no process group was ever made."""


class ReduceOp(enum.Enum):
    SUM = "sum"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    AVG = "avg"


class Backend:
    GLOO = "gloo"
    NCCL = "nccl"
    MPI = "mpi"


globals().update(refusals(
    "distributed.", "minigrad runs in a single process and has no process group - run the script "
    "as one process (python, not torchrun), guarded by `if torch.distributed.is_initialized():`",
    ("init_process_group", "new_group", "barrier", "all_reduce", "reduce", "broadcast", "all_gather",
     "all_gather_object", "all_gather_into_tensor", "gather", "scatter", "reduce_scatter",
     "reduce_scatter_tensor", "all_to_all", "send", "recv", "isend", "irecv", "broadcast_object_list",
     "monitored_barrier")))


def __getattr__(name: str):
    raise missing("distributed.", name)
