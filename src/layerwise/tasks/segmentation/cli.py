"""What segmentation adds to the ``layerwise`` command: its ``train`` options, how it recognises
a folder of images with masks (or an NPZ of images and masks), and its demo. Read at the
command's start-up: nothing heavy at the top (see core.cli_spec)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

from layerwise.core.cli_spec import CommandLine, Demo, TrainOption

DEMO_IMAGES = 60  # generated cell images of DEMO_SIDE pixels
DEMO_SIDE = 96
DEMO_SECONDS = 90  # the U-Net's training time in the demo


def looks_like_segmentation(data: Any) -> bool:
    """True for a SegmentationSet, an NPZ holding ``masks``, or a folder whose layout pairs
    images with masks (images/ + masks/, image/ + label/, ...)."""
    from layerwise.tasks.segmentation.readers import SegmentationSet

    if isinstance(data, SegmentationSet):
        return True
    if not isinstance(data, (str, os.PathLike)):
        return False
    path = Path(data)
    if path.suffix.lower() == ".npz" and path.is_file():
        try:
            with zipfile.ZipFile(path) as archive:
                return "masks.npy" in archive.namelist()
        except (OSError, zipfile.BadZipFile):
            return False
    if not path.is_dir():
        return False
    from layerwise.errors import LayerwiseError
    from layerwise.tasks.segmentation.pairs import find_layout

    try:
        find_layout(path)
    except LayerwiseError:
        return False
    return True


COMMAND_LINE = CommandLine(
    recognises=looks_like_segmentation,
    panel="Segmentation",
    train_options=(
        TrainOption("--image-column", "image_column", str,
                    "Images listed in a CSV: the column of file paths."),
        TrainOption("--mask-column", "mask_column", str,
                    "Segmentation from a CSV of pairs: the column of mask paths [mask].",
                    selects_task=True),
        TrainOption("--classes", "classes", str,
                    "Segmentation: names of the mask's classes in the order of their codes, "
                    "comma-separated, e.g. background,membrane [from the codes]."),
    ),
)  # fmt: skip


def cell_demo(folder: Path) -> Demo:
    """The demo: generated cell-like microscopy images with their masks (images/ + masks/)."""
    from PIL import Image

    from layerwise.tasks.segmentation.cells import generated_masks

    path = Path(folder) / "cells"
    images, masks, classes = generated_masks(DEMO_IMAGES, size=DEMO_SIDE, seed=0)
    for part in ("images", "masks"):
        (path / part).mkdir(parents=True, exist_ok=True)
    for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
        Image.fromarray(image).save(path / "images" / f"cell_{i:03d}.png")
        Image.fromarray((mask * 255).astype("uint8")).save(path / "masks" / f"cell_{i:03d}.png")
    first = path / "images" / "cell_000.png"
    return Demo(path, None,
                f"generated microscopy ({DEMO_IMAGES} cell images of {DEMO_SIDE} px with "
                "their masks in images/ + masks/)",
                options={"time_limit": DEMO_SECONDS, "classes": ",".join(classes)},
                hint=str(first),
                next=(f"  layerwise predict {{run}} {path / 'images'} -o masks/ --overlay",))  # fmt: skip
