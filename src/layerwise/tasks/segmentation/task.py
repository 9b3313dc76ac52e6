"""segmentation: a class for every pixel of an image (a tumour, a cell membrane, a lesion).

A user brings images with masks (a folder layout :mod:`.pairs` recognises, a CSV of pairs, or an
NPZ: :mod:`.readers`); a U-Net trained by the engine (:mod:`.unet_train`) competes with the way
people segmented before deep learning, a gradient-boosted forest on multiscale pixel features
(:mod:`.pixel_forest`). Both are scored on the same held-out images by Dice and IoU
(:mod:`.metrics`); the better validation Dice is served, the forest unless the U-Net beats it
by ``DICE_TOLERANCE``.

Predictions are one row per image: its name, size and the share of its pixels in each class,
with the mask as a palette PNG (base64, pixel values = class indices), or written as files
with ``masks_to`` (and overlays on the image with ``overlay``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from layerwise.core.task import RUN_DEFAULTS, Run, Task
from layerwise.errors import DataError
from layerwise.runs.folder import RunFolder

DEFAULTS: dict[str, Any] = {
    **RUN_DEFAULTS,  # candidates: pixel-forest, unet; time_limit: the U-Net's (None: by device)
    "image_column": "image",  # a CSV of pairs: its columns
    "mask_column": "mask",
    "classes": None,  # names of the classes in the order of the masks' codes
    "val_fraction": 0.15,
    "test_fraction": 0.2,
    "vflip": None,  # up-down flips in augmentation; None: on for grey images (microscopy)
}


class Segmentation(Task):
    """Segment images: a U-Net beside a pixel forest; validation Dice chooses.

    >>> Segmentation(classes="background,cell").option("classes")
    'background,cell'
    """

    name: ClassVar[str] = "segmentation"
    description: ClassVar[str] = "Outline objects in images: a class for every pixel"
    DEFAULTS: ClassVar[dict[str, Any]] = DEFAULTS
    request_kind: ClassVar[str | None] = "images"  # served: see layerwise.serve.requests
    predict_options: ClassVar[tuple[str, ...]] = ("masks_to", "overlay")
    data_parallel: ClassVar[bool] = True  # the U-Net under DDP; the forest on rank 0

    def __init__(self, **options: Any):
        self.check_option_names(options)
        super().__init__(**options)
        self.classes: list[str] = []
        self.encoding: dict[str, Any] = {}
        self.channels = 1
        self.model: Any = None  # the served segmenter (UNetSegmenter or PixelForest)
        self.chosen: str | None = None
        self.target = None  # config.yaml's field: masks carry their own classes

    @classmethod
    def demo_data(cls, folder: Any) -> Any:
        from layerwise.tasks.segmentation.cli import cell_demo

        return cell_demo(folder)

    def fit(self, data: Any, target: str | None = None, **options: Any) -> Run:
        """Read the images and masks, train both segmenters, choose by validation Dice, write
        (rank 0 of a world of several; the other ranks train the U-Net with it, return None)."""
        from layerwise.tasks.segmentation.fit import fit_segmenters

        self.check_option_names(options)
        self.options = {**self.options, **options}
        return fit_segmenters(self, data, time.perf_counter())

    # ---- use ----------------------------------------------------------------------------
    def _require_fitted(self) -> None:
        if self.model is None:
            raise DataError("This segmenter is not fitted.", "Call fit() or load a run folder.")

    def read_labelled(self, data: Any) -> dict[str, Any]:
        from layerwise.tasks.segmentation.images_in import read_labelled

        return read_labelled(self, data)

    def masks(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """The served model's mask (uint8 class indices) of each image (in the run's channels)."""
        self._require_fitted()
        return self.model.predict(images)

    def predict(self, inputs: Any, masks_to: str | Path | None = None,
                overlay: bool = False) -> pd.DataFrame:  # fmt: skip
        """One row per image: ``image, width, height``, the share of its pixels in each class
        (``area_<class>``) and ``mask_png`` (a base64 palette PNG whose pixel values are the
        class indices). ``masks_to``: a folder the masks are written to as ``<name>_mask.png``
        instead (the row then names the file), with ``<name>_overlay.png`` when ``overlay``."""
        from layerwise.tasks.segmentation.images_in import read_plain
        from layerwise.tasks.segmentation.outputs import mask_rows

        self._require_fitted()
        plain = read_plain(self, inputs)
        frame = mask_rows(self, plain.names, plain.images, masks_to, overlay)
        notes = sorted(plain.notes)
        if plain.unreadable:
            notes.append(f"skipped {len(plain.unreadable)} unreadable images: "
                         + "; ".join(plain.unreadable[:3]))  # fmt: skip
        if masks_to is not None:
            notes.append(f"wrote {len(frame)} masks{' and overlays' if overlay else ''} into "
                         f"{masks_to}")  # fmt: skip
        frame.attrs["notes"] = notes
        return frame

    def evaluate(self, data: Any) -> dict[str, Any]:
        """Dice and IoU (mean over the foreground classes and per class), pixel accuracy,
        per-image Dice and boundary F1 on labelled data."""
        from layerwise.tasks.segmentation.fit import score_masks

        self._require_fitted()
        sets = self.read_labelled(data)
        images = [im for part in sets.values() for im in part.images]
        truths = [m for part in sets.values() for m in part.masks]
        scores = score_masks(self.classes, truths, self.masks(images), summary=True)
        return {"rows": len(images), **scores}

    def evaluation_rows(self, data: Any) -> int:
        return sum(len(part) for part in self.read_labelled(data).values())

    def prediction_rows(self, inputs: Any) -> int:
        from layerwise.tasks.segmentation.images_in import read_plain

        return len(read_plain(self, inputs).names)

    def command_line_input(self, data: str) -> Any:
        return Path(data)

    def explain(self, image: Any, out_dir: str | Path, prefix: str = "") -> list[Path]:
        """Layer views of the U-Net's encoder for the first image."""
        from layerwise.tasks.segmentation.images_in import read_plain
        from layerwise.tasks.segmentation.layer_views import explain

        self._require_fitted()
        first = next((im for im in read_plain(self, image).images if im is not None), None)
        if first is None:
            raise DataError("The image could not be read.", "Give a PNG, JPEG, TIFF or BMP file.")
        return explain(self, first, out_dir, prefix)

    def onnx_module(self) -> tuple[Any, tuple, list[str], list[str]]:
        from layerwise.tasks.segmentation.onnx_parts import onnx_parts

        self._require_fitted()
        return onnx_parts(self)

    def onnx_description(self) -> tuple[list[dict], dict, str]:
        from layerwise.tasks.segmentation.onnx_parts import onnx_description

        return onnx_description(self)

    # ---- schema, load, contract ----------------------------------------------------------
    def input_schema(self) -> dict[str, Any]:
        return {"type": "image", "channels": self.channels, "classes": list(self.classes),
                "note": "any size and format Pillow reads; the mask comes back at its size"}  # fmt: skip

    def output_schema(self) -> dict[str, Any]:
        from layerwise.tasks.segmentation.outputs import output_fields

        fields = output_fields(self.classes)
        return {"kind": "mask", "fields": fields, "classes": list(self.classes),
                "encoding": dict(self.encoding)}  # fmt: skip

    @classmethod
    def load(cls, run: RunFolder) -> Segmentation:
        from layerwise.tasks.segmentation.outputs import restore

        return restore(cls, run)

    @classmethod
    def report_sections(cls) -> list[tuple[str, Any]]:
        from layerwise.tasks.segmentation.report import SECTIONS

        return SECTIONS

    @classmethod
    def contract_example(cls, seed: int = 0) -> tuple[Any, dict[str, Any], Any]:
        from layerwise.tasks.segmentation.cells import generated_masks
        from layerwise.tasks.segmentation.readers import from_arrays

        images, masks, classes = generated_masks(12, size=32, seed=seed)
        data = from_arrays(images, masks, classes)
        options = {"candidate_params": {"unet": {"epochs": 2},
                                        "pixel-forest": {"n_estimators": 10}}}  # fmt: skip
        return data, options, images[:3]
