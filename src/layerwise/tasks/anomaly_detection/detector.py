"""The detector contract of anomaly-detection: fit on unlabelled rows, score new rows.

A detector sees a float32 matrix ``[n, d]`` with no NaN (the task encodes and robust-scales
the table first) and returns one score per row, higher = more unusual. Scores of different
detectors are on different scales; the task makes them comparable (see ``ScoreScale``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from layerwise.runs.folder import RunFolder


class Detector(ABC):
    """One unsupervised detector in the anomaly bake-off.

    ``complexity`` orders detectors (lower is simpler); ``contributions`` says which columns
    made a row unusual (``[n, d]``, larger = contributed more) when the detector can tell.
    """

    name: ClassVar[str]
    family: ClassVar[str]  # "classical" | "deep"
    complexity: ClassVar[int]
    description: ClassVar[str] = ""

    def __init__(self, seed: int = 0, **params: Any):
        self.seed = seed
        self.params = params
        self.history = None  # a layerwise.engine.History for deep detectors

    @abstractmethod
    def fit(self, x: np.ndarray) -> None:
        """Learn what usual rows look like from ``x`` ``[n, d]`` (float32, no NaN)."""

    @abstractmethod
    def score(self, x: np.ndarray) -> np.ndarray:
        """Anomaly score per row ``[n]`` (float64), higher = more unusual."""

    def contributions(self, x: np.ndarray) -> np.ndarray | None:
        """Per-column share of each row's score ``[n, d]``, or None if the detector can't say."""
        return None

    @abstractmethod
    def save(self, run: RunFolder, prefix: str) -> dict[str, Any]:
        """Write the detector's arrays as ``<prefix>.safetensors`` (no pickle) and return the
        JSON-safe info ``load`` needs."""

    @classmethod
    @abstractmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> Detector:
        """Rebuild a fitted detector from ``save``'s files and info."""


class ScoreScale:
    """Puts one detector's scores on a common scale: robust z-scores against the training
    scores (median 0, the 50%-90% quantile gap = 1), so that an ensemble can average them and
    a threshold means the same thing for every detector; also the percentile of a score among
    the training scores. With ``log`` the scores are first compressed by ``log1p(s - min)``:
    a squared distance grows quadratically, and one detector's extreme values must not outvote
    the others in an average.

    >>> s = ScoreScale.fit(np.arange(101.0))
    >>> s.standardise(np.array([50.0, 90.0])).tolist()
    [0.0, 1.0]
    >>> s.percentile(np.array([100.0, 200.0])).tolist()
    [100.0, 100.0]
    """

    def __init__(
        self, median: float, spread: float, quantiles: np.ndarray, log: bool = False,
        floor: float = 0.0,
    ):  # fmt: skip
        self.median = median
        self.spread = spread
        self.quantiles = quantiles  # 1001 raw training-score quantiles, 0..100% in 0.1% steps
        self.log = log
        self.floor = floor

    @classmethod
    def fit(cls, scores: np.ndarray, log: bool = False) -> ScoreScale:
        scores = np.asarray(scores, dtype=np.float64)
        scale = cls(0.0, 1.0, np.quantile(scores, np.linspace(0, 1, 1001)), log,
                    float(scores.min()))  # fmt: skip
        t = scale._transform(scores)
        median, upper = np.quantile(t, [0.5, 0.9])
        spread = float(upper - median)
        if spread <= 0:
            spread = float(np.std(t)) or 1.0
        scale.median, scale.spread = float(median), spread
        return scale

    def _transform(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64)
        return np.log1p(np.maximum(scores - self.floor, 0.0)) if self.log else scores

    def standardise(self, scores: np.ndarray) -> np.ndarray:
        return (self._transform(scores) - self.median) / self.spread

    def raw_at(self, share: float) -> float:
        """The raw score below which ``share`` of the training scores lie."""
        return float(np.interp(share, np.linspace(0, 1, 1001), self.quantiles))

    def percentile(self, scores: np.ndarray) -> np.ndarray:
        """The share of training scores at or below each raw score, in percent."""
        ranks = np.searchsorted(self.quantiles, scores, side="right")
        return 100.0 * np.clip(ranks - 1, 0, 1000) / 1000.0

    def to_json(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "spread": self.spread,
            "quantiles": self.quantiles.tolist(),
            "log": self.log,
            "floor": self.floor,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ScoreScale:
        return cls(
            d["median"], d["spread"], np.asarray(d["quantiles"], dtype=np.float64),
            bool(d.get("log", False)), float(d.get("floor", 0.0)),
        )  # fmt: skip
