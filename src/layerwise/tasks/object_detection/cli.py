"""What object detection adds to the ``layerwise`` command: its ``train`` options, how it
recognises a detection dataset, and its demo. Read at the command's start-up: nothing heavy at
the top (see core.cli_spec)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from layerwise.core.cli_spec import CommandLine, Demo, TrainOption

DEMO_SCENES = 800  # generated street scenes of DEMO_SIDE pixels
DEMO_SIDE = 128
DEMO_SECONDS = 150  # the detector's training time in the demo


def looks_like_detection(data: Any) -> bool:
    """True for a DetectionSet, a COCO JSON, or a folder laid out as VOC, COCO or YOLO boxes."""
    from layerwise.tasks.object_detection.dataset import DetectionSet

    if isinstance(data, DetectionSet):
        return True
    if not isinstance(data, (str, os.PathLike)):
        return False
    path = Path(data)
    if not (path.is_dir() or (path.suffix.lower() == ".json" and path.is_file())):
        return False
    from layerwise.errors import LayerwiseError
    from layerwise.tasks.object_detection.annotations import detect_format

    try:
        return detect_format(path) != "csv"  # a CSV of boxes is named with --task
    except LayerwiseError:
        return False


COMMAND_LINE = CommandLine(
    recognises=looks_like_detection,
    panel="Object detection",
    train_options=(
        TrainOption("--format", "format", str,
                    "Object detection: the boxes' layout, voc, coco, yolo or csv [detected]; "
                    "recommendation: movielens.",
                    selects_task=("voc", "coco", "yolo", "csv")),
        TrainOption("--long-side", "long_side", int,
                    "Read images at this long side in pixels [their median, at most 416, less "
                    "when the objects are large]."),
        TrainOption("--score-threshold", "score_threshold", float,
                    "Boxes below this score are not served [the best F1 on the validation images]."),
        TrainOption("--backbone", "backbone", str,
                    "Object detection: start the detector from this ResNet-18/34 checkpoint "
                    "(.safetensors; torchvision's names or a layerwise image run's model) "
                    "[from scratch]."),
    ),
)  # fmt: skip


def street_scene_demo(folder: Path) -> Demo:
    """The demo: generated street scenes (cars, pedestrians, signs) written as Pascal-VOC."""
    from layerwise.tasks.object_detection.scenes import street_scenes, write_voc

    path = Path(folder) / "street-scenes"
    write_voc(path, street_scenes(DEMO_SCENES, size=DEMO_SIDE, seed=0))
    first = sorted((path / "images").iterdir())[0]
    return Demo(path, None,
                f"generated street scenes ({DEMO_SCENES} images of {DEMO_SIDE} px with cars, "
                "pedestrians and signs as Pascal-VOC XML)",
                options={"time_limit": DEMO_SECONDS}, hint=str(first),
                next=(f"  layerwise predict {{run}} {first} --draw boxed.png",))  # fmt: skip
