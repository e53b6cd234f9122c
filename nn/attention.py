"""nn.MultiheadAttention, PyTorch's semantics, on F.scaled_dot_product_attention's pieces
(nn/functional.py: the attention itself, causal and mask helpers).

Two mask conventions exist in PyTorch and both are kept here, because code
written for one must run unchanged:

- `scaled_dot_product_attention(attn_mask=bool)`: True means "may attend".
- `MultiheadAttention(attn_mask=bool, key_padding_mask=bool)`: True means
  "may NOT attend" (masked out).

A float mask is added to the attention scores in both (use -inf to block).
Everything is composed from minigrad ops; there is no backward code here.
"""
from __future__ import annotations

import minigrad as mg
from minigrad.tensor import Tensor

from . import functional as F
from . import init
from .linear import Linear
from .module import Module
from .parameter import Parameter

__all__ = ["MultiheadAttention", "NonDynamicallyQuantizableLinear"]


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
        out, weights = F._attend(q, k, v, blocked, bias, dropout_p, None, need_weights)
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
            blocked_parts.append(F._causal_blocked(length, source_length))
        for mask, label in ((attn_mask, "attn_mask"), (key_padding_mask, "key_padding_mask")):
            if mask is None:
                continue
            flag, add = F._mask_array(mask, label, name)
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
