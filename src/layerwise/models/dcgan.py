"""A (class-conditional) DCGAN: transposed-convolution generator, spectral-norm discriminator.

The generator maps a latent vector (and a class) through a linear layer to a small start map
(3-8 pixels: 16 -> 4x4, 28 -> 7x7, 32 -> 4x4, 64 -> 4x4) and doubles it with
``ConvTranspose2d(4, 2, 1)`` + BatchNorm + ReLU stages to the image side, then a 3x3
convolution and tanh give images in [-1, 1]. It is conditioned twice: a class embedding is
concatenated to the latent, and every BatchNorm is class-conditional (per-class gain and bias).
The discriminator has spectral norm on every layer, LeakyReLU(0.2), strided convolutions down to
the start map, global sum pooling and one logit; it is conditioned by projection
(Miyato & Koyama, 2018): ``logit = linear(h) + <embed(y), h>``.

Example:
    >>> config = DCGANConfig(channels=1, side=16, n_classes=10, width=16)
    >>> g, d = Generator(config), Discriminator(config)
    >>> z = sample_latent(4, config.z_dim, torch.Generator().manual_seed(0))
    >>> labels = torch.tensor([0, 1, 2, 3])
    >>> images = g(z, labels)
    >>> images.shape, d(images, labels).shape
    (torch.Size([4, 1, 16, 16]), torch.Size([4]))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from layerwise.errors import ConfigError, dataclass_from_dict

MIN_SIDE, MAX_SIDE = 8, 64
MIN_START = 3  # halve the side while it stays even and the start map at least this big
MAX_WIDTH_MULTIPLE = 8  # the widest stage has at most 8 x width channels
LEAK = 0.2


@dataclass
class DCGANConfig:
    """The architecture of a DCGAN pair, JSON-able through :meth:`to_dict`.

    ``side`` is the square image side (divisible by 4, 8..64); ``n_classes`` 0 means
    unconditional; ``width`` is the generator's last hidden stage and the discriminator's first
    (each stage towards the start map doubles it, up to ``8 * width``).

    Example:
        >>> config = DCGANConfig(channels=3, side=32, n_classes=10)
        >>> DCGANConfig.from_dict(config.to_dict()) == config, config.stages
        (True, 3)
    """

    channels: int
    side: int
    n_classes: int = 0
    z_dim: int = 64
    width: int = 32  # 64 was 3x slower per step and no better on 16x16 digits in 75 s

    def __post_init__(self) -> None:
        checks = [
            ("channels", self.channels in (1, 3), "1 (grayscale) or 3 (RGB)"),
            (
                "side",
                isinstance(self.side, int)
                and MIN_SIDE <= self.side <= MAX_SIDE
                and self.side % 4 == 0,
                f"a side divisible by 4 between {MIN_SIDE} and {MAX_SIDE} (16, 28, 32, 64, ...)",
            ),
            ("n_classes", isinstance(self.n_classes, int) and self.n_classes >= 0, "0 or more"),
            ("z_dim", isinstance(self.z_dim, int) and self.z_dim >= 1, "a whole number >= 1"),
            ("width", isinstance(self.width, int) and self.width >= 1, "a whole number >= 1"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ConfigError(
                    f"DCGANConfig.{name}={getattr(self, name)!r} is not valid.", f"Use {expected}."
                )

    @property
    def stages(self) -> int:
        """Up- (and down-) sampling stages between the start map and the image."""
        k = 0
        while self.side % 2 ** (k + 1) == 0 and self.side // 2 ** (k + 1) >= MIN_START:
            k += 1
        return k

    @property
    def start(self) -> int:
        """Side of the generator's first feature map (and the discriminator's last)."""
        return self.side // 2**self.stages

    def stage_widths(self) -> list[int]:
        """Channels from the start map (index 0) to the full-resolution stage (index -1)."""
        k = self.stages
        return [self.width * min(2 ** (k - j), MAX_WIDTH_MULTIPLE) for j in range(k + 1)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DCGANConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the closest field."""
        return dataclass_from_dict(cls, d)


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose gain and bias are looked up per class (plain BatchNorm when unconditional)."""

    def __init__(self, channels: int, n_classes: int):
        super().__init__()
        self.n_classes = n_classes
        self.norm = nn.BatchNorm2d(channels, affine=n_classes == 0)
        if n_classes:
            self.gain = nn.Embedding(n_classes, channels)
            self.bias = nn.Embedding(n_classes, channels)
            nn.init.ones_(self.gain.weight)
            nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        x = self.norm(x)
        if not self.n_classes:
            return x
        return x * self.gain(labels)[:, :, None, None] + self.bias(labels)[:, :, None, None]


def _check_labels(labels: torch.Tensor | None, n_classes: int, n: int) -> None:
    if n_classes and (labels is None or labels.shape != (n,)):
        raise ValueError(f"A conditional model needs labels of shape ({n},); got {labels!r}.")


class Generator(nn.Module):
    """Latent vectors (and classes) -> images in [-1, 1] of shape [N, C, side, side].

    Example:
        >>> g = Generator(DCGANConfig(channels=3, side=28, width=8))
        >>> g(torch.randn(2, 64)).shape
        torch.Size([2, 3, 28, 28])
    """

    def __init__(self, config: DCGANConfig):
        super().__init__()
        self.config = config
        widths, n_classes = config.stage_widths(), config.n_classes
        self.embed = nn.Embedding(n_classes, config.z_dim) if n_classes else None
        in_features = config.z_dim * (2 if n_classes else 1)
        self.project = nn.Linear(in_features, widths[0] * config.start**2)
        self.norms = nn.ModuleList([ConditionalBatchNorm2d(widths[0], n_classes)])
        self.ups = nn.ModuleList()
        for c_in, c_out in pairwise(widths):
            self.ups.append(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False))
            self.norms.append(ConditionalBatchNorm2d(c_out, n_classes))
        self.to_image = nn.Conv2d(widths[-1], config.channels, 3, padding=1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        cfg = self.config
        _check_labels(labels, cfg.n_classes, len(z))
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)
        x = self.project(z).view(len(z), -1, cfg.start, cfg.start)
        x = torch.relu(self.norms[0](x, labels))
        for up, norm in zip(self.ups, self.norms[1:], strict=True):
            x = torch.relu(norm(up(x), labels))
        return torch.tanh(self.to_image(x))


class Discriminator(nn.Module):
    """Images (and classes) -> one real/fake logit per image, shape [N].

    Example:
        >>> d = Discriminator(DCGANConfig(channels=1, side=16, n_classes=3, width=8))
        >>> d(torch.zeros(2, 1, 16, 16), torch.tensor([0, 2])).shape
        torch.Size([2])
    """

    def __init__(self, config: DCGANConfig):
        super().__init__()
        self.config = config
        widths = config.stage_widths()[::-1]  # width at full resolution, doubling downwards
        self.stem = spectral_norm(nn.Conv2d(config.channels, widths[0], 3, padding=1))
        self.downs = nn.ModuleList(
            spectral_norm(nn.Conv2d(c_in, c_out, 4, 2, 1)) for c_in, c_out in pairwise(widths)
        )
        self.last = spectral_norm(nn.Conv2d(widths[-1], widths[-1], 3, padding=1))
        self.linear = spectral_norm(nn.Linear(widths[-1], 1))
        self.embed = None
        if config.n_classes:
            self.embed = spectral_norm(nn.Embedding(config.n_classes, widths[-1]))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The globally sum-pooled features [N, widest] the logit is read from."""
        h = nn.functional.leaky_relu(self.stem(x), LEAK)
        for down in self.downs:
            h = nn.functional.leaky_relu(down(h), LEAK)
        h = nn.functional.leaky_relu(self.last(h), LEAK)
        return h.sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        _check_labels(labels, self.config.n_classes, len(x))
        h = self.features(x)
        logits = self.linear(h).squeeze(1)
        if self.embed is not None:
            logits = logits + (self.embed(labels) * h).sum(dim=1)
        return logits


def sample_latent(
    n: int, z_dim: int, generator: torch.Generator, device: torch.device | str | None = None
) -> torch.Tensor:
    """``n`` standard-normal latent vectors, drawn on the CPU from ``generator`` (so the same
    seed gives the same vectors on every device) and moved to ``device``.

    Example:
        >>> a = sample_latent(3, 8, torch.Generator().manual_seed(1))
        >>> torch.equal(a, sample_latent(3, 8, torch.Generator().manual_seed(1))), a.shape
        (True, torch.Size([3, 8]))
    """
    z = torch.randn(n, z_dim, generator=generator)
    return z if device is None else z.to(device)
