"""The convolutional VAE and its training by the one engine: shapes, loss, sampling, config."""

from __future__ import annotations

import pytest
import torch

from layerwise.errors import ConfigError
from layerwise.models.conv_vae import ConvVAE, ConvVAEConfig
from layerwise.tasks.image_generation.gan_train import RandomBatches, sample_images
from layerwise.tasks.image_generation.vae_train import (
    VAETrainer,
    gaussian_nll,
    kl_divergence,
    vae_config,
)

torch.set_num_threads(1)


def tiny_vae(n_classes: int = 3, side: int = 8, channels: int = 1) -> ConvVAE:
    torch.manual_seed(0)
    return ConvVAE(ConvVAEConfig(channels, side, n_classes, z_dim=4, width=8))


def tiny_data(n: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 3
    # learnable images: a class-dependent brightness plus a little noise
    images = (labels[:, None, None, None] - 1) * 0.6 + 0.1 * torch.randn(n, 1, 8, 8, generator=g)
    return images.clamp(-1, 1), labels


@pytest.mark.parametrize("side", [16, 28])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("n_classes", [0, 4])
def test_shapes(side, channels, n_classes):
    vae = tiny_vae(n_classes, side, channels)
    x = torch.rand(3, channels, side, side) * 2 - 1
    labels = torch.tensor([0, 1, 3]) if n_classes else None
    recon, mu, logvar = vae(x, labels)
    assert recon.shape == x.shape and mu.shape == logvar.shape == (3, 4)
    assert float(recon.detach().abs().max()) <= 1.0
    assert vae.encode(x, labels)[0].shape == (3, 4)
    decoder = vae.decoder_module()
    assert decoder.config.z_dim == 4
    assert decoder(torch.randn(3, 4), labels).shape == x.shape


def test_conditional_model_needs_labels():
    with pytest.raises(ValueError, match="labels"):
        tiny_vae(3).encode(torch.zeros(2, 1, 8, 8))


def test_eval_mode_reconstructs_from_the_mean():
    vae = tiny_vae().eval()
    x, labels = tiny_data(4)
    with torch.no_grad():
        recon, mu, _ = vae(x, labels)
        assert torch.equal(recon, vae.decode(mu, labels))


def test_a_few_steps_lower_the_loss():
    vae, (images, labels) = tiny_vae(), tiny_data()
    config = vae_config({"epochs": 4, "batch_size": 8, "progress": False, "device": "cpu",
                         "lr": 3e-3}, seed=0)  # fmt: skip
    calls = []

    def quality(decoder):
        calls.append(decoder)
        return {"val_fd": float(10 - len(calls))}

    trainer = VAETrainer(vae, config, quality=quality, sigma=0.3, warmup_steps=5)
    history = trainer.fit(RandomBatches(images, labels, 8, 6, seed=0), val=(torch.zeros(1),))
    records = history.records
    assert len(records) == 4 and trainer.steps_done == 24
    assert calls == [vae.decoder] * 4 and trainer.best_epoch == 4
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    assert records[-1]["train_recon"] < records[0]["train_recon"]
    for key in ("train_loss", "train_recon", "train_kl", "train_sigma", "val_fd"):
        assert torch.isfinite(torch.tensor(records[-1][key])), key
    assert records[0]["train_beta"] < 1.0 == records[-1]["train_beta"]


def test_learned_scale_trains_unconditionally():
    vae, (images, labels) = tiny_vae(n_classes=0), tiny_data()
    config = vae_config({"epochs": 2, "batch_size": 8, "progress": False, "device": "cpu"}, 0)
    trainer = VAETrainer(vae, config, beta=0.5)
    history = trainer.fit(RandomBatches(images, labels, 8, 4, seed=0))
    assert trainer.evaluate((torch.zeros(1),)) == {}
    assert all(r["train_beta"] == 0.5 and r["train_sigma"] > 0 for r in history.records)


def test_decoder_samples_deterministically_for_a_seed():
    vae = tiny_vae()
    decoder, labels = vae.decoder_module(), torch.tensor([0, 1, 2, 0])
    a = sample_images(decoder, 4, labels, seed=3)
    assert torch.equal(a, sample_images(decoder, 4, labels, seed=3))
    assert not torch.equal(a, sample_images(decoder, 4, labels, seed=4))
    assert a.shape == (4, 1, 8, 8) and decoder.training  # the mode is restored


def test_fitted_prior_maps_standard_noise_per_class():
    vae, (images, labels) = tiny_vae(), tiny_data(30)
    decoder = vae.decoder_module()
    z = torch.randn(3, 4)
    with torch.no_grad():
        before = decoder.eval()(z, torch.tensor([0, 1, 2]))
        assert torch.equal(before, vae.eval().decode(z, torch.tensor([0, 1, 2])))  # N(0, I)
        vae.train().fit_prior(images, labels)
        assert vae.training  # the mode is restored
        mu, logvar = vae.encode(images, labels)
    for k in range(3):
        assert torch.allclose(decoder.prior_mean[k], mu[labels == k].mean(0), atol=1e-5)
        scale = decoder.prior_scale[k]
        assert torch.equal(scale, torch.tril(scale))
    cov = decoder.prior_scale[1] @ decoder.prior_scale[1].T
    expected = torch.cov(mu[labels == 1].T) + torch.diag(logvar[labels == 1].exp().mean(0))
    assert torch.allclose(cov, expected, atol=1e-4)
    assert "decoder.prior_scale" in vae.state_dict()  # saved with the weights


def test_trainer_fits_the_prior_before_each_evaluation():
    vae, (images, labels) = tiny_vae(), tiny_data()
    config = vae_config({"epochs": 1, "batch_size": 8, "progress": False, "device": "cpu"}, 0)
    means = []
    trainer = VAETrainer(vae, config, quality=lambda d: means.append(d.prior_mean.clone()) or {"val_fd": 1.0},
                         prior_data=(images, labels))  # fmt: skip
    trainer.fit(RandomBatches(images, labels, 8, 2, seed=0), val=(torch.zeros(1),))
    assert len(means) == 1 and means[0].abs().sum() > 0


def test_losses():
    x = torch.zeros(2, 1, 2, 2)
    nll, scale = gaussian_nll(x + 0.5, x, sigma=0.5)
    assert float(scale) == 0.5
    expected = 4 * (0.5 + torch.log(torch.tensor(0.5)) + 0.5 * torch.log(torch.tensor(6.2832)))
    assert torch.allclose(nll, expected.expand(2), atol=1e-4)
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    expected_kl = 0.5 * (1.0 + (torch.e - 1.0 - 1.0))
    assert torch.allclose(kl_divergence(mu, logvar), torch.tensor([expected_kl]))


def test_config_round_trip_and_checks():
    config = ConvVAEConfig(channels=3, side=28, n_classes=5, z_dim=16, width=12)
    assert ConvVAEConfig.from_dict(config.to_dict()) == config
    assert config.dcgan().stage_widths() == config.stage_widths()
    assert tiny_vae().decoder_module().config.to_dict()["z_dim"] == 4
    with pytest.raises(ConfigError, match="ConvVAEConfig.side"):
        ConvVAEConfig(channels=1, side=18)
    with pytest.raises(ConfigError, match="ConvVAEConfig.channels"):
        ConvVAEConfig(channels=2, side=16)
    with pytest.raises(ConfigError, match="wdith"):
        ConvVAEConfig.from_dict({"channels": 1, "side": 16, "wdith": 8})
