"""Image augmentation on batched tensors ``[N, C, H, W]``, on the CPU or the GPU.

Geometry (rotation, zoom, shift, flips) is one 2x3 matrix per image, applied by a single
``affine_grid`` + ``grid_sample`` call (bilinear); then brightness and contrast; then cutout.
Random numbers are drawn on the CPU from the given generator, so the same seed gives the same
batch on any device. Pixels that come from outside the image are filled by ``padding``:
``"zeros"`` suits dark backgrounds (digits, most scans: the fill is the background, and
strokes that touch the edge are not smeared across the border), ``"border"`` suits photos
(repeating the edge pixel hides the new corners better than black wedges, which a network
could learn to look for); :func:`default_augment` picks one from the number of channels.

Example:
    >>> x = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    >>> out = augment(x, AugmentConfig(), torch.Generator().manual_seed(0))
    >>> out.shape, out.dtype, bool(out.min() >= 0 and out.max() <= 1)
    (torch.Size([4, 1, 28, 28]), torch.float32, True)
    >>> len(tta_views(x, AugmentConfig(flip=True)))
    6
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from layerwise.errors import ConfigError, DataError, check_fields, dataclass_from_dict

PADDINGS = ("zeros", "border", "reflection")
# grid_sample's padding modes and F.pad's modes for the same idea (integer shifts in TTA).
_PAD_MODES = {"zeros": "constant", "border": "replicate", "reflection": "reflect"}
# Largest side of "tiny" images (8x8 digits), which get ~1 pixel of shift and no cutout.
TINY_SIDE = 12
# Test-time shifts: this fraction of the side, at least one pixel.
TTA_SHIFT = 0.04


@dataclass
class AugmentConfig:
    """What :func:`augment` does; each magnitude at 0 turns that transform off.

    ``flip`` / ``vertical_flip`` mirror half of the images (wrong for digits and text);
    ``rotate`` is the largest angle in degrees; ``shift`` the largest translation as a
    fraction of each side; ``scale`` the zoom range (> 1 zooms in, like a random crop);
    ``brightness`` an additive change as a fraction of the [0, 1] range; ``contrast`` a
    factor in [1 - contrast, 1 + contrast] around each image's mean; ``cutout`` the side of
    an erased (zero) square as a fraction of the shorter side; ``p`` the probability that an
    image is augmented at all; ``padding`` fills pixels from outside the image.

    Example:
        >>> AugmentConfig.from_dict(AugmentConfig(flip=True).to_dict()).flip
        True
    """

    flip: bool = False
    vertical_flip: bool = False
    rotate: float = 10.0
    shift: float = 0.1
    scale: tuple[float, float] = (0.9, 1.1)
    brightness: float = 0.1
    contrast: float = 0.1
    cutout: float = 0.0
    p: float = 1.0
    padding: str = "zeros"

    def __post_init__(self) -> None:
        try:
            low, high = (float(s) for s in self.scale)
        except (TypeError, ValueError) as error:
            raise ConfigError(
                f"AugmentConfig.scale={self.scale!r} is not valid.", "Use two numbers (low, high)."
            ) from error
        self.scale = (low, high)
        checks = [
            ("rotate", 0 <= self.rotate <= 180, "degrees in [0, 180]"),
            ("shift", 0 <= self.shift < 1, "a fraction in [0, 1)"),
            ("scale", 0 < low <= high, "0 < low <= high, e.g. (0.9, 1.1)"),
            ("brightness", 0 <= self.brightness <= 1, "a fraction in [0, 1]"),
            ("contrast", 0 <= self.contrast <= 1, "a fraction in [0, 1]"),
            ("cutout", 0 <= self.cutout <= 1, "a fraction in [0, 1]"),
            ("p", 0 <= self.p <= 1, "a probability in [0, 1]"),
            ("padding", self.padding in PADDINGS, "one of " + ", ".join(PADDINGS)),
        ]
        check_fields(self, checks)

    @property
    def has_geometry(self) -> bool:
        """Whether any geometric transform is on (otherwise the resampling is skipped)."""
        return bool(
            self.flip or self.vertical_flip or self.rotate or self.shift or self.scale != (1, 1)
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["scale"] = list(self.scale)  # what JSON and YAML give back
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AugmentConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the closest field."""
        return dataclass_from_dict(cls, d, "Augmentation")


