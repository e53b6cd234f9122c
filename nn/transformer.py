"""Transformer layers with PyTorch's submodule names, arguments and defaults, plus positional encoding.

    layer = nn.TransformerEncoderLayer(d_model=64, nhead=4, batch_first=True)
    encoder = nn.TransformerEncoder(layer, num_layers=2)
    mask = nn.Transformer.generate_square_subsequent_mask(10)   # float, -inf above the diagonal
    y = encoder(x, mask=mask, is_causal=True)

State-dict keys equal PyTorch's (`self_attn.in_proj_weight`, `linear1.weight`,
`norm1.weight`, ...), so weights move between the two unchanged. Everything
is composed from minigrad ops; there is no backward code here.
"""
from __future__ import annotations

import copy
import math
from typing import Callable

import numpy as np

import minigrad as mg
from minigrad.tensor import Tensor

from . import functional as F
from .attention import MultiheadAttention
from .containers import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .normalization import LayerNorm

__all__ = ["TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer", "TransformerDecoder",
           "Transformer", "PositionalEncoding", "generate_square_subsequent_mask"]


def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
    """The causal mask for a sequence of length sz: float (sz, sz), -inf above the diagonal, 0 elsewhere.

    Position i may attend to positions j <= i. Pass it as attn_mask / src_mask / tgt_mask.
    """
    if not isinstance(sz, (int, np.integer)) or sz < 0:
        raise ValueError(f"generate_square_subsequent_mask: sz must be a non-negative integer, got {sz!r}")
    dtype = np.dtype(dtype) if dtype is not None else mg.float32
    mask = np.triu(np.full((sz, sz), -np.inf, dtype=dtype), 1)
    return mg.from_numpy(mask)


def _activation(activation, layer: str) -> Callable:
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    if callable(activation):
        return activation
    raise RuntimeError(f"{layer}: activation should be 'relu', 'gelu' or a callable, not {activation!r}")


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block, each with a residual connection and LayerNorm.

    Post-norm (default, as "Attention Is All You Need"):
        x = norm1(x + dropout1(self_attn(x))); x = norm2(x + dropout2(ff(x)))
    Pre-norm (norm_first=True):
        x = x + dropout1(self_attn(norm1(x))); x = x + dropout2(ff(norm2(x)))
    with ff(x) = linear2(dropout(activation(linear1(x)))).

    Args:
        d_model: E, the model dimension.
        nhead: attention heads (E must be divisible by nhead).
        dim_feedforward: hidden width of the feed-forward block.
        dropout: dropout probability everywhere (attention weights included).
        activation: 'relu', 'gelu' or a callable (a Module is registered as a submodule).
        layer_norm_eps: LayerNorm's eps.
        batch_first: src is (N, L, E) instead of (L, N, E).
        norm_first: pre-norm instead of post-norm.
        bias: biases in the linear layers, attention and LayerNorms.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation, "TransformerEncoderLayer")

    def forward(self, src: Tensor, src_mask=None, src_key_padding_mask=None, is_causal: bool = False) -> Tensor:
        """Args:
            src: (L, N, E), (N, L, E) with batch_first, or (L, E).
            src_mask: (L, S) or (N * nhead, L, S); bool True = may NOT attend, or float added.
            src_key_padding_mask: (N, S); bool True = padding (ignored), or float added.
            is_causal: src_mask is the causal mask (or, without src_mask, apply the causal mask).

        Returns:
            Tensor shaped like src.
        """
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoderLayer(Module):
    """Self-attention, cross-attention to the encoder's output (memory) and a feed-forward block.

    Post-norm: x = norm1(x + sa(x)); x = norm2(x + mha(x, memory)); x = norm3(x + ff(x));
    pre-norm (norm_first) as in TransformerEncoderLayer. Args as TransformerEncoderLayer.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(activation, "TransformerDecoderLayer")

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask=None, memory_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> Tensor:
        """tgt (T, N, E) and memory (S, N, E) (batch_first: (N, T, E), (N, S, E)) -> shaped like tgt."""
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _mha_block(self, x, memory, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, memory, memory, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


def _clones(layer: Module, n: int, owner: str) -> ModuleList:
    if not isinstance(layer, Module):
        raise TypeError(f"{owner}: expected a layer Module to copy, got {type(layer).__name__}")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{owner}: num_layers must be a positive integer, got {n!r}")
    # independent copies: each layer gets its own parameters, as PyTorch's _get_clones
    return ModuleList([copy.deepcopy(layer) for _ in range(n)])


class TransformerEncoder(Module):
    """num_layers independent copies of encoder_layer applied in turn, then an optional norm.

    Args:
        encoder_layer: a TransformerEncoderLayer (copied: the copies do not share parameters).
        num_layers: how many layers.
        norm: a final normalisation module (e.g. LayerNorm) or None.
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True):
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers, "TransformerEncoder")
        self.num_layers = int(num_layers)
        self.norm = norm

    def forward(self, src: Tensor, mask=None, src_key_padding_mask=None, is_causal: bool | None = None) -> Tensor:
        """src (L, N, E) (batch_first: (N, L, E)); mask and src_key_padding_mask as the layer's. -> like src."""
        output = src
        for layer in self.layers:
            output = layer(output, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                           is_causal=bool(is_causal))
        if self.norm is not None:
            output = self.norm(output)
        return output


