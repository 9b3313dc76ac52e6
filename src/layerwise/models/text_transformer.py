"""A small Transformer encoder over subword ids, for text classification.

Token embedding plus a learned position embedding, pre-norm encoder blocks (self-attention
through ``scaled_dot_product_attention`` with a key-padding mask, then an MLP), mean pooling
over the non-padding tokens, LayerNorm, dropout and a linear head.

Token ids follow :class:`layerwise.data.tokenizer.TextTokenizer`: ``[PAD]=0`` (masked out
everywhere, so padding never changes the output) and ``[UNK]=1`` (what token dropout puts in).

Example:
    >>> model = TextTransformer(TextTransformerConfig(vocab_size=50, n_classes=3, dim=16)).eval()
    >>> model(torch.tensor([[5, 6, 7, 0], [8, 0, 0, 0]])).shape
    torch.Size([2, 3])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from layerwise.errors import ConfigError, DataError, dataclass_from_dict
from layerwise.models.attention import MultiHeadSelfAttention

PAD_ID = 0
UNK_ID = 1


def check_fields(name: str, checks: list[tuple[str, bool, str]], config: Any) -> None:
    """Raise a ConfigError for the first failed ``(field, ok, expected)`` check."""
    for field_name, ok, expected in checks:
        if not ok:
            raise ConfigError(
                f"{name}.{field_name}={getattr(config, field_name)!r} is not valid.",
                f"Use {expected}.",
            )


@dataclass
class TextTransformerConfig:
    """The architecture of a :class:`TextTransformer`, JSON-able through :meth:`to_dict`.

    ``token_dropout`` is the fraction of non-padding tokens replaced by ``[UNK]`` (id 1)
    while training (a word-dropout regulariser; off in eval mode).

    Example:
        >>> config = TextTransformerConfig(8000, 2)
        >>> TextTransformerConfig.from_dict(config.to_dict()) == config
        True
    """

    vocab_size: int
    n_classes: int
    max_length: int = 128
    dim: int = 128
    depth: int = 2
    heads: int = 4
    mlp_ratio: float = 2.0
    dropout: float = 0.1
    token_dropout: float = 0.0

    def __post_init__(self) -> None:
        check_fields(
            "TextTransformerConfig",
            [
                ("vocab_size", self.vocab_size >= 2, "a whole number >= 2 ([PAD] and [UNK])"),
                ("n_classes", self.n_classes >= 1, "a whole number >= 1"),
                ("max_length", self.max_length >= 1, "a whole number >= 1"),
                ("depth", self.depth >= 1, "a whole number >= 1"),
                ("heads", self.heads >= 1, "a whole number >= 1"),
                ("dim", self.dim >= 1 and self.dim % self.heads == 0, "a multiple of heads"),
                ("mlp_ratio", self.mlp_ratio > 0, "a positive number"),
                ("dropout", 0.0 <= self.dropout < 1.0, "a fraction in [0, 1)"),
                ("token_dropout", 0.0 <= self.token_dropout < 1.0, "a fraction in [0, 1)"),
            ],
            self,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TextTransformerConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the closest field."""
        return dataclass_from_dict(cls, d)


class EncoderBlock(nn.Module):
    """Pre-norm: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        hidden = max(1, round(dim * mlp_ratio))
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadSelfAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), keep))
        return x + self.drop(self.mlp(self.norm2(x)))


def padding_mask(ids: torch.Tensor) -> torch.Tensor:
    """True at real tokens; a row of only padding keeps its first position (no empty softmax)."""
    keep = ids != PAD_ID
    first = torch.zeros_like(keep)
    first[:, :1] = True
    return keep | (first & ~keep.any(1, keepdim=True))


class TextTransformer(nn.Module):
    """Transformer encoder classifier: ``forward(ids [N, L] int64) -> logits [N, n_classes]``.

    ``L`` may be anything up to ``config.max_length``. For attributions on embeddings,
    ``forward(ids) == forward_from_embeddings(embed(ids), ids)`` (in eval mode); the position
    embedding is added inside :meth:`forward_from_embeddings`, so integrated gradients from a
    zero baseline attribute to tokens only. :meth:`attention_weights` gives each block's
    attention probabilities.

    Example:
        >>> model = TextTransformer(TextTransformerConfig(50, 2, dim=16, depth=1)).eval()
        >>> ids = torch.tensor([[5, 6, 7]])
        >>> torch.allclose(model(ids), model.forward_from_embeddings(model.embed(ids), ids))
        True
        >>> [tuple(w.shape) for w in model.attention_weights(ids)]
        [(1, 4, 3, 3)]
    """

    def __init__(self, config: TextTransformerConfig):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.dim, padding_idx=PAD_ID)
        self.position_embedding = nn.Parameter(torch.zeros(config.max_length, config.dim))
        self.blocks = nn.ModuleList(
            EncoderBlock(config.dim, config.heads, config.mlp_ratio, config.dropout)
            for _ in range(config.depth)
        )
        self.norm = nn.LayerNorm(config.dim)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.dim, config.n_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        with torch.no_grad():
            self.token_embedding.weight[PAD_ID].zero_()
        nn.init.normal_(self.position_embedding, std=0.02)

    def _check(self, ids: torch.Tensor) -> None:
        if ids.dim() != 2 or ids.shape[1] > self.config.max_length:
            raise DataError(
                f"TextTransformer got token ids of shape {tuple(ids.shape)}.",
                f"Expected [batch, length] with length <= max_length={self.config.max_length}.",
            )

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Token embeddings ``[N, L, dim]`` (without positions)."""
        return self.token_embedding(ids)

    def _encode(self, emb: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(ids)
        keep = padding_mask(ids)
        x = self.drop(emb + self.position_embedding[: ids.shape[1]])
        for block in self.blocks:
            x = block(x, keep)
        return x, keep

    def forward_from_embeddings(self, emb: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Logits from token embeddings ``emb [N, L, dim]``; ``ids`` give the padding mask."""
        x, _ = self._encode(emb, ids)
        real = (ids != PAD_ID).unsqueeze(-1).to(x.dtype)
        pooled = (x * real).sum(1) / real.sum(1).clamp(min=1.0)
        return self.head(self.drop(self.norm(pooled)))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, n_classes]`` for token ids ``[N, L]`` (0 = padding)."""
        if self.training and self.config.token_dropout > 0:
            drop = torch.rand(ids.shape, device=ids.device) < self.config.token_dropout
            ids = ids.masked_fill(drop & (ids != PAD_ID), UNK_ID)
        return self.forward_from_embeddings(self.embed(ids), ids)

    @torch.no_grad()
    def attention_weights(self, ids: torch.Tensor) -> list[torch.Tensor]:
        """Each block's attention probabilities ``[N, heads, L, L]`` (eval-mode values)."""
        self._check(ids)
        keep = padding_mask(ids)
        x = self.token_embedding(ids) + self.position_embedding[: ids.shape[1]]
        out = []
        for block in self.blocks:
            out.append(block.attn.weights(block.norm1(x), keep))
            x = block(x, keep)
        return out
