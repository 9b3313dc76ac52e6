"""Multi-head self-attention, the one implementation behind GPT, SASRec and TextTransformer.

A fused ``qkv`` projection splits into heads, ``scaled_dot_product_attention`` attends, and
``proj`` merges the heads back. The parameters are ``qkv.weight``, ``proj.weight`` (and
``qkv.bias``, ``proj.bias`` with ``bias=True``), the names the three models saved under
before they shared this module, so saved weights load unchanged.

Masking (:func:`attention_mask`): ``causal`` lets query ``i`` see keys ``j <= i``; ``keep``
``[N, L]`` is a key-padding mask, True at real tokens. With both, a query also always sees
itself, so a padded query's row is never empty (no NaN); its output is not meaningful.
Without ``causal`` every row must keep at least one key (see
:func:`layerwise.models.text_transformer.padding_mask`).

Example:
    >>> torch.manual_seed(0) and None
    >>> attn = MultiHeadSelfAttention(dim=8, heads=2).eval()
    >>> x, keep = torch.randn(2, 3, 8), torch.tensor([[True, True, False], [True, True, True]])
    >>> attn(x, keep, causal=True).shape
    torch.Size([2, 3, 8])
    >>> attn.weights(x, keep)[0, 0, :, 2].tolist()  # the padded key gets no attention
    [0.0, 0.0, 0.0]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def attention_mask(keep: torch.Tensor | None, causal: bool, length: int) -> torch.Tensor | None:
    """The boolean mask (True: may attend) that ``scaled_dot_product_attention`` takes.

    ``None`` when nothing is masked; ``[L, L]`` for ``causal`` alone; ``[N, 1, 1, L]`` for a
    key-padding mask ``keep [N, L]`` alone; ``[N, 1, L, L]`` for both, where each query also
    sees itself.

    Example:
        >>> attention_mask(torch.tensor([[False, True, True]]), causal=True, length=3)[0, 0]
        tensor([[ True, False, False],
                [False,  True, False],
                [False,  True,  True]])
    """
    if not causal:
        return None if keep is None else keep[:, None, None, :]
    device = None if keep is None else keep.device
    lower = torch.ones(length, length, dtype=torch.bool, device=device).tril()
    if keep is None:
        return lower
    eye = torch.eye(length, dtype=torch.bool, device=device)
    return ((lower & keep[:, None, :]) | eye)[:, None]


class MultiHeadSelfAttention(nn.Module):
    """``forward(x [N, L, dim], keep [N, L] | None, causal) -> [N, L, dim]``.

    ``dropout`` applies to the attention probabilities while training.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be a multiple of heads={heads}.")
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.proj = nn.Linear(dim, dim, bias=bias)

    def split_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys and values of ``x [N, L, dim]``, each ``[N, heads, L, head_dim]``."""
        n, length, dim = x.shape
        qkv = self.qkv(x).view(n, length, 3, self.heads, dim // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        return q, k, v

    def merge_heads(self, out: torch.Tensor) -> torch.Tensor:
        """``[N, heads, L, head_dim]`` back to ``[N, L, dim]``, through ``proj``."""
        return self.proj(out.transpose(1, 2).flatten(2))

    def forward(
        self, x: torch.Tensor, keep: torch.Tensor | None = None, causal: bool = False
    ) -> torch.Tensor:
        q, k, v = self.split_heads(x)
        p = self.dropout if self.training else 0.0
        if keep is None:  # is_causal lets the fused (flash) kernels skip the masked half
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=causal)
        else:
            mask = attention_mask(keep, causal, x.shape[1])
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.merge_heads(out)

    def weights(
        self, x: torch.Tensor, keep: torch.Tensor | None = None, causal: bool = False
    ) -> torch.Tensor:
        """The attention probabilities ``[N, heads, L, L]`` (query by key), without dropout."""
        q, k, _ = self.split_heads(x)
        scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
        mask = attention_mask(keep, causal, x.shape[1])
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return scores.softmax(-1)
