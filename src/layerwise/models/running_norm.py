"""Observation normalisation by running mean and variance, kept in buffers so the statistics
travel with the weights (safetensors) and a served policy sees inputs as it did in training.

>>> norm = RunningNorm(2)
>>> norm.update(torch.tensor([[1.0, 10.0], [3.0, 30.0]]))
>>> norm(torch.tensor([[2.0, 20.0]])).abs().max().item() < 1e-3
True
"""

from __future__ import annotations

import torch
from torch import nn

CLIP = 10.0  # normalised values beyond this many standard deviations are clipped


class RunningNorm(nn.Module):
    """``(x - mean) / std`` with statistics merged batch by batch (Chan et al.'s parallel
    update, in float64), clipped to +-10; the identity when ``enabled`` is False. Before the
    first update (mean 0, variance 1) it only clips."""

    def __init__(self, size: int, enabled: bool = True):
        super().__init__()
        self.enabled = enabled
        self.register_buffer("mean", torch.zeros(size, dtype=torch.float64))
        self.register_buffer("var", torch.ones(size, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        if not self.enabled or len(x) == 0:
            return
        x = x.reshape(-1, self.mean.shape[0]).to(torch.float64)
        n = float(len(x))
        mean, var = x.mean(0), x.var(0, unbiased=False)
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.var.copy_(
            (self.var * self.count + var * n + delta**2 * self.count * n / total) / total
        )
        self.count.fill_(total)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return x
        scaled = (x - self.mean.to(x.dtype)) / torch.sqrt(self.var.to(x.dtype) + 1e-8)
        return scaled.clamp(-CLIP, CLIP)
