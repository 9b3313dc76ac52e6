"""The speech networks and their augmentation: shapes, what is saved, and what each part does."""

from __future__ import annotations

import pytest
import torch

from layerwise.data.audio_augment import (
    SpecAugment,
    SpecAugmentConfig,
    WaveAugmentConfig,
    augment_waves,
    utterance_norm,
)
from layerwise.models.speech_cnn import SpeechCNN, SpeechCNNConfig
from layerwise.models.speech_ctc import SpeechCTC, SpeechCTCConfig


def test_cnn_with_every_cepstrum_sees_the_plain_spectrum():
    torch.manual_seed(0)
    waves = torch.randn(2, 8000) * 0.1
    plain = SpeechCNN(SpeechCNNConfig(n_classes=3, features={"sample_rate": 8000})).eval()
    full = SpeechCNN(
        SpeechCNNConfig(n_classes=3, features={"sample_rate": 8000}, cepstra=40)
    ).eval()
    torch.testing.assert_close(full.features(waves), plain.features(waves), atol=1e-4, rtol=1e-4)
    smooth = SpeechCNN(
        SpeechCNNConfig(n_classes=3, features={"sample_rate": 8000}, cepstra=8)
    ).eval()
    # fewer cepstra: a smoother spectrum, so smaller differences between neighbouring bands
    rough = plain.features(waves).diff(dim=2).abs().mean()
    assert smooth.features(waves).diff(dim=2).abs().mean() < rough
    assert not any("lifter" in k or "filterbank" in k for k in smooth.state_dict())


@pytest.mark.parametrize("seconds", [0.3, 1.0, 2.7])
def test_ctc_output_steps_match_its_formula(seconds):
    model = SpeechCTC(SpeechCTCConfig(vocabulary=["a", "b"], features={"sample_rate": 8000}))
    n = int(seconds * 8000)
    out = model.eval()(torch.zeros(1, n))
    assert out.shape == (1, model.steps(n), 3)
    torch.testing.assert_close(out.exp().sum(dim=-1), torch.ones(1, model.steps(n)))


def test_spec_augment_masks_only_in_training():
    spec = torch.randn(4, 40, 100)
    augment = SpecAugment(SpecAugmentConfig(freq_masks=2, time_masks=2))
    assert torch.equal(augment.eval()(spec), spec)
    torch.manual_seed(0)
    assert not torch.equal(augment.train()(spec), spec)


def test_wave_augmentation_is_seeded_and_keeps_the_shape():
    waves = torch.sin(torch.linspace(0, 600, 8000)).repeat(3, 1)
    config = WaveAugmentConfig()
    first = augment_waves(waves, config, torch.Generator().manual_seed(1))
    again = augment_waves(waves, config, torch.Generator().manual_seed(1))
    other = augment_waves(waves, config, torch.Generator().manual_seed(2))
    assert first.shape == waves.shape and torch.equal(first, again)
    assert not torch.equal(first, other)
    silent = WaveAugmentConfig(speed=0, shift=0, gain_db=0, noise_p=0)
    assert torch.equal(augment_waves(waves, silent, torch.Generator()), waves)


def test_utterance_norm_centres_each_band():
    spec = torch.randn(2, 40, 50) * 3 + torch.arange(40.0)[None, :, None]
    normed = utterance_norm(spec)
    torch.testing.assert_close(normed.mean(dim=2), torch.zeros(2, 40), atol=1e-5, rtol=0)
    torch.testing.assert_close(normed.std(dim=(1, 2)), torch.ones(2), atol=1e-3, rtol=0)
