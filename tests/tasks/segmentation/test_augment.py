"""Segmentation views: the mask moves with the pixels through crops, affine maps, elastic
deformation, flips and transposes; classes are never blended; a seed gives the same view."""

import numpy as np

from layerwise.tasks.segmentation.augment import SegmentationAugment, random_view
from layerwise.tasks.segmentation.cells import generated_masks
from layerwise.tasks.segmentation.masks import IGNORE


def test_the_mask_follows_the_pixels_through_every_transform():
    _, masks, _ = generated_masks(3, size=96, seed=0, kind="lesions")
    config = SegmentationAugment(rotate=30, shear=10, elastic_alpha=10, vflip=True,
                                 transpose=True, brightness=0, contrast=0, gamma=0)  # fmt: skip
    for k, mask in enumerate(masks):
        image = np.array([30, 140, 250], np.uint8)[mask]  # the class is in the pixel value
        view, labels = random_view(image, mask, 64, np.random.default_rng(k), config)
        assert set(np.unique(labels)) <= {0, 1, 2, IGNORE}
        counted = labels != IGNORE
        from_pixels = np.abs(view[..., None].astype(int) - [30, 140, 250]).argmin(-1)
        assert (from_pixels[counted] == labels[counted]).mean() > 0.97


def test_views_are_seeded_and_off_is_a_plain_crop():
    images, masks, _ = generated_masks(1, size=80, seed=1)
    a = random_view(images[0], masks[0], 48, np.random.default_rng(7), SegmentationAugment())
    b = random_view(images[0], masks[0], 48, np.random.default_rng(7), SegmentationAugment())
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    view, labels = random_view(images[0], masks[0], 48, np.random.default_rng(3),
                               SegmentationAugment.off())  # fmt: skip
    found = [(y, x) for y in range(33) for x in range(33)
             if np.array_equal(masks[0][y:y + 48, x:x + 48], labels)]  # fmt: skip
    assert found and np.array_equal(images[0][found[0][0]:found[0][0] + 48,
                                              found[0][1]:found[0][1] + 48], view)  # fmt: skip


def test_a_small_image_is_padded_with_ignored_pixels():
    image, mask = np.full((20, 30), 100, np.uint8), np.ones((20, 30), np.uint8)
    view, labels = random_view(image, mask, 32, np.random.default_rng(0), SegmentationAugment.off())
    assert view.shape == labels.shape == (32, 32)
    assert (labels == IGNORE).sum() == 32 * 32 - 20 * 30


def test_transposes_are_drawn_only_when_asked():
    image = np.arange(32 * 32, dtype=np.uint8).reshape(32, 32)
    mask = (np.arange(32)[:, None] < 8).repeat(32, 1).astype(np.uint8)  # the top rows: class 1
    plain = SegmentationAugment.off()
    turned = SegmentationAugment(**{**plain.__dict__, "transpose": True})
    views = [random_view(image, mask, 32, np.random.default_rng(k), turned)[1] for k in range(20)]
    left_columns = sum(bool(v[:, :8].all()) for v in views)  # a transposed view: class 1 at left
    assert 0 < left_columns < 20
    views = [random_view(image, mask, 32, np.random.default_rng(k), plain)[1] for k in range(5)]
    assert all(np.array_equal(v, mask) for v in views)
