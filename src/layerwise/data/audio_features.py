"""Spectral features of batched waveforms as torch tensors, on the CPU or the GPU.

:class:`LogMel` turns waves ``[B, L]`` into log mel spectrograms ``[B, n_mels, frames]``
(centred frames, ``frames = 1 + L // hop_length``); :func:`mfcc` and :func:`deltas` build on
it. Mel scale is HTK's; filters are triangles of peak 1, not area-normalised.

Example:
    >>> config = FeatureConfig(sample_rate=8000)
    >>> LogMel(config)(torch.zeros(2, 8000)).shape
    torch.Size([2, 40, 101])
    >>> mfcc(LogMel(config)(torch.zeros(2, 8000)), n_mfcc=13).shape
    torch.Size([2, 13, 101])
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from layerwise.errors import ConfigError, dataclass_from_dict

LOG_FLOOR = 1e-6
MAX_FILTERBANK = 1 << 23  # numbers in a mel filterbank (about 32 MB)


@dataclass
class FeatureConfig:
    """How waves become log mel features. Times are in milliseconds, rates in Hz."""

    sample_rate: int = 16000
    n_mels: int = 40
    win_ms: float = 25.0
    hop_ms: float = 10.0
    f_min: float = 20.0
    f_max: float | None = None  # None: sample_rate / 2

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.n_mels <= 0:
            raise ConfigError(
                f"FeatureConfig got sample_rate={self.sample_rate}, n_mels={self.n_mels}.",
                "Both must be positive whole numbers.",
            )
        if self.win_ms <= 0 or self.hop_ms <= 0 or self.hop_length < 1:
            raise ConfigError(
                f"FeatureConfig got win_ms={self.win_ms}, hop_ms={self.hop_ms}.",
                "Give a window and hop of at least one sample (e.g. 25 and 10 ms).",
            )
        _check_band(self.f_min, self.f_max, self.sample_rate)
        from layerwise.data.audio import check_rate

        check_rate(int(self.sample_rate), "FeatureConfig", "Use the rate of the recordings.")
        # The filterbank is n_mels x (n_fft / 2 + 1) numbers, computed in __init__: bound it, so
        # a config read from a run folder cannot ask for gigabytes (defaults: 40 x 257).
        if self.n_mels * (self.n_fft // 2 + 1) > MAX_FILTERBANK:
            raise ConfigError(
                f"FeatureConfig asks for {self.n_mels} mel bands over a {self.n_fft}-point FFT.",
                "Use windows of tens of milliseconds and at most a few hundred mel bands.",
            )

    @property
    def win_length(self) -> int:
        return max(1, round(self.sample_rate * self.win_ms / 1000))

    @property
    def hop_length(self) -> int:
        return round(self.sample_rate * self.hop_ms / 1000)

    @property
    def n_fft(self) -> int:
        return 1 << (self.win_length - 1).bit_length()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureConfig:
        return dataclass_from_dict(cls, d, "FeatureConfig")


def _check_band(f_min: float, f_max: float | None, sample_rate: int) -> None:
    top = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < top <= sample_rate / 2:
        raise ConfigError(
            f"Mel band {f_min}..{top} Hz does not fit a {sample_rate} Hz signal.",
            f"Use 0 <= f_min < f_max <= {sample_rate / 2:g} (half the sample rate).",
        )


def hz_to_mel(f: Any) -> Any:
    """HTK mel of ``f`` Hz (a float or an array)."""
    m = 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)
    return float(m) if m.ndim == 0 else m


def mel_to_hz(m: Any) -> Any:
    """Inverse of :func:`hz_to_mel`."""
    f = 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)
    return float(f) if f.ndim == 0 else f


def mel_filterbank(
    n_mels: int, n_fft: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None
) -> torch.Tensor:
    """Triangular mel filters ``[n_mels, n_fft // 2 + 1]`` (float32), peak 1 at each centre.

    The triangles are evaluated at each bin's exact frequency rather than snapped to whole
    bins, so narrow low filters are never empty.
    """
    _check_band(f_min, f_max, sample_rate)
    f_max = sample_rate / 2 if f_max is None else f_max
    bins = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return torch.from_numpy(np.clip(np.minimum(rising, falling), 0.0, None).astype(np.float32))


def _padded_window(win_length: int, n_fft: int) -> torch.Tensor:
    """Periodic Hann window of ``win_length`` zero-padded, centred, to ``n_fft``."""
    if win_length > n_fft:
        raise ValueError(f"win_length ({win_length}) must not exceed n_fft ({n_fft}).")
    left = (n_fft - win_length) // 2
    window = torch.zeros(n_fft)
    window[left : left + win_length] = torch.hann_window(win_length, periodic=True)
    return window


def _power(waves: torch.Tensor, window: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    if not waves.is_floating_point():
        waves = waves.float()
    squeeze = waves.dim() == 1
    spec = torch.stft(
        waves[None] if squeeze else waves,
        n_fft=n_fft,
        hop_length=hop,
        win_length=n_fft,
        window=window.to(device=waves.device, dtype=waves.dtype),
        center=True,
        pad_mode="constant",  # unlike reflect, works for clips shorter than n_fft
        return_complex=True,
    )
    power = spec.real**2 + spec.imag**2
    return power[0] if squeeze else power


def stft_power(waves: torch.Tensor, n_fft: int, hop_length: int, win_length: int) -> torch.Tensor:
    """Power spectrogram ``|X|^2`` ``[B, n_fft // 2 + 1, 1 + L // hop_length]`` of ``[B, L]``.

    A 1-D wave ``[L]`` gives ``[n_fft // 2 + 1, frames]``. Frames are centred (zero-padded
    by ``n_fft // 2`` each side) and windowed by a periodic Hann window of ``win_length``.
    """
    return _power(waves, _padded_window(win_length, n_fft), n_fft, hop_length)


class LogMel(torch.nn.Module):
    """Waves ``[B, L]`` to ``log(mel power + 1e-6)`` ``[B, n_mels, frames]``, in float32."""

    window: torch.Tensor
    filterbank: torch.Tensor

    def __init__(self, config: FeatureConfig):
        super().__init__()
        self.config = config
        # Non-persistent: rebuilt from the config, so they stay out of state_dicts.
        window = _padded_window(config.win_length, config.n_fft)
        self.register_buffer("window", window, persistent=False)
        filterbank = mel_filterbank(
            config.n_mels, config.n_fft, config.sample_rate, config.f_min, config.f_max
        )
        self.register_buffer("filterbank", filterbank, persistent=False)

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        # Half precision would lose the quiet bins and overflow on loud ones.
        with torch.autocast(device_type=waves.device.type, enabled=False):
            power = _power(waves.float(), self.window, self.config.n_fft, self.config.hop_length)
            return torch.log(torch.matmul(self.filterbank, power) + LOG_FLOOR)

    def frames(self, n_samples: int) -> int:
        """Number of frames for a wave of ``n_samples``."""
        return 1 + n_samples // self.config.hop_length


def dct_matrix(n_out: int, n_in: int) -> torch.Tensor:
    """Orthonormal DCT-II basis ``[n_out, n_in]`` (the first ``n_out`` rows)."""
    k = torch.arange(n_out, dtype=torch.float64)[:, None]
    n = torch.arange(n_in, dtype=torch.float64)[None, :]
    basis = torch.cos(math.pi * k * (2 * n + 1) / (2 * n_in)) * math.sqrt(2.0 / n_in)
    basis[0] /= math.sqrt(2.0)
    return basis


def mfcc(log_mel: torch.Tensor, n_mfcc: int = 20) -> torch.Tensor:
    """Cepstra ``[B, n_mfcc, T]`` of log mel features ``[B, n_mels, T]`` (orthonormal DCT-II)."""
    n_mels = log_mel.shape[-2]
    if not 1 <= n_mfcc <= n_mels:
        raise ConfigError(
            f"Asked for {n_mfcc} MFCCs from {n_mels} mel bands.",
            f"Use 1 <= n_mfcc <= n_mels ({n_mels}).",
        )
    basis = dct_matrix(n_mfcc, n_mels).to(device=log_mel.device, dtype=log_mel.dtype)
    return torch.matmul(basis, log_mel)


def deltas(features: torch.Tensor, width: int = 2) -> torch.Tensor:
    """Regression slopes over the last axis (time), edges replicated; same shape."""
    if width < 1:
        raise ValueError(f"deltas needs width >= 1; got {width}.")
    steps = features.shape[-1]
    if steps == 0:
        return torch.zeros_like(features)
    shape = (*features.shape[:-1], width)
    padded = torch.cat(
        [features[..., :1].expand(shape), features, features[..., -1:].expand(shape)], dim=-1
    )
    out = torch.zeros_like(features)
    for n in range(1, width + 1):
        ahead = padded[..., width + n : width + n + steps]
        behind = padded[..., width - n : width - n + steps]
        out = out + n * (ahead - behind)
    return out / (2 * sum(n * n for n in range(1, width + 1)))
