"""Logistic / ridge regression on standardised, one-hot features; saved as plain JSON."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from layerwise.runs.folder import RunFolder
from layerwise.tasks.base import Candidate

MODEL_FILE = "model.json"


class LinearCandidate(Candidate):
    """L2-regularised logistic regression (classes) or ridge regression (numbers).

    Prediction is a matrix product in numpy, so a loaded run needs no scikit-learn object.

    >>> LinearCandidate("regression").complexity
    1
    """

    name: ClassVar[str] = "linear"
    family: ClassVar[str] = "classical"
    complexity: ClassVar[int] = 1
    description: ClassVar[str] = "logistic / ridge regression on standardised one-hot features"

    def fit(
        self, table: Any, encoder: Any, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> None:
        from sklearn.linear_model import LogisticRegression, Ridge

        features = encoder.one_hot(table).astype(np.float64)
        if self.is_classifier:
            model = LogisticRegression(C=self.params.get("C", 1.0), max_iter=5000)
            model.fit(features, y, sample_weight=sample_weight)
            # Classes absent from this training fold get a -inf intercept: probability 0.
            coef = np.zeros((self.n_classes, features.shape[1]))
            intercept = np.full(self.n_classes, -np.inf)
            if self.objective == "binary" or model.coef_.shape[0] == 1:
                coef[model.classes_[1]] = model.coef_[0]
                intercept[model.classes_[1]] = model.intercept_[0]
                coef[model.classes_[0]] = 0.0
                intercept[model.classes_[0]] = 0.0
            else:
                coef[model.classes_] = model.coef_
                intercept[model.classes_] = model.intercept_
            self.coef, self.intercept = coef, intercept
        else:
            model = Ridge(alpha=self.params.get("alpha", 1.0))
            model.fit(features, y, sample_weight=sample_weight)
            self.coef, self.intercept = (
                np.asarray(model.coef_)[None, :],
                np.atleast_1d(model.intercept_),
            )

    def predict(self, table: Any, encoder: Any) -> np.ndarray:
        features = encoder.one_hot(table).astype(np.float64)
        scores = features @ self.coef.T + self.intercept
        if not self.is_classifier:
            return scores[:, 0]
        scores = scores - scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    def coefficients(self) -> np.ndarray:
        return self.coef

    def save(self, run: RunFolder) -> dict[str, Any]:
        intercept = [None if not np.isfinite(v) else float(v) for v in self.intercept]
        run.write_json(MODEL_FILE, {"coef": self.coef.tolist(), "intercept": intercept})
        return {"file": MODEL_FILE}

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> LinearCandidate:
        model = cls(info["objective"], info.get("n_classes", 0), info.get("seed", 0))
        stored = run.read_json(info["file"])
        model.coef = np.asarray(stored["coef"], dtype=np.float64)
        model.intercept = np.asarray(
            [-np.inf if v is None else v for v in stored["intercept"]], dtype=np.float64
        )
        return model
