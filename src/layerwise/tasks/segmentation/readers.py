"""Reading a segmentation set: images with their masks from a folder layout (:mod:`.pairs`), a
CSV of image and mask paths (:func:`read_pair_table`), or NPZ arrays.

Images become uint8 arrays, grey ``[H, W]`` or RGB ``[H, W, 3]`` (a set that mixes the two is
read as RGB); masks become class indices (:mod:`.masks`) with ``IGNORE`` where a region of
interest is zero. Microscopy brings 16-bit and multi-page TIFFs: 16-bit (and float) images are
scaled to 8 bits image by image between their 0.5th and 99.5th percentiles, and a multi-page
file gives its first page, each with a note. Files that cannot be decoded, and masks whose size
is not their image's, are skipped and counted. Memory is bounded by the pixels the files decode
to (``MAX_PIXELS`` per image, checked before decoding) and the NPZ arrays' decoded sizes.

Example:
    >>> s = from_arrays(np.zeros((2, 8, 8), np.uint8), np.ones((2, 8, 8), np.uint8))
    >>> len(s), s.classes, s.images[0].shape
    (2, ['background', 'foreground'], (8, 8))
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from layerwise.errors import DataError
from layerwise.tasks.segmentation.masks import (
    IGNORE,
    apply_encoding,
    class_names,
    encoding_for,
    mask_codes,
)
from layerwise.tasks.segmentation.pairs import pair_files

MAX_PIXELS = 64_000_000  # per image: a 8000 x 8000 slide; larger ones are to be tiled first
MAX_ARRAY_BYTES = 8 << 30  # an NPZ array decoding to more than this is refused


@dataclass
class SegmentationSet:
    """Images (uint8), masks (uint8 class indices, ``IGNORE`` for pixels that count nowhere),
    the class names, the mask encoding (JSON), names, and what reading noted and skipped."""

    images: list[np.ndarray]
    masks: list[np.ndarray]
    classes: list[str]
    encoding: dict[str, Any]
    names: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index: Any) -> SegmentationSet:
        index = [int(i) for i in index]
        return SegmentationSet([self.images[i] for i in index], [self.masks[i] for i in index],
                               list(self.classes), dict(self.encoding),
                               [self.names[i] for i in index], list(self.notes))  # fmt: skip


def read_image(path: Path, notes: set[str]) -> np.ndarray:
    """One image file as uint8 grey or RGB; ``notes`` collects what was changed to read it."""
    with Image.open(path) as image:
        if image.size[0] * image.size[1] > MAX_PIXELS:
            raise DataError(f"'{path.name}' is {image.size[0]}x{image.size[1]} pixels.",
                            f"Tile images larger than {MAX_PIXELS:,} pixels first.")  # fmt: skip
        if getattr(image, "n_frames", 1) > 1:
            notes.add("multi-page TIFF files: the first page of each is read (split the pages "
                      "into files to use them all)")  # fmt: skip
        image.seek(0)
        image = ImageOps.exif_transpose(image)
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            notes.add("16-bit or float images: scaled to 8 bits image by image (0.5th to "
                      "99.5th percentile)")  # fmt: skip
            return to_uint8(np.asarray(image, np.float64))
        if image.mode in ("L", "1", "LA"):
            return np.asarray(image.convert("L"))
        return np.asarray(image.convert("RGB"))


def to_uint8(x: np.ndarray) -> np.ndarray:
    low, high = np.percentile(x, [0.5, 99.5])
    scaled = (x - low) / max(high - low, 1e-12)
    return (np.clip(scaled, 0, 1) * 255 + 0.5).astype(np.uint8)


def read_mask(path: Path) -> np.ndarray:
    with Image.open(path) as mask:
        if mask.size[0] * mask.size[1] > MAX_PIXELS:
            raise DataError(f"The mask '{path.name}' is {mask.size[0]}x{mask.size[1]} pixels.",
                            f"Tile masks larger than {MAX_PIXELS:,} pixels first.")  # fmt: skip
        mask.seek(0)
        return mask_codes(mask)


def read_folder(folder: str | Path, classes: list[str] | None = None,
                encoding: dict[str, Any] | None = None) -> SegmentationSet:  # fmt: skip
    """The image/mask pairs of a folder layout (see :mod:`.pairs`); ``encoding``: a trained
    run's, so the masks' codes mean the classes they meant in training."""
    pairs = pair_files(folder)
    images, codes, rois, names, notes = [], [], [], [], set()
    skipped = list(pairs.unmatched)
    for image_path, mask_path, roi_path in zip(pairs.images, pairs.masks, pairs.rois, strict=True):
        try:
            image, mask = read_image(image_path, notes), read_mask(mask_path)
            roi = read_mask(roi_path) > 0 if roi_path is not None else None
        except DataError:
            raise
        except Exception as error:  # a truncated or undecodable file: skipped, counted
            skipped.append(f"{image_path.name}: unreadable ({type(error).__name__})")
            continue
        if mask.shape != image.shape[:2] or (roi is not None and roi.shape != mask.shape):
            skipped.append(f"{image_path.name}: image {image.shape[1]}x{image.shape[0]} but "
                           f"mask {mask.shape[1]}x{mask.shape[0]}")  # fmt: skip
            continue
        images.append(image)
        codes.append(mask)
        rois.append(roi)
        names.append(image_path.name)
    if not images:
        raise DataError(f"No image of '{folder}' could be read with its mask ({len(skipped)} "
                        f"skipped; first: {skipped[:1]}).", "Check the files named.")  # fmt: skip
    data = _from_codes(images, codes, rois, names, classes, encoding)
    data.notes = [f"read {len(images)} image/mask pairs from {pairs.layout}", *sorted(notes)]
    if skipped:
        data.notes.append(f"skipped {len(skipped)}: " + "; ".join(skipped[:5]))
    data.skipped = skipped
    return data


def read_pair_table(path: str | Path, image_column: str = "image", mask_column: str = "mask",
                    classes: list[str] | None = None,
                    encoding: dict[str, Any] | None = None) -> SegmentationSet:  # fmt: skip
    """A CSV with an image path and a mask path per row (relative to the CSV's folder, and
    kept inside it: a path that leaves the folder is refused)."""
    import pandas as pd

    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as error:
        raise DataError(f"'{path}' is not a CSV pandas can read ({type(error).__name__}).",
                        "Give a CSV with an image and a mask column.") from None  # fmt: skip
    for column in (image_column, mask_column):
        if column not in table.columns:
            raise DataError(f"'{path.name}' has no column '{column}' (columns: "
                            f"{', '.join(map(str, table.columns[:8]))}).",
                            "Name the columns with --image-column and --mask-column.")  # fmt: skip
    root = path.parent.resolve()
    images, codes, names, notes, skipped = [], [], [], set(), []
    for row, (image_name, mask_name) in enumerate(zip(table[image_column], table[mask_column],
                                                      strict=True), 2):  # fmt: skip
        image_path, mask_path = (root / image_name).resolve(), (root / mask_name).resolve()
        if not (image_path.is_relative_to(root) and mask_path.is_relative_to(root)):
            raise DataError(f"'{path.name}' line {row} names a file outside its folder.",
                            "Keep the images and masks in the CSV's folder.")  # fmt: skip
        try:
            image, mask = read_image(image_path, notes), read_mask(mask_path)
        except DataError:
            raise
        except Exception as error:
            skipped.append(f"line {row}: unreadable ({type(error).__name__})")
            continue
        if mask.shape != image.shape[:2]:
            skipped.append(f"line {row}: image {image.shape[1]}x{image.shape[0]} but mask "
                           f"{mask.shape[1]}x{mask.shape[0]}")  # fmt: skip
            continue
        images.append(image)
        codes.append(mask)
        names.append(Path(image_name).name)
    if not images:
        raise DataError(f"No row of '{path.name}' gave an image with its mask ({skipped[:1]}).",
                        "Check the paths in the CSV.")  # fmt: skip
    data = _from_codes(images, codes, [None] * len(images), names, classes, encoding)
    data.notes = [f"read {len(images)} image/mask pairs from {path.name}", *sorted(notes)]
    if skipped:
        data.notes.append(f"skipped {len(skipped)}: " + "; ".join(skipped[:5]))
    data.skipped = skipped
    return data


def _from_codes(images: list, codes: list, rois: list, names: list, classes: list[str] | None,
                encoding: dict[str, Any] | None = None) -> SegmentationSet:  # fmt: skip
    if any(im.ndim == 3 for im in images) and any(im.ndim == 2 for im in images):
        images = [np.repeat(im[..., None], 3, axis=2) if im.ndim == 2 else im for im in images]
    encoding = encoding or encoding_for(codes)
    masks = []
    for c, roi in zip(codes, rois, strict=True):
        mask = apply_encoding(c, encoding)
        if roi is not None:
            mask[~roi] = IGNORE
        masks.append(mask)
    return SegmentationSet(images, masks, class_names(encoding, classes), encoding, names)


def from_arrays(images: np.ndarray, masks: np.ndarray, classes: list[str] | None = None,
                encoding: dict[str, Any] | None = None) -> SegmentationSet:  # fmt: skip
    """A set from arrays: images ``[N, H, W]`` or ``[N, H, W, C]`` (uint8, or float scaled
    image by image), masks ``[N, H, W]`` of codes (class indices, 0/255, grey levels)."""
    images, masks = np.asarray(images), np.asarray(masks)
    if images.ndim not in (3, 4) or masks.ndim != 3 or images.shape[:3] != masks.shape:
        raise DataError(f"images of shape {images.shape} and masks of shape {masks.shape} do "
                        "not go together.",
                        "Give images [N, H, W] or [N, H, W, C] and masks [N, H, W].")  # fmt: skip
    if images.ndim == 4 and images.shape[3] not in (1, 3, 4):
        raise DataError(f"images have {images.shape[3]} channels.", "Give 1, 3 or 4 channels.")
    if images.ndim == 4:
        images = images[..., :3] if images.shape[3] >= 3 else images[..., 0]
    if images.dtype != np.uint8:
        images = np.stack([to_uint8(np.asarray(im, np.float64)) for im in images])
    if not np.issubdtype(masks.dtype, np.integer):
        raise DataError(f"masks are {masks.dtype}, not whole numbers.", "Give class indices.")
    codes = [np.asarray(m, np.int64) for m in masks]
    names = [str(i) for i in range(len(images))]
    return _from_codes(list(images), codes, [None] * len(codes), names, classes, encoding)


def read_npz(path: str | Path, classes: list[str] | None = None,
             encoding: dict[str, Any] | None = None) -> dict[str, SegmentationSet]:  # fmt: skip
    """``images`` and ``masks`` (and ``val_``/``test_`` prefixed pairs when present) of an
    NPZ file, read without pickle; each array's decoded size is checked before it is read."""
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as error:
        raise DataError(f"'{path}' is not an NPZ file numpy can read ({type(error).__name__}).",
                        "Save it with numpy.savez(images=..., masks=...).") from None  # fmt: skip
    with archive:
        keys = set(archive.files)
        if not {"images", "masks"} <= keys:
            raise DataError(f"'{path.name}' holds {sorted(keys)[:8]}, not images and masks.",
                            "Save it with numpy.savez(images=..., masks=...).")  # fmt: skip
        _check_sizes(path, keys)
        out = {"train": from_arrays(archive["images"], archive["masks"], classes, encoding)}
        for split in ("val", "test"):
            if {f"{split}_images", f"{split}_masks"} <= keys:
                out[split] = from_arrays(archive[f"{split}_images"], archive[f"{split}_masks"],
                                         out["train"].classes, out["train"].encoding)  # fmt: skip
    return out


def _check_sizes(path: Path, keys: set[str]) -> None:
    """Every array's size as its header declares it, before numpy decodes any."""
    with zipfile.ZipFile(path) as archive:
        for key in keys:
            with archive.open(key + ".npy") as member:
                version = np.lib.format.read_magic(member)
                header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                          else np.lib.format.read_array_header_2_0)  # fmt: skip
                shape, _, dtype = header(member)
                if dtype.hasobject:
                    raise DataError(f"'{path.name}' array {key} holds Python objects.",
                                    "Save plain numeric arrays.")  # fmt: skip
                if int(np.prod(shape, dtype=np.float64)) * dtype.itemsize > MAX_ARRAY_BYTES:
                    raise DataError(f"'{path.name}' array {key} of shape {shape} would take "
                                    f"over {MAX_ARRAY_BYTES >> 30} GiB.",
                                    "Split the set into smaller files.")  # fmt: skip
