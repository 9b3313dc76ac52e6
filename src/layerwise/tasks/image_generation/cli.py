"""What image generation adds to the ``layerwise`` command: its ``train`` options, its demo
and the lines printed after training. Read at the command's start-up: nothing heavy at the top
(see core.cli_spec)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from layerwise.core.cli_spec import CommandLine, Demo, TrainOption

COMMAND_LINE = CommandLine(
    panel="Image generation",
    train_options=(
        TrainOption("--image-size", "image_size", int,
                    "Resize images to this many pixels a side [native, 16 to 64]."),
        TrainOption("--conditional/--no-conditional", "conditional", bool,
                    "Image generation: generate a requested class [when the images have "
                    "classes]."),
    ),
)  # fmt: skip


def digit_images(folder: Path) -> Demo:
    """The demo: scikit-learn's handwritten digits as a folder per class."""
    from layerwise.data.image_sources import digits_folder

    return Demo(digits_folder(folder), None,
                "handwritten digits (1,797 8x8 images in digits/<class>/*.png)")  # fmt: skip


def training_summary(run: Any) -> list[Any]:
    """Each model's distance to the test images (and class accuracy), then the next commands."""
    metrics = run.metrics
    lines: list[Any] = [
        f"Fréchet distance to real test images on the judge's features (lower is better; "
        f"real images score {metrics['floor']['test']:.2f}):"
    ]
    for name, entry in metrics["candidates"].items():
        test = entry["test"]
        mark = " *" if name == metrics["chosen"] else ""
        accuracy = test.get("class_accuracy")
        shown = "" if accuracy is None else f", {accuracy:.1%} judged as the asked class"
        lines.append(
            f"  {name + mark:<6} FD {test['fd']:.2f}{shown} (fit {entry['fit_seconds']:.0f} s)"
        )
    label = f" --label {run.task.classes[0]}" if run.task.classes else ""
    lines += [f"Run folder: {run.path}", "Next:",
              f"  layerwise generate {run.path} --n 64{label} -o samples.png"]  # fmt: skip
    if run.report is not None:
        lines.append(f"  open {run.report}")
    return lines
