"""Augmentation on batched image tensors: ranges, seeds, identities, flips, shifts, TTA."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from layerwise.data.image_augment import (
    AugmentConfig,
    affine_theta,
    augment,
    default_augment,
    random_params,
    tta_views,
)
from layerwise.errors import ConfigError, DataError

STILL = {"rotate": 0.0, "shift": 0.0, "scale": (1.0, 1.0), "brightness": 0.0, "contrast": 0.0}


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int = 8, channels: int = 1, side: int = 20) -> torch.Tensor:
    return torch.randint(0, 256, (n, channels, side, side), generator=seeded(7), dtype=torch.uint8)


def dot(side: int, row: int, col: int, n: int = 1) -> torch.Tensor:
    x = torch.zeros(n, 1, side, side)
    x[:, 0, row, col] = 1.0
    return x


def centre_of_mass(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column centre of mass of each image ``[N, 1, H, W]``."""
    weights = x[:, 0]
    rows = torch.arange(x.shape[2], dtype=x.dtype)[None, :, None]
    cols = torch.arange(x.shape[3], dtype=x.dtype)[None, None, :]
    total = weights.sum(dim=(1, 2))
    return (weights * rows).sum(dim=(1, 2)) / total, (weights * cols).sum(dim=(1, 2)) / total


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_output_shape_dtype_and_range(dtype):
    x = images(6, 3)
    x = x if dtype == torch.uint8 else x.float() / 255
    config = AugmentConfig(flip=True, rotate=30, brightness=0.5, contrast=0.5, cutout=0.3)
    out = augment(x, config, seeded())
    assert out.shape == x.shape and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1


def test_same_seed_same_batch_other_seed_other_batch():
    x, config = images(), AugmentConfig(flip=True, cutout=0.2)
    assert torch.equal(augment(x, config, seeded(3)), augment(x, config, seeded(3)))
    assert not torch.equal(augment(x, config, seeded(3)), augment(x, config, seeded(4)))


def test_no_transform_is_the_identity():
    x = images(4, 3)
    out = augment(x, AugmentConfig(**STILL), seeded())
    assert (out - x.float() / 255).abs().max() < 1e-5


def test_identity_matrix_resamples_exactly():
    """p=0 still runs the affine resampling, with identity matrices: pixel centres are kept."""
    x = images(4, 1) / 255.0
    out = augment(x, AugmentConfig(flip=True, rotate=20, p=0.0), seeded())
    assert (out - x).abs().max() < 1e-5


@pytest.mark.parametrize("vertical", [False, True])
def test_flip_only_mirrors_exactly(vertical):
    x = images(32, 2) / 255.0
    config = AugmentConfig(**STILL, flip=not vertical, vertical_flip=vertical)
    out = augment(x, config, seeded())
    mirror = x.flip(-2 if vertical else -1)
    same = (out - x).abs().amax(dim=(1, 2, 3)) < 1e-5
    mirrored = (out - mirror).abs().amax(dim=(1, 2, 3)) < 1e-5
    assert torch.all(same | mirrored)
    assert same.any() and mirrored.any()


def test_random_shift_moves_a_pixel_by_the_drawn_amount():
    side, n = 32, 16
    x = dot(side, 16, 16, n)
    config = AugmentConfig(**{**STILL, "shift": 0.2})
    out = augment(x, config, seeded(5))
    params = random_params(n, config, seeded(5))
    rows, cols = centre_of_mass(out)
    assert torch.allclose(cols, 16 + params["shift_x"].float() * side, atol=1e-3)
    assert torch.allclose(rows, 16 + params["shift_y"].float() * side, atol=1e-3)
    assert params["shift_x"].abs().max() <= 0.2


def test_whole_pixel_shift_is_exact_and_positive_is_right_and_down():
    side = 16
    params = {
        "angle": torch.zeros(1),
        "scale": torch.ones(1),
        "shift_x": torch.tensor([3 / side]),
        "shift_y": torch.tensor([-2 / side]),
        "flip": torch.tensor([False]),
        "vertical_flip": torch.tensor([False]),
    }
    grid = F.affine_grid(affine_theta(params, side, side), [1, 1, side, side], align_corners=False)
    out = F.grid_sample(dot(side, 8, 5), grid, align_corners=False)
    assert (out - dot(side, 6, 8)).abs().max() < 1e-5


def test_rotation_keeps_the_centre_and_the_aspect_of_wide_images():
    x = torch.zeros(1, 1, 10, 30)
    x[0, 0, 4:6, 14:16] = 1.0  # a blob on the centre
    out = augment(x, AugmentConfig(**{**STILL, "rotate": 45.0}), seeded())
    rows, cols = centre_of_mass(out)
    assert abs(rows.item() - 4.5) < 1e-3 and abs(cols.item() - 14.5) < 1e-3


def test_cutout_erases_a_square():
    x = torch.ones(20, 1, 16, 16)
    out = augment(x, AugmentConfig(**STILL, cutout=0.25), seeded())
    erased = (out == 0).sum(dim=(1, 2, 3))
    assert torch.all((erased >= 4) & (erased <= 16))  # a 4x4 square, partly off the edge


def test_float_input_is_left_unchanged():
    x = torch.rand(4, 1, 12, 12)
    before = x.clone()
    for config in (AugmentConfig(**STILL, cutout=0.3), AugmentConfig(), AugmentConfig(**STILL)):
        augment(x, config, seeded())
    assert torch.equal(x, before)


def test_tta_views_count_and_content():
    x = torch.zeros(2, 1, 28, 28, dtype=torch.uint8)
    x[:, 0, 10, 12] = 255
    views = tta_views(x, AugmentConfig())
    assert len(views) == 5 and len(tta_views(x, AugmentConfig(flip=True))) == 6
    assert all(v.shape == x.shape and v.dtype == torch.float32 for v in views)
    assert torch.equal(views[0], x.float() / 255)
    spots = [tuple(v[0, 0].nonzero()[0].tolist()) for v in views[1:]]
    assert spots == [(10, 13), (10, 11), (11, 12), (9, 12)]  # right, left, down, up by 1 px
    flipped = tta_views(x, AugmentConfig(flip=True))[-1]
    assert torch.equal(flipped, (x.float() / 255).flip(-1))


def test_default_augment_suits_the_data():
    digits = default_augment(1, 28, 28)
    assert not digits.flip and digits.padding == "zeros" and digits.cutout == 0
    photos = default_augment(3, 32, 32)
    assert photos.flip and photos.padding == "border"
    tiny = default_augment(1, 8, 8)
    assert tiny.shift * 8 == pytest.approx(1.0) and tiny.rotate == 8 and tiny.cutout == 0


def test_config_round_trip_and_errors():
    config = AugmentConfig(flip=True, scale=(0.8, 1.2), cutout=0.1, padding="border")
    assert AugmentConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ConfigError, match="rotate"):
        AugmentConfig.from_dict({"rotation": 5})
    with pytest.raises(ConfigError, match="padding"):
        AugmentConfig(padding="wrap")
    with pytest.raises(ConfigError, match="scale"):
        AugmentConfig(scale=(1.2, 0.8))
    with pytest.raises(DataError, match="4-D"):
        augment(torch.zeros(3, 8, 8), AugmentConfig())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    x, config = images(8, 3), AugmentConfig(flip=True, rotate=15, cutout=0.2)
    cpu = augment(x, config, seeded(2))
    gpu = augment(x.cuda(), config, seeded(2))
    assert gpu.is_cuda and (gpu.cpu() - cpu).abs().max() < 1e-4
