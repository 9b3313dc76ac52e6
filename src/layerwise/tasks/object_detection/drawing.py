"""Boxes drawn over images: the report's test examples and ``layerwise predict --draw``.

Found boxes are drawn in their class's colour with the label and score above them; true boxes
(in the report) as thin green frames, so a miss shows as a green frame with nothing on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

PALETTE = [(230, 25, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
           (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40)]  # fmt: skip
TRUTH = (60, 220, 60)
TILE = 256  # each image of a grid is drawn at this long side


def draw(image: np.ndarray, detections: Any, classes: list[str], threshold: float = 0.0,
         truth: np.ndarray | None = None, long_side: int | None = None) -> np.ndarray:  # fmt: skip
    """``image`` (uint8 RGB) with the detections scoring at least ``threshold`` drawn on it,
    and the ``truth`` boxes as green frames; enlarged or shrunk to ``long_side`` first.

    >>> from layerwise.tasks.object_detection.dataset import Detections
    >>> found = Detections(np.array([[2., 2., 20., 20.]]), np.array([0.9]), np.array([0]))
    >>> draw(np.zeros((32, 32, 3), np.uint8), found, ["car"]).shape
    (32, 32, 3)
    """
    from PIL import Image, ImageDraw

    picture = Image.fromarray(np.asarray(image, np.uint8)).convert("RGB")
    factor = 1.0
    if long_side is not None:
        factor = long_side / max(picture.size)
        size = (max(1, round(picture.width * factor)), max(1, round(picture.height * factor)))
        picture = picture.resize(size, Image.NEAREST if factor > 1 else Image.BILINEAR)
    pen = ImageDraw.Draw(picture)
    width = max(1, round(max(picture.size) / 200))
    for box in [] if truth is None else truth:
        pen.rectangle([float(v) * factor for v in box], outline=TRUTH, width=width)
    keep = detections.scores >= threshold
    for box, score, label in list(zip(detections.boxes[keep], detections.scores[keep],
                                      detections.labels[keep], strict=True))[::-1]:  # fmt: skip
        colour = PALETTE[int(label) % len(PALETTE)]
        x1, y1, x2, y2 = (float(v) * factor for v in box)
        pen.rectangle([x1, y1, x2, y2], outline=colour, width=width + 1)
        text = f"{classes[int(label)]} {float(score):.2f}"
        left, top, right, bottom = pen.textbbox((x1, y1), text)
        lift = bottom - top + 2
        y = y1 - lift if y1 - lift >= 0 else y1
        pen.rectangle([x1, y, x1 + right - left + 2, y + lift], fill=colour)
        pen.text((x1 + 1, y), text, fill=(255, 255, 255))
    return np.asarray(picture)


def draw_grid(images: Any, found: list[Any], classes: list[str], threshold: float,
              path: str | Path) -> None:  # fmt: skip
    """A PNG grid of ``images`` (a DetectionSet) with their true boxes and ``found`` drawn."""
    from PIL import Image

    tiles = [draw(im, d, classes, threshold, truth, TILE)
             for im, d, truth in zip(images.images, found, images.boxes, strict=True)]  # fmt: skip
    columns = min(4, max(1, len(tiles)))
    rows = -(-len(tiles) // columns)
    canvas = np.full((rows * (TILE + 4), columns * (TILE + 4), 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = r * (TILE + 4), c * (TILE + 4)
        canvas[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
    Image.fromarray(canvas).save(path, format="PNG")
