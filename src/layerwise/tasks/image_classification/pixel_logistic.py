"""The classical baseline for images: logistic regression on downsampled pixels.

Images are area-averaged down to at most ``side`` x ``side`` pixels, standardised per pixel,
and fed to an L2-regularised logistic regression (scikit-learn for fitting; prediction is a
numpy matrix product, and the model is plain JSON in the run folder).
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np

from layerwise.candidates.linear import (
    class_coefficients,
    intercept_from_json,
    intercept_to_json,
    softmax,
)
from layerwise.core.candidate import Candidate
from layerwise.runs.folder import RunFolder

MODEL_FILE = "model.pixels.json"
# The downsampled pixels the regression fits on, float32 (scikit-learn's solver copies them to
# float64): a larger training set is sampled down to this (43,690 RGB images at 16x16), which
# costs a linear model little and keeps a set streamed from disk (--stream) out of memory
MAX_FEATURE_BYTES = 128 << 20


def downsample(images: np.ndarray, side: int) -> np.ndarray:
    """Area-average uint8 images ``[N, H, W, C]`` to at most ``side`` pixels a side; flat float rows.

    >>> downsample(np.full((2, 8, 8, 1), 255, np.uint8), 4).shape
    (2, 16)
    """
    n, height, width, channels = images.shape
    fh, fw = max(1, height // side), max(1, width // side)
    h, w = height // fh, width // fw
    cropped = images[:, : h * fh, : w * fw, :].astype(np.float32) / 255.0
    pooled = cropped.reshape(n, h, fh, w, fw, channels).mean(axis=(2, 4))
    return pooled.reshape(n, -1)


def pixel_features(images: Any, side: int, chunk: int = 2048) -> np.ndarray:
    """:func:`downsample` of ``images`` (an array or records on disk), ``chunk`` at a time."""
    parts = [downsample(images[s : s + chunk], side) for s in range(0, len(images), chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


class PixelLogisticCandidate(Candidate):
    """Logistic regression on standardised, downsampled pixels; the regularisation strength is
    picked from a small grid by the validation split the task passes.

    >>> PixelLogisticCandidate("multiclass", n_classes=10).family
    'classical'
    """

    name: ClassVar[str] = "pixel-logistic"
    family: ClassVar[str] = "classical"
    complexity: ClassVar[int] = 1
    description: ClassVar[str] = "logistic regression on downsampled, standardised pixels"

    def fit(self, train: Any, val: Any = None, class_weights: np.ndarray | None = None) -> None:
        """Train on ``train`` (an ImageSet); ``val`` picks C from a small grid when given."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        self.side = int(self.params.get("side", 16))
        self.notes: list[str] = []
        train = self._sampled(train)
        x = pixel_features(train.images, self.side)
        self.mean = x.mean(axis=0)
        self.scale = x.std(axis=0) + 1e-3  # near-constant border pixels would blow up otherwise
        x -= self.mean  # in place: the features may be the largest thing in memory
        x /= self.scale
        weight = None if class_weights is None else class_weights[train.labels]
        grid = [self.params["C"]] if "C" in self.params else [0.01, 0.1, 1.0]
        best = None
        for c in grid:
            model = LogisticRegression(C=c, max_iter=300, tol=1e-3)
            with warnings.catch_warnings():  # a capped solver is fine for a baseline: say nothing
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(x, train.labels, sample_weight=weight)
            self.coef, self.intercept = class_coefficients(model, max(self.n_classes, 2))
            if val is None or len(grid) == 1:
                break
            score = float(np.mean(self.predict(val.images).argmax(axis=1) == val.labels))
            if best is None or score > best[0]:
                best = (score, c, self.coef, self.intercept)
        if best is not None:
            _, self.C, self.coef, self.intercept = best
        else:
            self.C = grid[0]

    def _sampled(self, train: Any) -> Any:
        """``train``, or a seeded sample of it whose features fit ``MAX_FEATURE_BYTES``."""
        height, width = train.size
        per_row = 4 * min(height, self.side) * min(width, self.side) * train.channels
        most = max(1000, MAX_FEATURE_BYTES // per_row)
        if len(train) <= most:
            return train
        rows = np.sort(np.random.default_rng(self.seed).choice(len(train), most, replace=False))
        self.notes.append(f"pixel-logistic fitted on a sample of {most:,} of the {len(train):,} "
                          "training images (its features held in memory)")  # fmt: skip
        return train.subset(rows)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities ``[n, k]`` for uint8 images ``[n, H, W, C]``."""
        x = (pixel_features(images, self.side) - self.mean) / self.scale
        return softmax(x @ self.coef.T + self.intercept)

    def save(self, run: RunFolder) -> dict[str, Any]:
        run.write_json(
            MODEL_FILE,
            {
                "side": self.side,
                "C": self.C,
                "mean": self.mean.tolist(),
                "scale": self.scale.tolist(),
                "coef": self.coef.tolist(),
                "intercept": intercept_to_json(self.intercept),
            },
        )
        return {"file": MODEL_FILE}

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> PixelLogisticCandidate:
        model = cls(info["objective"], info.get("n_classes", 0), info.get("seed", 0))
        stored = run.read_json(info["file"])
        model.side, model.C = int(stored["side"]), stored["C"]
        model.mean = np.asarray(stored["mean"], dtype=np.float32)
        model.scale = np.asarray(stored["scale"], dtype=np.float32)
        model.coef = np.asarray(stored["coef"], dtype=np.float64)
        model.intercept = intercept_from_json(stored["intercept"])
        return model
