"""A ResNet-style CNN sized to the input resolution: stem, residual stages, pooled linear head.

:func:`resnet_config_for` picks the depth from the image size (a stage per halving until the
feature map is about 4-8 pixels) and widths that train in minutes on a laptop CPU;
:class:`ResNet` takes uint8 or [0, 1] float images and normalises them itself, so a saved
weights file (which holds the per-channel mean and std) is all a predictor needs.

Example:
    >>> config = resnet_config_for(1, 10, 28, 28)
    >>> len(config.widths), config.stem_stride
    (3, 1)
    >>> model = ResNet(config).eval()
    >>> model(torch.zeros(2, 1, 28, 28, dtype=torch.uint8)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from layerwise.errors import ConfigError, dataclass_from_dict
from layerwise.models.image_input import ImageInput

# Width of the first stage (each later stage doubles it) and residual blocks per stage.
# Measured on a 2-core CPU at 28x28 (AdamW, batch 128; 4,000 Fashion-MNIST images, 25 epochs,
# mean test accuracy of two seeds): [16, 32, 64] x 2 blocks ~950 images/s, 85.5%;
# [32, 64, 128] x 1 ~540 images/s, 85.3%; [24, 48, 96] x 1 ~740 images/s, 85.2%;
# [16, 32, 64] x 1 ~1,840 images/s, 83.2%. Narrow and deep wins: ~2 minutes for 4,000 x 25.
BASE_WIDTH = 16
BLOCKS_PER_STAGE = 2
# Inputs at least this large get a stride-2 stem; twice this, also a 3x3 max-pool.
STRIDED_STEM_SIDE = 80
POOLED_STEM_SIDE = 160
# Stop adding stages once the feature map is this small (8x8 -> 4x4 still gets a second stage).
SMALLEST_MAP = 8
MIN_STAGES, MAX_STAGES = 2, 4


@dataclass
class ResNetConfig:
    """The architecture of a :class:`ResNet`, JSON-able through :meth:`to_dict`.

    ``mean`` and ``std`` are per-channel statistics of the images scaled to [0, 1] (one value
    is repeated for every channel; empty means 0.5 and 0.5, i.e. inputs mapped to [-1, 1]).
    ``stem_kernel`` is the side of the first convolution (3, or 7 for strided stems).

    Example:
        >>> config = ResNetConfig(3, 5, 32, 32, widths=[16, 32], blocks=[1, 1])
        >>> ResNetConfig.from_dict(config.to_dict()) == config
        True
    """

    in_channels: int
    n_classes: int
    height: int
    width: int
    widths: list[int]
    blocks: list[int]
    stem_stride: int = 1
    pool_stem: bool = False
    dropout: float = 0.0
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    stem_kernel: int = 3

    def __post_init__(self) -> None:
        self.widths = [int(w) for w in self.widths]
        self.blocks = [int(b) for b in self.blocks]
        self.mean = self._per_channel("mean", self.mean, 0.5)
        self.std = self._per_channel("std", self.std, 0.5)
        checks = [
            ("in_channels", self.in_channels >= 1, "a whole number >= 1"),
            ("n_classes", self.n_classes >= 1, "a whole number >= 1"),
            ("height", self.height >= 1 and self.width >= 1, "image sides >= 1"),
            ("widths", bool(self.widths) and min(self.widths) >= 1, "channel counts >= 1"),
            ("blocks", len(self.blocks) == len(self.widths), "one block count per width"),
            ("blocks", not self.blocks or min(self.blocks) >= 1, "block counts >= 1"),
            ("stem_stride", self.stem_stride in (1, 2), "1 or 2"),
            ("stem_kernel", self.stem_kernel in (1, 3, 5, 7), "1, 3, 5 or 7"),
            ("dropout", 0.0 <= self.dropout < 1.0, "a fraction in [0, 1)"),
            ("std", min(self.std) > 0, "positive standard deviations"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ConfigError(
                    f"ResNetConfig.{name}={getattr(self, name)!r} is not valid.",
                    f"Use {expected}.",
                )

    def _per_channel(self, name: str, values: Sequence[float], default: float) -> list[float]:
        values = [float(v) for v in values] or [default]
        if len(values) == 1:
            values = values * self.in_channels
        if len(values) != self.in_channels:
            raise ConfigError(
                f"ResNetConfig.{name} has {len(values)} values for {self.in_channels} channels.",
                "Give one value per channel, or a single value for all of them.",
            )
        return values

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResNetConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the closest field."""
        return dataclass_from_dict(cls, d)


def _round_width(width: float) -> int:
    """Multiples of 8 (what vectorised convolution kernels like), at least 8."""
    return max(8, round(width / 8) * 8)


