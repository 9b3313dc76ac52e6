"""CenterNet ("Objects as Points", Zhou et al., 2019) with TTFNet's box regression (Liu et al.,
"Training-Time-Friendly Network for Real-Time Object Detection", 2020): a small ResNet-style
detector whose outputs, both at stride 4, are a heatmap of object centres per class and, at
every cell, the distances from the cell to the four sides of the box around it.

The backbone is the project's ResNet blocks (:class:`~layerwise.models.resnet.BasicBlock`):
a stride-2 stem, then one stage per halving (strides 4, 8, 16, 32 for four stages). A feature
pyramid brings the deepest features back to stride 4: each level is upsampled (nearest),
refined by a 3x3 convolution and added to the 1x1 projection of the stage at that stride. The
two heads (3x3 conv, ReLU, 1x1 conv) read the stride-4 map. The decoding of the outputs into
boxes lives with the training code (:mod:`layerwise.tasks.object_detection.centernet_targets`).

Example:
    >>> config = centernet_config_for(128, 500, 3)
    >>> config.widths, config.stride
    ([16, 32, 64, 128], 32)
    >>> heat, box = CenterNet(config).eval()(torch.rand(2, 3, 128, 128))
    >>> tuple(heat.shape), tuple(box.shape)
    ((2, 3, 32, 32), (2, 4, 32, 32))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from layerwise.errors import ConfigError, check_fields, dataclass_from_dict
from layerwise.models.image_input import ImageInput
from layerwise.models.resnet import BasicBlock, _conv_bn

# The heads work at this stride: the resolution of the heatmap, as in the paper.
OUTPUT_STRIDE = 4
# Heatmap bias: every pixel starts at probability 0.1 (-log(0.9 / 0.1)), so the focal loss of
# the many background pixels does not swamp the first steps (RetinaNet's prior, CenterNet's init).
HEATMAP_BIAS = -2.19
# Stages stop once the deepest map would be smaller than this (4 px: a 128 px input at stride 32).
SMALLEST_MAP = 4
MIN_STAGES, MAX_STAGES = 2, 4


@dataclass
class CenterNetConfig:
    """The architecture of a :class:`CenterNet`, JSON-able through :meth:`to_dict`.

    ``widths[i]`` channels and ``blocks[i]`` residual blocks for the stage at stride
    ``2 ** (i + 2)``; ``neck_width`` channels in the pyramid; ``head_width`` channels in the
    hidden layer of each head. ``mean`` and ``std``: per-channel statistics of the [0, 1]
    inputs (held as buffers, so a weights file is all a predictor needs).

    Example:
        >>> config = CenterNetConfig(2, widths=[8, 16], blocks=[1, 1])
        >>> config.stride, CenterNetConfig.from_dict(config.to_dict()) == config
        (8, True)
    """

    n_classes: int
    in_channels: int = 3
    widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    blocks: list[int] = field(default_factory=lambda: [1, 1, 1, 1])
    neck_width: int = 48
    head_width: int = 48
    mean: list[float] = field(default_factory=lambda: [0.5])
    std: list[float] = field(default_factory=lambda: [0.25])
    # A ResNet's stem (7x7, then a 3x3 max-pool and a first stage at stride 1): the layout of a
    # pretrained backbone (``--backbone``); the strides of the stages are the same either way.
    stem_kernel: int = 3
    pool_stem: bool = False

    def __post_init__(self) -> None:
        self.widths = [int(w) for w in self.widths]
        self.blocks = [int(b) for b in self.blocks]
        self.mean = [float(v) for v in self.mean]
        self.std = [float(v) for v in self.std]
        self.stem_kernel, self.pool_stem = int(self.stem_kernel), bool(self.pool_stem)
        if len(self.mean) == 1:
            self.mean = self.mean * int(self.in_channels)
        if len(self.std) == 1:
            self.std = self.std * int(self.in_channels)
        checks = [
            ("n_classes", 1 <= self.n_classes <= 10_000, "a whole number in [1, 10000]"),
            ("in_channels", 1 <= self.in_channels <= 16, "a whole number in [1, 16]"),
            ("widths", MIN_STAGES - 1 <= len(self.widths) <= 6, "1 to 6 stage widths"),
            ("widths", min(self.widths, default=0) >= 1, "channel counts >= 1"),
            ("widths", max(self.widths, default=0) <= 4096, "channel counts <= 4096"),
            ("blocks", len(self.blocks) == len(self.widths), "one block count per width"),
            ("blocks", all(1 <= b <= 16 for b in self.blocks), "block counts in [1, 16]"),
            ("neck_width", 1 <= self.neck_width <= 4096, "a channel count in [1, 4096]"),
            ("head_width", 1 <= self.head_width <= 4096, "a channel count in [1, 4096]"),
            ("mean", len(self.mean) == self.in_channels, "one value per channel"),
            ("std", len(self.std) == self.in_channels, "one value per channel"),
            ("std", min(self.std, default=0) > 0, "positive standard deviations"),
            ("stem_kernel", self.stem_kernel in (3, 5, 7), "3, 5 or 7"),
        ]
        check_fields(self, checks)

    @property
    def stride(self) -> int:
        """The total stride of the backbone: input sides must be a multiple of it."""
        return 2 ** (len(self.widths) + 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CenterNetConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the closest field."""
        return dataclass_from_dict(cls, d)