def default_augment(channels: int, height: int, width: int) -> AugmentConfig:
    """Augmentation that suits the data: no flips for grayscale (digits, scans), flips for
    colour photos; tiny images (<= 12 pixels, e.g. 8x8 digits) get about one pixel of shift,
    8 degrees of rotation and no cutout.

    Cutout stays off: with the short schedules layerwise trains on a CPU (tens of epochs) its
    regularisation rarely pays for the signal it erases.

    Example:
        >>> default_augment(1, 8, 8).shift
        0.125
        >>> default_augment(3, 32, 32).flip
        True
    """
    color = channels >= 3
    padding = "border" if color else "zeros"
    side = min(height, width)
    if side <= TINY_SIDE:
        return AugmentConfig(
            flip=color,
            rotate=8.0,
            shift=round(1.0 / side, 4),
            scale=(0.95, 1.05),
            brightness=0.05,
            contrast=0.05,
            padding=padding,
        )
    zoom = (0.85, 1.15) if side >= 64 else (0.9, 1.1)
    return AugmentConfig(flip=color, rotate=10.0, shift=0.1, scale=zoom, padding=padding)


def _as_float(x: torch.Tensor) -> torch.Tensor:
    if x.dim() != 4:
        raise DataError(
            f"Images for augmentation must be a 4-D tensor [N, C, H, W]; got shape {tuple(x.shape)}.",
            "Add the batch and channel dimensions (x[None] or x[:, None]).",
        )
    return x if x.is_floating_point() else x.float().div_(255.0)


def random_params(
    n: int, config: AugmentConfig, generator: torch.Generator | None = None
) -> dict[str, torch.Tensor]:
    """Per-image random parameters (CPU tensors of length ``n``); identity where not applied.

    Always draws the same count of numbers, so one option does not change another's draws.

    Example:
        >>> sorted(random_params(3, AugmentConfig()))[:4]
        ['angle', 'applied', 'brightness', 'contrast']
    """
    draws = torch.rand(11, n, generator=generator, dtype=torch.float64)
    applied = draws[0] < config.p
    low, high = config.scale
    on = applied.double()
    params = {
        "applied": applied,
        "angle": (2 * draws[1] - 1) * config.rotate * on,
        "scale": 1 + (low + (high - low) * draws[2] - 1) * on,
        "shift_x": (2 * draws[3] - 1) * config.shift * on,
        "shift_y": (2 * draws[4] - 1) * config.shift * on,
        "flip": (draws[5] < 0.5) & applied & config.flip,
        "vertical_flip": (draws[6] < 0.5) & applied & config.vertical_flip,
        "brightness": (2 * draws[7] - 1) * config.brightness * on,
        "contrast": 1 + (2 * draws[8] - 1) * config.contrast * on,
        "cutout_y": draws[9],
        "cutout_x": draws[10],
    }
    return params


