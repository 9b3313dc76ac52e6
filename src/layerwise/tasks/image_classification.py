"""image-classification: which class an image shows. A ResNet-style CNN competes with logistic
regression on pixels; the run shows what each layer of the CNN responds to.

Inputs: a folder per class, a MedMNIST-style NPZ, MNIST IDX files, a CSV of image paths and
labels, or arrays in memory (see :func:`layerwise.data.images.read_images`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from layerwise.errors import ConfigError, DataError, closest
from layerwise.registry import Registry
from layerwise.runs.folder import RunFolder
from layerwise.tasks.base import Run, Task

CANDIDATES = Registry("image candidate")
CANDIDATES.register(
    "pixel-logistic",
    "layerwise.classical.pixel_logistic:PixelLogisticCandidate",
    "logistic regression on downsampled pixels",
)
CANDIDATES.register("cnn", "layerwise.tasks.image_cnn:CNNCandidate", "ResNet-style CNN")

DEFAULTS: dict[str, Any] = {
    "output_dir": "runs",
    "test_data": None,
    "test_size": 0.2,
    "val_size": 0.15,
    "time_limit": None,
    "seed": 0,
    "candidates": None,
    "candidate_params": {},
    "report": True,
    "verbose": True,
    "device": "auto",
    "resume": None,
    "image_size": None,  # int or (height, width); None: native size (<= 128) or a common one
    "channels": None,  # 1 or 3; None: 1 when every image is gray
    "image_column": None,  # CSV layout: the column of image paths
    "flip": None,  # horizontal flips in augmentation; None: on for RGB, off for grayscale
    "tta": "auto",  # test-time augmentation: kept when it helps validation
    "threshold": "auto",  # two classes: Youden's J on validation; or a number, or None (argmax)
}


class ImageClassification(Task):
    """Classify images; a CNN and a pixel-logistic baseline compete, the advisor chooses.

    >>> import layerwise
    >>> from layerwise.data.image_sources import digits
    >>> run = layerwise.fit(digits(), task="image-classification", verbose=False)  # doctest: +SKIP
    >>> run.predict(digits().images[:3])  # doctest: +SKIP
    """

    name: ClassVar[str] = "image-classification"
    description: ClassVar[str] = "Classify images (folders, NPZ, IDX, CSV of paths)"

    def __init__(self, **options: Any):
        self._check_options(options)
        super().__init__(**options)
        self.classes: list[str] = []
        self.models: dict[str, Any] = {}
        self.chosen: str | None = None
        self.size: tuple[int, int] | None = None
        self.channels: int | None = None
        self.threshold: float | None = None

    # ---- options ------------------------------------------------------------------------
    def _check_options(self, options: dict[str, Any]) -> None:
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            raise ConfigError(
                f"Unknown option(s) {', '.join(unknown)} for {self.name}.",
                f"Valid options: {', '.join(DEFAULTS)}.",
            )
        for name in options.get("candidates") or []:
            if name not in CANDIDATES:
                guess = closest(name, CANDIDATES.names())
                raise ConfigError(
                    f"Unknown candidate '{name}'.",
                    (f"Did you mean '{guess}'? " if guess else "")
                    + f"Valid candidates: {', '.join(CANDIDATES.names())}.",
                )

    def option(self, name: str) -> Any:
        return self.options.get(name, DEFAULTS[name])

    def say(self, message: str) -> None:
        if self.option("verbose"):
            from rich.console import Console

            Console(stderr=True, highlight=False).print(message)

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
        )
        if labelled and images.labels is None:
            raise DataError(
                f"The images in '{images.source}' have no labels.",
                "Put each class in its own folder (photos/<class>/*.png), or pass a CSV with "
                "--image-column and --target, or an NPZ with *_labels arrays.",
            )
        return images

    def _check_labels(self, images: Any) -> None:
        counts = np.bincount(images.labels[images.labels >= 0], minlength=len(images.classes))
        present = [c for c, n in zip(images.classes, counts, strict=True) if n > 0]
        if len(present) < 2:
            raise DataError(
                f"Only one class ({', '.join(present) or 'none'}) in '{images.source}'.",
                "Image classification needs images of at least two classes.",
            )

    # ---- fit ----------------------------------------------------------------------------
    def fit(self, data: Any, target: str | None = None, **options: Any) -> Run:
        """Read, split, train the pixel baseline and the CNN, choose, and write the run folder."""
        from layerwise import advisor
        from layerwise.tasks.image_outputs import write_image_run
        from layerwise.tasks.image_plan import class_weights
        from layerwise.tasks.tabular_outputs import open_run_folder

        self._check_options(options)
        self.options = {**self.options, **options}
        started = time.perf_counter()
        (train, val, test), profile, plan = self.profile_and_plan(data, target)
        flip = "no-flips" not in [rule.name for rule in plan.fired()]
        run = open_run_folder(self, data)  # after the data checks: bad input leaves no folder
        weights = class_weights(train.labels, len(self.classes)) if plan.class_weights else None
        rows = self._bake_off(plan, (train, val, test), weights, flip, run, started)
        for model in self.models.values():
            profile.notes += getattr(model, "notes", [])
        complexity = {n: CANDIDATES.get(n).complexity for n in CANDIDATES.names()}
        self.chosen, reason = advisor.choose(rows, plan, complexity)
        self.threshold = self._threshold_of(self.chosen)
        self.say(f"[bold green]chosen[/bold green] {reason}")
        return write_image_run(
            self,
            run,
            test=test,
            plan=plan,
            rows=rows,
            reason=reason,
            profile=profile,
            seconds=time.perf_counter() - started,
        )

    def profile_and_plan(self, data: Any, target: str | None = None) -> tuple[tuple, Any, Any]:
        """Read and split the images, profile them and plan the bake-off (all `advise` does)."""
        from layerwise.tasks.image_plan import ImageProfile, plan_images

        images = self.read(data, target)
        self._check_labels(images)
        self.target = target
        self.classes = list(images.classes)
        self.size, self.channels = images.size, images.channels
        train, val, test, protocol = self._split(images)
        flip = self.option("flip")
        flip = images.channels == 3 if flip is None else bool(flip)
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
        plan = plan_images(profile, protocol, flip)
        if self.option("candidates"):
            plan.candidates = [c for c in plan.candidates if c in self.option("candidates")]
        for line in profile.summary_lines():
            self.say(f"[dim]{line}[/dim]")
        for rule in plan.fired():
            self.say(f"[cyan]rule[/cyan] {rule.name}: {rule.says}")
        return (train, val, test), profile, plan

    def _split(self, images: Any) -> tuple[Any, Any, Any, str]:
        """Training, validation and test images: the layout's own splits where it has them."""
        split = images.split if images.split is not None else np.full(len(images), "")
        if self.option("test_data") is not None:
            test = self.read(self.option("test_data"))
            rest, source = images.subset(split != "test"), "the --test-data images"
        elif (split == "test").any():
            test, rest, source = (
                images.subset(split == "test"),
                images.subset(split != "test"),
                "the dataset's test split",
            )
        else:
            rest_idx, test_idx = self._holdout(images.labels, self.option("test_size"))
            test, rest = images.subset(test_idx), images.subset(rest_idx)
            source = f"a stratified {self.option('test_size'):.0%} holdout"
        rest_split = split[split != "test"] if images.split is not None else None
        if rest_split is not None and (rest_split == "val").any():
            val, train = rest.subset(rest_split == "val"), rest.subset(rest_split != "val")
            protocol = "the dataset's own validation split"
        else:
            train_idx, val_idx = self._holdout(rest.labels, self.option("val_size"))
            train, val = rest.subset(train_idx), rest.subset(val_idx)
            protocol = (
                f"one stratified holdout of {self.option('val_size'):.0%} of the training images"
            )
        if min(len(train), len(val), len(test)) == 0:
            raise DataError(
                f"Too few images to train, validate and test ({len(images)} readable).",
                "Provide at least a few dozen images per class.",
            )
        return train, val, test, f"{protocol} (test: {source})"

    def _holdout(self, labels: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.model_selection import train_test_split

        index = np.arange(len(labels))
        if len(labels) < 10:
            raise DataError(
                f"Only {len(labels)} labelled images: too few to split.",
                "Provide at least a few dozen images per class.",
            )
        stratify = labels if np.bincount(labels).min() >= 2 else None
        return train_test_split(
            index, test_size=size, random_state=self.option("seed"), stratify=stratify
        )

    def _bake_off(
        self, plan: Any, data: tuple, weights: Any, flip: bool, run: RunFolder, started: float
    ) -> list[dict[str, Any]]:
        train, val, test = data
        rows = []
        for name in plan.candidates:
            params = dict(self.option("candidate_params").get(name, {}))
            if name == "cnn":
                params.setdefault("flip", flip)
                params.setdefault("tta", self.option("tta"))
                params.setdefault("device", self.option("device"))
                params.update(
                    progress=bool(self.option("verbose")),
                    checkpoint_dir=str(run.file("checkpoints") / name),
                    resume=self.option("resume") is not None,
                )
                limit = self.option("time_limit")
                if limit is not None:
                    params.setdefault(
                        "time_limit", max(1.0, 0.9 * limit - (time.perf_counter() - started))
                    )
            self.say(f"Training {name} on {len(train):,} images")
            model = CANDIDATES.get(name)(
                "binary" if len(self.classes) == 2 else "multiclass",
                len(self.classes),
                self.option("seed"),
                **params,
            )
            t0 = time.perf_counter()
            model.fit(train, val, weights)
            seconds = time.perf_counter() - t0
            self.models[name] = model
            val_proba = model.predict(val.images)
            model.threshold = self._pick_threshold(val.labels, val_proba)
            validation = self.score(val.labels, val_proba, model.threshold)
            t0 = time.perf_counter()
            test_proba = model.predict(test.images)
            latency = 1e6 * (time.perf_counter() - t0) / max(len(test), 1)
            rows.append(
                {
                    "candidate": name,
                    "validation": validation[plan.metric],
                    "validation_std": 0.0,
                    "validation_metrics": validation,
                    "fit_seconds": seconds,
                    "final_fit_seconds": seconds,
                    "test": self.score(test.labels, test_proba, model.threshold),
                    "predict_us_per_row": latency,
                    "test_proba": test_proba,
                }
            )
            self.say(
                f"{name}: validation {plan.metric} {validation[plan.metric]:.4f} ({seconds:.1f} s)"
            )
        return rows

    def _pick_threshold(self, labels: np.ndarray, proba: np.ndarray) -> float | None:
        from layerwise.metrics import youden_threshold

        setting = self.option("threshold")
        if len(self.classes) != 2 or setting is None:
            return None
        if setting == "auto":
            return youden_threshold(labels, proba[:, 1])
        return float(setting)

    def _threshold_of(self, name: str) -> float | None:
        return getattr(self.models[name], "threshold", None)

    # ---- metrics, predict, evaluate -----------------------------------------------------
    def score(
        self, labels: np.ndarray, proba: np.ndarray, threshold: float | None
    ) -> dict[str, float]:
        """Accuracy, balanced accuracy, macro-F1, ROC-AUC, log loss; with two classes and a
        threshold, the label-based ones at that threshold plus sensitivity and specificity."""
        from sklearn.metrics import f1_score

        from layerwise.metrics import binary_operating_point, classification_metrics

        known = labels >= 0
        labels, proba = labels[known], proba[known]
        if len(labels) == 0:
            return {}
        result = classification_metrics(labels, proba)
        if threshold is not None and proba.shape[1] == 2:
            point = binary_operating_point(labels, proba[:, 1], threshold)
            called = (proba[:, 1] >= threshold).astype(int)
            result.update(point)
            result["macro_f1"] = float(
                f1_score(labels, called, average="macro", labels=np.unique(labels))
            )
        return result

    def _require_fitted(self) -> None:
        if self.chosen is None:
            raise ConfigError(
                "This image-classification task has not been fitted.",
                "Call fit(...) first, or layerwise.load(run_folder).",
            )

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        self._require_fitted()
        return self.models[self.chosen].predict(images)

    def labels_of(self, proba: np.ndarray) -> list[str]:
        if self.threshold is not None and proba.shape[1] == 2:
            return [self.classes[int(p >= self.threshold)] for p in proba[:, 1]]
        return [self.classes[i] for i in proba.argmax(axis=1)]

    def predict(self, inputs: Any) -> pd.DataFrame:
        """A frame with ``image``, ``prediction`` and ``probability_<class>`` per class.

        Accepts a folder, an image file, an NPZ/IDX/CSV source, an array ``[N, H, W(, C)]`` or
        an ImageSet; images are resized to the training size."""
        self._require_fitted()
        images = self.read(inputs, labelled=False)
        proba = self.predict_proba(images.images)
        result = pd.DataFrame({"image": images.names, "prediction": self.labels_of(proba)})
        for i, label in enumerate(self.classes):
            result[f"probability_{label}"] = proba[:, i]
        notes = list(images.notes)
        if images.skipped:
            first = ", ".join(name for name, _ in images.skipped[:3])
            notes.append(f"{len(images.skipped)} unreadable images skipped (first: {first}).")
        result.attrs["notes"] = notes
        return result

    def evaluate(self, data: Any) -> dict[str, Any]:
        """Metrics on labelled images (a layout with a test split is scored on that split)."""
        self._require_fitted()
        images = self.read(data, self.target, labelled=True)
        notes = list(images.notes)
        if images.split is not None and (images.split == "test").any():
            images = images.subset(images.split == "test")
            notes.append("scored on the dataset's test split")
        unknown = int((images.labels < 0).sum())
        if unknown:
            notes.append(f"{unknown} images have classes not seen in training; they are left out.")
        metrics: dict[str, Any] = self.score(
            images.labels, self.predict_proba(images.images), self.threshold
        )
        metrics["rows"] = int((images.labels >= 0).sum())
        metrics["notes"] = notes
        return metrics

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
        from layerwise.tasks.image_outputs import onnx_parts

        self._require_fitted()
        return onnx_parts(self)

    def onnx_description(self) -> tuple[list[dict], dict, str]:
        from layerwise.tasks.image_outputs import onnx_description

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

    def output_schema(self) -> dict[str, Any]:
        return {
            "type": "label",
            "classes": self.classes,
            "threshold": self.threshold,
            "fields": ["prediction"] + [f"probability_{c}" for c in self.classes],
        }

    @classmethod
    def load(cls, run: RunFolder) -> ImageClassification:
        stored = run.read_json("preprocess.json")
        options = run.read_yaml("config.yaml").get("options", {})
        task = cls(**{k: v for k, v in options.items() if k in DEFAULTS})
        task.classes, task.chosen = stored["classes"], stored["chosen"]
        task.size, task.channels = tuple(stored["size"]), stored["channels"]
        task.threshold, task.target = stored.get("threshold"), stored.get("target")
        for name, info in stored["models"].items():
            task.models[name] = CANDIDATES.get(name).load(run, info)
        return task

    @classmethod
    def contract_example(cls, seed: int = 0) -> tuple[Any, dict[str, Any], Any]:
        from layerwise.data.image_sources import shapes

        images = shapes(160, size=16, seed=seed)
        options = {"candidate_params": {"cnn": {"epochs": 2}}}
        return images, options, images.images[:7]
