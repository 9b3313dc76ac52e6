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

Cross-attention (an encoder-decoder's decoder) uses the same module and the same weights'
layout: with ``memory`` the queries come from ``x`` (the first ``dim`` rows of ``qkv``) and
the keys and values from ``memory`` (the other ``2 * dim`` rows); ``keep`` is then the
memory's padding mask. For decoding one token at a time, :meth:`~MultiHeadSelfAttention.step`
appends to causal self-attention keys/values the caller holds, and
:meth:`~MultiHeadSelfAttention.keys_values` computes a memory's keys/values once for
:meth:`~MultiHeadSelfAttention.attend_memory` to reuse at every step.

Example:
    >>> torch.manual_seed(0) and None
    >>> attn = MultiHeadSelfAttention(dim=8, heads=2).eval()
    >>> x, keep = torch.randn(2, 3, 8), torch.tensor([[True, True, False], [True, True, True]])
    >>> attn(x, keep, causal=True).shape
    torch.Size([2, 3, 8])
    >>> attn.weights(x, keep)[0, 0, :, 2].tolist()  # the padded key gets no attention
    [0.0, 0.0, 0.0]
    >>> attn(x[:, :2], keep, memory=x).shape  # cross-attention: 2 queries, 3 memory keys
    torch.Size([2, 2, 8])
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


KeysValues = tuple[torch.Tensor, torch.Tensor]  # each [N, heads, L, head_dim]


class MultiHeadSelfAttention(nn.Module):
    """``forward(x [N, L, dim], keep [N, L] | None, causal, memory) -> [N, L, dim]``.

    ``dropout`` applies to the attention probabilities while training. With ``memory
    [N, S, dim]`` it is cross-attention: ``x`` attends to ``memory``, ``keep [N, S]`` masks
    the memory's padding, and ``causal`` must be False.

    Example (one token at a time with :meth:`step` gives the causal forward):
        >>> torch.manual_seed(0) and None
        >>> attn, x = MultiHeadSelfAttention(dim=8, heads=2).eval(), torch.randn(1, 3, 8)
        >>> first, past = attn.step(x[:, :2])
        >>> last, past = attn.step(x[:, 2:], past)
        >>> torch.allclose(torch.cat([first, last], 1), attn(x, causal=True), atol=1e-6)
        True
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

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        n, length, dim = t.shape
        return t.view(n, length, self.heads, dim // self.heads).transpose(1, 2)

    def _rows(self, x: torch.Tensor, rows: slice) -> torch.Tensor:
        bias = None if self.qkv.bias is None else self.qkv.bias[rows]
        return F.linear(x, self.qkv.weight[rows], bias)

    def queries(self, x: torch.Tensor) -> torch.Tensor:
        """The queries of ``x [N, L, dim]`` alone, ``[N, heads, L, head_dim]``."""
        return self._heads(self._rows(x, slice(0, x.shape[-1])))

    def keys_values(self, memory: torch.Tensor) -> KeysValues:
        """The keys and values of ``memory [N, S, dim]`` alone, each ``[N, heads, S, head_dim]``
        (compute them once per memory for :meth:`attend_memory`)."""
        k, v = self._rows(memory, slice(memory.shape[-1], None)).chunk(2, dim=-1)
        return self._heads(k), self._heads(v)

    def attend(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: torch.Tensor | None = None,
        causal: bool = False,
    ) -> torch.Tensor:
        """``scaled_dot_product_attention`` (dropout while training), heads merged through
        ``proj``: ``[N, L, dim]``. ``causal`` aligns query 0 with key 0 (no ``mask`` then)."""
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal)
        return self.merge_heads(out)

    def forward(
        self,
        x: torch.Tensor,
        keep: torch.Tensor | None = None,
        causal: bool = False,
        memory: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if memory is not None:
            if causal:
                raise ValueError("Cross-attention (memory given) cannot be causal.")
            return self.attend_memory(x, self.keys_values(memory), keep)
        q, k, v = self.split_heads(x)
        if keep is None:  # is_causal lets the fused (flash) kernels skip the masked half
            return self.attend(q, k, v, causal=causal)
        return self.attend(q, k, v, attention_mask(keep, causal, x.shape[1]))

    def attend_memory(
        self, x: torch.Tensor, memory_kv: KeysValues, keep: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Cross-attention of ``x [N, L, dim]`` to keys/values from :meth:`keys_values`;
        ``keep [N, S]`` is True at the memory's real positions."""
        k, v = memory_kv
        return self.attend(self.queries(x), k, v, attention_mask(keep, False, k.shape[2]))

    def step(
        self, x: torch.Tensor, past: KeysValues | None = None
    ) -> tuple[torch.Tensor, KeysValues]:
        """Causal self-attention of ``x [N, t, dim]``, the positions that follow the cached
        ``past`` keys/values (None: the first positions). Returns the output ``[N, t, dim]``
        and the keys/values of all positions so far, the next call's ``past``."""
        q, k, v = self.split_heads(x)
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        new, total = q.shape[2], k.shape[2]
        if new == 1 or new == total:  # one new query sees every key; a prefill is plain causal
            return self.attend(q, k, v, causal=new > 1), (k, v)
        allowed = torch.ones(new, total, dtype=torch.bool, device=x.device).tril(total - new)
        return self.attend(q, k, v, allowed), (k, v)

    def weights(
        self,
        x: torch.Tensor,
        keep: torch.Tensor | None = None,
        causal: bool = False,
        memory: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The attention probabilities ``[N, heads, L, S]`` (query by key; ``S = L`` without
        ``memory``), without dropout."""
        if memory is None:
            q, k, _ = self.split_heads(x)
        elif causal:
            raise ValueError("Cross-attention (memory given) cannot be causal.")
        else:
            q, k = self.queries(x), self.keys_values(memory)[0]
        scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
        mask = attention_mask(keep, causal, k.shape[2])
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return scores.softmax(-1)
