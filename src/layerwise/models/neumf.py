"""NeuMF: neural matrix factorisation (He et al., "Neural Collaborative Filtering", WWW 2017).

Two branches with their own user and item embeddings: GMF, the elementwise product
``p_u * q_i`` (matrix factorisation with a learnt weight per factor), and an MLP over the
concatenation ``[p_u, q_i]`` (ReLU layers, optional dropout). The final linear layer maps the
concatenated branch outputs to one logit: the probability, after a sigmoid, that the user
interacts with the item.

Scoring every item for a user is done by broadcasting in item chunks: the MLP's first layer is
split into a user half and an item half, computed once each, then summed per (user, item)
pair, so memory stays at about ``CHUNK_ELEMENTS`` floats per layer whatever the catalogue size.

Example:
    >>> model = NeuMF(NeuMFConfig(n_users=4, n_items=6, dim=8, mlp_dim=8, layers=[16, 8])).eval()
    >>> model(torch.tensor([0, 3]), torch.tensor([5, 1])).shape
    torch.Size([2])
    >>> model.full_scores(torch.tensor([0, 1, 2])).shape
    torch.Size([3, 6])
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from layerwise.errors import dataclass_from_dict
from layerwise.models.text_transformer import check_fields

CHUNK_ELEMENTS = 1 << 22  # (users x items x hidden) floats per chunk of full_scores: 16 MiB


@dataclass
class NeuMFConfig:
    """The architecture of a :class:`NeuMF`, JSON-able through :meth:`to_dict`.

    ``dim``: GMF factors; ``mlp_dim``: the MLP branch's embedding size (user and item each);
    ``layers``: the MLP's hidden sizes, applied to the ``2 * mlp_dim`` concatenation.

    Example:
        >>> config = NeuMFConfig(943, 1682, layers=[64, 32, 16])
        >>> NeuMFConfig.from_dict(config.to_dict()) == config
        True
    """

    n_users: int
    n_items: int
    dim: int = 32
    mlp_dim: int = 32
    layers: list[int] = field(default_factory=lambda: [64, 32, 16])
    dropout: float = 0.0
    init_std: float = 0.01

    def __post_init__(self) -> None:
        self.layers = [int(size) for size in self.layers]
        check_fields(
            "NeuMFConfig",
            [
                ("n_users", self.n_users >= 1, "a whole number >= 1"),
                ("n_items", self.n_items >= 1, "a whole number >= 1"),
                ("dim", self.dim >= 1, "a whole number >= 1, e.g. 32"),
                ("mlp_dim", self.mlp_dim >= 1, "a whole number >= 1, e.g. 32"),
                ("layers", len(self.layers) >= 1 and min(self.layers) >= 1,
                 "one or more layer sizes >= 1, e.g. [64, 32, 16]"),
                ("dropout", 0 <= self.dropout < 1, "a fraction in [0, 1)"),
                ("init_std", self.init_std > 0, "a number > 0, e.g. 0.01"),
            ],
            self,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NeuMFConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the closest field."""
        return dataclass_from_dict(cls, d)


class NeuMF(nn.Module):
    """GMF and MLP branches fused by a final linear: ``forward(users, items) -> logits [B]``."""

    def __init__(self, config: NeuMFConfig):
        super().__init__()
        self.config = config
        c = config
        self.user_gmf = nn.Embedding(c.n_users, c.dim)
        self.item_gmf = nn.Embedding(c.n_items, c.dim)
        self.user_mlp = nn.Embedding(c.n_users, c.mlp_dim)
        self.item_mlp = nn.Embedding(c.n_items, c.mlp_dim)
        for embedding in (self.user_gmf, self.item_gmf, self.user_mlp, self.item_mlp):
            nn.init.normal_(embedding.weight, std=c.init_std)
        blocks: list[nn.Module] = []
        sizes = [2 * c.mlp_dim, *c.layers]
        for n_in, n_out in itertools.pairwise(sizes):
            blocks += [nn.Linear(n_in, n_out), nn.ReLU()]
            if c.dropout > 0:
                blocks.append(nn.Dropout(c.dropout))
        self.mlp = nn.Sequential(*blocks)
        self.output = nn.Linear(c.dim + c.layers[-1], 1)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """The logit of each ``(users[j], items[j])`` pair, ``[B]``."""
        gmf = self.user_gmf(users) * self.item_gmf(items)
        mlp = self.mlp(torch.cat([self.user_mlp(users), self.item_mlp(items)], dim=-1))
        return self.output(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)

    def full_scores(self, users: torch.Tensor) -> torch.Tensor:
        """Every item's logit for each user, ``[B, n_items]``."""
        return self._scores_from(self.user_gmf(users), self.user_mlp(users))

    def default_scores(self) -> torch.Tensor:
        """Logits ``[n_items]`` for a user the model never saw: those of the mean user."""
        gmf = self.user_gmf.weight.mean(0, keepdim=True)
        mlp = self.user_mlp.weight.mean(0, keepdim=True)
        return self._scores_from(gmf, mlp)[0]

    def item_vectors(self) -> torch.Tensor:
        """Item vectors for similarity: GMF embeddings weighted as the output layer weighs them,
        next to the MLP embeddings, ``[n_items, dim + mlp_dim]``."""
        weight = self.output.weight[0, : self.config.dim]
        return torch.cat([self.item_gmf.weight * weight, self.item_mlp.weight], dim=1)

    def _scores_from(self, user_gmf: torch.Tensor, user_mlp: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, n_items]`` from user embeddings ``[B, dim]`` and ``[B, mlp_dim]``."""
        c = self.config
        w_gmf = self.output.weight[0, : c.dim]
        w_mlp = self.output.weight[0, c.dim :]
        gmf = (user_gmf * w_gmf) @ self.item_gmf.weight.T  # [B, n_items]
        first: nn.Linear = self.mlp[0]  # type: ignore[assignment]
        user_part = user_mlp @ first.weight[:, : c.mlp_dim].T + first.bias  # [B, h]
        item_part = self.item_mlp.weight @ first.weight[:, c.mlp_dim :].T  # [n_items, h]
        chunk = max(1, CHUNK_ELEMENTS // max(1, len(user_gmf) * max(c.layers)))
        parts = []
        for start in range(0, c.n_items, chunk):
            hidden = user_part.unsqueeze(1) + item_part[start : start + chunk].unsqueeze(0)
            parts.append(self.mlp[1:](hidden) @ w_mlp)  # [B, chunk]
        return gmf + torch.cat(parts, dim=1) + self.output.bias
