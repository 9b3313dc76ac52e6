"""The action-value network of DQN: an MLP from a flat observation to one Q-value per action.

>>> net = QNetwork(QNetworkConfig(obs_size=4, n_actions=2))
>>> net(torch.zeros(3, 4)).shape
torch.Size([3, 2])
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from layerwise.errors import dataclass_from_dict
from layerwise.models.running_norm import RunningNorm


@dataclass
class QNetworkConfig:
    obs_size: int
    n_actions: int
    hidden: tuple[int, ...] = (256, 256)
    normalize: bool = False  # running statistics shift the inputs of stored transitions

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hidden": list(self.hidden)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QNetworkConfig:
        config = dataclass_from_dict(cls, d, "QNetworkConfig")
        config.hidden = tuple(config.hidden)
        return config


def mlp(sizes: list[int], activation: type[nn.Module]) -> nn.Sequential:
    """Linear layers of ``sizes`` with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class QNetwork(nn.Module):
    def __init__(self, config: QNetworkConfig):
        super().__init__()
        self.config = config
        self.norm = RunningNorm(config.obs_size, enabled=config.normalize)
        self.body = mlp([config.obs_size, *config.hidden, config.n_actions], nn.ReLU)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.body(self.norm(obs))
