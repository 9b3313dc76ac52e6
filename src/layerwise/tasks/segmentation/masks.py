"""Reading masks as class indices, whatever way a set stores them.

Masks come as class indices (0..k-1, often invisible in a viewer), binary 0/255 (or 0/1), grey
levels (one value per class, e.g. 0/128/255), RGB colours (one colour per class) or a palette
PNG (Pascal VOC: the palette index is the class and 255 marks pixels to ignore). Each mask's
pixels become *codes* (:func:`mask_codes`: a grey value, a packed RGB colour or a palette
index); the codes seen over the whole training set become the classes (:func:`encoding_for`),
sorted, so the smallest code (black, 0) is class 0, the background. The encoding is JSON and
goes into the run folder, so new masks are read the same way.

Masks saved as JPEG have blurred edges: hundreds of grey levels where there were two. A grey
set with more than ``MAX_CLASSES`` levels whose pixels are nearly all near black or white is
read as binary at mid-grey, with a note; any other set with that many codes is refused.

Example:
    >>> a = np.array([[0, 255], [255, 0]], np.uint8)
    >>> encoding = encoding_for([mask_codes(Image.fromarray(a))])
    >>> encoding["kind"], encoding["codes"], apply_encoding(mask_codes(Image.fromarray(a)), encoding).tolist()
    ('binary', [0, 255], [[0, 1], [1, 0]])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from layerwise.errors import DataError

MAX_CLASSES = 64
IGNORE = 255  # the class index of pixels that count nowhere (a palette's 255, outside a ROI)
PALETTE_VOID = 255  # Pascal VOC's palette index of object borders and unlabelled pixels
NEAR_EXTREMES = 0.98  # share of pixels within 32 of black or white for a blurred binary set


def mask_codes(mask: Image.Image) -> np.ndarray:
    """The codes of a mask image: int64 ``[H, W]``; -1 where a palette marks void (255).

    Example:
        >>> mask_codes(Image.new("RGB", (2, 1), (0, 0, 255))).tolist()
        [[255, 255]]
    """
    if mask.mode == "P":
        codes = np.asarray(mask, np.int64)
        return np.where(codes == PALETTE_VOID, -1, codes)
    if mask.mode in ("RGB", "RGBA"):
        rgb = np.asarray(mask.convert("RGB"), np.int64)
        return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    if mask.mode == "1":
        return np.asarray(mask, np.int64)
    if mask.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        return np.asarray(mask, np.float64).round().astype(np.int64)
    return np.asarray(mask.convert("L"), np.int64)


def encoding_for(masks: Sequence[np.ndarray], palette: bool | None = None) -> dict[str, Any]:
    """The classes of a set of masks' codes: ``{"kind", "codes", "threshold"}``.

    ``kind``: ``binary`` (two codes, 0 and 1 or 0 and 255), ``codes`` (one class per code,
    sorted) or ``thresholded`` (a blurred binary set, cut at ``threshold``).
    """
    seen: set[int] = set()
    for codes in masks:
        values = np.unique(codes)
        seen.update(int(v) for v in values if v >= 0)
        if len(seen) > 4 * 256:  # enough to know it is too many; do not read them all
            break
    codes = sorted(seen)
    if not codes:
        raise DataError("The masks hold no labelled pixel.", "Check the mask files.")
    if set(codes) <= {0, 1} or set(codes) <= {0, 255}:
        return {"kind": "binary", "codes": codes if len(codes) == 2 else [0, codes[0] or 1],
                "threshold": None}  # fmt: skip
    if len(codes) <= MAX_CLASSES:
        return {"kind": "codes", "codes": codes, "threshold": None}
    if max(codes) <= 255:
        pixels = np.concatenate([np.asarray(m).reshape(-1)[::7] for m in masks[:200]])
        pixels = pixels[pixels >= 0]
        if ((pixels < 32) | (pixels > 223)).mean() >= NEAR_EXTREMES:
            return {"kind": "thresholded", "codes": [0, 255], "threshold": 128}
    raise DataError(
        f"The masks hold {len(codes)} different values: more than {MAX_CLASSES} classes.",
        "Save masks as PNG (not JPEG) with one value or colour per class, or as class indices.",
    )


def apply_encoding(codes: np.ndarray, encoding: dict[str, Any]) -> np.ndarray:
    """Class indices (uint8 ``[H, W]``) of a mask's codes; ``IGNORE`` for void pixels and for
    codes the encoding does not know (a class seen in no training mask)."""
    codes = np.asarray(codes, np.int64)
    if encoding["kind"] == "thresholded":
        out = (codes >= int(encoding["threshold"])).astype(np.uint8)
        return np.where(codes < 0, IGNORE, out).astype(np.uint8)
    known = np.asarray(encoding["codes"], np.int64)
    position = np.searchsorted(known, codes).clip(0, len(known) - 1)
    found = known[position] == codes
    return np.where(found & (codes >= 0), position, IGNORE).astype(np.uint8)


def class_names(encoding: dict[str, Any], given: Sequence[str] | None = None) -> list[str]:
    """Names for the encoding's classes: ``given`` (one per class) or names from the codes
    (``background`` and ``foreground`` for a binary set, ``#rrggbb`` for colours).

    Example:
        >>> class_names({"kind": "codes", "codes": [0, 0xFF0000]})
        ['#000000', '#ff0000']
    """
    n = len(encoding["codes"])
    if given:
        names = [str(g).strip() for g in given]
        if len(names) != n or len(set(names)) != n or not all(names):
            raise DataError(f"--classes names {len(names)} classes but the masks hold {n} "
                            f"(codes {encoding['codes'][:10]}).",
                            f"Give {n} different names, in the order of the codes.")  # fmt: skip
        return names
    if encoding["kind"] in ("binary", "thresholded"):
        return ["background", "foreground"]
    if max(encoding["codes"]) > 255:
        return [f"#{c:06x}" for c in encoding["codes"]]
    return [str(c) for c in encoding["codes"]]
