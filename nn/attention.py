"""Attention: scaled dot-product attention (F-level) and nn.MultiheadAttention, PyTorch's semantics.

Two mask conventions exist in PyTorch and both are kept here, because code
written for one must run unchanged:

- `scaled_dot_product_attention(attn_mask=bool)`: True means "may attend".
- `MultiheadAttention(attn_mask=bool, key_padding_mask=bool)`: True means
  "may NOT attend" (masked out).

A float mask is added to the attention scores in both (use -inf to block).
Everything is composed from minigrad ops; there is no backward code here.
"""
from __future__ import annotations

import math

import numpy as np

import minigrad as mg
from minigrad.tensor import Tensor

from . import functional as F
from . import init
from .linear import Linear
from .module import Module
from .parameter import Parameter

__all__ = ["scaled_dot_product_attention", "MultiheadAttention", "NonDynamicallyQuantizableLinear"]


def _attend(query: Tensor, key: Tensor, value: Tensor, blocked=None, bias=None, dropout_p: float = 0.0,
            scale: float | None = None, need_weights: bool = False):
    """softmax(q k^T * scale + bias, -inf where blocked) -> dropout -> @ v.

    Args:
        query (*, L, E), key (*, S, E), value (*, S, Ev).
        blocked: bool numpy array broadcastable to (*, L, S), True = may not attend; or None.
        bias: float tensor/array broadcastable to (*, L, S) added to the scores; or None.

    Returns:
        (output (*, L, Ev), weights (*, L, S) after dropout, or None unless need_weights).
    """
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    # scaling q (L x E) costs less than scaling the scores (L x S) when E < S, and is the same math
    scores = mg.matmul(query * scale, mg.transpose(key, -2, -1))
    if bias is not None:
        if bias.dtype != scores.dtype and not bias.requires_grad:
            bias = bias.to(scores.dtype)
        scores = scores + bias
    if blocked is not None:
        scores = mg.masked_fill(scores, blocked, -math.inf)
    weights = mg.softmax(scores, -1)
    if dropout_p > 0.0:
        weights = mg.dropout(weights, dropout_p, True)
    return mg.matmul(weights, value), (weights if need_weights else None)


def _causal_blocked(length: int, source_length: int) -> np.ndarray:
    """(L, S) bool: True above the diagonal (position i may not see j > i)."""
    return np.triu(np.ones((length, source_length), dtype=bool), 1)


def _mask_array(mask, name: str, op: str):
    """Split a mask into (bool numpy array, None) or (None, float tensor)."""
    if isinstance(mask, Tensor):
        data = mask.array
    else:
        data = np.asarray(mask)
        mask = None
    if data.dtype == np.bool_:
        return data, None
    if data.dtype.kind != "f":
        raise TypeError(f"{op}: only bool and floating types of {name} are supported, got {data.dtype}")
    return None, (mask if mask is not None else mg.from_numpy(data))


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask=None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None) -> Tensor:
    """softmax(Q K^T * scale + mask) V, with PyTorch's semantics.

    Args:
        query: (*, L, E).
        key: (*, S, E).
        value: (*, S, Ev).
        attn_mask: broadcastable to (*, L, S). bool: True = this position MAY be attended
            (PyTorch's sdpa convention); float: added to the scores (-inf blocks).
        dropout_p: dropout on the attention weights; applied whenever > 0 (pass 0.0 in eval,
            as PyTorch: this function does not know about training mode).
        is_causal: block j > i (the upper triangle); cannot be combined with attn_mask.
        scale: factor on Q K^T; 1 / sqrt(E) if None.

    Returns:
        (*, L, Ev).
    """
    op = "scaled_dot_product_attention"
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor) or t.ndim < 2:
            raise RuntimeError(f"{op}: {name} must be a tensor with at least 2 dims (*, length, features), "
                               f"got {getattr(t, 'shape', type(t).__name__)}")
    if query.shape[-1] != key.shape[-1]:
        raise RuntimeError(f"{op}: query of shape {tuple(query.shape)} and key of shape {tuple(key.shape)} "
                           f"must have the same last dimension ({query.shape[-1]} != {key.shape[-1]})")
    if key.shape[-2] != value.shape[-2]:
        raise RuntimeError(f"{op}: key of shape {tuple(key.shape)} and value of shape {tuple(value.shape)} "
                           f"must have the same length (dim -2: {key.shape[-2]} != {value.shape[-2]})")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{op}: dropout_p must be in [0, 1], got {dropout_p}")
    blocked = bias = None
    length, source_length = query.shape[-2], key.shape[-2]
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError(f"{op}: pass either attn_mask or is_causal=True, not both")
        blocked = _causal_blocked(length, source_length)
    elif attn_mask is not None:
        allowed, bias = _mask_array(attn_mask, "attn_mask", op)
        if allowed is not None:
            blocked = ~allowed
        shape = (allowed if allowed is not None else bias).shape
        try:
            np.broadcast_shapes(shape, query.shape[:-1] + (source_length,))
        except ValueError:
            raise RuntimeError(f"{op}: attn_mask of shape {tuple(shape)} does not broadcast to the scores' "
                               f"shape {query.shape[:-1] + (source_length,)}") from None
    out, _ = _attend(query, key, value, blocked, bias, dropout_p, scale)
    return out


