"""PPO's actor-critic: separate tanh MLPs for the policy and the value, orthogonally
initialised (policy head scaled 0.01, value head 1), over running-normalised observations.

Discrete actions get a categorical policy from logits; continuous actions a diagonal
Gaussian whose log standard deviation is a learned parameter independent of the state.
``forward`` gives what the served policy needs: logits, or the Gaussian's mean.

>>> net = ActorCritic(ActorCriticConfig(obs_size=3, n_actions=2, discrete=True))
>>> net(torch.zeros(5, 3)).shape
torch.Size([5, 2])
>>> dist, value = net.policy(torch.zeros(5, 3))
>>> dist.sample().shape, value.shape
(torch.Size([5]), torch.Size([5]))
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from layerwise.errors import dataclass_from_dict
from layerwise.models.q_network import mlp
from layerwise.models.running_norm import RunningNorm


@dataclass
class ActorCriticConfig:
    obs_size: int
    n_actions: int  # discrete: the number of actions; continuous: the action vector's length
    discrete: bool
    hidden: tuple[int, ...] = (64, 64)
    normalize: bool = True
    init_log_std: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hidden": list(self.hidden)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ActorCriticConfig:
        config = dataclass_from_dict(cls, d, "ActorCriticConfig")
        config.hidden = tuple(config.hidden)
        return config


def _orthogonal(net: nn.Sequential, last_gain: float) -> None:
    linears = [m for m in net if isinstance(m, nn.Linear)]
    for i, layer in enumerate(linears):
        nn.init.orthogonal_(layer.weight, last_gain if i == len(linears) - 1 else math.sqrt(2))
        nn.init.zeros_(layer.bias)


class ActorCritic(nn.Module):
    def __init__(self, config: ActorCriticConfig):
        super().__init__()
        self.config = config
        c = config
        self.norm = RunningNorm(c.obs_size, enabled=c.normalize)
        self.actor = mlp([c.obs_size, *c.hidden, c.n_actions], nn.Tanh)
        self.critic = mlp([c.obs_size, *c.hidden, 1], nn.Tanh)
        _orthogonal(self.actor, 0.01)
        _orthogonal(self.critic, 1.0)
        if not c.discrete:
            self.log_std = nn.Parameter(torch.full((c.n_actions,), float(c.init_log_std)))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Logits (discrete) or the Gaussian's mean (continuous): the deterministic policy."""
        return self.actor(self.norm(obs))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(self.norm(obs)).squeeze(-1)

    def distribution(self, out: torch.Tensor) -> torch.distributions.Distribution:
        if self.config.discrete:
            return torch.distributions.Categorical(logits=out)
        std = self.log_std.clamp(-5.0, 2.0).exp().expand_as(out)
        return torch.distributions.Independent(torch.distributions.Normal(out, std), 1)

    def policy(self, obs: torch.Tensor) -> tuple[torch.distributions.Distribution, torch.Tensor]:
        """The action distribution and the value estimate for a batch of observations."""
        x = self.norm(obs)
        return self.distribution(self.actor(x)), self.critic(x).squeeze(-1)
