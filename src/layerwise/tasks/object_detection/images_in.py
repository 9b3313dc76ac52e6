"""What a detector reads: annotated images for training and evaluation (a dataset layout, or a
DetectionSet), and for prediction also plain photos (a file, a folder of them, arrays).

Images are stored at the run's long side; each keeps the factor that maps its boxes back to the
photo as given. Before training the long side is chosen here: the images' median long side,
at most ``MAX_DEFAULT_SIDE`` (a detector trained from scratch on a CPU cannot afford more), and
less when the objects are large (:func:`_choose_side`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from layerwise.errors import DataError
from layerwise.tasks.object_detection.dataset import DetectionSet

MAX_DEFAULT_SIDE = 416
SMALLEST_DEFAULT_SIDE = 128  # a default never shrinks photos below this
OBJECT_PIXELS = 64  # the shorter side a small object (10th percentile) keeps by default
MIN_SIDE = 32


def read_for_detection(task: Any, data: Any, labelled: bool = True) -> DetectionSet:
    """``data`` as a DetectionSet at the task's long side (chosen and set when not fitted)."""
    fitted = bool(task.classes)
    if isinstance(data, DetectionSet):
        images = data
    elif not labelled and _plain_images(data):
        return _photos(data, task.long_side)
    else:
        from layerwise.tasks.object_detection.annotations import read_detection_set

        if not isinstance(data, (str, Path)):
            raise DataError(
                f"Object detection reads a dataset folder or file, not {type(data).__name__}.",
                "Pass a folder of images with VOC XML, a COCO JSON, a YOLO folder with "
                "data.yaml, or a CSV of boxes.",
            )
        images = read_detection_set(
            # at the trained (or asked) long side: no photo is held at its full size
            data, format=task.option("format"),
            long_side=task.long_side if fitted else task.option("long_side"),
            classes=task.classes if fitted else None, progress=bool(task.option("verbose")),
        )  # fmt: skip
    if not fitted:
        task.long_side = _choose_side(task.option("long_side"), images)
        task.classes = list(images.classes)
    else:
        images = _with_classes(images, task.classes)
    return resized(images, int(task.long_side))


def _choose_side(asked: Any, images: DetectionSet) -> int:
    """The long side images are read at: the asked one, else the images' median long side, at
    most ``MAX_DEFAULT_SIDE``, and smaller still when the objects are large: only as large as
    keeps the 10th percentile of the boxes' shorter sides at ``OBJECT_PIXELS`` (raccoons fill
    a quarter of their photos or more: 224 px shows them as well as 416 at a third of the
    pixels, so three times the epochs fit in the same time)."""
    if asked is not None:
        side = int(asked)
        if side < MIN_SIDE:
            from layerwise.errors import ConfigError

            raise ConfigError(f"--long-side {asked} is too small.",
                              f"Use at least {MIN_SIDE} pixels, e.g. 320 or 416.")  # fmt: skip
        return side
    if not len(images):
        return MAX_DEFAULT_SIDE
    longest = [max(im.shape[:2]) for im in images.images]
    side = max(MIN_SIDE, min(MAX_DEFAULT_SIDE, int(np.median(longest))))
    shares = [np.minimum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) / n
              for b, n in zip(images.boxes, longest, strict=True) if len(b)]  # fmt: skip
    if shares:
        small = float(np.percentile(np.concatenate(shares), 10))
        enough = int(np.ceil(OBJECT_PIXELS / max(small, 1e-6) / 32) * 32)
        side = min(side, max(SMALLEST_DEFAULT_SIDE, enough))
    return side


def resized(images: DetectionSet, side: int) -> DetectionSet:
    """Every image brought to a long side of ``side`` pixels, its boxes and scale with it."""
    from layerwise.tasks.object_detection.augment import resize

    out = images.subset(range(len(images)))
    for i, image in enumerate(out.images):
        height, width = image.shape[:2]
        factor = side / max(height, width)
        if abs(factor - 1.0) < 1e-9:
            continue
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        out.images[i], out.boxes[i] = resize(image, out.boxes[i], *size)
        out.scales[i] = out.scales[i] * factor
    return out


