"""Spectral features against numpy/scipy references: STFT, mel filters, log mel, MFCC, deltas."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import torch

from layerwise.data.audio_features import (
    FeatureConfig,
    LogMel,
    deltas,
    hz_to_mel,
    mel_filterbank,
    mel_to_hz,
    mfcc,
    stft_power,
)
from layerwise.errors import ConfigError


def reference_power(x: np.ndarray, n_fft: int, hop: int, win: int) -> np.ndarray:
    """|rfft|^2 of centred, zero-padded frames windowed by a periodic Hann of ``win``."""
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)
    window = np.zeros(n_fft)
    left = (n_fft - win) // 2
    window[left : left + win] = hann
    padded = np.pad(x.astype(np.float64), n_fft // 2)
    frames = [padded[i * hop : i * hop + n_fft] * window for i in range(1 + len(x) // hop)]
    return (np.abs(np.fft.rfft(np.stack(frames), axis=1)) ** 2).T


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Like torch.testing.assert_close (float32 tolerances), without its ~1 s first import."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=1.3e-6, atol=1e-5)


def assert_relative(actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-4) -> None:
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


@pytest.mark.parametrize(
    ("n_fft", "hop", "win", "length"), [(512, 160, 400, 3000), (256, 80, 256, 801)]
)
def test_stft_power_matches_numpy(n_fft: int, hop: int, win: int, length: int) -> None:
    x = np.random.default_rng(0).standard_normal((3, length)).astype(np.float32)
    out = stft_power(torch.from_numpy(x), n_fft, hop, win)
    assert out.shape == (3, n_fft // 2 + 1, 1 + length // hop)
    for row in range(3):
        assert_relative(out[row].numpy(), reference_power(x[row], n_fft, hop, win))


def test_stft_power_of_one_wave_has_no_batch_axis() -> None:
    x = np.random.default_rng(1).standard_normal(1000).astype(np.float32)
    out = stft_power(torch.from_numpy(x), 256, 100, 200)
    assert out.shape == (129, 11)
    assert_relative(out.numpy(), reference_power(x, 256, 100, 200))


def test_pure_tone_peaks_at_its_bin() -> None:
    rate, n_fft, freq = 16000, 512, 1234.0
    t = torch.arange(rate) / rate
    power = stft_power(torch.sin(2 * np.pi * freq * t), n_fft, 160, 400)
    assert int(power[:, 50].argmax()) == round(freq * n_fft / rate)


def test_clip_shorter_than_n_fft() -> None:
    x = np.random.default_rng(2).standard_normal(100).astype(np.float32)
    out = stft_power(torch.from_numpy(x)[None], 512, 160, 400)
    assert out.shape == (1, 257, 1)
    assert_relative(out[0].numpy(), reference_power(x, 512, 160, 400))


def test_mel_scale_round_trips_and_is_htk() -> None:
    x = np.array([0.0, 20.0, 700.0, 1000.0, 8000.0])
    np.testing.assert_allclose(hz_to_mel(mel_to_hz(x)), x, atol=1e-9)
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(x)), x, atol=1e-9)
    assert hz_to_mel(700.0) == pytest.approx(2595 * np.log10(2))
    assert isinstance(hz_to_mel(440.0), float) and isinstance(mel_to_hz(500.0), float)


def centres(n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    points = np.linspace(
        2595 * np.log10(1 + f_min / 700), 2595 * np.log10(1 + f_max / 700), n_mels + 2
    )
    return (700 * (10 ** (points / 2595) - 1))[1:-1]


@pytest.mark.parametrize(
    ("n_mels", "n_fft", "rate", "f_min"),
    [(40, 256, 8000, 0.0), (40, 512, 16000, 20.0), (80, 512, 16000, 0.0), (26, 1024, 22050, 300.0)],
)
def test_filters_peak_next_to_their_centre(
    n_mels: int, n_fft: int, rate: int, f_min: float
) -> None:
    bank = mel_filterbank(n_mels, n_fft, rate, f_min)
    assert bank.shape == (n_mels, n_fft // 2 + 1) and bank.dtype == torch.float32
    assert float(bank.min()) >= 0 and float(bank.max()) <= 1
    assert bool((bank.amax(dim=1) > 0).all())  # no empty filter
    position = centres(n_mels, f_min, rate / 2) * n_fft / rate
    peak = bank.argmax(dim=1).numpy()
    # The triangles are slightly lopsided, so a centre halfway between bins may peak at the far one.
    assert np.all((peak == np.floor(position)) | (peak == np.ceil(position)))
    assert np.mean(peak == np.round(position)) > 0.9


def test_filters_peak_at_the_nearest_bin() -> None:
    bank = mel_filterbank(40, 256, 8000)
    nearest = np.round(centres(40, 0.0, 4000.0) * 256 / 8000)
    np.testing.assert_array_equal(bank.argmax(dim=1).numpy(), nearest)


def test_filterbank_rejects_a_band_above_nyquist() -> None:
    with pytest.raises(ConfigError):
        mel_filterbank(40, 512, 16000, f_max=9000.0)


def test_mfcc_matches_scipy_dct() -> None:
    log_mel = torch.randn(2, 40, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = scipy.fft.dct(log_mel.numpy(), type=2, norm="ortho", axis=1)[:, :13]
    np.testing.assert_allclose(mfcc(log_mel, n_mfcc=13).numpy(), expected, atol=1e-10)
    with pytest.raises(ConfigError):
        mfcc(log_mel, n_mfcc=41)


def test_deltas_of_a_ramp_are_its_slope() -> None:
    ramp = (3.0 * torch.arange(20.0) + 1.0).expand(2, 5, 20)
    for width in (1, 2, 3):
        out = deltas(ramp, width)
        assert out.shape == ramp.shape
        assert_close(out[..., width:-width], torch.full((2, 5, 20 - 2 * width), 3.0))
        assert bool((out[..., 0] < 3.0).all())  # edges replicated flatten the slope
    assert bool((deltas(torch.ones(4, 9)) == 0).all())


def test_feature_config_lengths_and_dict_round_trip() -> None:
    config = FeatureConfig()
    assert (config.win_length, config.hop_length, config.n_fft) == (400, 160, 512)
    assert FeatureConfig(sample_rate=8000).n_fft == 256
    custom = FeatureConfig(sample_rate=8000, n_mels=20, f_max=3000.0)
    assert FeatureConfig.from_dict(custom.to_dict()) == custom
    with pytest.raises(ConfigError, match="n_mel"):
        FeatureConfig.from_dict({"n_mel": 40})
    with pytest.raises(ConfigError):
        FeatureConfig(sample_rate=8000, f_max=6000.0)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_log_mel_shape_for_one_second(rate: int) -> None:
    module = LogMel(FeatureConfig(sample_rate=rate))
    out = module(torch.randn(1, rate))
    assert out.shape == (1, 40, 101) and out.dtype == torch.float32
    assert module.frames(rate) == 101


def test_log_mel_matches_its_parts_and_batches() -> None:
    config = FeatureConfig(sample_rate=8000, n_mels=32)
    module = LogMel(config)
    waves = torch.randn(3, 4000, generator=torch.Generator().manual_seed(0))
    out = module(waves)
    bank = mel_filterbank(32, config.n_fft, 8000, config.f_min)
    power = stft_power(waves, config.n_fft, config.hop_length, config.win_length)
    assert_close(out, torch.log(bank @ power + 1e-6))
    assert_close(module(waves[1:2]), out[1:2])


def test_log_mel_state_dict_is_empty_and_silence_is_finite() -> None:
    module = LogMel(FeatureConfig(sample_rate=8000))
    assert module.state_dict() == {}
    out = module(torch.zeros(2, 3000))
    assert bool(torch.isfinite(out).all())
    assert_close(out, torch.full_like(out, float(np.log(1e-6))))


def test_log_mel_computes_in_float32_under_autocast() -> None:
    module = LogMel(FeatureConfig(sample_rate=8000))
    waves = torch.randn(2, 2000, generator=torch.Generator().manual_seed(3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(waves)
    assert out.dtype == torch.float32
    assert_close(out, module(waves))