class NonDynamicallyQuantizableLinear(Linear):
    """A Linear (PyTorch gives MultiheadAttention.out_proj this class; the name is kept for repr parity)."""


class MultiheadAttention(Module):
    """Multi-head attention: Concat(head_1..head_h) W_O with head_i = Attention(Q W_Q_i, K W_K_i, V W_V_i).

    Args:
        embed_dim: E, the model dimension (also the output dimension).
        num_heads: h; E must be divisible by h (each head has E / h features).
        dropout: dropout on the attention weights, in training only.
        bias: in_proj_bias and out_proj.bias.
        batch_first: inputs/outputs (N, L, E) instead of (L, N, E).
        kdim, vdim: features of key and value (E if None); when they differ from E the
            projections are separate parameters q_proj_weight, k_proj_weight, v_proj_weight.

    Parameters (PyTorch's names and layouts):
        in_proj_weight (3E, E) rows [W_Q; W_K; W_V], in_proj_bias (3E,), out_proj.weight (E, E),
        out_proj.bias (E,). Init as PyTorch: xavier_uniform_ for the projections, zero biases.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device=None, dtype=None):
        super().__init__()
        if not isinstance(embed_dim, int) or embed_dim <= 0 or not isinstance(num_heads, int) or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be positive integers, "
                             f"got embed_dim={embed_dim!r} and num_heads={num_heads!r}")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                             f"({num_heads})")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention: add_bias_kv and add_zero_attn are not supported")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1], got {dropout}")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = float(dropout)
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(mg.empty(3 * embed_dim, embed_dim, dtype=dtype))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = Parameter(mg.empty(embed_dim, embed_dim, dtype=dtype))
            self.k_proj_weight = Parameter(mg.empty(embed_dim, self.kdim, dtype=dtype))
            self.v_proj_weight = Parameter(mg.empty(embed_dim, self.vdim, dtype=dtype))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(mg.empty(3 * embed_dim, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        self.bias_k = self.bias_v = None
        self.add_zero_attn = False
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for weight in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)

    def extra_repr(self) -> str:
        return ""

    # ---- forward --------------------------------------------------------------------
    def _project(self, query: Tensor, key: Tensor, value: Tensor):
        """q, k, v = query W_Q^T + b_Q, key W_K^T + b_K, value W_V^T + b_V (one matmul for self-attention)."""
        e = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            if query is key and key is value:
                qkv = F.linear(query, w, b)
                return qkv[..., :e], qkv[..., e:2 * e], qkv[..., 2 * e:]
            if key is value:
                kv = F.linear(key, w[e:], None if b is None else b[e:])
                return F.linear(query, w[:e], bq), kv[..., :e], kv[..., e:]
            wq, wk, wv = w[:e], w[e:2 * e], w[2 * e:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)

    def _check(self, query, key, value, key_padding_mask, attn_mask):
        """Shape checks; returns (batched, batch size N, target length L, source length S)."""
        name = "MultiheadAttention"
        for label, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, Tensor):
                raise TypeError(f"{name}: {label} must be a Tensor, got {type(t).__name__}")
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise RuntimeError(f"{name}: query, key and value must all be 3-D (batched) or all 2-D (unbatched), "
                               f"got shapes {tuple(query.shape)}, {tuple(key.shape)} and {tuple(value.shape)}")
        batched = query.ndim == 3
        for label, t, size in (("query", query, self.embed_dim), ("key", key, self.kdim), ("value", value, self.vdim)):
            if t.shape[-1] != size:
                raise RuntimeError(f"{name}: {label} has {t.shape[-1]} features (shape {tuple(t.shape)}), "
                                   f"expected {size}")
        if batched:
            batch_dim, time_dim = (0, 1) if self.batch_first else (1, 0)
            n = query.shape[batch_dim]
            if key.shape[batch_dim] != n or value.shape[batch_dim] != n:
                raise RuntimeError(f"{name}: batch sizes of query {tuple(query.shape)}, key {tuple(key.shape)} "
                                   f"and value {tuple(value.shape)} differ (batch_first={self.batch_first})")
        else:
            time_dim, n = 0, 1
        length, source_length = query.shape[time_dim], key.shape[time_dim]
        if value.shape[time_dim] != source_length:
            raise RuntimeError(f"{name}: key {tuple(key.shape)} and value {tuple(value.shape)} must have the "
                               "same sequence length")
        if key_padding_mask is not None:
            expected = (n, source_length) if batched else (source_length,)
            if tuple(key_padding_mask.shape) != expected:
                raise RuntimeError(f"{name}: key_padding_mask has shape {tuple(key_padding_mask.shape)}, "
                                   f"expected {expected}")
        if attn_mask is not None:
            shapes = [(length, source_length), (n * self.num_heads, length, source_length)]
            if tuple(attn_mask.shape) not in shapes:
                raise RuntimeError(f"{name}: attn_mask has shape {tuple(attn_mask.shape)}, expected "
                                   f"{shapes[0]} or {shapes[1]}")
        return batched, n, length, source_length

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask=None,
                need_weights: bool = True, attn_mask=None, average_attn_weights: bool = True,
                is_causal: bool = False):
        """Attend from query to key/value.

        Args:
            query: (L, N, E) ((N, L, E) with batch_first; (L, E) unbatched).
            key: (S, N, kdim), value: (S, N, vdim) (same layouts).
            key_padding_mask: (N, S) ((S,) unbatched). bool: True = this key is padding, ignore it;
                float: added to the scores.
            need_weights: also return the attention weights.
            attn_mask: (L, S) or (N * num_heads, L, S). bool: True = may NOT attend (the opposite of
                scaled_dot_product_attention's convention, as in PyTorch); float: added to the scores.
            average_attn_weights: average the returned weights over heads.
            is_causal: a hint that attn_mask is the causal mask; with attn_mask=None the causal mask
                is built here (PyTorch raises instead).

        Returns:
            (output (L, N, E) / (N, L, E) / (L, E), weights (N, L, S) averaged or (N, num_heads, L, S),
            without the N for unbatched input; None if not need_weights).
        """
        batched, n, length, source_length = self._check(query, key, value, key_padding_mask, attn_mask)
        heads, head_dim = self.num_heads, self.head_dim
        q, k, v = self._project(query, key, value)
        # to (N, heads, length, head_dim); inputs stay in their layout until here so that
        # the projections see the caller's (usually contiguous) memory
        if not batched:
            q, k, v = (mg.unsqueeze(t, 1) for t in (q, k, v))
        order = (0, 2, 1, 3) if self.batch_first and batched else (1, 2, 0, 3)
        q = mg.permute(mg.reshape(q, q.shape[:2] + (heads, head_dim)), order)
        k = mg.permute(mg.reshape(k, k.shape[:2] + (heads, head_dim)), order)
        v = mg.permute(mg.reshape(v, v.shape[:2] + (heads, head_dim)), order)

        blocked, bias = self._masks(key_padding_mask, attn_mask, is_causal, n, length, source_length)
        dropout_p = self.dropout if self.training else 0.0
        out, weights = _attend(q, k, v, blocked, bias, dropout_p, None, need_weights)
        # (N, heads, L, head_dim) -> (L, N, E) or (N, L, E)
        out = mg.permute(out, (0, 2, 1, 3) if self.batch_first and batched else (2, 0, 1, 3))
        out = mg.reshape(mg.contiguous(out), out.shape[:2] + (self.embed_dim,))
        out = self.out_proj(out)
        if not batched:
            out = mg.squeeze(out, 1)
        if weights is not None:
            if average_attn_weights:
                weights = mg.mean(weights, 1)
            if not batched:
                weights = mg.squeeze(weights, 0)
        return out, weights

    def _masks(self, key_padding_mask, attn_mask, is_causal, n, length, source_length):
        """Both masks as (bool blocked array, float bias) broadcastable to (N, heads, L, S)."""
        name = "MultiheadAttention"
        blocked_parts, bias = [], None
        if attn_mask is None and is_causal:
            blocked_parts.append(_causal_blocked(length, source_length))
        for mask, label in ((attn_mask, "attn_mask"), (key_padding_mask, "key_padding_mask")):
            if mask is None:
                continue
            flag, add = _mask_array(mask, label, name)
            value = flag if flag is not None else add
            if label == "attn_mask":
                if value.ndim == 3:
                    value = value.reshape(n, self.num_heads, length, source_length)
            else:
                value = value.reshape(n, 1, 1, source_length)
            if flag is not None:
                blocked_parts.append(value)
            else:
                bias = value if bias is None else bias + value
        blocked = None
        for part in blocked_parts:
            blocked = part if blocked is None else blocked | part
        return blocked, bias
