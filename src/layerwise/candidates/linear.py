"""Logistic / ridge regression on standardised, one-hot features; saved as plain JSON."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from layerwise.core.candidate import Candidate
from layerwise.runs.folder import RunFolder

MODEL_FILE = "model.json"


def class_coefficients(model: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """A fitted scikit-learn LogisticRegression's weights as one row per class (0..n-1).

    A binary model's single row goes to class 1 (class 0 scores 0); a class absent from the
    training data gets a -inf intercept, so probability 0.
    """
    coef = np.zeros((n_classes, model.coef_.shape[1]))
    intercept = np.full(n_classes, -np.inf)
    if model.coef_.shape[0] == 1:
        coef[model.classes_[1]], intercept[model.classes_[1]] = model.coef_[0], model.intercept_[0]
        intercept[model.classes_[0]] = 0.0
    else:
        coef[model.classes_], intercept[model.classes_] = model.coef_, model.intercept_
    return coef, intercept


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of linear scores (a -inf score gives probability 0).

    >>> softmax(np.array([[0.0, -np.inf]])).tolist()
    [[1.0, 0.0]]
    """
    exp = np.exp(scores - scores.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def intercept_to_json(intercept: np.ndarray) -> list[float | None]:
    """-inf intercepts (absent classes) as JSON nulls."""
    return [None if not np.isfinite(v) else float(v) for v in intercept]


def intercept_from_json(values: list[float | None]) -> np.ndarray:
    return np.asarray([-np.inf if v is None else v for v in values], dtype=np.float64)


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
    # one set of coefficients a person can read: tables never bag it (its refit costs nothing,
    # and averaging its fold models would blur what it is served for)
    readable: ClassVar[bool] = True

    def fit(
        self, table: Any, encoder: Any, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> None:
        from sklearn.linear_model import LogisticRegression, Ridge

        features = encoder.one_hot(table).astype(np.float64)
        if self.is_classifier:
            model = LogisticRegression(C=self.params.get("C", 1.0), max_iter=5000)
            model.fit(features, y, sample_weight=sample_weight)
            self.coef, self.intercept = class_coefficients(model, self.n_classes)
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
        return softmax(scores) if self.is_classifier else scores[:, 0]

    def coefficients(self) -> np.ndarray:
        return self.coef

    def save(self, run: RunFolder) -> dict[str, Any]:
        run.write_json(
            MODEL_FILE,
            {"coef": self.coef.tolist(), "intercept": intercept_to_json(self.intercept)},
        )
        return {"file": MODEL_FILE}

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> LinearCandidate:
        model = cls(info["objective"], info.get("n_classes", 0), info.get("seed", 0))
        stored = run.read_json(info["file"])
        model.coef = np.asarray(stored["coef"], dtype=np.float64)
        model.intercept = intercept_from_json(stored["intercept"])
        return model
