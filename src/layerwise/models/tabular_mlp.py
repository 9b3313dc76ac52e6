"""An MLP for tables: standardised numeric features plus one embedding per categorical column."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn


def embedding_size(cardinality: int) -> int:
    """A rule of thumb that grows slowly with the number of categories (fastai's, capped at 32)."""
    return int(min(32, max(2, round(1.6 * cardinality**0.56))))


@dataclass
class TabularMLPConfig:
    n_numeric: int
    cardinalities: list[int] = field(default_factory=list)
    n_outputs: int = 1
    hidden: list[int] = field(default_factory=lambda: [256, 128])
    dropout: float = 0.15
    embedding_dropout: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


class TabularMLP(nn.Module):
    """Embeddings + numeric -> [Linear, LayerNorm, SiLU, Dropout] x len(hidden) -> Linear.

    >>> model = TabularMLP(TabularMLPConfig(n_numeric=3, cardinalities=[4], n_outputs=2))
    >>> model(torch.zeros(5, 3), torch.zeros(5, 1, dtype=torch.long)).shape
    torch.Size([5, 2])
    """

    def __init__(self, config: TabularMLPConfig):
        super().__init__()
        self.config = config
        self.embeddings = nn.ModuleList(
            nn.Embedding(k, embedding_size(k)) for k in config.cardinalities
        )
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        width = config.n_numeric + sum(embedding_size(k) for k in config.cardinalities)
        layers: list[nn.Module] = []
        for size in config.hidden:
            layers += [
                nn.Linear(width, size),
                nn.LayerNorm(size),
                nn.SiLU(),
                nn.Dropout(config.dropout),
            ]
            width = size
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, config.n_outputs)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        parts = [numeric]
        if len(self.embeddings):
            embedded = [emb(categorical[:, i]) for i, emb in enumerate(self.embeddings)]
            parts.append(self.embedding_dropout(torch.cat(embedded, dim=1)))
        return self.head(self.body(torch.cat(parts, dim=1)))
