"""image-generation: new images like the user's, from a GAN, beside a classical pixel model.

The images (a folder, a folder per class, NPZ, IDX or arrays) are brought to one square size
and split into training, validation and test images. A ResNet that layerwise trains on the
training images (on their classes, or on predicting their rotation when they have none) is
the judge: the Fréchet distance between its penultimate features on generated and on real
test images measures quality (Inception weights cannot be downloaded here, so the figure is
comparable within a dataset, not with published FIDs), and, when the GAN is conditional, the
judge's accuracy on the class each sample was asked for says whether the label is obeyed.
A DCGAN (spectral norm, hinge loss, projection discriminator) and a convolutional VAE (its
sampling prior fitted to the training images' posteriors), both trained by the one engine with
their ``train_step`` overridden, compete with PCA + Gaussian mixtures of the pixels; the lower
validation distance is served.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from layerwise.core.task import RUN_DEFAULTS, Run, Task
from layerwise.errors import ConfigError, DataError
from layerwise.runs.folder import RunFolder

DEFAULTS: dict[str, Any] = {
    **RUN_DEFAULTS,  # candidates: gmm, gan, vae; time_limit: each deep one's (None: 120 s on a CPU)
    "image_size": None,  # the square side; None: the native side, at least 16, at most 64
    "channels": None,  # 1 or 3; None: 1 when every image is gray
    "conditional": None,  # None: conditional when the images have two classes or more
    "val_fraction": 0.15,
    "test_fraction": 0.15,
    "n_samples": 1000,  # generated images per quality measurement
}


class ImageGeneration(Task):
    """Generate images like the training images, optionally of a requested class.

    >>> ImageGeneration(conditional=False).option("conditional")
    False
    """

    name: ClassVar[str] = "image-generation"
    DEFAULTS: ClassVar[dict[str, Any]] = DEFAULTS
    description: ClassVar[str] = "Generate images: a GAN and a VAE vs Gaussian mixtures of pixels"
    request_kind: ClassVar[str | None] = "count"  # served: see layerwise.serve.requests
    data_parallel: ClassVar[bool] = True  # the GAN and the VAE under DDP; the rest on rank 0

    def training_summary(self, run: Run) -> list[Any]:
        from layerwise.tasks.image_generation.cli import training_summary

        return training_summary(run)

    @classmethod
    def demo_data(cls, folder: Any) -> Any:
        from layerwise.tasks.image_generation.cli import digit_images

        return digit_images(folder)

    def __init__(self, **options: Any):
        self.check_option_names(options)
        super().__init__(**options)
        self.model: Any = None  # the served sampler: a GAN Generator, a VAEDecoder or a PixelGMM
        self.chosen: str | None = None
        self.classes: list[str] = []  # empty when unconditional
        self.side = 0
        self.channels = 0
        self.judge: Any = None  # the QualityJudge (feature net and reference statistics)
        self.target = None  # config.yaml's field

    @property
    def conditional(self) -> bool:
        return bool(self.classes)

    def fit(self, data: Any, target: str | None = None, **options: Any) -> Run:
        """Read the images, train the judge, the pixel model and the GAN; choose; write."""
        from layerwise.tasks.image_generation.fit import fit_images

        self.check_option_names(options)
        self.options = {**self.options, **options}
        return fit_images(self, data, time.perf_counter())

    # ---- generate ----------------------------------------------------------------------
    def _require_fitted(self) -> None:
        if self.model is None:
            raise DataError(
                "This image generator is not fitted.", "Call fit() or load a run folder."
            )

    def label_codes(self, labels: Any, n: int) -> np.ndarray | None:
        """Class codes for ``n`` samples: ``labels`` (one class name or code, or one per
        sample), or every class in turn when None; None for an unconditional model."""
        if not self.conditional:
            if labels is not None and not _all_blank(labels):
                raise ConfigError(
                    "This generator was trained without classes, so a label cannot be asked.",
                    "Leave out --label, or train with class folders and --conditional.",
                )
            return None
        if labels is None:
            return np.arange(n, dtype=np.int64) % len(self.classes)
        values = [labels] * n if np.isscalar(labels) else list(labels)
        return np.asarray([self._code(v) for v in values], dtype=np.int64)

    def _code(self, value: Any) -> int:
        name = str(value).strip()
        if name in self.classes:
            return self.classes.index(name)
        from layerwise.errors import closest

        hint = closest(name, self.classes)
        raise ConfigError(
            f"There is no class {name!r} in this generator.",
            (f"Did you mean {hint!r}? " if hint else "")
            + f"Classes: {', '.join(self.classes[:20])}.",
        )

    def generate(self, n: int = 64, label: Any = None, seed: int = 0) -> tuple[np.ndarray, Any]:
        """``n`` images as uint8 ``[n, side, side, channels]`` and their class codes (None
        when unconditional). ``label``: a class name for all, one per image, or None for
        every class in turn. Deterministic for a seed."""
        from layerwise.tasks.image_generation.sampling import sample_uint8

        self._require_fitted()
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ConfigError(f"--n {n!r} is not valid.", "Ask for 1 image or more.")
        codes = self.label_codes(label, int(n))
        if codes is not None and len(codes) != n:
            raise ConfigError(
                f"Got {len(codes)} labels for {n} images.", "Give one label, or one per image."
            )
        return sample_uint8(self, int(n), codes, seed), codes

    def predict(self, inputs: Any) -> pd.DataFrame:
        """One generated image per requested label (seed 0): ``inputs`` is a number of images,
        a label, a list of labels or a table with a ``label`` column. Columns: ``label``
        (the class, "" when unconditional) and ``image_png`` (a base64 PNG)."""
        from layerwise.runs.image_grid import png_base64

        n, labels = _requests(inputs)
        images, codes = self.generate(n, labels, seed=0)
        names_ = [""] * n if codes is None else [self.classes[c] for c in codes]
        return pd.DataFrame({"label": names_, "image_png": [png_base64(im) for im in images]})

    def prediction_rows(self, inputs: Any) -> int:
        return _requests(inputs)[0]

    def evaluate(self, data: Any) -> dict[str, Any]:
        """Fréchet distance of the served model's samples to the images of ``data`` on the
        judge's features, and (conditional) the judge's accuracy on the asked classes."""
        from layerwise.tasks.image_generation.fit import evaluate_images

        self._require_fitted()
        return evaluate_images(self, data)

    # ---- schema, load, contract ------------------------------------------------------------
    def input_schema(self) -> dict[str, Any]:
        return {"kind": "generation-request", "fields": {
            "n": "int: how many images", "label": "str: the class (conditional models)"},
            "classes": list(self.classes)}  # fmt: skip

    def output_schema(self) -> dict[str, Any]:
        return {"kind": "generated-images", "side": self.side, "channels": self.channels,
                "fields": {"label": "str: the class asked ('' when unconditional)",
                           "image_png": "str: the image as a base64 PNG"}}  # fmt: skip

    @classmethod
    def load(cls, run: RunFolder) -> ImageGeneration:
        from layerwise.tasks.image_generation.outputs import restore

        return restore(cls, run)

    @classmethod
    def report_sections(cls) -> list[tuple[str, Any]]:
        from layerwise.tasks.image_generation.report import SECTIONS

        return SECTIONS

    @classmethod
    def contract_example(cls, seed: int = 0) -> tuple[Any, dict[str, Any], Any]:
        from layerwise.data.image_sources import digits

        images = digits()
        keep = np.random.default_rng(seed).permutation(len(images))[:300]
        options = {"image_size": 16, "n_samples": 100, "time_limit": 3,
                   "candidate_params": {"gan": {"epochs": 2, "steps_per_epoch": 5},
                                        "vae": {"epochs": 2, "steps_per_epoch": 5},
                                        "judge": {"time_limit": 3}}}  # fmt: skip
        return images.subset(np.sort(keep)), options, ["3", "7", "0"]


def _all_blank(labels: Any) -> bool:
    values = [labels] if np.isscalar(labels) else list(labels)
    return all(str(v).strip() in ("", "None", "nan") for v in values)


def _requests(inputs: Any) -> tuple[int, Any]:
    """(how many images, their labels or None) from what predict() was given."""
    if isinstance(inputs, (int, np.integer)) and not isinstance(inputs, bool):
        return int(inputs), None
    if isinstance(inputs, pd.DataFrame):
        if "label" not in inputs.columns:
            from layerwise.errors import missing_column

            raise missing_column("label", inputs.columns, "Label column")
        return len(inputs), [str(v) for v in inputs["label"]]
    if isinstance(inputs, str):
        return 1, [inputs]
    labels = list(inputs)
    return len(labels), labels
