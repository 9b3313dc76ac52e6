"""A candidate: one model in an application's bake-off, classical or deep."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np

from layerwise.runs.folder import RunFolder

DataT = TypeVar("DataT")


class Candidate(ABC, Generic[DataT]):
    """One model in a task's bake-off. ``complexity`` orders them: lower is simpler and is
    preferred when scores tie within the advisor's tolerance.

    ``DataT`` is what the application's candidates fit on and predict from, and each
    application fixes the rest of the two signatures: tables pass an EncodedTable, its encoder
    and the targets (``fit(table, encoder, y, sample_weight)``, ``predict(table, encoder)``);
    images pass ImageSets (``fit(train, val, class_weights)``, ``predict(images)``); series
    pass Windows. Name, family, complexity, ``save``/``load`` and ``history`` are common to
    all, and all the bake-off reads."""

    name: ClassVar[str]
    family: ClassVar[str]  # "classical" | "deep"
    complexity: ClassVar[int]
    description: ClassVar[str] = ""

    def __init__(self, objective: str, n_classes: int = 0, seed: int = 0, **params: Any):
        self.objective = objective  # "binary" | "multiclass" | "regression"
        self.n_classes = n_classes
        self.seed = seed
        self.params = params
        self.history = None  # a layerwise.engine.History for deep candidates

    @property
    def is_classifier(self) -> bool:
        return self.objective != "regression"

    @abstractmethod
    def fit(self, data: DataT, *args: Any, **kwargs: Any) -> None:
        """Train on the application's training data (its own further arguments)."""

    @abstractmethod
    def predict(self, data: DataT, *args: Any, **kwargs: Any) -> np.ndarray:
        """Class probabilities ``[n, k]`` for classifiers, values ``[n]`` for regression (or
        the application's own prediction array)."""

    @abstractmethod
    def save(self, run: RunFolder) -> dict[str, Any]:
        """Write the model file(s) into ``run``; return JSON-safe info that ``load`` needs."""

    @classmethod
    @abstractmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> Candidate:
        """Rebuild a fitted candidate from its files in ``run`` and the saved info."""
