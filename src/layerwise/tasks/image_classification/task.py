"""image-classification: which class an image shows. A ResNet-style CNN competes with logistic
regression on pixels; the run shows what each layer of the CNN responds to.

Inputs: a folder per class, a MedMNIST-style NPZ, MNIST IDX files, a CSV of image paths and
labels, or arrays in memory (see :func:`layerwise.data.images.read_images`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from layerwise.core.holdout import HOLDOUT_DEFAULTS, HoldoutTask
from layerwise.core.registry import Registry
from layerwise.errors import ConfigError, DataError
from layerwise.runs.folder import RunFolder

CANDIDATES = Registry("image candidate")
CANDIDATES.register(
    "pixel-logistic",
    "layerwise.tasks.image_classification.pixel_logistic:PixelLogisticCandidate",
    "logistic regression on downsampled pixels",
)
CANDIDATES.register("cnn", "layerwise.candidates.cnn:CNNCandidate", "ResNet-style CNN")

DEFAULTS: dict[str, Any] = {
    **HOLDOUT_DEFAULTS,
    "image_size": None,  # int or (height, width); None: native size (<= 128) or a common one
    "channels": None,  # 1 or 3; None: 1 when every image is gray
    "image_column": None,  # CSV layout: the column of image paths
    "flip": None,  # horizontal flips in augmentation; None: on for RGB, off for grayscale
    "tta": "auto",  # test-time augmentation: kept when it helps validation
    # Image files decoded once to disk and read a batch at a time (data larger than memory):
    # True, False, or None to stream when they would decode to over a quarter of the memory
    "stream": None,
}


class ImageClassification(HoldoutTask):
    """Classify images; a CNN and a pixel-logistic baseline compete, the advisor chooses.

    >>> import layerwise
    >>> from layerwise.data.image_sources import digits
    >>> run = layerwise.fit(digits(), task="image-classification", verbose=False)  # doctest: +SKIP
    >>> run.predict(digits().images[:3])  # doctest: +SKIP
    """

    name: ClassVar[str] = "image-classification"
    description: ClassVar[str] = "Classify images (folders, NPZ, IDX, CSV of paths)"
    request_kind: ClassVar[str | None] = "images"  # served: see layerwise.serve.requests
    joinable_requests: ClassVar[bool] = True
    data_parallel: ClassVar[bool] = True  # the CNN under DDP; the pixel model on rank 0
    batch_predicts: ClassVar[bool] = True  # a folder, a chunk of files at a time
    DEFAULTS: ClassVar[dict[str, Any]] = DEFAULTS
    CANDIDATES: ClassVar[Registry] = CANDIDATES
    unit: ClassVar[str] = "images"

    @classmethod
    def demo_data(cls, folder: Any) -> Any:
        from layerwise.tasks.image_classification.cli import digit_images

        return digit_images(folder)

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.size: tuple[int, int] | None = None
        self.channels: int | None = None
        self._flip = False

    def inputs_of(self, images: Any) -> np.ndarray:
        return images.images

    def prediction_chunks(self, source: Any, batch_size: int) -> Any:
        """``layerwise predict --batch-size``: the folder's files, ``batch_size`` at a time."""
        from layerwise.tasks.image_classification.batches import ImageChunks

        self._require_fitted()
        return ImageChunks(self, source, batch_size)

    def candidate_params(self, name: str) -> dict[str, Any]:
        params = super().candidate_params(name)
        if name == "cnn":
            params.setdefault("flip", self._flip)
            params.setdefault("tta", self.option("tta"))
        return params

    def preprocess_json(self) -> dict[str, Any]:
        return {
            "size": list(self.size),
            "channels": self.channels,
            "image_column": self.option("image_column"),
        }

    def write_extras(self, run: RunFolder, test: Any, proba: dict[str, np.ndarray]) -> None:
        from layerwise.tasks.image_classification.outputs import write_image_extras

        write_image_extras(self, run, test, proba)

    # ---- reading ------------------------------------------------------------------------
    def read(self, data: Any, target: str | None = None, labelled: bool = True) -> Any:
        """Read ``data`` at the trained size and channels (or the options' before training)."""
        from layerwise.data.images import read_images

        size = self.size or self.option("image_size")
        images = read_images(
            data,
            size=size,
            channels=self.channels or self.option("channels"),
            image_column=self.option("image_column"),
            target=target,
            classes=self.classes or None,
            progress=bool(self.option("verbose")),
            stream=self.option("stream"),
            cache=Path(self.option("output_dir")) / ".cache",
        )
        if labelled and images.labels is None:
            raise DataError(
                f"The images in '{images.source}' have no labels.",
                "Put each class in its own folder (photos/<class>/*.png), or pass a CSV with "
                "--image-column and --target, or an NPZ with *_labels arrays.",
            )
        return images

    # ---- fit ----------------------------------------------------------------------------
    def profile_and_plan(self, data: Any, target: str | None = None) -> tuple[tuple, Any, Any]:
        """Read and split the images, profile them and plan the bake-off (all `advise` does)."""
        from layerwise.tasks.image_classification.plan import ImageProfile, plan_images

        images = self.read(data, target)
        self._check_labels(images)
        self.target = target
        self.classes = list(images.classes)
        self.size, self.channels = images.size, images.channels
        train, val, test, protocol = self._split(images)
        flip = self.option("flip")
        flip = self._flip = images.channels == 3 if flip is None else bool(flip)
        profile = ImageProfile(
            len(train),
            len(val),
            len(test),
            *images.size,
            images.channels,
            self.classes,
            np.bincount(train.labels, minlength=len(self.classes)).tolist(),
            images.source,
            list(images.skipped),
            list(images.notes),
        )
        return (
            (train, val, test),
            profile,
            self.announce(profile, plan_images(profile, protocol, flip)),
        )

    def explain(self, image: Any, out_dir: str | Path, prefix: str = "") -> list[Path]:
        """Layer views of the CNN for the first image of ``image``: Grad-CAM, activations, filters."""
        import torch

        from layerwise.explain.layer_views import write_layer_views

        self._require_fitted()
        if "cnn" not in self.models:
            raise ConfigError(
                "This run has no CNN to explain (it was skipped or not a candidate).",
                "Train with the cnn candidate to see layer views.",
            )
        images = self.read(image, labelled=False)
        tensor = torch.from_numpy(np.ascontiguousarray(images.images[0].transpose(2, 0, 1)))
        return write_layer_views(self.models["cnn"].model, tensor, out_dir, self.classes, prefix)

    def onnx_module(self) -> tuple[Any, tuple, list[str], list[str]]:
        """For ``layerwise export``: the CNN with a softmax, taking float images in [0, 1]."""
        from layerwise.tasks.image_classification.outputs import onnx_parts

        self._require_fitted()
        return onnx_parts(self)

    def onnx_description(self) -> tuple[list[dict], dict, str]:
        from layerwise.tasks.image_classification.outputs import onnx_description

        return onnx_description(self)

    # ---- schema and loading -------------------------------------------------------------
    def input_schema(self) -> dict[str, Any]:
        self._require_fitted()
        height, width = self.size
        return {
            "type": "image",
            "height": height,
            "width": width,
            "channels": self.channels,
            "note": "any size and format Pillow reads; resized to this size",
        }

    def restore(self, stored: dict[str, Any]) -> None:
        self.size, self.channels = tuple(stored["size"]), stored["channels"]

    @classmethod
    def report_sections(cls) -> list[tuple[str, Any]]:
        from layerwise.runs.report_images import layer_views, wrong_examples

        return [("What each layer sees", layer_views), ("Most confidently wrong", wrong_examples)]

    @classmethod
    def contract_example(cls, seed: int = 0) -> tuple[Any, dict[str, Any], Any]:
        from layerwise.data.image_sources import shapes

        images = shapes(160, size=16, seed=seed)
        options = {"candidate_params": {"cnn": {"epochs": 2}}}
        return images, options, images.images[:7]
