"""Everything anomaly-detection serves, in one object: the fitted detectors with their score
scales, the ensemble, the fraud-mode models, and which of them is served.

Scores pass through three steps. Each detector's raw score is standardised against its own
training scores (``ScoreScale``); the ensemble averages the standardised scores of its
members; a fraud-mode model reads the features plus those standardised scores and gives the
log-odds of fraud; the fraud ensemble mixes the fraud models' probabilities with the weights
of Caruana's ensemble selection and gives the mixture's log-odds. The served score is then standardised once more against the training rows,
so a user reads every run's score the same way (0 = a typical row, 1 = the 90th percentile).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from layerwise.core.registry import Registry
from layerwise.errors import RunFolderError
from layerwise.runs.folder import RunFolder
from layerwise.tasks.anomaly_detection.detector import ScoreScale

DETECTORS = Registry("detector")
_CLASSICAL = "layerwise.tasks.anomaly_detection.detectors"
DETECTORS.register("isolation-forest", f"{_CLASSICAL}:IsolationForestDetector", "isolation forest")
DETECTORS.register("knn", f"{_CLASSICAL}:KNNDetector", "mean distance to the 5 nearest rows")
DETECTORS.register("robust-gaussian", f"{_CLASSICAL}:RobustGaussianDetector", "Mahalanobis")
DETECTORS.register(
    "autoencoder", "layerwise.tasks.anomaly_detection.deep:AutoencoderDetector", "AE"
)
DETECTORS.register(
    "deep-svdd", "layerwise.tasks.anomaly_detection.deep:DeepSVDDDetector", "Deep SVDD"
)
ENSEMBLE = "ensemble"
# The ensemble's members when no labels say otherwise. On the 8 ADBench datasets the mean of
# these two beat isolation forest alone, while adding kNN, the autoencoder or Deep SVDD lowered
# the mean ROC-AUC (benchmarks/results/anomaly.md): the others are fitted and compared, and
# labelled rows can choose them, but they do not vote by default.
ENSEMBLE_MEMBERS = ("isolation-forest", "robust-gaussian")
FRAUD_ENSEMBLE = "fraud-ensemble"  # the weighted mean of the fraud models' probabilities


class AnomalyModel:
    """The fitted detectors (``detectors``: name -> Detector), their ``scales``, the ensemble's
    ``members``, fraud-mode models (``supervised``: name -> model), the fraud ensemble's
    ``weights`` (name -> weight; empty when there is none), the ``chosen`` one and the scale of
    the served score (``served_scale``)."""

    def __init__(self) -> None:
        self.detectors: dict[str, Any] = {}
        self.scales: dict[str, ScoreScale] = {}
        self.members: list[str] = []
        self.supervised: dict[str, Any] = {}
        self.weights: dict[str, float] = {}
        self.chosen = ENSEMBLE
        self.served_scale: ScoreScale | None = None

    def add(self, name: str, detector: Any, training_scores: np.ndarray) -> None:
        self.detectors[name] = detector
        self.scales[name] = ScoreScale.fit(training_scores, log=True)

    def standardised(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every detector's raw scores on its scale, plus the ensemble (their members' mean)."""
        out = {n: self.scales[n].standardise(raw[n]) for n in self.detectors}
        if self.members:
            out[ENSEMBLE] = np.mean([out[n] for n in self.members], axis=0)
        return out

    def detector_scores(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Standardised scores of every detector and of the ensemble."""
        return self.standardised({n: d.score(x) for n, d in self.detectors.items()})

    @staticmethod
    def with_scores(x: np.ndarray, scores: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
        """The fraud-mode inputs: the features, then the named detectors' standardised scores."""
        columns = [np.clip(scores[n], -50, 50)[:, None] for n in names]
        return np.hstack([x, *columns]).astype(np.float32)

    def all_scores(
        self, x: np.ndarray, detector_scores: dict[str, np.ndarray] | None = None
    ) -> dict[str, np.ndarray]:
        """Every candidate's score (higher = more unusual): detectors, ensemble, fraud models;
        ``detector_scores`` when the detectors' part is already known."""
        out = dict(self.detector_scores(x) if detector_scores is None else detector_scores)
        if self.supervised:
            inputs = self.with_scores(x, out, list(self.detectors))
            out.update({n: m.score(inputs) for n, m in self.supervised.items()})
        if self.weights:
            out[FRAUD_ENSEMBLE] = mixed_log_odds({n: out[n] for n in self.weights}, self.weights)
        return out

    def served_raw(self, x: np.ndarray, scores: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """The chosen candidate's score before the served scale."""
        return (scores or self.all_scores(x))[self.chosen]

    def served(self, x: np.ndarray, scores: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """The chosen candidate's score, on the served scale once that is fitted."""
        raw = self.served_raw(x, scores)
        return raw if self.served_scale is None else self.served_scale.standardise(raw)

    def contributions(self, x: np.ndarray) -> np.ndarray | None:
        """Per-feature shares of each row's score ``[n, d]`` for the chosen candidate: its own
        when it can tell, the mean over the ensemble members that can tell, else None."""
        if self.chosen in self.supervised or self.chosen == FRAUD_ENSEMBLE:
            inputs = self.with_scores(x, self.detector_scores(x), list(self.detectors))
            shares = self._supervised_contributions(inputs)
            if shares is None:
                return None
            # the push of the detectors' scores is spread over the columns that made them high
            own, overall = shares[:, : x.shape[1]], shares[:, x.shape[1] :].sum(axis=1)
            spread = self._members_contributions(x, self.members)
            return own if spread is None else own + overall[:, None] * spread
        names = self.members if self.chosen == ENSEMBLE else [self.chosen]
        return self._members_contributions(x, names)

    def _supervised_contributions(self, inputs: np.ndarray) -> np.ndarray | None:
        """The chosen fraud model's shares of the columns of ``inputs``; for the fraud
        ensemble, its members' weighted mean over those that can tell."""
        weights = self.weights if self.chosen == FRAUD_ENSEMBLE else {self.chosen: 1.0}
        parts = [
            (w, p) for n, w in weights.items()
            if (p := self.supervised[n].contributions(inputs)) is not None
        ]  # fmt: skip
        if not parts:
            return None
        return sum(w * p for w, p in parts) / sum(w for w, _ in parts)

    def _members_contributions(self, x: np.ndarray, names: list[str]) -> np.ndarray | None:
        parts = [p for n in names if (p := self.detectors[n].contributions(x)) is not None]
        return np.mean(parts, axis=0) if parts else None

    # ---- files ------------------------------------------------------------------------
    def save(self, run: RunFolder) -> dict[str, Any]:
        """Write every model's files; return the JSON-safe info ``load`` reads back."""
        return {
            "chosen": self.chosen,
            "members": self.members,
            "served_scale": None if self.served_scale is None else self.served_scale.to_json(),
            "detectors": {
                n: {**d.save(run, f"detector-{n}"), "scale": self.scales[n].to_json()}
                for n, d in self.detectors.items()
            },
            "supervised": {n: m.save(run, f"fraud-{n}") for n, m in self.supervised.items()},
            "fraud_ensemble": dict(self.weights),
        }

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> AnomalyModel:
        from layerwise.tasks.anomaly_detection.supervised import SUPERVISED

        model = cls()
        model.chosen, model.members = info["chosen"], list(info["members"])
        if info.get("served_scale"):
            model.served_scale = ScoreScale.from_json(info["served_scale"])
        for name, entry in info["detectors"].items():
            model.detectors[name] = DETECTORS.get(name).load(run, entry)
            model.scales[name] = ScoreScale.from_json(entry["scale"])
        for name, entry in info["supervised"].items():
            if name not in SUPERVISED:
                raise RunFolderError(
                    f"The run names a fraud model '{name}' that layerwise does not have "
                    f"({', '.join(SUPERVISED)}).",
                    "The run folder may be damaged or from another version: train it again.",
                )
            model.supervised[name] = SUPERVISED[name].load(run, entry)
        model.weights = _checked_weights(info.get("fraud_ensemble") or {}, model.supervised)
        served = [*model.detectors, ENSEMBLE, *model.supervised]
        if model.chosen not in served + ([FRAUD_ENSEMBLE] if model.weights else []):
            raise RunFolderError(
                f"The run's chosen model '{model.chosen}' is not among its models "
                f"({', '.join(served)}).",
                "The run folder may be damaged: train it again.",
            )
        return model


def mixed_log_odds(scores: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """The log-odds of the weighted mean of the probabilities behind log-odds ``scores``.

    >>> float(mixed_log_odds({"a": np.array([0.0]), "b": np.array([0.0])}, {"a": 1, "b": 3})[0])
    0.0
    """
    total = sum(weights.values())
    p = sum((w / total) / (1.0 + np.exp(-scores[n])) for n, w in weights.items())
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


def _checked_weights(weights: Any, supervised: dict[str, Any]) -> dict[str, float]:
    """The fraud ensemble's weights from a run folder: one finite non-negative number per
    fraud model of the run, not all zero (the folder is untrusted input)."""
    ok = isinstance(weights, dict) and set(weights) <= set(supervised)
    values = list(weights.values()) if ok else []
    ok = ok and all(
        isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) and v >= 0
        for v in values
    )
    if not ok or (values and sum(values) <= 0):
        raise RunFolderError(
            f"The fraud ensemble's weights in preprocess.json are not valid: {weights!r}.",
            "Expected one non-negative number per fraud model of the run, not all zero; the "
            "run folder may be damaged: train it again.",
        )
    return {n: float(w) for n, w in weights.items()}
