"""Augmentation for speech, on tensors: waveform batches get a random speed (which shifts
pitch and tempo together, as a different voice would), a time shift, a gain and background
noise; spectrograms get SpecAugment (a frequency warp, frequency and time masks).

Example:
    >>> g = torch.Generator().manual_seed(0)
    >>> augment_waves(torch.zeros(4, 8000), WaveAugmentConfig(), g).shape
    torch.Size([4, 8000])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from layerwise.errors import dataclass_from_dict


@dataclass
class WaveAugmentConfig:
    """Waveform augmentation; ranges are uniform. ``speed`` 0.15 plays clips at 0.85-1.15x."""

    speed: float = 0.15
    shift: float = 0.1  # of the window, either way
    gain_db: float = 6.0  # either way
    noise_p: float = 0.8  # share of clips that get noise
    snr_db: tuple[float, float] = (5.0, 30.0)

    def to_dict(self) -> dict:
        return {**asdict(self), "snr_db": list(self.snr_db)}

    @classmethod
    def from_dict(cls, d: dict) -> WaveAugmentConfig:
        config = dataclass_from_dict(cls, d, "wave augmentation")
        config.snr_db = tuple(float(v) for v in config.snr_db)
        return config


def _uniform(n: int, low: float, high: float, g: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=g)


def _speed(waves: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Each row played ``factors[i]`` times as fast, about its centre (linear interpolation)."""
    n, length = waves.shape
    positions = torch.linspace(-1.0, 1.0, length)
    grid_x = positions[None, :] * factors[:, None]
    grid = torch.stack([grid_x, torch.zeros_like(grid_x)], dim=-1)[:, None]  # [n, 1, L, 2]
    out = F.grid_sample(
        waves[:, None, None, :], grid, mode="bilinear", padding_mode="zeros", align_corners=True
    )
    return out[:, 0, 0]


def _shift(waves: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Each row moved by ``offsets[i]`` samples, zeros coming in."""
    n, length = waves.shape
    index = torch.arange(length)[None, :] - offsets[:, None]
    valid = (index >= 0) & (index < length)
    gathered = torch.gather(waves, 1, index.clamp(0, length - 1))
    return gathered * valid


def _noise(
    n: int, length: int, bank: list[torch.Tensor] | None, g: torch.Generator
) -> torch.Tensor:
    """Background noise: random excerpts of ``bank`` recordings, else white or brown noise."""
    if bank:
        rows = []
        for i in torch.randint(len(bank), (n,), generator=g).tolist():
            source = bank[i]
            if len(source) < length:
                source = source.repeat(length // len(source) + 1)
            start = int(torch.randint(len(source) - length + 1, (1,), generator=g))
            rows.append(source[start : start + length])
        return torch.stack(rows)
    white = torch.randn(n, length, generator=g)
    brown = torch.cumsum(white, dim=1)
    brown = brown - brown.mean(dim=1, keepdim=True)
    mix = torch.rand(n, 1, generator=g)
    return mix * white / white.std() + (1 - mix) * brown / (brown.std(dim=1, keepdim=True) + 1e-8)


def augment_waves(
    waves: torch.Tensor,
    config: WaveAugmentConfig,
    g: torch.Generator,
    noise_bank: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """A randomly augmented copy of the batch ``waves [B, L]`` (see the module doc)."""
    n, length = waves.shape
    device, out = waves.device, waves.float().cpu()  # the generator lives on the CPU
    if config.speed > 0:
        out = _speed(out, _uniform(n, 1 - config.speed, 1 + config.speed, g))
    if config.shift > 0:
        reach = int(config.shift * length)
        out = _shift(out, torch.randint(-reach, reach + 1, (n,), generator=g))
    if config.gain_db > 0:
        out = out * 10 ** (_uniform(n, -config.gain_db, config.gain_db, g) / 20)[:, None]
    if config.noise_p > 0:
        noise = _noise(n, length, noise_bank, g)
        power = out.pow(2).mean(dim=1).clamp_min(1e-10)
        snr = 10 ** (_uniform(n, *config.snr_db, g) / 10)
        scale = torch.sqrt(power / (snr * noise.pow(2).mean(dim=1).clamp_min(1e-10)))
        scale = scale * (torch.rand(n, generator=g) < config.noise_p)
        out = out + noise * scale[:, None]
    return out.to(device)


def utterance_norm(spec: torch.Tensor) -> torch.Tensor:
    """Log-mel ``[B, mels, T]`` with each band's mean over time removed and unit variance."""
    centred = spec - spec.mean(dim=2, keepdim=True)
    return centred / (centred.std(dim=(1, 2), keepdim=True) + 1e-5)


@dataclass
class SpecAugmentConfig:
    """SpecAugment: ``warp`` stretches the frequency axis by up to that share either way (a
    cheap vocal-tract-length perturbation); masks are given by count and largest width as a
    share of the axis."""

    warp: float = 0.1
    freq_masks: int = 2
    freq_width: float = 0.15
    time_masks: int = 2
    time_width: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SpecAugmentConfig:
        return dataclass_from_dict(cls, d, "SpecAugment")


def _masks(n: int, size: int, count: int, width: float) -> torch.Tensor:
    """``[n, size]`` booleans, True where one of ``count`` random bands of up to ``width``
    of the axis covers it (global RNG: the model's training is seeded by the caller)."""
    keep = torch.zeros(n, size, dtype=torch.bool)
    widest = max(1, int(width * size))
    positions = torch.arange(size)[None, :]
    for _ in range(count):
        w = torch.randint(0, widest + 1, (n, 1))
        start = (torch.rand(n, 1) * (size - w + 1)).long()
        keep |= (positions >= start) & (positions < start + w)
    return keep


class SpecAugment(nn.Module):
    """Identity in eval mode; in training mode, warps and masks ``[B, mels, T]``."""

    def __init__(self, config: SpecAugmentConfig):
        super().__init__()
        self.config = config

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return spec
        c, (n, mels, frames) = self.config, spec.shape
        if c.warp > 0:
            scale = 1 + c.warp * (2 * torch.rand(n, device=spec.device) - 1)
            ys = torch.linspace(-1, 1, mels, device=spec.device)[None, :] / scale[:, None]
            xs = torch.linspace(-1, 1, frames, device=spec.device)
            grid = torch.stack(
                [xs[None, None, :].expand(n, mels, frames), ys[:, :, None].expand(n, mels, frames)],
                dim=-1,
            )
            spec = F.grid_sample(
                spec[:, None], grid, mode="bilinear", padding_mode="border", align_corners=True
            )[:, 0]
        fill = spec.mean()
        if c.freq_masks:
            spec = spec.masked_fill(
                _masks(n, mels, c.freq_masks, c.freq_width).to(spec.device)[:, :, None], fill
            )
        if c.time_masks:
            spec = spec.masked_fill(
                _masks(n, frames, c.time_masks, c.time_width).to(spec.device)[:, None, :], fill
            )
        return spec
