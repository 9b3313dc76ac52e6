"""Generated images with masks, for the demo and the tests: cells under a microscope and skin
lesions under a dermatoscope, seeded, in a few seconds.

- ``cells`` (grey, 2 classes: 0 background and membrane, 1 cell interior): touching cells whose
  walls are a dark membrane a few pixels thick, as in electron microscopy (the ISBI 2012
  membrane set is of this kind). The cells are the cells of a jittered Voronoi tessellation, so
  they fill the frame as tissue does; some are left out (background). Interiors hold
  organelle-like dark blobs, so a dark pixel is not always membrane: intensity alone cannot
  segment them, the context around a pixel is needed.
- ``lesions`` (RGB, 3 classes: 0 skin, 1 lesion, 2 hair): one or two irregular pigmented blobs
  on textured skin, crossed by thin dark hairs that are their own class; illumination varies
  across the frame.

Every image has noise, a blur of the edges and an illumination gradient; sizes and counts vary.

Example:
    >>> images, masks, classes = generated_masks(4, size=64, seed=0)
    >>> images.shape, images.dtype, masks.shape, classes
    ((4, 64, 64), dtype('uint8'), (4, 64, 64), ['background', 'cell'])
    >>> 0.3 < float((masks == 1).mean()) < 0.9
    True
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from layerwise.errors import ConfigError

KINDS = {"cells": ["background", "cell"], "lesions": ["skin", "lesion", "hair"]}


def generated_masks(
    n: int, size: int = 128, seed: int = 0, kind: str = "cells"
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``n`` images (uint8 ``[n, size, size]`` for cells, ``[n, size, size, 3]`` for lesions),
    their masks (uint8 class indices ``[n, size, size]``) and the class names."""
    if kind not in KINDS:
        raise ConfigError(f"kind={kind!r} is not a generated set.", f"Use one of {list(KINDS)}.")
    if not (1 <= int(n) <= 100_000 and 16 <= int(size) <= 2048):
        raise ConfigError(f"n={n!r}, size={size!r} are out of range.",
                          "Use 1 to 100,000 images of 16 to 2048 px.")  # fmt: skip
    draw = _cells if kind == "cells" else _lesions
    pairs = [draw(np.random.default_rng([seed, i]), int(size)) for i in range(int(n))]
    images = np.stack([p[0] for p in pairs])
    masks = np.stack([p[1] for p in pairs])
    return images, masks, list(KINDS[kind])


def _finish(x: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Blur, an illumination gradient, noise; float in ~[0, 1] -> uint8."""
    x = ndimage.gaussian_filter(x, sigma=[rng.uniform(0.6, 1.4)] * 2 + [0] * (x.ndim - 2))
    yy, xx = np.mgrid[0:size, 0:size] / size
    light = 1 + rng.uniform(-0.25, 0.25) * (xx - 0.5) + rng.uniform(-0.25, 0.25) * (yy - 0.5)
    x = x * (light if x.ndim == 2 else light[..., None])
    x = x + rng.normal(0, rng.uniform(0.02, 0.06), x.shape)
    return np.clip(x * 255, 0, 255).astype(np.uint8)


def _cells(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    cell = rng.uniform(0.09, 0.2) * size  # typical cell diameter
    n_seeds = max(4, int((size / cell) ** 2))
    seeds = rng.uniform(-0.05 * size, 1.05 * size, (n_seeds, 2))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    # distances to the two nearest seeds: a pixel is membrane where they are nearly equal
    pixels = np.stack([yy.ravel(), xx.ravel()], 1)
    distances, nearest = cKDTree(seeds).query(pixels, k=2)
    d1, d2 = distances[:, 0].reshape(size, size), distances[:, 1].reshape(size, size)
    nearest = nearest.reshape(size, size, 2)
    wall = rng.uniform(1.0, 2.5) * max(size / 128, 0.6)
    present = rng.random(n_seeds) > 0.15  # some cells are missing: extracellular space there
    # a membrane bounds every cell; between two missing cells there is none
    membrane = ((d2 - d1) < wall) & (present[nearest[..., 0]] | present[nearest[..., 1]])
    interior = ~membrane & present[nearest[..., 0]]
    outside = ~membrane & ~interior
    mask = interior.astype(np.uint8)
    brightness = rng.uniform(0.45, 0.85, n_seeds)[nearest[..., 0]]
    # the space between cells is as bright as a dim cell but grainier: intensity alone cannot
    # tell them apart, local texture can
    x = np.where(interior, brightness, rng.uniform(0.45, 0.6))
    x = x - 0.35 * membrane
    texture = ndimage.gaussian_filter(rng.normal(0, 1, (size, size)), 1.5)
    x = x + 0.06 * texture / (texture.std() + 1e-9)
    grain = ndimage.gaussian_filter(rng.normal(0, 1, (size, size)), 0.8)
    x = x + outside * 0.15 * grain / (grain.std() + 1e-9)
    # organelles: dark blobs inside cells (not membrane: the mask keeps them as cell)
    for _ in range(rng.integers(2, 3 + int(n_seeds // 2))):
        cy, cx = rng.uniform(0, size, 2)
        radius = rng.uniform(0.08, 0.18) * cell
        blob = (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2
        x = np.where(blob & interior, x - rng.uniform(0.2, 0.35), x)
    return _finish(x, rng, size), mask


def _lesions(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    mask = np.zeros((size, size), np.uint8)
    skin = np.array([0.85, 0.65, 0.55]) * rng.uniform(0.85, 1.1)
    x = np.ones((size, size, 3)) * skin
    texture = ndimage.gaussian_filter(rng.normal(0, 1, (size, size)), 2.0)
    x = x + 0.05 * (texture / (texture.std() + 1e-9))[..., None]
    for _ in range(rng.integers(1, 3)):
        cy, cx = rng.uniform(0.3, 0.7, 2)
        radius = rng.uniform(0.1, 0.25)
        angle = np.arctan2(yy - cy, xx - cx)
        # an irregular outline: a radius that varies with the angle
        wobble = sum(
            rng.uniform(0, 0.25) * np.cos(k * angle + rng.uniform(0, 6.3)) for k in (2, 3, 5)
        )
        lesion = np.hypot(yy - cy, xx - cx) < radius * (1 + wobble)
        mask[lesion] = 1
        colour = np.array([0.45, 0.3, 0.2]) * rng.uniform(0.6, 1.1)
        shade = 1 + 0.15 * ndimage.gaussian_filter(rng.normal(0, 1, (size, size)), 3.0)
        x = np.where(lesion[..., None], colour * shade[..., None], x)
    for _ in range(rng.integers(0, 5)):  # hairs: thin dark curves across the frame
        a, b = rng.uniform(0, 1, 2), rng.uniform(0, 1, 2)
        bend = rng.uniform(-0.15, 0.15, 2)
        t = np.linspace(0, 1, 4 * size)[:, None]
        points = (1 - t) * a + t * b + np.sin(np.pi * t) * bend
        hair = np.zeros((size, size), bool)
        cells = np.clip((points * size).astype(int), 0, size - 1)
        hair[cells[:, 0], cells[:, 1]] = True
        hair = ndimage.binary_dilation(hair, iterations=max(1, size // 128))
        mask[hair] = 2
        x = np.where(hair[..., None], np.array([0.15, 0.1, 0.08]), x)
    return _finish(x, rng, size), mask
