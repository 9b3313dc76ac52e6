"""What every image reader returns (:class:`ImageSet`), what it was asked for
(:class:`Options`), and the one resize they all apply (:func:`resize_crop`).

Kept apart from :mod:`layerwise.data.images` so that the readers it dispatches to
(:mod:`layerwise.data.image_arrays`) build their result without importing it back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from layerwise.data.records import Records


@dataclass
class ImageSet:
    """Images as uint8 ``[N, H, W, C]`` (C is 1 or 3) with their labels and provenance.

    Example:
        >>> from layerwise.data.images import read_images
        >>> s = read_images(np.zeros((4, 8, 8), dtype=np.uint8))
        >>> len(s), s.size, s.channels
        (4, (8, 8), 1)
    """

    images: np.ndarray | Records  # records on disk when streamed (--stream)
    labels: np.ndarray | None
    classes: list[str]
    names: list[str]
    split: np.ndarray | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, index: np.ndarray) -> ImageSet:
        """The images at ``index`` (integer positions or a boolean mask of length N).

        Example:
            >>> from layerwise.data.images import read_images
            >>> s = read_images((np.zeros((4, 8, 8), np.uint8), [0, 1, 0, 1]))
            >>> s.subset(s.labels == 1).names
            ['array[1]', 'array[3]']
        """
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        index = index.astype(np.int64, copy=False)
        return replace(
            self,
            images=(
                self.images.subset(index)
                if isinstance(self.images, Records)
                else self.images[index]
            ),
            labels=None if self.labels is None else self.labels[index],
            names=[self.names[i] for i in index],
            split=None if self.split is None else self.split[index],
            classes=list(self.classes),
            skipped=list(self.skipped),
            notes=list(self.notes),
        )

    @property
    def channels(self) -> int:
        """1 (grayscale) or 3 (RGB)."""
        return int(self.images.shape[3])

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of every image."""
        return int(self.images.shape[1]), int(self.images.shape[2])

    def summary(self) -> str:
        """One line, e.g. ``"1,797 images 8x8 grayscale, 10 classes (min 174, max 183 per class)"``.

        Sizes read height x width.

        Example:
            >>> from layerwise.data.images import read_images
            >>> read_images(np.zeros((2, 8, 8), np.uint8)).summary()
            '2 images 8x8 grayscale, unlabelled'
        """
        n = len(self)
        height, width = self.size
        text = f"{n:,} image{'' if n == 1 else 's'} {height}x{width} "
        text += "grayscale" if self.channels == 1 else "RGB"
        if self.labels is None:
            text += ", unlabelled"
        else:
            known = self.labels[self.labels >= 0]
            counts = np.bincount(known, minlength=len(self.classes))
            text += f", {len(self.classes)} classes"
            if len(counts):
                text += f" (min {counts.min():,}, max {counts.max():,} per class)"
            if len(known) < n:
                text += f", {n - len(known):,} of unknown class"
        if self.split is not None:
            names, counts = np.unique(self.split, return_counts=True)
            order = {"train": 0, "val": 1, "test": 2}
            parts = sorted(
                zip(names.tolist(), counts.tolist(), strict=True), key=lambda p: order.get(p[0], 3)
            )
            text += " [" + ", ".join(f"{s} {c:,}" for s, c in parts) + "]"
        if self.skipped:
            text += f"; {len(self.skipped):,} unreadable skipped"
        return text


@dataclass
class Options:
    """What :func:`~layerwise.data.images.read_images` was asked for (checked)."""

    size: tuple[int, int] | None
    channels: int | None
    classes: list[str] | None
    progress: bool
    # Decode to a record file in ``cache`` and read batches from it: True, False, or None to
    # decide by the decoded size (see layerwise.data.image_stream)
    stream: bool | None = False
    cache: Path | None = None


def resize_crop(img: Any, target: tuple[int, int]) -> Any:
    """A PIL image scaled to cover ``target`` (H, W), the excess center-cropped.

    Example:
        >>> from PIL import Image
        >>> resize_crop(Image.new("L", (40, 20)), (10, 10)).size
        (10, 10)
    """
    from PIL import Image

    height, width = target
    w, h = img.size
    if (w, h) == (width, height):
        return img
    aspect = width / height
    if w / h > aspect:
        crop = h * aspect
        box = ((w - crop) / 2, 0.0, (w + crop) / 2, float(h))
    else:
        crop = w / aspect
        box = (0.0, (h - crop) / 2, float(w), (h + crop) / 2)
    return img.resize((width, height), Image.Resampling.BICUBIC, box=box, reducing_gap=2.0)
