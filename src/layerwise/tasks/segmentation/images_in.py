"""What a segmentation run reads: images with masks for training and evaluation (a folder
layout, a CSV of pairs, an NPZ, a SegmentationSet), and for prediction also plain images (a
file, a folder of them, arrays).

A fitted run reads new masks with the encoding it was trained with (so ``255`` still means the
class it meant), and brings every image to the channels it was trained on: a grey run reads a
colour image as its luminance, a colour run a grey image as three equal channels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from layerwise.errors import DataError
from layerwise.tasks.segmentation.pairs import IMAGE_SUFFIXES
from layerwise.tasks.segmentation.readers import (
    SegmentationSet,
    read_folder,
    read_image,
    read_npz,
    read_pair_table,
    to_uint8,
)

MAX_PREDICT_FILES = 100_000


def read_labelled(task: Any, data: Any) -> dict[str, SegmentationSet]:
    """``{"train": ...}`` (and ``"val"``, ``"test"`` where an NPZ holds them) of ``data``,
    with the fitted task's encoding and channels when it has them."""
    encoding = task.encoding if task.classes else None
    classes = task.classes or _given_classes(task.option("classes"))
    if isinstance(data, SegmentationSet):
        sets = {"train": data}
    elif isinstance(data, (str, Path)):
        path = Path(data)
        suffix = path.suffix.lower()
        if not path.exists():
            raise DataError(f"'{data}' does not exist.",
                            "Give a folder of images and masks, a CSV of pairs or an NPZ.")  # fmt: skip
        if path.is_dir():
            sets = {"train": read_folder(path, classes, encoding)}
        elif suffix == ".npz":
            sets = read_npz(path, classes, encoding)
        elif suffix in (".csv", ".tsv", ".txt"):
            sets = {"train": read_pair_table(path, task.option("image_column"),
                                             task.option("mask_column"), classes, encoding)}  # fmt: skip
        else:
            raise DataError(f"Segmentation cannot read '{path.name}' ({suffix or 'no suffix'}).",
                            "Give a folder of images and masks, a CSV of pairs or an NPZ.")  # fmt: skip
    else:
        raise DataError(f"Segmentation reads a folder, a CSV or an NPZ, not "
                        f"{type(data).__name__}.",
                        "Pass a path, or layerwise.tasks.segmentation.readers.from_arrays(images, "
                        "masks).")  # fmt: skip
    # every split in the channels of the run (fitted) or of the training images (an NPZ's
    # val_ split may be grey where its training images are colour)
    first = sets["train"].images[0]
    channels = task.channels if task.classes else 1 if first.ndim == 2 else 3
    for part in sets.values():
        part.images = [to_channels(im, channels) for im in part.images]
        if task.classes:
            part.classes = list(task.classes)
    return sets


def _given_classes(value: Any) -> list[str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return [name.strip() for name in value.split(",")]
    return [str(v) for v in value]


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """``image`` (uint8 grey or RGB) with ``channels`` channels (1: ``[H, W]``, 3: RGB).

    Example:
        >>> to_channels(np.full((2, 2, 3), 90, np.uint8), 1).shape, to_channels(np.zeros((2, 2), np.uint8), 3).shape
        ((2, 2), (2, 2, 3))
    """
    image = np.asarray(image)
    if channels == 1:
        if image.ndim == 3:
            weights = np.array([0.299, 0.587, 0.114], np.float32)[: image.shape[2]]
            image = image[..., :3].astype(np.float32) @ weights / weights.sum() + 0.5
        return image.astype(np.uint8)
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    return image[..., :3]


@dataclass
class Plain:
    """Images without masks: their ``names`` and ``images``, a generator in the run's channels
    (``None`` for a file that cannot be decoded); as it runs, ``unreadable`` names those files
    and ``notes`` says what reading changed (16-bit scaling, a TIFF's first page)."""

    names: list[str]
    images: Any
    unreadable: list[str] = field(default_factory=list)
    notes: set[str] = field(default_factory=set)


def read_plain(task: Any, data: Any) -> Plain:
    """Images without masks: a file, a folder (searched recursively), an array ``[H, W]``,
    ``[H, W, C]`` or a stack, a list of arrays, or a SegmentationSet. Files are decoded one at
    a time; an unreadable one is skipped with a note, none readable is an error."""
    if isinstance(data, SegmentationSet):
        return Plain(list(data.names), (to_channels(im, task.channels) for im in data.images))
    if isinstance(data, (str, Path)):
        return _files(task, Path(data))
    images = [_uint8(np.asarray(a)) for a in _arrays(data)]
    names = [str(i) for i in range(len(images))]
    return Plain(names, (to_channels(im, task.channels) for im in images))


def _files(task: Any, path: Path) -> Plain:
    if not path.exists():
        raise DataError(f"'{path}' does not exist.", "Give an image file or a folder of images.")
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)  # fmt: skip
    if path.is_file() and path.suffix.lower() not in IMAGE_SUFFIXES:
        raise DataError(f"'{path.name}' is not an image file segmentation reads.",
                        f"Give {', '.join(IMAGE_SUFFIXES)} files or a folder of them.")  # fmt: skip
    if not files:
        raise DataError(f"No image file in '{path}'.",
                        f"Give {', '.join(IMAGE_SUFFIXES)} files or a folder of them.")  # fmt: skip
    if len(files) > MAX_PREDICT_FILES:
        raise DataError(f"'{path}' holds {len(files):,} images.",
                        f"Predict at most {MAX_PREDICT_FILES:,} at a time.")  # fmt: skip
    names = [str(f.relative_to(path)) if path.is_dir() else f.name for f in files]
    plain = Plain(names, None)
    plain.images = _decoded(task.channels, files, plain)
    return plain


def _decoded(channels: int, files: list[Path], plain: Plain) -> Any:
    for file in files:
        try:
            image = read_image(file, plain.notes)
        except DataError:
            raise
        except Exception as error:  # a truncated or undecodable file: one None, noted
            plain.unreadable.append(f"{file.name}: unreadable ({type(error).__name__})")
            yield None
            continue
        yield to_channels(image, channels)


def _arrays(data: Any) -> list[Any]:
    if isinstance(data, np.ndarray):
        one = data.ndim == 2 or (data.ndim == 3 and data.shape[-1] in (1, 3, 4))
        return (
            [data[..., 0] if data.ndim == 3 and data.shape[-1] == 1 else data]
            if one
            else list(data)
        )
    if isinstance(data, (list, tuple)):
        return list(data)
    if hasattr(data, "images"):  # an ImageSet (what the server decodes a request into)
        return list(data.images)
    raise DataError(f"Segmentation predicts on images, not {type(data).__name__}.",
                    "Give an image file, a folder, or image arrays.")  # fmt: skip


def _uint8(array: np.ndarray) -> np.ndarray:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise DataError(f"An image array of shape {array.shape} is not an image.",
                        "Give [height, width], [height, width, 3] or a list of them.")  # fmt: skip
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise DataError(f"An image array of {array.dtype} is not an image.", "Give numbers.")
    return to_uint8(np.asarray(array, np.float64))
