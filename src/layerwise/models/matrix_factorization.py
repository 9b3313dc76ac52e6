"""Matrix factorisation: a user and an item embedding whose dot product is the score.

For ranking (BPR, Rendle et al. 2009) the score is ``p_u . q_i + b_i``: the item bias learns
popularity, and a per-user bias or a global offset would cancel out of every pairwise
difference. For rating prediction (``biases=True``, Koren et al. 2009) the score is
``mu + b_u + b_i + p_u . q_i`` with a learnt global offset ``mu``.

Indices are ``0..n-1``; a user or item the model never saw is handled by the caller (see
:meth:`MatrixFactorization.default_scores`).

Example:
    >>> model = MatrixFactorization(MFConfig(n_users=4, n_items=6, dim=8)).eval()
    >>> model(torch.tensor([0, 3]), torch.tensor([5, 1])).shape
    torch.Size([2])
    >>> model.full_scores(torch.tensor([0, 1, 2])).shape
    torch.Size([3, 6])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from layerwise.errors import dataclass_from_dict
from layerwise.models.text_transformer import check_fields


@dataclass
class MFConfig:
    """The architecture of a :class:`MatrixFactorization`, JSON-able through :meth:`to_dict`.

    Example:
        >>> config = MFConfig(943, 1682, biases=True)
        >>> MFConfig.from_dict(config.to_dict()) == config
        True
    """

    n_users: int
    n_items: int
    dim: int = 64
    biases: bool = False
    init_std: float = 0.01

    def __post_init__(self) -> None:
        check_fields(
            "MFConfig",
            [
                ("n_users", self.n_users >= 1, "a whole number >= 1"),
                ("n_items", self.n_items >= 1, "a whole number >= 1"),
                ("dim", self.dim >= 1, "a whole number >= 1, e.g. 64"),
                ("biases", isinstance(self.biases, bool), "true or false"),
                ("init_std", self.init_std > 0, "a number > 0, e.g. 0.01"),
            ],
            self,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MFConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the closest field."""
        return dataclass_from_dict(cls, d)


class MatrixFactorization(nn.Module):
    """User and item embeddings plus biases: ``forward(users, items) -> scores [B]``."""

    def __init__(self, config: MFConfig):
        super().__init__()
        self.config = config
        self.user_embedding = nn.Embedding(config.n_users, config.dim)
        self.item_embedding = nn.Embedding(config.n_items, config.dim)
        self.item_bias = nn.Parameter(torch.zeros(config.n_items))
        nn.init.normal_(self.user_embedding.weight, std=config.init_std)
        nn.init.normal_(self.item_embedding.weight, std=config.init_std)
        if config.biases:
            self.user_bias = nn.Parameter(torch.zeros(config.n_users))
            self.offset = nn.Parameter(torch.zeros(()))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """The score of each ``(users[j], items[j])`` pair, ``[B]``."""
        dot = (self.user_embedding(users) * self.item_embedding(items)).sum(-1)
        out = dot + self.item_bias[items]
        if self.config.biases:
            out = out + self.user_bias[users] + self.offset
        return out

    def full_scores(self, users: torch.Tensor) -> torch.Tensor:
        """Every item's score for each user, ``[B, n_items]``."""
        out = self.user_embedding(users) @ self.item_embedding.weight.T + self.item_bias
        if self.config.biases:
            out = out + (self.user_bias[users] + self.offset).unsqueeze(1)
        return out

    def default_scores(self) -> torch.Tensor:
        """Scores ``[n_items]`` for a user the model never saw: the biases alone."""
        out = self.item_bias
        return out + self.offset if self.config.biases else out

    def item_vectors(self) -> torch.Tensor:
        """The item embeddings ``[n_items, dim]`` (for item-to-item similarity)."""
        return self.item_embedding.weight