def resnet_config_for(
    in_channels: int,
    n_classes: int,
    height: int,
    width: int,
    *,
    width_multiplier: float = 1.0,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> ResNetConfig:
    """A ResNet sized to the resolution: one stage per halving until the map is ~4-8 pixels.

    ==========  ===========================  ======  ==========================
    shorter     stem                         stages  feature maps
    side
    ==========  ===========================  ======  ==========================
    8           3x3, stride 1                2       8, 4
    28 / 32     3x3, stride 1                3       28, 14, 7 / 32, 16, 8
    64          3x3, stride 1                4       64, 32, 16, 8
    96 - 128    7x7, stride 2                4       48-64, ..., 6-8
    >= 160      7x7, stride 2 + 3x3 maxpool  4       224: 56, 28, 14, 7
    ==========  ===========================  ======  ==========================

    Every stage has two residual blocks (four stages: ResNet-18's depth). Widths are 16, 32,
    64, 128 times ``width_multiplier``, rounded to multiples of 8: narrow, because on a CPU a
    deeper narrow network beats a wider shallow one for the same time (see ``BASE_WIDTH``);
    on a GPU, ``width_multiplier=4`` gives ResNet-18's widths.

    Example:
        >>> config = resnet_config_for(3, 10, 224, 224)
        >>> config.widths, config.blocks, config.stem_stride, config.pool_stem
        ([16, 32, 64, 128], [2, 2, 2, 2], 2, True)
    """
    side = min(height, width)
    stride = 2 if side >= STRIDED_STEM_SIDE else 1
    pool = side >= POOLED_STEM_SIDE
    size = math.ceil(side / stride / (2 if pool else 1))
    stages = 1
    while stages < MAX_STAGES and (size > SMALLEST_MAP or stages < MIN_STAGES):
        size = math.ceil(size / 2)
        stages += 1
    widths = [_round_width(BASE_WIDTH * 2**i * width_multiplier) for i in range(stages)]
    return ResNetConfig(
        in_channels=in_channels,
        n_classes=n_classes,
        height=height,
        width=width,
        widths=widths,
        blocks=[BLOCKS_PER_STAGE] * stages,
        stem_stride=stride,
        pool_stem=pool,
        stem_kernel=7 if stride > 1 else 3,
        mean=list(mean or []),
        std=list(std or []),
    )


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False)
    return [conv, nn.BatchNorm2d(c_out)]


class BasicBlock(nn.Module):
    """3x3 conv-BN-ReLU-3x3 conv-BN plus a shortcut (1x1 conv-BN where the shape changes).

    The second BatchNorm starts with gamma = 0, so each block starts as the identity.

    Example:
        >>> BasicBlock(8, 16, stride=2)(torch.zeros(1, 8, 6, 6)).shape
        torch.Size([1, 16, 3, 3])
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(c_in, c_out, 3, stride)
        self.conv2, self.bn2 = _conv_bn(c_out, c_out, 3)
        nn.init.zeros_(self.bn2.weight)
        if stride != 1 or c_in != c_out:
            self.shortcut: nn.Module = nn.Sequential(*_conv_bn(c_in, c_out, 1, stride))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Not in place: hooks (Grad-CAM, activation views) see every tensor unmodified.
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(ImageInput, nn.Module):
    """Stem -> residual stages (the first at stride 1, each later one halving) -> pooled head.

    Inputs are ``[N, C, H, W]`` images, uint8 (divided by 255) or float in [0, 1]; they are
    normalised with the config's mean and std, held as buffers so they are in ``state_dict``
    (and in every weights file). Other code relies on three attributes: ``stem`` (a Sequential
    whose first module is the first ``nn.Conv2d``), ``stages`` (a ModuleList of Sequentials,
    one per stage) and ``head`` (pool, flatten, dropout, linear).

    Example:
        >>> model = ResNet(ResNetConfig(1, 3, 8, 8, widths=[8, 16], blocks=[1, 1])).eval()
        >>> [tuple(f.shape) for f in model.forward_features(torch.rand(2, 1, 8, 8))]
        [(2, 8, 8, 8), (2, 8, 8, 8), (2, 16, 4, 4)]
    """

    def __init__(self, config: ResNetConfig):
        super().__init__()
        self.config = config
        self.register_normalization(config.mean, config.std)
        stem = [
            *_conv_bn(config.in_channels, config.widths[0], config.stem_kernel, config.stem_stride),
            nn.ReLU(),
        ]
        if config.pool_stem:
            stem.append(nn.MaxPool2d(3, stride=2, padding=1))
        self.stem = nn.Sequential(*stem)
        self.stages = nn.ModuleList()
        channels = config.widths[0]
        for index, (width, count) in enumerate(zip(config.widths, config.blocks, strict=True)):
            blocks = []
            for b in range(count):
                stride = 2 if index > 0 and b == 0 else 1
                blocks.append(BasicBlock(channels, width, stride))
                channels = width
            self.stages.append(nn.Sequential(*blocks))
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(config.dropout),
            nn.Linear(channels, config.n_classes),
        )
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        # BatchNorm: gamma 1, beta 0 (PyTorch's default), except each BasicBlock's bn2 (gamma 0).

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The outputs of the stem and of each stage, for layer views (``len(stages) + 1``)."""
        out = [self.stem(self.normalize(x))]
        for stage in self.stages:
            out.append(stage(out[-1]))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, n_classes]`` for images ``[N, C, H, W]``."""
        x = self.stem(self.normalize(x))
        for stage in self.stages:
            x = stage(x)
        return self.head(x)
