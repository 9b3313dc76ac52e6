"""One image file decoded, safely: its size read from the header and refused past
``MAX_IMAGE_PIXELS`` before any pixel is decoded, EXIF rotation applied, JPEG draft mode for
a smaller target, and the pixels as L or RGB; why a file could not be read, in a few words.
:mod:`layerwise.data.images` reads folders and tables of them with these."""

from __future__ import annotations

import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from layerwise.data.image_set import resize_crop

# What one image file may decode to. The header gives the size before any pixel is decoded, so
# a larger file is skipped with this reason before it costs memory (a 100 KB PNG can claim
# 25,000 x 25,000 pixels). 64 MP passes a 48 MP phone photo, and stays below Pillow's own
# bomb threshold (89 MP, a process-wide setting left as it is), so its warning never fires.
MAX_IMAGE_PIXELS = 64_000_000
_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_EXIF_ORIENTATION = 0x0112


class EmptyFile(Exception):
    """A zero-byte file."""


class TooLarge(Exception):
    """An image whose header declares more than MAX_IMAGE_PIXELS."""


DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError, MemoryError, zlib.error, EmptyFile, TooLarge)  # fmt: skip


def checked_size(img: Any) -> tuple[int, int]:
    """(width, height) from an opened image's header; TooLarge past MAX_IMAGE_PIXELS."""
    width, height = img.size
    if width * height > MAX_IMAGE_PIXELS:
        raise TooLarge(f"{width}x{height} pixels, over the {MAX_IMAGE_PIXELS // 10**6} MP "
                        "an image may decode to")  # fmt: skip
    return width, height


def reason(exc: BaseException) -> str:
    if isinstance(exc, EmptyFile):
        return "empty file (0 bytes)"
    if isinstance(exc, TooLarge):
        return str(exc)
    text = str(exc).split(" '")[0].strip() or type(exc).__name__
    return text[:80]


def rotated(img: Any) -> bool:
    return img.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8)


def decode_one(path: Path, target: tuple[int, int], channels: int | None) -> Any:
    """``(array [H, W] or [H, W, 3], kind)`` with kind "L", "RGB" or "RGB-gray"; or a reason."""
    from PIL import Image, ImageOps

    try:
        if path.stat().st_size == 0:
            raise EmptyFile
        with Image.open(path) as img:
            checked_size(img)  # from the header: nothing is decoded yet
            _draft(img, target)
            img.load()
            if img.getexif().get(_EXIF_ORIENTATION, 1) != 1:
                img = ImageOps.exif_transpose(img)
            img = _to_l_or_rgb(img, channels)
            img = resize_crop(img, target)
            array = np.asarray(img)
    except (*DECODE_ERRORS, Image.DecompressionBombError) as exc:
        return reason(exc)
    if array.ndim == 2:
        return array, "L"
    gray = bool((array[..., 0] == array[..., 1]).all() and (array[..., 1] == array[..., 2]).all())
    return array, "RGB-gray" if gray else "RGB"


def _draft(img: Any, target: tuple[int, int]) -> None:
    """Let the JPEG decoder downscale by 2/4/8 when the target is much smaller."""
    if img.format != "JPEG":
        return
    width, height = img.size
    scale = max(target[0] / min(width, height), target[1] / min(width, height))
    if scale < 0.5:
        img.draft(img.mode, (math.ceil(width * scale), math.ceil(height * scale)))


def _to_l_or_rgb(img: Any, channels: int | None) -> Any:
    from PIL import Image

    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(img, dtype=np.float64)
        if values.max(initial=0) > 255:
            values = values / (257.0 if values.max() <= 65535 else values.max() / 255.0)
        elif values.max(initial=0) <= 1.0 and img.mode == "F":
            values = values * 255.0
        img = Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")
    gray = img.mode in _GRAY_MODES
    mode = {1: "L", 3: "RGB"}[channels] if channels else ("L" if gray else "RGB")
    return img if img.mode == mode else img.convert(mode)
