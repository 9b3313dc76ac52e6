"""Images as PNGs: one image as base64 (a prediction's output), many as one grid (samples)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np

MIN_TILE = 48  # small images are enlarged (nearest neighbour) to at least this side in a grid
GAP = 2


def _pil(image: np.ndarray):
    from PIL import Image

    image = np.asarray(image, dtype=np.uint8)
    return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)


def png_bytes(image: np.ndarray) -> bytes:
    """One uint8 image ``[H, W, C]`` (C 1 or 3) as PNG bytes."""
    buffer = io.BytesIO()
    _pil(image).save(buffer, format="PNG")
    return buffer.getvalue()


def png_base64(image: np.ndarray) -> str:
    """One uint8 image ``[H, W, C]`` as a base64 PNG string.

    Example:
        >>> png_base64(np.zeros((2, 2, 1), np.uint8))[:8]
        'iVBORw0K'
    """
    return base64.b64encode(png_bytes(image)).decode("ascii")


def grid(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """uint8 ``[N, H, W, C]`` tiled row by row (``columns`` per row; about square by default)
    on a white background, each tile enlarged to at least MIN_TILE pixels.

    Example:
        >>> grid(np.zeros((6, 8, 8, 1), np.uint8), columns=3).shape
        (102, 152, 1)
    """
    n, height, width, channels = images.shape
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    scale = max(1, int(np.ceil(MIN_TILE / max(height, width))))
    tile_h, tile_w = height * scale, width * scale
    out = np.full((rows * (tile_h + GAP) + GAP, columns * (tile_w + GAP) + GAP, channels), 255,
                  dtype=np.uint8)  # fmt: skip
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        big = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
        top, left = GAP + r * (tile_h + GAP), GAP + c * (tile_w + GAP)
        out[top : top + tile_h, left : left + tile_w] = big
    return out


def save_grid(path: str | Path, images: np.ndarray, columns: int | None = None) -> Path:
    """Write the grid of ``images`` as a PNG at ``path`` and return the path."""
    path = Path(path)
    path.write_bytes(png_bytes(grid(images, columns)))
    return path
