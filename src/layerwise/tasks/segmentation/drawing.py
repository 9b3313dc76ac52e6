"""Masks a person can look at: a colour per class, masks as palette PNGs, and overlays of a mask
on its image.

A predicted mask is written as a palette PNG: its pixel values are the class indices (what a
program reads back), and its palette gives each class a colour (what a viewer shows), with the
background transparent so the mask can be laid over the image. Where the training masks were
colours (a palette or RGB codes) those colours are kept, so a mask comes back looking like the
user's own.

Example:
    >>> mask = np.array([[0, 1], [2, 1]], np.uint8)
    >>> from io import BytesIO
    >>> np.asarray(Image.open(BytesIO(mask_png(mask, palette_for(3))))).tolist()
    [[0, 1], [2, 1]]
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image

# Colours of classes 1, 2, ... when the masks had none (class 0, the background, is black)
COLOURS = np.array([(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200),
                    (245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230),
                    (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40)],
                   np.uint8)  # fmt: skip
ALPHA = 0.45  # the overlay's opacity over the image


def palette_for(n_classes: int, encoding: dict[str, Any] | None = None) -> np.ndarray:
    """``[n_classes, 3]`` uint8 colours: the masks' own colours where their codes were RGB
    (and not all black and white), else black for class 0 and ``COLOURS`` for the others."""
    colours = np.zeros((n_classes, 3), np.uint8)
    for c in range(1, n_classes):
        colours[c] = COLOURS[(c - 1) % len(COLOURS)]
    codes = (encoding or {}).get("codes") or []
    if (encoding or {}).get("kind") == "codes" and len(codes) == n_classes and max(codes) > 255:
        own = np.array([((c >> 16) & 255, (c >> 8) & 255, c & 255) for c in codes], np.uint8)
        if len({tuple(v) for v in own.tolist()}) == n_classes:
            colours = own
    return colours


def mask_png(mask: np.ndarray, palette: np.ndarray) -> bytes:
    """A palette PNG of class indices: values are the classes, colours the palette's, class 0
    transparent."""
    image = Image.fromarray(np.asarray(mask, np.uint8), mode="P")
    flat = np.zeros((256, 3), np.uint8)
    flat[: len(palette)] = palette
    image.putpalette(flat.reshape(-1).tolist())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", transparency=0, optimize=False)
    return buffer.getvalue()


def base64_png(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.uint8)
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def overlay(image: np.ndarray, mask: np.ndarray, palette: np.ndarray,
            outline: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """The image in RGB with each non-background class tinted its colour; ``outline`` (a
    second mask, e.g. the truth) drawn as white contours on top.

    Example:
        >>> overlay(np.zeros((2, 2), np.uint8), np.array([[0, 1], [1, 1]]), palette_for(2))[0]
        array([[  0,   0,   0],
               [104,  11,  34]], dtype=uint8)
    """
    out = rgb(image).astype(np.float32)
    mask = np.asarray(mask)
    tinted = (mask > 0) & (mask < len(palette))
    colours = palette[np.where(tinted, mask, 0)].astype(np.float32)
    out[tinted] = (1 - ALPHA) * out[tinted] + ALPHA * colours[tinted]
    if outline is not None:
        from layerwise.tasks.segmentation.metrics import boundary

        edges = np.zeros(mask.shape, bool)
        for c in np.unique(outline):
            if 0 < c < len(palette):
                edges |= boundary(outline == c)
        out[edges] = 255.0
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
