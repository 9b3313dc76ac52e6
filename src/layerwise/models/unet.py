"""U-Net (Ronneberger et al., 2015): an encoder of residual stages that halve the image, a
decoder that doubles it back, and skip connections that hand each decoder level the encoder's
features at its resolution, so the mask keeps the image's fine detail.

The encoder is the project's ResNet blocks (:class:`~layerwise.models.resnet.BasicBlock`): a
full-resolution stem, then ``depth`` stages at strides 2, 4, ..., 2^depth. Each decoder level
upsamples (bilinear), concatenates the skip and applies two 3x3 conv-BN-ReLU; a 1x1 convolution
gives one logit per class and pixel. Padding keeps every size, so the output mask has the
input's height and width (a multiple of ``2 ** depth``).

Example:
    >>> config = unet_config_for(96, 30, 2, in_channels=1)
    >>> config.widths, config.stride
    ([16, 32, 64, 128], 8)
    >>> UNet(config).eval()(torch.rand(2, 1, 64, 48)).shape
    torch.Size([2, 2, 64, 48])
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from layerwise.errors import ConfigError, check_fields, dataclass_from_dict
from layerwise.models.image_input import ImageInput
from layerwise.models.resnet import BasicBlock, _conv_bn

MIN_DEPTH, MAX_DEPTH = 2, 5
SMALLEST_MAP = 8  # the deepest map is at least this many pixels across the training crop


@dataclass
class UNetConfig:
    """The architecture of a :class:`UNet`, JSON-able. ``widths[0]``: the full-resolution
    stem's channels; ``widths[i]`` for ``i >= 1``: the encoder stage at stride ``2 ** i``.
    ``mean`` / ``std``: per-channel statistics of the [0, 1] inputs, held as buffers.

    Example:
        >>> UNetConfig(3, 1, widths=[8, 16, 32]).stride
        4
    """

    n_classes: int
    in_channels: int = 3
    widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    blocks: int = 1
    dropout: float = 0.0
    mean: list[float] = field(default_factory=lambda: [0.5])
    std: list[float] = field(default_factory=lambda: [0.25])

    def __post_init__(self) -> None:
        self.widths = [int(w) for w in self.widths]
        self.mean = [float(v) for v in self.mean]
        self.std = [float(v) for v in self.std]
        if len(self.mean) == 1:
            self.mean = self.mean * int(self.in_channels)
        if len(self.std) == 1:
            self.std = self.std * int(self.in_channels)
        check_fields(self, [
            ("n_classes", 2 <= self.n_classes <= 256, "a whole number in [2, 256]"),
            ("in_channels", 1 <= self.in_channels <= 16, "a whole number in [1, 16]"),
            ("widths", MIN_DEPTH <= len(self.widths) - 1 <= MAX_DEPTH, "3 to 6 widths"),
            ("widths", all(1 <= w <= 2048 for w in self.widths), "channel counts in [1, 2048]"),
            ("blocks", 1 <= self.blocks <= 8, "a whole number in [1, 8]"),
            ("dropout", 0 <= self.dropout < 1, "a fraction in [0, 1)"),
            ("mean", len(self.mean) == self.in_channels, "one value per channel"),
            ("std", len(self.std) == self.in_channels and min(self.std) > 0,
             "one positive value per channel"),
        ])  # fmt: skip

    @property
    def stride(self) -> int:
        """Input sides must be a multiple of this (the deepest stage's stride)."""
        return 2 ** (len(self.widths) - 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UNetConfig:
        return dataclass_from_dict(cls, d)


def unet_config_for(crop: int, n_images: int, n_classes: int, in_channels: int = 3,
                    on_cpu: bool = False) -> UNetConfig:  # fmt: skip
    """A U-Net sized to the training crop, the amount of data and the device: one stage per
    halving until the deepest map is about ``SMALLEST_MAP`` pixels (2 to 5 stages: a 96 px crop
    gets 3, 256 px gets 5); widths 16, 32, ... below 500 images, 24, 48, ... beyond (wider nets
    on a few dozen images learn the training masks, not the task), and 8, 16, ... ``on_cpu``:
    a CPU epoch's time grows with width^2, and within a CPU budget more epochs of the narrower
    net win (ISBI membrane, 600 s on 2 cores: widths from 16 gave 19 epochs and membrane Dice
    0.755, from 8 62 epochs and 0.779, at the same learning rate).

    Example:
        >>> unet_config_for(256, 30, 2).widths, unet_config_for(96, 30, 2, on_cpu=True).widths
        ([16, 32, 64, 128, 256, 256], [8, 16, 32, 64])
    """
    if crop < 16:
        raise ConfigError(f"crop={crop!r} is too small for a U-Net.", "Use 16 px or more.")
    depth = MIN_DEPTH
    while depth < MAX_DEPTH and crop // 2 ** (depth + 1) >= SMALLEST_MAP:
        depth += 1
    base = 8 if on_cpu else 16 if n_images < 500 else 24
    widths = [min(base * 2**i, 16 * base) for i in range(depth + 1)]
    return UNetConfig(n_classes=int(n_classes), in_channels=int(in_channels), widths=widths)


def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        *_conv_bn(c_in, c_out, 3), nn.ReLU(), *_conv_bn(c_out, c_out, 3), nn.ReLU()
    )


class UNet(ImageInput, nn.Module):
    """Stem at full resolution, residual encoder stages, a decoder with skips, a 1x1 head.

    ``forward(x)``: ``[B, C, H, W]`` images (uint8, or float in [0, 1]) with ``H`` and ``W``
    multiples of ``config.stride`` -> ``[B, n_classes, H, W]`` logits. ``stem`` and ``stages``
    are the encoder (what the layer views read).
    """

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        self.register_normalization(config.mean, config.std)
        widths = config.widths
        self.stem = _double_conv(config.in_channels, widths[0])
        self.stages = nn.ModuleList()
        for c_in, c_out in itertools.pairwise(widths):
            blocks = [BasicBlock(c_in, c_out, 2)]
            blocks += [BasicBlock(c_out, c_out, 1) for _ in range(config.blocks - 1)]
            self.stages.append(nn.Sequential(*blocks))
        self.decoder = nn.ModuleList(
            _double_conv(widths[i + 1] + widths[i], widths[i]) for i in range(len(widths) - 1)
        )
        self.dropout = nn.Dropout2d(config.dropout)
        self.head = nn.Conv2d(widths[0], config.n_classes, 1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stride = self.config.stride
        if x.shape[-1] % stride or x.shape[-2] % stride:
            raise ConfigError(
                f"U-Net input of {x.shape[-2]}x{x.shape[-1]} px is not a multiple of {stride}.",
                f"Pad or tile the image to a multiple of {stride}.",
            )
        skips = [self.stem(self.normalize(x))]
        for stage in self.stages:
            skips.append(stage(skips[-1]))
        out = skips.pop()
        for level in range(len(self.decoder) - 1, -1, -1):
            skip = skips.pop()
            up = nn.functional.interpolate(out, size=skip.shape[-2:], mode="bilinear",
                                           align_corners=False)  # fmt: skip
            out = self.decoder[level](torch.cat([up, skip], dim=1))
        return self.head(self.dropout(out))
