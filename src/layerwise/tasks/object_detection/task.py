"""object-detection: where the objects are in a photo, as labelled boxes with scores.

A user brings photos with boxes in one of the layouts people have (Pascal-VOC XML, COCO JSON,
YOLO txt, or a CSV of boxes: :mod:`.annotations`); a CenterNet-style detector trained from
scratch by the engine (:mod:`.centernet_train`) competes with the detector people used before
deep learning, HOG features and a linear SVM over a sliding window (:mod:`.hog_svm`). Both are
scored on the same held-out images by Pascal-VOC mAP@0.5 and COCO mAP@0.5:0.95
(:mod:`.average_precision`); the better validation mAP@0.5 is served.

Predictions are one row per box: ``image, label, score, x1, y1, x2, y2`` in the pixels of the
photo as given (the model sees it resized; boxes are mapped back).
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
from layerwise.tasks.object_detection.fit import DEFAULT_THRESHOLD

DEFAULTS: dict[str, Any] = {
    **RUN_DEFAULTS,  # candidates: hog-svm, centernet; time_limit: the detector's (None: by device)
    "format": None,  # voc, coco, yolo, csv; None: detected from the layout
    "long_side": None,  # read at this long side; None: their median, at most 416, less for large objects
    "val_fraction": 0.1,
    "test_fraction": 0.2,  # images held out for the test scores (raccoon's customary 20%)
    "score_threshold": None,  # predict's cut; None: the best F1 on validation (mAP uses all)
    "max_detections": 100,
    "backbone": None,  # a ResNet-18/34 safetensors checkpoint to start the detector from
}

# one row per box: what predict gives, the CSV `layerwise predict -o` writes
OUTPUT_FIELDS = {
    "image": "str: the image's file name (or its index)",
    "label": "str: the class",
    "score": "float: the detector's confidence, 0 to 1",
    "x1": "float: left edge, pixels of the image as given",
    "y1": "float: top edge",
    "x2": "float: right edge",
    "y2": "float: bottom edge",
}


class ObjectDetection(Task):
    """Find objects in images: a CenterNet detector beside HOG + linear SVM; mAP chooses.

    >>> ObjectDetection(score_threshold=0.5).option("score_threshold")
    0.5
    """

    name: ClassVar[str] = "object-detection"
    description: ClassVar[str] = "Find objects in photos (VOC, COCO, YOLO boxes)"
    DEFAULTS: ClassVar[dict[str, Any]] = DEFAULTS
    request_kind: ClassVar[str | None] = "images"  # served: see layerwise.serve.requests
    predict_options: ClassVar[tuple[str, ...]] = ("score_threshold", "draw")
    data_parallel: ClassVar[bool] = True  # the CenterNet under DDP; HOG + SVM on rank 0

    def __init__(self, **options: Any):
        self.check_option_names(options)
        super().__init__(**options)
        self.classes: list[str] = []
        self.long_side: int | None = None
        self.model: Any = None  # the served detector (CenterNetDetector or HogSvmDetector)
        self.chosen: str | None = None
        self.target = None  # config.yaml's field: boxes carry their own classes

    @classmethod
    def demo_data(cls, folder: Any) -> Any:
        from layerwise.tasks.object_detection.cli import street_scene_demo

        return street_scene_demo(folder)

    def fit(self, data: Any, target: str | None = None, **options: Any) -> Run:
        """Read the images and boxes, train both detectors, choose by validation mAP, write."""
        from layerwise.tasks.object_detection.fit import fit_detectors

        self.check_option_names(options)
        self.options = {**self.options, **options}
        return fit_detectors(self, data, time.perf_counter())

    # ---- use ----------------------------------------------------------------------------
    def _require_fitted(self) -> None:
        if self.model is None:
            raise DataError("This detector is not fitted.", "Call fit() or load a run folder.")

    def read(self, data: Any, labelled: bool = True) -> Any:
        """A DetectionSet at the trained long side (boxes of unknown classes skipped when
        fitted); with ``labelled=False`` plain images (a file, a folder, arrays) are read too."""
        from layerwise.tasks.object_detection.images_in import read_for_detection

        return read_for_detection(self, data, labelled)

    def detect(self, images: Any, score_threshold: float | None = None) -> list[Any]:
        """The served detector's Detections for each image of a DetectionSet, in the pixels of
        the photos as given (the stored images' boxes divided by their scale)."""
        self._require_fitted()
        threshold = self.option("score_threshold") if score_threshold is None else score_threshold
        threshold = DEFAULT_THRESHOLD if threshold is None else threshold
        found = self.model.predict(images.images)
        kept = []
        for detections, scale in zip(found, images.scales, strict=True):
            keep = detections.scores >= float(threshold)
            keep &= np.cumsum(keep) <= int(self.option("max_detections"))
            picked = type(detections)(
                detections.boxes[keep], detections.scores[keep], detections.labels[keep]
            )
            kept.append(picked.scaled(1.0 / scale))
        return kept

    def predict(self, inputs: Any, score_threshold: float | None = None,
                draw: str | Path | None = None) -> pd.DataFrame:  # fmt: skip
        """One row per box found (``image, label, score, x1, y1, x2, y2``), best first in
        each image; ``score_threshold`` [the run's: the best F1 on its validation images] drops
        weaker boxes. ``draw``: a PNG
        of the image with its boxes (a folder of them for several images)."""
        from layerwise.tasks.object_detection.outputs import box_rows, draw_predictions

        images = self.read(inputs, labelled=False)
        found = self.detect(images, score_threshold)
        frame = box_rows(images.names, found, self.classes)
        without = sum(1 for name in images.names if name not in set(frame["image"]))
        notes = [f"{without} of {len(images)} images had no box above the score threshold"]
        frame.attrs["notes"] = notes if without else []
        if draw is not None:
            frame.attrs["notes"].append(draw_predictions(images, found, self.classes, draw))
        return frame

    def served_records(self, records: list[dict]) -> list[dict]:
        """Over HTTP each box is ``{"image", "label", "score", "box": [x1, y1, x2, y2]}`` (the
        photo's pixels), the shape detection services answer with, rather than a table's row.

        Example:
            >>> ObjectDetection().served_records([{"image": "a.jpg", "label": "car",
            ...     "score": 0.9, "x1": 1.0, "y1": 2.0, "x2": 3.0, "y2": 4.0}])
            [{'image': 'a.jpg', 'label': 'car', 'score': 0.9, 'box': [1.0, 2.0, 3.0, 4.0]}]
        """
        corners = ("x1", "y1", "x2", "y2")
        return [
            {**{k: v for k, v in r.items() if k not in corners}, "box": [r[c] for c in corners]}
            for r in records
        ]

    def prediction_rows(self, inputs: Any) -> int:
        """The number of boxes found: it is known only by detecting them."""
        return len(self.predict(inputs))

    def evaluate(self, data: Any) -> dict[str, Any]:
        """mAP@0.5 (Pascal VOC), mAP@0.5:0.95 (COCO), AP by class and size on labelled data."""
        from layerwise.tasks.object_detection.fit import score_detector

        self._require_fitted()
        images = self.read(data)
        found = self.model.predict(images.images)
        return {"rows": len(images), **score_detector(self, found, images, summary=True)}

    def evaluation_rows(self, data: Any) -> int:
        return len(self.read(data))

    def command_line_input(self, data: str) -> Any:
        return Path(data)

    def explain(self, image: Any, out_dir: str | Path, prefix: str = "") -> list[Path]:
        """Layer views of the CenterNet for the first image: Grad-CAM, activations, filters."""
        from layerwise.tasks.object_detection.layer_views import explain

        self._require_fitted()
        return explain(self, self.read(image, labelled=False), out_dir, prefix)

    def onnx_module(self) -> tuple[Any, tuple, list[str], list[str]]:
        """For ``layerwise export``: the CenterNet with dense scores and boxes."""
        from layerwise.tasks.object_detection.onnx_parts import onnx_parts

        self._require_fitted()
        return onnx_parts(self)

    def onnx_description(self) -> tuple[list[dict], dict, str]:
        from layerwise.tasks.object_detection.onnx_parts import onnx_description

        return onnx_description(self)

    # ---- schema, load, contract ----------------------------------------------------------
    def input_schema(self) -> dict[str, Any]:
        return {"type": "image", "long_side": self.long_side, "classes": list(self.classes),
                "note": "any size and format Pillow reads; boxes come back in its pixels"}  # fmt: skip

    def output_schema(self) -> dict[str, Any]:
        corners = ("x1", "y1", "x2", "y2")
        served = {k: v for k, v in OUTPUT_FIELDS.items() if k not in corners}
        served["box"] = "[x1, y1, x2, y2]: the box's edges, pixels of the image as given"
        return {"kind": "boxes", "fields": dict(OUTPUT_FIELDS), "served_fields": served,
                "classes": list(self.classes)}  # fmt: skip

    @classmethod
    def load(cls, run: RunFolder) -> ObjectDetection:
        from layerwise.tasks.object_detection.outputs import restore

        return restore(cls, run)

    @classmethod
    def report_sections(cls) -> list[tuple[str, Any]]:
        from layerwise.tasks.object_detection.report import SECTIONS

        return SECTIONS

    @classmethod
    def contract_example(cls, seed: int = 0) -> tuple[Any, dict[str, Any], Any]:
        from layerwise.tasks.object_detection.scenes import street_scenes

        scenes = street_scenes(60, size=64, seed=seed)
        options = {"candidate_params": {"centernet": {"epochs": 2},
                                        "hog-svm": {"hard_negative_rounds": 0}}}  # fmt: skip
        return scenes, options, scenes.subset(range(5))
