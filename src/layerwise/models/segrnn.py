"""SegRNN: a segment-wise recurrent forecaster (Lin et al., 2023).

"SegRNN: Segment Recurrent Neural Network for Long-Term Time Series Forecasting" (2023).
Channel-independent: each channel is forecast from its own history with shared weights
(the ``[B, L, C]`` input is reshaped to ``B * C`` univariate windows).

1. Subtract each window's last value (added back to the forecast at the end).
2. Encoder: cut the lookback into segments of ``segment`` steps, embed each with
   ``Linear(segment, hidden)`` + ReLU and run a GRU (or an LSTM, ``cell="lstm"``) over the
   segments: far fewer recurrent steps than time steps.
3. Decoder, *parallel multi-step forecasting* (PMF): output segment ``j`` gets as input a
   learned position embedding ``j`` (``hidden // 2``) concatenated with a learned embedding
   of its channel (``hidden // 2``, one per channel, hence ``n_channels``); all output
   segments start from the encoder's final state and take one recurrent step of the same
   cell, in parallel; then dropout and ``Linear(hidden, segment)``.

Lengths that are not multiples of ``segment`` are accepted: the lookback is left-padded with
its first value up to the next multiple, and ``ceil(horizon / segment)`` output segments are
forecast and the result cut to ``horizon``.

Example:
    >>> model = SegRNN(SegRNNConfig(lookback=48, horizon=12, segment=12, hidden=32,
    ...                             n_channels=3)).eval()
    >>> model(torch.randn(2, 48, 3)).shape
    torch.Size([2, 12, 3])
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from layerwise.errors import dataclass_from_dict
from layerwise.models.revin import check_series, subtract_last
from layerwise.models.text_transformer import check_fields

CELLS = ("gru", "lstm")


@dataclass
class SegRNNConfig:
    """The architecture of a :class:`SegRNN`, JSON-able through :meth:`to_dict`.

    The input must have exactly ``n_channels`` channels (each has its own learned embedding).

    Example:
        >>> config = SegRNNConfig(50, 7, segment=24, n_channels=3)
        >>> config.n_in, config.n_out  # 50 -> 72 steps (left-padded), 7 -> 24 (then cut)
        (3, 1)
        >>> SegRNNConfig.from_dict(config.to_dict()) == config
        True
    """

    lookback: int
    horizon: int
    segment: int = 24
    hidden: int = 256
    dropout: float = 0.5
    cell: str = "gru"
    n_channels: int = 1

    def __post_init__(self) -> None:
        check_fields(
            "SegRNNConfig",
            [
                ("lookback", self.lookback >= 1, "a whole number >= 1"),
                ("horizon", self.horizon >= 1, "a whole number >= 1"),
                ("segment", self.segment >= 1, "a whole number >= 1, e.g. 24"),
                (
                    "hidden",
                    self.hidden >= 2 and self.hidden % 2 == 0,
                    "an even whole number >= 2 (half position, half channel embedding)",
                ),
                ("dropout", 0.0 <= self.dropout < 1.0, "a fraction in [0, 1)"),
                ("cell", self.cell in CELLS, "one of " + ", ".join(CELLS)),
                ("n_channels", self.n_channels >= 1, "a whole number >= 1"),
            ],
            self,
        )

    @property
    def n_in(self) -> int:
        """Input segments: ``ceil(lookback / segment)``."""
        return math.ceil(self.lookback / self.segment)

    @property
    def n_out(self) -> int:
        """Output segments: ``ceil(horizon / segment)``."""
        return math.ceil(self.horizon / self.segment)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SegRNNConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the closest field."""
        return dataclass_from_dict(cls, d)


class SegRNN(nn.Module):
    """Segment RNN forecaster: ``forward(x [B, L, C]) -> forecast [B, H, C]``.

    Example:
        >>> config = SegRNNConfig(30, 5, segment=8, hidden=16, cell="lstm", n_channels=2)
        >>> model = SegRNN(config).eval()
        >>> x = torch.randn(4, 30, 2)
        >>> torch.allclose(model(x + 7.0), model(x) + 7.0, atol=1e-5)  # level passes through
        True
    """

    def __init__(self, config: SegRNNConfig):
        super().__init__()
        self.config = config
        self.segment_embedding = nn.Sequential(nn.Linear(config.segment, config.hidden), nn.ReLU())
        rnn = nn.GRU if config.cell == "gru" else nn.LSTM
        self.rnn = rnn(config.hidden, config.hidden, batch_first=True)
        half = config.hidden // 2
        self.position_embedding = nn.Parameter(torch.randn(config.n_out, half))
        self.channel_embedding = nn.Parameter(torch.randn(config.n_channels, half))
        self.drop = nn.Dropout(config.dropout)
        self.predict = nn.Linear(config.hidden, config.segment)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Forecast ``[B, horizon, C]`` from ``x [B, lookback, C]`` (float)."""
        c = self.config
        check_series("SegRNN", x, c.lookback, c.n_channels)
        batch, _, channels = x.shape
        x, last = subtract_last(x)
        series = x.transpose(1, 2).reshape(batch * channels, c.lookback)  # [B*C, L]
        pad = c.n_in * c.segment - c.lookback
        if pad:
            series = torch.cat([series[:, :1].expand(-1, pad), series], dim=1)
        segments = self.segment_embedding(series.view(-1, c.n_in, c.segment))
        _, state = self.rnn(segments)  # GRU: h [1, B*C, hidden]; LSTM: (h, c)

        # Parallel multi-step decoding: one step per output segment, all at once.
        half = c.hidden // 2
        position = self.position_embedding.view(1, 1, c.n_out, half).expand(batch, channels, -1, -1)
        channel = self.channel_embedding.view(1, channels, 1, half).expand(batch, -1, c.n_out, -1)
        queries = torch.cat([position, channel], -1).reshape(-1, 1, c.hidden)  # [B*C*n_out, 1, h]
        if isinstance(state, tuple):
            state = tuple(s.repeat_interleave(c.n_out, dim=1) for s in state)
        else:
            state = state.repeat_interleave(c.n_out, dim=1)
        out, _ = self.rnn(queries, state)  # [B*C*n_out, 1, hidden]
        y = self.predict(self.drop(out)).view(batch, channels, c.n_out * c.segment)
        y = y[:, :, : c.horizon].transpose(1, 2)
        return y + last
