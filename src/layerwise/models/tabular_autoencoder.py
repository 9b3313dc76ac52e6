"""An MLP autoencoder for standardised numeric rows: encoder -> bottleneck -> mirrored decoder."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import pairwise

import torch
from torch import nn


@dataclass
class TabularAutoencoderConfig:
    """``bottleneck`` is capped at ``n_inputs // 2`` (at least 1), so the network can't learn
    the identity and has to find the structure shared by the rows.

    >>> TabularAutoencoderConfig(n_inputs=6).bottleneck
    3
    """

    n_inputs: int
    hidden: list[int] = field(default_factory=lambda: [64, 32])
    bottleneck: int = 8
    dropout: float = 0.0

    def __post_init__(self) -> None:
        self.hidden = [int(h) for h in self.hidden]
        self.bottleneck = max(1, min(int(self.bottleneck), self.n_inputs // 2))

    def to_dict(self) -> dict:
        return asdict(self)


def _mlp(sizes: list[int], dropout: float) -> nn.Sequential:
    """[Linear, SiLU, Dropout] between consecutive sizes, the last Linear bare."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers += [nn.SiLU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


class TabularAutoencoder(nn.Module):
    """n_inputs -> hidden... -> bottleneck -> reversed(hidden)... -> n_inputs; returns the
    reconstruction.

    >>> model = TabularAutoencoder(TabularAutoencoderConfig(n_inputs=10))
    >>> model(torch.zeros(4, 10)).shape
    torch.Size([4, 10])
    """

    def __init__(self, config: TabularAutoencoderConfig):
        super().__init__()
        self.config = config
        sizes = [config.n_inputs, *config.hidden, config.bottleneck]
        self.encoder = _mlp(sizes, config.dropout)
        self.decoder = _mlp(sizes[::-1], config.dropout)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
