"""Sequence layers: LSTM, GRU, self-attention and a Transformer encoder block.

Sequences are ``(T, features)`` per sample (batch-first tensors ``(N, T, F)``).

Example:
    >>> import torch
    >>> lstm = LSTM(8)
    >>> lstm.build((5, 3))
    >>> lstm(torch.zeros(2, 5, 3)).shape
    torch.Size([2, 8])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn as tnn

from layerwise.nn.layers import Layer, Shape, _check_rank


class _Recurrent(Layer):
    kind = tnn.LSTM

    def __init__(
        self, units: int, return_sequences: bool = False, input_shape: Shape | None = None
    ):
        super().__init__(input_shape)
        self._remember(locals())
        self.units, self.return_sequences = int(units), bool(return_sequences)

    def build(self, input_shape: Shape) -> None:
        _check_rank(self, input_shape, (2,), "(T, features)")
        self.rnn = self.kind(input_shape[-1], self.units, batch_first=True)

    def call(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return out if self.return_sequences else out[:, -1]


class LSTM(_Recurrent):
    """Long short-term memory over ``(T, F)``; the last output, or all with ``return_sequences``."""


class GRU(_Recurrent):
    """Gated recurrent unit over ``(T, F)``; the last output, or all with ``return_sequences``."""

    kind = tnn.GRU


class MultiHeadAttention(Layer):
    """Multi-head self-attention over ``(T, F)``; the output has the input's shape.

    Example:
        >>> import torch
        >>> attn = MultiHeadAttention(num_heads=2, key_dim=4)
        >>> attn.build((5, 6))
        >>> attn(torch.zeros(1, 5, 6)).shape
        torch.Size([1, 5, 6])
    """

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        dropout: float = 0.0,
        causal: bool = False,
        input_shape: Shape | None = None,
    ):
        super().__init__(input_shape)
        self._remember(locals())
        self.num_heads, self.key_dim = int(num_heads), int(key_dim)
        self.dropout, self.causal = float(dropout), bool(causal)

    def build(self, input_shape: Shape) -> None:
        _check_rank(self, input_shape, (2,), "(T, features)")
        inner = self.num_heads * self.key_dim
        self.qkv = tnn.Linear(input_shape[-1], 3 * inner)
        self.out = tnn.Linear(inner, input_shape[-1])

    def call(self, x: torch.Tensor) -> torch.Tensor:
        n, t, _ = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.num_heads, self.key_dim).permute(2, 0, 3, 1, 4)
        drop = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=self.causal)
        return self.out(out.transpose(1, 2).reshape(n, t, -1))


class TransformerEncoder(Layer):
    """One Transformer encoder block (self-attention + feed-forward, pre-norm) over ``(T, F)``.

    ``F`` must be divisible by ``num_heads``.
    """

    def __init__(
        self,
        num_heads: int,
        ff_dim: int,
        dropout: float = 0.1,
        activation: str = "gelu",
        input_shape: Shape | None = None,
    ):
        super().__init__(input_shape)
        self._remember(locals())
        self.num_heads, self.ff_dim, self.dropout = int(num_heads), int(ff_dim), float(dropout)
        self.ff_activation = activation

    def build(self, input_shape: Shape) -> None:
        _check_rank(self, input_shape, (2,), "(T, features)")
        self.block = tnn.TransformerEncoderLayer(
            input_shape[-1], self.num_heads, self.ff_dim, self.dropout,
            activation=self.ff_activation, batch_first=True, norm_first=True,
        )  # fmt: skip

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)