def _with_classes(images: DetectionSet, classes: list[str]) -> DetectionSet:
    """The boxes relabelled to the trained classes' order; boxes of other classes dropped."""
    if list(images.classes) == list(classes):
        return images
    index = {name: i for i, name in enumerate(classes)}
    mapping = np.array([index.get(name, -1) for name in images.classes], np.int64)
    out = images.subset(range(len(images)))
    dropped = 0
    for i, labels in enumerate(out.labels):
        new = mapping[labels] if len(labels) else labels
        keep = new >= 0
        dropped += int((~keep).sum())
        out.boxes[i], out.labels[i], out.crowd[i] = (
            out.boxes[i][keep],
            new[keep],
            out.crowd[i][keep],
        )
    out.classes = list(classes)
    if dropped:
        unknown = sorted(set(images.classes) - set(classes))
        out.notes.append(f"skipped {dropped} boxes of classes the detector does not know: "
                         f"{', '.join(unknown[:5])}")  # fmt: skip
    return out


# ---- plain photos (predict) -----------------------------------------------------------------
def _plain_images(data: Any) -> bool:
    """An image file, a folder without annotations, an array or a list of arrays, an ImageSet."""
    if isinstance(data, np.ndarray) or (hasattr(data, "images") and not isinstance(data, str)):
        return True
    if isinstance(data, (list, tuple)):
        return True
    path = Path(data)
    if path.is_file():
        from layerwise.data.images import IMAGE_EXTENSIONS

        return path.suffix.lower() in IMAGE_EXTENSIONS
    if path.is_dir():
        from layerwise.tasks.object_detection.annotations import detect_format

        try:
            detect_format(path)
        except DataError:
            return True
        return False
    raise DataError(f"'{data}' does not exist.", "Give an image file or a folder of images.")


def _photos(data: Any, side: int | None) -> DetectionSet:
    """Photos without boxes, each at the long side ``side`` (native when None), each with the
    scale that maps boxes found on it back to the photo. Decoded and resized one at a time."""
    if isinstance(data, (str, Path)):
        pairs, source = _decoded_files(Path(data)), str(data)
    else:
        arrays = _arrays(data)
        pairs, source = ((str(i), _rgb(np.asarray(a))) for i, a in enumerate(arrays)), "arrays"
    images = DetectionSet([], [], [], [], [], source=source)
    for name, array in pairs:
        one = DetectionSet([array], [np.zeros((0, 4), np.float32)], [np.zeros(0, np.int64)], [],
                           [name])  # fmt: skip
        one = one if side is None else resized(one, int(side))
        for part in ("images", "boxes", "labels", "names", "scales", "crowd"):
            getattr(images, part).extend(getattr(one, part))
    if not len(images):
        raise DataError(f"No image was given in {source}.", "Give at least one image.")
    return images


def _arrays(data: Any) -> list[Any]:
    """One image array ([H, W] or [H, W, C]), a stack of them, a list, or an ImageSet."""
    if isinstance(data, np.ndarray):
        one = data.ndim == 2 or (data.ndim == 3 and data.shape[-1] in (1, 3, 4))
        return [data] if one else list(data)
    return list(getattr(data, "images", data))


def _rgb(array: np.ndarray) -> np.ndarray:
    if array.dtype != np.uint8:
        scale = 255.0 if array.max(initial=0) <= 1.0 else 1.0
        array = np.clip(np.rint(array * scale), 0, 255).astype(np.uint8)
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise DataError(f"An image array of shape {array.shape} is not an image.",
                        "Give [height, width], [height, width, 3] or a list of them.")  # fmt: skip
    return np.repeat(array, 3, axis=2) if array.shape[2] == 1 else array[..., :3]


def _decoded_files(path: Path) -> Any:
    """(name, RGB array) for each image file at ``path`` (a file, or a folder searched
    recursively), decoded lazily; unreadable files are skipped, none readable is an error."""
    from layerwise.data.images import IMAGE_EXTENSIONS
    from layerwise.tasks.object_detection.annotations import decode_photo

    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)  # fmt: skip
    failed, read = [], 0
    for file in files:
        decoded = decode_photo(file)  # full size: resized() keeps the scale back to the photo
        if isinstance(decoded, str):
            failed.append(f"{file.name}: {decoded}")
            continue
        read += 1
        yield (str(file.relative_to(path)) if path.is_dir() else file.name), decoded
    if not read:
        shown = f" ({'; '.join(failed[:3])})" if failed else ""
        raise DataError(f"No image could be read from '{path}'{shown}.",
                        "Give PNG, JPEG, BMP, GIF, TIFF or WebP files.")  # fmt: skip
