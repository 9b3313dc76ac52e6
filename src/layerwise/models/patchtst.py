"""PatchTST: a channel-independent Transformer over patches of the series (Nie et al., 2023).

"A Time Series is Worth 64 Words: Long-term Forecasting with Transformers" (ICLR 2023).
Each channel is forecast from its own history with shared weights (the ``[B, L, C]`` input
is reshaped to ``B * C`` univariate windows):

1. RevIN (optional, :class:`layerwise.models.revin.RevIN`): normalise each window by its own
   mean and standard deviation (forecasts are mapped back at the end);
2. pad the end of the window by repeating its last value ``stride`` times and cut it into
   overlapping patches of ``patch_len`` steps every ``stride`` steps:
   ``n_patches = (lookback - patch_len) // stride + 2``;
3. embed each patch with ``Linear(patch_len, dim)``, add a learned position embedding and
   apply dropout;
4. a pre-norm Transformer encoder of ``depth`` layers (``nn.TransformerEncoderLayer`` with
   GELU, feed-forward width ``ff_dim``) and a final LayerNorm (the paper uses BatchNorm
   inside post-norm layers; pre-norm with LayerNorm is the common, batch-independent choice);
5. the flatten head: ``[n_patches * dim] -> dropout(head_dropout) -> Linear -> horizon``.

Example:
    >>> model = PatchTST(PatchTSTConfig(lookback=64, horizon=12, n_channels=3)).eval()
    >>> model(torch.randn(2, 64, 3)).shape
    torch.Size([2, 12, 3])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from layerwise.errors import dataclass_from_dict
from layerwise.models.revin import RevIN, check_series
from layerwise.models.text_transformer import check_fields


@dataclass
class PatchTSTConfig:
    """The architecture of a :class:`PatchTST`, JSON-able through :meth:`to_dict`.

    ``n_channels`` sizes RevIN's per-channel affine parameters, so with ``revin=True`` the
    input must have exactly ``n_channels`` channels; without RevIN any number works.

    Example:
        >>> config = PatchTSTConfig(336, 96, n_channels=7)
        >>> config.n_patches, PatchTSTConfig.from_dict(config.to_dict()) == config
        (42, True)
    """

    lookback: int
    horizon: int
    patch_len: int = 16
    stride: int = 8
    dim: int = 16
    depth: int = 3
    heads: int = 4
    ff_dim: int = 128
    dropout: float = 0.3
    head_dropout: float = 0.0
    revin: bool = True
    n_channels: int = 1

    def __post_init__(self) -> None:
        check_fields(
            "PatchTSTConfig",
            [
                ("lookback", self.lookback >= 1, "a whole number >= 1"),
                ("horizon", self.horizon >= 1, "a whole number >= 1"),
                (
                    "patch_len",
                    1 <= self.patch_len <= self.lookback,
                    f"a whole number from 1 to lookback={self.lookback}",
                ),
                ("stride", self.stride >= 1, "a whole number >= 1"),
                ("heads", self.heads >= 1, "a whole number >= 1"),
                (
                    "dim",
                    self.dim >= 1 and self.dim % self.heads == 0,
                    f"a multiple of heads={self.heads}",
                ),
                ("depth", self.depth >= 1, "a whole number >= 1"),
                ("ff_dim", self.ff_dim >= 1, "a whole number >= 1"),
                ("dropout", 0.0 <= self.dropout < 1.0, "a fraction in [0, 1)"),
                ("head_dropout", 0.0 <= self.head_dropout < 1.0, "a fraction in [0, 1)"),
                ("revin", isinstance(self.revin, bool), "true or false"),
                ("n_channels", self.n_channels >= 1, "a whole number >= 1"),
            ],
            self,
        )

    @property
    def n_patches(self) -> int:
        """Patches per window (after padding the end with ``stride`` copies of the last value)."""
        return (self.lookback - self.patch_len) // self.stride + 2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PatchTSTConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the closest field."""
        return dataclass_from_dict(cls, d)


class PatchTST(nn.Module):
    """Patch Transformer forecaster: ``forward(x [B, L, C]) -> forecast [B, H, C]``.

    Example:
        >>> config = PatchTSTConfig(32, 8, patch_len=8, stride=4, depth=1, revin=False)
        >>> model = PatchTST(config).eval()
        >>> model.patches(torch.randn(5, 32, 2)).shape  # [B * C, n_patches, patch_len]
        torch.Size([10, 8, 8])
        >>> model(torch.randn(5, 32, 2)).shape
        torch.Size([5, 8, 2])
    """

    def __init__(self, config: PatchTSTConfig):
        super().__init__()
        self.config = config
        self.revin = RevIN(config.n_channels) if config.revin else None
        self.patch_embedding = nn.Linear(config.patch_len, config.dim)
        self.position_embedding = nn.Parameter(torch.zeros(config.n_patches, config.dim))
        nn.init.normal_(self.position_embedding, std=0.02)
        self.drop = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            config.dim,
            config.heads,
            dim_feedforward=config.ff_dim,
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, config.depth, norm=nn.LayerNorm(config.dim), enable_nested_tensor=False
        )
        self.head_drop = nn.Dropout(config.head_dropout)
        self.head = nn.Linear(config.n_patches * config.dim, config.horizon)

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        """Patches ``[B * C, n_patches, patch_len]`` of the (already normalised) ``x [B, L, C]``."""
        c = self.config
        series = x.transpose(1, 2).reshape(-1, c.lookback)  # [B*C, L]
        padded = torch.cat([series, series[:, -1:].expand(-1, c.stride)], dim=1)
        return padded.unfold(1, c.patch_len, c.stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Forecast ``[B, horizon, C]`` from ``x [B, lookback, C]`` (float)."""
        c = self.config
        check_series("PatchTST", x, c.lookback, c.n_channels if self.revin is not None else None)
        batch, _, channels = x.shape
        if self.revin is not None:
            x = self.revin.normalize(x)
        z = self.drop(self.patch_embedding(self.patches(x)) + self.position_embedding)
        z = self.encoder(z)  # [B*C, n_patches, dim]
        out = self.head(self.head_drop(z.flatten(1)))  # [B*C, H]
        out = out.view(batch, channels, c.horizon).transpose(1, 2)
        if self.revin is not None:
            out = self.revin.denormalize(out)
        return out
