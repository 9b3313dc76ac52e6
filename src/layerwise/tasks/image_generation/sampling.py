"""Samples of an image generator, and the tensors between its pixels and the models':
what fitting, the run folder and ``generate`` all draw."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

GRID_PER_CLASS, GRID_CLASSES, GRID_UNCONDITIONAL = 8, 10, 64


def grid_codes(task: Any) -> np.ndarray | None:
    """The class of each tile of a sample grid: GRID_PER_CLASS of each of the first classes."""
    if not task.conditional:
        return None
    shown = min(len(task.classes), GRID_CLASSES)
    return np.repeat(np.arange(shown, dtype=np.int64), GRID_PER_CLASS)


def to_signed(images: np.ndarray) -> torch.Tensor:
    """uint8 ``[N, H, W, C]`` -> float ``[N, C, H, W]`` in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def to_uint8(images: Any) -> np.ndarray:
    """float ``[N, C, H, W]`` in [-1, 1] (tensor or array) -> uint8 ``[N, H, W, C]``."""
    x = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def sample_signed(task: Any, n: int, codes: np.ndarray | None, seed: int) -> torch.Tensor:
    """``n`` samples of the task's current model as float [-1, 1] ``[n, C, H, W]``."""
    if task.chosen == "gmm":
        return torch.from_numpy(task.model.sample(n, codes, seed=seed)).float()
    from layerwise.tasks.image_generation.gan_train import sample_images

    labels = None if codes is None else torch.from_numpy(codes)
    return sample_images(task.model, n, labels, seed=seed)


def sample_uint8(task: Any, n: int, codes: np.ndarray | None, seed: int) -> np.ndarray:
    return to_uint8(sample_signed(task, n, codes, seed))
