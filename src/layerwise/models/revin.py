"""Reversible instance normalisation for forecasting (Kim et al., 2022).

"Reversible Instance Normalization for Accurate Time-Series Forecasting against
Distribution Shift" (ICLR 2022): each input window is normalised by its own per-channel
mean and standard deviation (then an optional learned per-channel affine map), the network
forecasts in that normalised space, and the forecast is mapped back with the inverse affine
map and the same window's statistics. Level and scale of a series therefore pass straight
through the network: adding a constant to (or scaling) a window adds it to (or scales) the
forecast.

Also here: :func:`subtract_last` (the simpler level removal used by SegRNN and the
"subtract last" variant of RevIN) and :func:`check_series`, the input check shared by the
forecasting models (input ``[batch, lookback, channels]``).

Example:
    >>> revin = RevIN(2)
    >>> x = torch.randn(4, 10, 2) * 3 + 5
    >>> torch.allclose(revin.denormalize(revin.normalize(x)), x, atol=1e-5)
    True
"""

from __future__ import annotations

import torch
from torch import nn

from layerwise.errors import DataError


def check_series(name: str, x: torch.Tensor, lookback: int, n_channels: int | None = None) -> None:
    """Raise a DataError unless ``x`` is ``[batch, lookback, channels]`` (with ``n_channels``)."""
    ok = x.dim() == 3 and x.shape[1] == lookback
    if ok and n_channels is not None:
        ok = x.shape[2] == n_channels
    if not ok:
        channels = "channels" if n_channels is None else f"{n_channels} channels"
        raise DataError(
            f"{name} got a series of shape {tuple(x.shape)}.",
            f"Expected [batch, lookback={lookback}, {channels}].",
        )


def subtract_last(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x - last, last)`` where ``last = x[:, -1:, :]`` is each window's final value.

    Example:
        >>> centred, last = subtract_last(torch.tensor([[[1.0], [4.0]]]))
        >>> centred.flatten().tolist(), last.flatten().tolist()
        ([-3.0, 0.0], [4.0])
    """
    last = x[:, -1:, :]
    return x - last, last


class RevIN(nn.Module):
    """Reversible instance normalisation over ``[batch, time, channels]`` tensors.

    :meth:`normalize` stores the mean and standard deviation of each sample and channel
    (over time) of the batch it is given; :meth:`denormalize` undoes it for a forecast of any
    length from that same batch. With ``affine=True`` a learned per-channel weight (init 1)
    and bias (init 0) are applied after normalising and inverted before denormalising. The
    statistics are plain attributes (not buffers), so they never enter a ``state_dict``.

    Args:
        n_channels: number of channels ``C`` (the size of the affine parameters).
        affine: learn a per-channel weight and bias.
        eps: added to the variance (and, squared, to the affine weight when inverting).

    Example:
        >>> revin = RevIN(3, affine=False)
        >>> z = revin.normalize(torch.randn(2, 8, 3) + 10)
        >>> bool(z.mean(1).abs().max() < 1e-5)
        True
        >>> revin.denormalize(torch.zeros(2, 4, 3)).shape  # zero forecast -> the window means
        torch.Size([2, 4, 3])
    """

    def __init__(self, n_channels: int, affine: bool = True, eps: float = 1e-5):
        super().__init__()
        self.n_channels = n_channels
        self.affine = affine
        self.eps = eps
        if affine:
            self.weight = nn.Parameter(torch.ones(n_channels))
            self.bias = nn.Parameter(torch.zeros(n_channels))
        self._mean: torch.Tensor | None = None
        self._std: torch.Tensor | None = None

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x [B, L, C]`` per sample and channel; remembers the statistics."""
        if x.dim() != 3 or (self.affine and x.shape[2] != self.n_channels):
            raise DataError(
                f"RevIN got a tensor of shape {tuple(x.shape)}.",
                f"Expected [batch, time, {self.n_channels} channels].",
            )
        self._mean = x.mean(1, keepdim=True).detach()
        self._std = torch.sqrt(x.var(1, keepdim=True, unbiased=False) + self.eps).detach()
        out = (x - self._mean) / self._std
        if self.affine:
            out = out * self.weight + self.bias
        return out

    def denormalize(self, y: torch.Tensor) -> torch.Tensor:
        """Map ``y [B, H, C]`` back with the statistics of the last :meth:`normalize` call."""
        if self._mean is None or self._std is None:
            raise RuntimeError("RevIN.denormalize called before normalize.")
        if self.affine:
            y = (y - self.bias) / (self.weight + self.eps * self.eps)
        return y * self._std + self._mean