class TransformerDecoder(Module):
    """num_layers independent copies of decoder_layer applied in turn, then an optional norm."""

    def __init__(self, decoder_layer: Module, num_layers: int, norm: Module | None = None):
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers, "TransformerDecoder")
        self.num_layers = int(num_layers)
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        output = tgt
        for layer in self.layers:
            output = layer(output, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                           tgt_key_padding_mask=tgt_key_padding_mask,
                           memory_key_padding_mask=memory_key_padding_mask,
                           tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        if self.norm is not None:
            output = self.norm(output)
        return output


class Transformer(Module):
    """The encoder-decoder transformer of "Attention Is All You Need" (PyTorch's nn.Transformer).

    Args:
        d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout,
        activation, custom_encoder, custom_decoder, layer_norm_eps, batch_first, norm_first, bias:
        as PyTorch (defaults 512, 8, 6, 6, 2048, 0.1, 'relu', None, None, 1e-5, False, False, True).

    forward(src (S, N, E), tgt (T, N, E), ...) -> (T, N, E) (batch_first: (N, *, E)).
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", custom_encoder: Module | None = None, custom_decoder: Module | None = None,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False, norm_first: bool = False,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                            layer_norm_eps, batch_first, norm_first, bias, dtype=dtype)
            self.encoder = TransformerEncoder(layer, num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                            layer_norm_eps, batch_first, norm_first, bias, dtype=dtype)
            self.decoder = TransformerDecoder(layer, num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def forward(self, src: Tensor, tgt: Tensor, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
                src_is_causal: bool | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        batch_dim = 0 if self.batch_first else 1
        if src.ndim == 3 and tgt.ndim == 3 and src.shape[batch_dim] != tgt.shape[batch_dim]:
            raise RuntimeError(f"Transformer: the batch size of src {tuple(src.shape)} and tgt "
                               f"{tuple(tgt.shape)} must be equal (batch_first={self.batch_first})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f"Transformer: the feature number of src {tuple(src.shape)} and tgt "
                               f"{tuple(tgt.shape)} must be equal to d_model ({self.d_model})")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    generate_square_subsequent_mask = staticmethod(generate_square_subsequent_mask)


class PositionalEncoding(Module):
    """Adds the sinusoidal position code of "Attention Is All You Need", then dropout.

        pe[pos, 2i] = sin(pos / 10000^(2i / d_model)),  pe[pos, 2i + 1] = cos(pos / 10000^(2i / d_model))

    Args:
        d_model: E, the embedding dimension.
        max_len: the longest sequence supported.
        dropout: dropout after adding the code.
        batch_first: inputs are (N, L, E) instead of (L, N, E).

    Buffer `pe` has shape (max_len, 1, d_model), as in PyTorch's tutorial.
    Shapes: input (L, N, E), (N, L, E) with batch_first, or (L, E) -> the same shape.
    """

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0, batch_first: bool = False):
        super().__init__()
        self.d_model = d_model
        self.max_len = max_len
        self.batch_first = batch_first
        self.dropout = Dropout(p=dropout)
        position = np.arange(max_len, dtype=np.float64)[:, None]
        div_term = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * (-math.log(10000.0) / d_model))
        pe = np.zeros((max_len, 1, d_model), dtype=np.float64)
        pe[:, 0, 0::2] = np.sin(position * div_term)
        pe[:, 0, 1::2] = np.cos(position * div_term[:d_model // 2])
        self.register_buffer("pe", mg.from_numpy(pe.astype(mg.float32)))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in (2, 3) or x.shape[-1] != self.d_model:
            raise RuntimeError(f"PositionalEncoding: expected input (L, N, {self.d_model}), (N, L, {self.d_model}) "
                               f"with batch_first, or (L, {self.d_model}), got shape {tuple(x.shape)}")
        length = x.shape[1] if (self.batch_first and x.ndim == 3) else x.shape[0]
        if length > self.max_len:
            raise RuntimeError(f"PositionalEncoding: sequence length {length} exceeds max_len {self.max_len}")
        pe = self.pe.array[:length, 0]  # (L, E): broadcasts over (N, L, E) and (L, E)
        if x.ndim == 3 and not self.batch_first:
            pe = pe[:, None]  # (L, 1, E) against (L, N, E)
        return self.dropout(x + pe.astype(x.dtype, copy=False))

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"