def affine_theta(params: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
    """The ``[N, 2, 3]`` matrices for ``affine_grid`` (output -> input, normalised coordinates).

    The image is flipped, zoomed by ``scale``, rotated by ``angle`` degrees and moved by
    ``shift_x`` / ``shift_y`` (fractions of the width / height; positive moves the content right
    / down). Rotation is done in pixel units, so non-square images are not sheared.

    Example:
        >>> p = {"angle": torch.zeros(1), "scale": torch.ones(1), "shift_x": torch.zeros(1),
        ...      "shift_y": torch.zeros(1), "flip": torch.tensor([True]),
        ...      "vertical_flip": torch.tensor([False])}
        >>> affine_theta(p, 4, 4)[0].diagonal().tolist()  # x mirrored, y kept
        [-1.0, 1.0]
    """
    angle = torch.deg2rad(params["angle"].double())
    cos, sin = torch.cos(angle), torch.sin(angle)
    fx = 1 - 2 * params["flip"].double()
    fy = 1 - 2 * params["vertical_flip"].double()
    inv = 1 / params["scale"].double()
    # Inverse map in pixel units: p_in = Flip @ Rot(-angle) @ (p_out - t) / scale.
    m00, m01 = fx * cos * inv, fx * sin * inv
    m10, m11 = -fy * sin * inv, fy * cos * inv
    # To coordinates normalised to [-1, 1] per axis: conjugate with diag(W / 2, H / 2).
    m01, m10 = m01 * height / width, m10 * width / height
    tx, ty = 2 * params["shift_x"].double(), 2 * params["shift_y"].double()
    theta = torch.stack(
        [
            torch.stack([m00, m01, -(m00 * tx + m01 * ty)], dim=1),
            torch.stack([m10, m11, -(m10 * tx + m11 * ty)], dim=1),
        ],
        dim=1,
    )
    return theta.float()


def _cutout_mask(
    params: dict[str, torch.Tensor], fraction: float, height: int, width: int, device: torch.device
) -> torch.Tensor:
    """``[N, 1, H, W]``, True inside each applied image's square (built on ``device``)."""
    side = max(1, round(fraction * min(height, width)))
    top = (params["cutout_y"] * height).floor().long() - side // 2
    left = (params["cutout_x"] * width).floor().long() - side // 2
    rows = torch.arange(height, device=device)[None, :] - top.to(device)[:, None]
    cols = torch.arange(width, device=device)[None, :] - left.to(device)[:, None]
    inside_y = (rows >= 0) & (rows < side) & params["applied"].to(device)[:, None]
    inside_x = (cols >= 0) & (cols < side)
    return (inside_y[:, :, None] & inside_x[:, None, :])[:, None]


def augment(
    x: torch.Tensor, config: AugmentConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Randomly augmented copies of images ``x`` (uint8, or float in [0, 1]), as float in [0, 1].

    Args:
        x: ``[N, C, H, W]`` images on any device; uint8 is divided by 255.
        config: what to do (see :class:`AugmentConfig`).
        generator: a CPU generator; the same seed gives the same output.

    Returns:
        A float tensor of ``x``'s shape and device (float32 for integer inputs).

    Example:
        >>> x = torch.rand(2, 3, 16, 16)
        >>> still = AugmentConfig(rotate=0, shift=0, scale=(1, 1), brightness=0, contrast=0)
        >>> torch.equal(augment(x, still), x)
        True
    """
    own = not x.is_floating_point()  # whether x is a tensor made here (safe to change in place)
    x = _as_float(x)
    n, _, height, width = x.shape
    params = random_params(n, config, generator)
    if config.has_geometry and n:
        theta = affine_theta(params, height, width).to(device=x.device, dtype=x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(
            x, grid, mode="bilinear", padding_mode=config.padding, align_corners=False
        )
        own = True
    if config.brightness or config.contrast:
        shape = (n, 1, 1, 1)
        brightness = params["brightness"].to(device=x.device, dtype=x.dtype).view(shape)
        contrast = params["contrast"].to(device=x.device, dtype=x.dtype).view(shape)
        # (x + b - m) * c + m with m the brightened mean, in one pass: x * c + b * c + m (1 - c)
        mean = x.mean(dim=(1, 2, 3), keepdim=True) + brightness
        x = torch.addcmul(brightness * contrast + mean * (1 - contrast), x, contrast)
        own = True
    if config.cutout:
        mask = _cutout_mask(params, config.cutout, height, width, x.device)
        x = x.masked_fill_(mask, 0.0) if own else x.masked_fill(mask, 0.0)
        own = True
    return x.clamp_(0.0, 1.0) if own else x.clamp(0.0, 1.0)


def _translate(x: torch.Tensor, dx: int, dy: int, padding: str) -> torch.Tensor:
    """Move the content ``dx`` pixels right and ``dy`` down (negative: left / up), exactly."""
    _, _, height, width = x.shape
    pad = (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0))
    mode = _PAD_MODES[padding]
    if mode == "reflect" and (max(pad[:2]) >= width or max(pad[2:]) >= height):
        mode = "replicate"  # reflection needs a pad smaller than the side
    padded = F.pad(x, pad, mode=mode)
    top, left = max(-dy, 0), max(-dx, 0)
    return padded[:, :, top : top + height, left : left + width]


def tta_views(x: torch.Tensor, config: AugmentConfig) -> list[torch.Tensor]:
    """Deterministic test-time views of ``x`` as float in [0, 1].

    The identity, then shifts right, left, down and up by ~4% of the side (at least one
    pixel), then, only when ``config.flip`` is on, the horizontal mirror: 5 or 6 views.

    Example:
        >>> [v.shape[0] for v in tta_views(torch.zeros(3, 1, 8, 8), AugmentConfig())]
        [3, 3, 3, 3, 3]
    """
    x = _as_float(x).clamp(0.0, 1.0)
    _, _, height, width = x.shape
    dx = max(1, math.floor(TTA_SHIFT * width + 0.5))
    dy = max(1, math.floor(TTA_SHIFT * height + 0.5))
    views = [x]
    for sx, sy in ((dx, 0), (-dx, 0), (0, dy), (0, -dy)):
        views.append(_translate(x, sx, sy, config.padding))
    if config.flip:
        views.append(x.flip(-1))
    return views
