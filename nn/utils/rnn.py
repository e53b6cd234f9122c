"""Batching sequences of different lengths (torch.nn.utils.rnn).

    batch = pad_sequence([mg.ones(2, 4), mg.ones(5, 4)], batch_first=True)   # (2, 5, 4)

pack_padded_sequence / PackedSequence are not here: minigrad's RNN layers take padded batches
only (mask the padded positions of the output, or run sequences of one length together).
"""
from __future__ import annotations

import minigrad as mg
from minigrad import ops
from minigrad.tensor import Tensor

__all__ = ["pad_sequence"]


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack sequences of different lengths, padding each to the longest (differentiable).

    Args:
        sequences: a list (or tuple) of B tensors (L_i, *), all with the same trailing shape and dtype.
        batch_first: output (B, L_max, *) instead of (L_max, B, *).
        padding_value: the value of the padded positions.
        padding_side: 'right' pads after each sequence, 'left' before it.

    Returns:
        (L_max, B, *), or (B, L_max, *) with batch_first.
    """
    if isinstance(sequences, Tensor):
        sequences = list(ops.unbind(sequences, 0))
    sequences = list(sequences)
    if padding_side not in ("left", "right"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', got {padding_side!r}")
    if not sequences:
        raise RuntimeError("pad_sequence: received an empty list of sequences")
    for index, seq in enumerate(sequences):
        if not isinstance(seq, Tensor):
            raise TypeError(f"pad_sequence: sequence {index} is a {type(seq).__name__}, expected a Tensor")
        if seq.ndim == 0 or tuple(seq.shape[1:]) != tuple(sequences[0].shape[1:]):
            raise RuntimeError(f"pad_sequence: every sequence must be (L_i, *) with the same trailing shape; "
                               f"sequence 0 has shape {tuple(sequences[0].shape)}, sequence {index} "
                               f"{tuple(seq.shape)}")
    longest = max(seq.shape[0] for seq in sequences)
    padded = []
    for seq in sequences:
        missing = longest - seq.shape[0]
        if missing:
            fill = mg.full((missing, *seq.shape[1:]), padding_value, dtype=seq.dtype)
            seq = ops.cat([seq, fill] if padding_side == "right" else [fill, seq], 0)
        padded.append(seq)
    return ops.stack(padded, 0 if batch_first else 1)
