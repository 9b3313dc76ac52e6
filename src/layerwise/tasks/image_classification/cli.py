"""What image classification adds to the ``layerwise`` command: its ``train`` options and its
demo. Read at the command's start-up: nothing heavy at the top (see core.cli_spec)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from layerwise.core.cli_spec import CUT_OPTIONS, CommandLine, Demo, TrainOption


def looks_like_images(data: Any) -> bool:
    """True for an ImageSet, an NPZ or IDX file, or a folder whose first files are images."""
    from layerwise.data.images import IMAGE_EXTENSIONS, ImageSet

    if isinstance(data, ImageSet):
        return True
    if not isinstance(data, (str, os.PathLike)):
        return False
    path = Path(data)
    if path.suffix.lower() == ".npz" or "idx3-ubyte" in path.name:
        return True
    if path.is_file():
        return path.suffix.lower() in IMAGE_EXTENSIONS
    if not path.is_dir():
        return False
    for n, child in enumerate(path.rglob("*")):
        if child.is_file() and (
            child.suffix.lower() in IMAGE_EXTENSIONS or "idx3-ubyte" in child.name
        ):
            return True
        if n > 200:
            break
    return False


COMMAND_LINE = CommandLine(
    recognises=looks_like_images,
    panel="Image classification",
    train_options=(
        *CUT_OPTIONS,
        TrainOption("--image-column", "image_column", str,
                    "Images listed in a CSV: the column of file paths."),
        TrainOption("--image-size", "image_size", int,
                    "Resize images to this many pixels a side [native, <= 128]."),
        TrainOption("--flip/--no-flip", "flip", bool,
                    "Mirror images in augmentation [on for RGB, off for gray]."),
        TrainOption("--stream/--no-stream", "stream", bool,
                    "Decode the image files once to disk and train from there, a batch at a "
                    "time (data larger than memory) [when over a quarter of the memory]."),
    ),
)  # fmt: skip


def digit_images(folder: Path) -> Demo:
    """The demo: scikit-learn's handwritten digits as a folder per class."""
    from layerwise.data.image_sources import digits_folder

    path = digits_folder(folder)
    first = next(p for p in sorted(path.rglob("*.png")))
    return Demo(path, None, "handwritten digits (1,797 8x8 images in digits/<class>/*.png)",
                next=(f"  layerwise explain {{run}} {first}",))  # fmt: skip
