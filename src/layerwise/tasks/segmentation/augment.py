"""Augmentation for segmentation: every geometric change moves the mask with the pixels.

One random training view of an image and its mask (:func:`random_view`) is a crop of
``crop x crop`` pixels (padded when the image is smaller: the padding is ``IGNORE`` in the mask),
an affine map (rotation, scale, shear) and an elastic deformation as in the U-Net paper (a
random displacement field smoothed by a Gaussian), both sampled bilinearly for the image and by
nearest neighbour for the mask, so no class is invented at a border; flips, and intensity
changes (brightness, contrast, gamma). All draws come from the generator passed in, so a seed
gives the same views.

Example:
    >>> rng = np.random.default_rng(0)
    >>> image, mask = np.zeros((50, 40), np.uint8), np.ones((50, 40), np.uint8)
    >>> view, labels = random_view(image, mask, 32, rng, SegmentationAugment())
    >>> view.shape, labels.shape, set(np.unique(labels)) <= {1, IGNORE}
    ((32, 32), (32, 32), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from layerwise.errors import check_fields
from layerwise.tasks.segmentation.masks import IGNORE


@dataclass
class SegmentationAugment:
    """The switches of :func:`random_view`: ``rotate`` (largest angle, degrees), ``scale``
    (range of the zoom), ``shear`` (degrees), ``elastic_alpha`` (displacement, pixels, 0: off)
    and ``elastic_sigma`` (its smoothness), ``flip`` (left-right), ``vflip`` (up-down: off
    for photos, where up is up; on for microscopy), ``transpose`` (swap rows and columns:
    with both flips, every quarter turn; for images that have no orientation), ``brightness`` / ``contrast`` (largest
    relative change) and ``gamma`` (largest deviation of the exponent from 1)."""

    rotate: float = 15.0
    scale: tuple[float, float] = (0.85, 1.2)
    shear: float = 5.0
    elastic_alpha: float = 8.0
    elastic_sigma: float = 6.0
    flip: bool = True
    vflip: bool = False
    transpose: bool = False
    brightness: float = 0.15
    contrast: float = 0.15
    gamma: float = 0.15

    def __post_init__(self) -> None:
        self.scale = (float(self.scale[0]), float(self.scale[1]))
        check_fields(self, [
            ("rotate", 0 <= self.rotate <= 180, "degrees in [0, 180]"),
            ("scale", 0.1 <= self.scale[0] <= self.scale[1] <= 10, "0.1 <= low <= high <= 10"),
            ("shear", 0 <= self.shear <= 45, "degrees in [0, 45]"),
            ("elastic_alpha", 0 <= self.elastic_alpha <= 100, "pixels in [0, 100]"),
            ("elastic_sigma", 1 <= self.elastic_sigma <= 50, "pixels in [1, 50]"),
            ("brightness", 0 <= self.brightness < 1, "a fraction in [0, 1)"),
            ("contrast", 0 <= self.contrast < 1, "a fraction in [0, 1)"),
            ("gamma", 0 <= self.gamma < 1, "a fraction in [0, 1)"),
        ])  # fmt: skip

    @classmethod
    def off(cls) -> SegmentationAugment:
        """No change but the crop."""
        return cls(0.0, (1.0, 1.0), 0.0, 0.0, 6.0, False, False, False, 0.0, 0.0, 0.0)


def _pad(image: np.ndarray, mask: np.ndarray, crop: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad to at least ``crop`` on each side: edge-reflected pixels, ``IGNORE`` in the mask."""
    height, width = mask.shape
    dy, dx = max(0, crop - height), max(0, crop - width)
    if not dy and not dx:
        return image, mask
    spec = ((dy // 2, dy - dy // 2), (dx // 2, dx - dx // 2))
    image = np.pad(
        image,
        spec + ((0, 0),) * (image.ndim - 2),
        mode="reflect" if min(height, width) > 1 else "edge",
    )
    return image, np.pad(mask, spec, constant_values=IGNORE)


def _sample(channel: np.ndarray, coords: np.ndarray, order: int, fill: float) -> np.ndarray:
    return ndimage.map_coordinates(channel, coords, order=order, mode="constant", cval=fill)


def random_view(image: np.ndarray, mask: np.ndarray, crop: int, rng: np.random.Generator,
                config: SegmentationAugment) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """A ``crop x crop`` training view of a uint8 image (grey or ``[H, W, C]``) and its mask."""
    image, mask = _pad(image, mask, crop)
    height, width = mask.shape
    top = int(rng.integers(0, height - crop + 1))
    left = int(rng.integers(0, width - crop + 1))
    # output pixel (y, x) reads input (A @ (y, x) - centre) + centre + offset + elastic shift
    angle = np.deg2rad(rng.uniform(-config.rotate, config.rotate))
    zoom = rng.uniform(*config.scale)
    shear = np.deg2rad(rng.uniform(-config.shear, config.shear))
    matrix = np.array([[np.cos(angle), -np.sin(angle + shear)],
                       [np.sin(angle), np.cos(angle + shear)]]) / zoom  # fmt: skip
    grid = np.mgrid[0:crop, 0:crop].reshape(2, -1).astype(np.float64) - (crop - 1) / 2
    coords = matrix @ grid + np.array([[top + (crop - 1) / 2], [left + (crop - 1) / 2]])
    coords = coords.reshape(2, crop, crop)
    if config.elastic_alpha:
        for axis in range(2):
            field = ndimage.gaussian_filter(rng.uniform(-1, 1, (crop, crop)), config.elastic_sigma)
            field /= np.abs(field).max() + 1e-12
            coords[axis] += config.elastic_alpha * field
    labels = _sample(mask, coords, 0, IGNORE).astype(np.uint8)
    if image.ndim == 2:
        view = _sample(image.astype(np.float32), coords, 1, 0.0)
    else:
        view = np.stack([_sample(image[..., c].astype(np.float32), coords, 1, 0.0)
                         for c in range(image.shape[2])], axis=-1)  # fmt: skip
    if config.flip and rng.random() < 0.5:
        view, labels = view[:, ::-1], labels[:, ::-1]
    if config.vflip and rng.random() < 0.5:
        view, labels = view[::-1], labels[::-1]
    if config.transpose and rng.random() < 0.5:
        view, labels = view.swapaxes(0, 1), labels.T
    view = _intensity(view / 255.0, rng, config)
    return (np.clip(view, 0, 1) * 255 + 0.5).astype(np.uint8), np.ascontiguousarray(labels)


def _intensity(x: np.ndarray, rng: np.random.Generator, config: SegmentationAugment) -> np.ndarray:
    if config.gamma:
        x = np.clip(x, 0, 1) ** rng.uniform(1 - config.gamma, 1 + config.gamma)
    if config.contrast:
        mean = x.mean()
        x = (x - mean) * rng.uniform(1 - config.contrast, 1 + config.contrast) + mean
    if config.brightness:
        x = x * rng.uniform(1 - config.brightness, 1 + config.brightness)
    return x