def centernet_config_for(image_side: int, n_images: int, n_classes: int) -> CenterNetConfig:
    """A CenterNet sized to the network's input side and the amount of training data.

    Depth: one stage per halving after the stride-2 stem until the deepest map is about
    ``SMALLEST_MAP`` (4) pixels, 2 to 4 stages: 64 px -> strides 4, 8, 16 (3 stages);
    >= 128 px -> 4, 8, 16, 32. Widths: 16, 32, 64, 128 (one block per stage) below 3,000
    images, 24, 48, 96, 192 below 20,000, 32, 64, 128, 256 with two blocks per stage beyond;
    neck and head widths three times the first stage. Narrow, because the stride-4 heads are
    where the time goes on a CPU: at 128 px, widths 16 (neck 48) train at ~50 images/s on
    two cores, and more data than this can learn from is rare in a few minutes of CPU time.

    Example:
        >>> c = centernet_config_for(64, 100, 2)
        >>> c.widths, c.stride, c.neck_width
        ([16, 32, 64], 16, 48)
        >>> centernet_config_for(512, 50_000, 80).widths
        [32, 64, 128, 256]
    """
    if image_side < 2 * OUTPUT_STRIDE:
        raise ConfigError(
            f"image_side={image_side!r} is too small for a CenterNet.", "Use 32 px or more."
        )
    stages = 1
    while stages < MAX_STAGES and (
        image_side // 2 ** (stages + 2) >= SMALLEST_MAP or stages < MIN_STAGES
    ):
        stages += 1
    if n_images < 3_000:
        base, blocks = 16, 1
    elif n_images < 20_000:
        base, blocks = 24, 1
    else:
        base, blocks = 32, 2
    return CenterNetConfig(
        n_classes=int(n_classes),
        widths=[base * 2**i for i in range(stages)],
        blocks=[blocks] * stages,
        neck_width=3 * base,
        head_width=3 * base,
    )


def _head(c_in: int, hidden: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, c_out, 1)
    )


class CenterNet(ImageInput, nn.Module):
    """Backbone (stem + residual stages), a pyramid fused back to stride 4, and two heads.

    ``forward(x)`` takes ``[B, C, H, W]`` images, float in [0, 1] (or uint8, divided by 255),
    with ``H`` and ``W`` multiples of ``config.stride``, and returns ``(heatmap_logits
    [B, n_classes, H/4, W/4], box [B, 4, H/4, W/4])``. What the box channels mean is up to the
    loss (see ``centernet_targets``: the logs of the distances to the left, top, right and
    bottom sides, in output cells): here they are raw outputs.

    Example:
        >>> net = CenterNet(CenterNetConfig(1, widths=[8, 16], blocks=[1, 1])).eval()
        >>> [tuple(t.shape) for t in net(torch.zeros(1, 3, 16, 24))]
        [(1, 1, 4, 6), (1, 4, 4, 6)]
    """

    def __init__(self, config: CenterNetConfig):
        super().__init__()
        self.config = config
        self.register_normalization(config.mean, config.std)
        widths = config.widths
        stem = [*_conv_bn(config.in_channels, widths[0], config.stem_kernel, 2), nn.ReLU()]
        if config.pool_stem:
            stem.append(nn.MaxPool2d(3, stride=2, padding=1))
        self.stem = nn.Sequential(*stem)
        self.stages = nn.ModuleList()
        channels = widths[0]
        for index, (width, count) in enumerate(zip(widths, config.blocks, strict=True)):
            blocks = []
            for b in range(count):
                halves = b == 0 and not (index == 0 and config.pool_stem)
                blocks.append(BasicBlock(channels, width, 2 if halves else 1))
                channels = width
            self.stages.append(nn.Sequential(*blocks))
        neck = config.neck_width
        # 1x1 projections of every stage to the neck width, and one 3x3 conv-BN-ReLU per
        # upsampling step (from each deeper level to the one above it).
        self.lateral = nn.ModuleList(nn.Sequential(*_conv_bn(w, neck, 1)) for w in widths)
        self.smooth = nn.ModuleList(
            nn.Sequential(*_conv_bn(neck, neck, 3), nn.ReLU()) for _ in widths[1:]
        )
        self.heatmap = _head(neck, config.head_width, config.n_classes)
        self.box = _head(neck, config.head_width, 4)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        # The last layers start small so the first losses are the bias's (a calm start).
        for head in (self.heatmap, self.box):
            nn.init.normal_(head[-1].weight, std=0.01)
        nn.init.constant_(self.heatmap[-1].bias, HEATMAP_BIAS)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The fused stride-4 feature map ``[B, neck_width, H/4, W/4]``."""
        x = self.stem(self.normalize(x))
        levels = []
        for stage in self.stages:
            x = stage(x)
            levels.append(x)
        top = self.lateral[-1](levels[-1])
        for index in range(len(levels) - 2, -1, -1):
            up = nn.functional.interpolate(top, scale_factor=2.0, mode="nearest")
            top = self.smooth[index](up) + self.lateral[index](levels[index])
        return torch.relu(top)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(heatmap_logits, box)`` at stride 4 for images ``[B, C, H, W]``."""
        stride = self.config.stride
        if x.shape[-1] % stride or x.shape[-2] % stride:
            raise ConfigError(
                f"CenterNet input of {x.shape[-2]}x{x.shape[-1]} px is not a multiple of its "
                f"stride {stride}.",
                f"Letterbox the images to a side that is a multiple of {stride}.",
            )
        f = self.features(x)
        return self.heatmap(f), self.box(f)
