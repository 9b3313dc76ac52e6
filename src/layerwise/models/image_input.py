"""What every image network here does with its input: per-channel mean and standard deviation
held as buffers named ``mean`` and ``std`` (so they are in every weights file, and a predictor
needs nothing else), and :meth:`ImageInput.normalize`, which takes uint8 pixels or floats in
[0, 1]. Shared by the ResNet classifier, the CenterNet detector and the U-Net.

Example:
    >>> class Net(ImageInput, torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.register_normalization([0.5], [0.25])
    >>> Net().normalize(torch.tensor([[[[255]]]], dtype=torch.uint8)).item()
    2.0
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class ImageInput:
    """A mixin for ``torch.nn.Module`` image networks (list it before ``nn.Module``)."""

    mean: torch.Tensor
    std: torch.Tensor

    def register_normalization(self, mean: Sequence[float], std: Sequence[float]) -> None:
        """``mean`` and ``std`` buffers of shape ``[1, channels, 1, 1]``."""
        shape = (1, len(mean), 1, 1)
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(shape))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(shape))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 or [0, 1] images -> standardised float images (the model's dtype)."""
        x = x.to(self.mean.dtype) if x.is_floating_point() else x.to(self.mean.dtype) / 255.0
        return (x - self.mean) / self.std
