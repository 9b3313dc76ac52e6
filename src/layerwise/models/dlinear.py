"""DLinear: a decomposition plus two linear maps (Zeng et al., 2023).

"Are Transformers Effective for Time Series Forecasting?" (AAAI 2023) showed that a single
linear layer over the lookback window, applied to each channel separately, matches or beats
the Transformer forecasters of its time. DLinear first splits each window into a trend (a
moving average of width ``kernel_size``, replicate-padded at both ends so it keeps the
window's length) and a seasonal remainder (``x - trend``), maps each with its own
``Linear(lookback, horizon)`` and sums the two forecasts.

The model is channel-independent: every channel is forecast from its own history. By
default all channels share the two linear maps (any number of channels works); with
``individual=True`` each of the ``n_channels`` channels has its own pair. As in the paper's
code, the weights start at ``1 / lookback`` (each forecast starts as the window mean) and
the biases at 0.

Example:
    >>> model = DLinear(DLinearConfig(lookback=48, horizon=12)).eval()
    >>> model(torch.randn(2, 48, 3)).shape
    torch.Size([2, 12, 3])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from layerwise.errors import dataclass_from_dict
from layerwise.models.revin import check_series
from layerwise.models.text_transformer import check_fields


@dataclass
class DLinearConfig:
    """The architecture of a :class:`DLinear`, JSON-able through :meth:`to_dict`.

    ``n_channels`` only matters with ``individual=True`` (one pair of linears per channel).

    Example:
        >>> config = DLinearConfig(336, 96, individual=True, n_channels=7)
        >>> DLinearConfig.from_dict(config.to_dict()) == config
        True
    """

    lookback: int
    horizon: int
    kernel_size: int = 25
    individual: bool = False
    n_channels: int = 1

    def __post_init__(self) -> None:
        check_fields(
            "DLinearConfig",
            [
                ("lookback", self.lookback >= 1, "a whole number >= 1"),
                ("horizon", self.horizon >= 1, "a whole number >= 1"),
                ("kernel_size", self.kernel_size >= 1, "a whole number >= 1, e.g. 25"),
                ("individual", isinstance(self.individual, bool), "true or false"),
                ("n_channels", self.n_channels >= 1, "a whole number >= 1"),
            ],
            self,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DLinearConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the closest field."""
        return dataclass_from_dict(cls, d)


def moving_average(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Moving average over the last axis of ``x [N, L]``, replicate-padded: same length.

    The window is centred (for an even width it reaches one step further to the right).

    Example:
        >>> moving_average(torch.tensor([[0.0, 3.0, 6.0]]), 3)
        tensor([[1., 3., 5.]])
    """
    front, back = (kernel_size - 1) // 2, kernel_size // 2
    padded = torch.cat(
        [x[:, :1].expand(-1, front), x, x[:, -1:].expand(-1, back)], dim=1
    )  # [N, L + kernel_size - 1]
    return F.avg_pool1d(padded.unsqueeze(1), kernel_size, stride=1).squeeze(1)


class DLinear(nn.Module):
    """Decomposition-linear forecaster: ``forward(x [B, L, C]) -> forecast [B, H, C]``.

    Example:
        >>> config = DLinearConfig(24, 6, kernel_size=5, individual=True, n_channels=2)
        >>> model = DLinear(config)
        >>> len(model.seasonal), tuple(model.seasonal[0].weight.shape)
        (2, (6, 24))
        >>> model(torch.randn(3, 24, 2)).shape
        torch.Size([3, 6, 2])
    """

    def __init__(self, config: DLinearConfig):
        super().__init__()
        self.config = config
        n = config.n_channels if config.individual else 1
        self.seasonal = nn.ModuleList(nn.Linear(config.lookback, config.horizon) for _ in range(n))
        self.trend = nn.ModuleList(nn.Linear(config.lookback, config.horizon) for _ in range(n))
        for linear in [*self.seasonal, *self.trend]:
            nn.init.constant_(linear.weight, 1.0 / config.lookback)
            nn.init.zeros_(linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Forecast ``[B, horizon, C]`` from ``x [B, lookback, C]`` (float)."""
        c = self.config
        check_series("DLinear", x, c.lookback, c.n_channels if c.individual else None)
        batch, _, channels = x.shape
        series = x.transpose(1, 2).reshape(batch * channels, c.lookback)  # [B*C, L]
        trend = moving_average(series, c.kernel_size)
        seasonal = series - trend
        if c.individual:
            seasonal = seasonal.view(batch, channels, c.lookback)
            trend = trend.view(batch, channels, c.lookback)
            out = torch.stack(
                [
                    self.seasonal[i](seasonal[:, i]) + self.trend[i](trend[:, i])
                    for i in range(channels)
                ],
                dim=1,
            )  # [B, C, H]
        else:
            out = (self.seasonal[0](seasonal) + self.trend[0](trend)).view(batch, channels, -1)
        return out.transpose(1, 2)
