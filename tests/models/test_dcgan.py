"""The DCGAN generator and discriminator: sizing, shapes, conditioning and the config."""

from __future__ import annotations

import json

import pytest
import torch

from layerwise.errors import ConfigError
from layerwise.models.dcgan import DCGANConfig, Discriminator, Generator, sample_latent

torch.set_num_threads(1)

# side -> (stages, start map side)
SIZING = {8: (1, 4), 16: (2, 4), 28: (2, 7), 32: (3, 4), 64: (4, 4)}


@pytest.mark.parametrize("side", sorted(SIZING))
def test_start_map_is_three_to_eight_pixels(side):
    config = DCGANConfig(channels=1, side=side)
    assert (config.stages, config.start) == SIZING[side]
    assert config.start * 2**config.stages == side


@pytest.mark.parametrize("side", [16, 28, 32])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("n_classes", [0, 5])
def test_shapes_and_range(side, channels, n_classes):
    torch.manual_seed(0)
    config = DCGANConfig(channels=channels, side=side, n_classes=n_classes, z_dim=8, width=8)
    g, d = Generator(config), Discriminator(config)
    labels = torch.tensor([0, 4, 1]) if n_classes else None
    images = g(torch.randn(3, 8), labels)
    assert images.shape == (3, channels, side, side)
    assert images.abs().max() <= 1.0
    logits = d(images, labels)
    assert logits.shape == (3,)
    assert torch.isfinite(logits).all()


def test_conditioning_changes_outputs():
    torch.manual_seed(0)
    config = DCGANConfig(channels=1, side=16, n_classes=3, z_dim=8, width=8)
    g, d = Generator(config).eval(), Discriminator(config).eval()
    with torch.no_grad():
        for table in (g.embed.weight, d.embed.parametrizations.weight.original):
            table.normal_()
        z = torch.randn(2, 8).repeat(2, 1)
        images = g(z, torch.tensor([0, 0, 2, 2]))
        assert not torch.allclose(images[:2], images[2:])
        x = torch.randn(1, 1, 16, 16).repeat(2, 1, 1, 1)
        logits = d(x, torch.tensor([0, 1]))
    assert not torch.isclose(logits[0], logits[1])


def test_conditional_models_need_labels():
    config = DCGANConfig(channels=1, side=16, n_classes=3, z_dim=8, width=8)
    with pytest.raises(ValueError, match="labels"):
        Generator(config)(torch.randn(2, 8))
    with pytest.raises(ValueError, match="labels"):
        Discriminator(config)(torch.zeros(2, 1, 16, 16), torch.tensor([0]))


def test_discriminator_layers_are_spectrally_normalised():
    d = Discriminator(DCGANConfig(channels=3, side=32, n_classes=4, width=8))
    layers = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    assert layers and all(hasattr(m, "parametrizations") for m in layers)


def test_config_round_trip_through_json():
    config = DCGANConfig(channels=3, side=28, n_classes=10, z_dim=32, width=16)
    assert DCGANConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize(
    "bad",
    [{"side": 30}, {"side": 4}, {"side": 128}, {"channels": 2}, {"width": 0}, {"n_classes": -1}],
)
def test_bad_values_raise_config_error(bad):
    with pytest.raises(ConfigError):
        DCGANConfig(**{"channels": 1, "side": 16, **bad})


def test_unknown_key_names_the_closest_field():
    with pytest.raises(ConfigError, match="z_dim"):
        DCGANConfig.from_dict({"channels": 1, "side": 16, "zdim": 8})


def test_sample_latent_is_seeded():
    a = sample_latent(4, 6, torch.Generator().manual_seed(3))
    b = sample_latent(4, 6, torch.Generator().manual_seed(3))
    c = sample_latent(4, 6, torch.Generator().manual_seed(4))
    assert a.shape == (4, 6) and torch.equal(a, b) and not torch.equal(a, c)
