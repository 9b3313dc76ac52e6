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


def merge_moments(count, mean, var, n, batch_mean, batch_var):
    """Mean and variance of two samples merged from their counts, means and (biased)
    variances (Chan et al.'s parallel update); works on floats, arrays and tensors.

    >>> merge_moments(2, 1.0, 0.0, 2, 3.0, 0.0)
    (2.0, 1.0)
    """
    total = count + n
    delta = batch_mean - mean
    return (mean + delta * n / total,
            (var * count + batch_var * n + delta**2 * count * n / total) / total)  # fmt: skip


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
        mean, var = merge_moments(self.count, self.mean, self.var, n, x.mean(0),
                                  x.var(0, unbiased=False))  # fmt: skip
        self.mean.copy_(mean)
        self.var.copy_(var)
        self.count.fill_(self.count + n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return x
        scaled = (x - self.mean.to(x.dtype)) / torch.sqrt(self.var.to(x.dtype) + 1e-8)
        return scaled.clamp(-CLIP, CLIP)
