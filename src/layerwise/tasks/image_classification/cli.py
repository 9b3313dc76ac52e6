"""What image classification adds to the ``layerwise`` command: its ``train`` options and its
demo. Read at the command's start-up: nothing heavy at the top (see core.cli_spec)."""

from __future__ import annotations

from pathlib import Path

from layerwise.core.cli_spec import CommandLine, Demo, TrainOption

COMMAND_LINE = CommandLine(
    panel="Image classification",
    train_options=(
        TrainOption("--image-column", "image_column", str,
                    "Images listed in a CSV: the column of file paths."),
        TrainOption("--image-size", "image_size", int,
                    "Resize images to this many pixels a side [native, <= 128]."),
        TrainOption("--flip/--no-flip", "flip", bool,
                    "Mirror images in augmentation [on for RGB, off for gray]."),
    ),
)  # fmt: skip


def digit_images(folder: Path) -> Demo:
    """The demo: scikit-learn's handwritten digits as a folder per class."""
    from layerwise.data.image_sources import digits_folder

    path = digits_folder(folder)
    first = next(p for p in sorted(path.rglob("*.png")))
    return Demo(path, None, "handwritten digits (1,797 8x8 images in digits/<class>/*.png)",
                next=(f"  layerwise explain {{run}} {first}",))  # fmt: skip
