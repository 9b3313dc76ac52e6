"""The mean of the best deep and the best classical text model's probabilities, as a candidate."""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np

from layerwise.runs.folder import RunFolder


class TextEnsembleCandidate:
    """Averages the class probabilities of its members (already fitted candidates).

    >>> TextEnsembleCandidate.family
    'ensemble'
    """

    name: ClassVar[str] = "ensemble"
    family: ClassVar[str] = "ensemble"
    complexity: ClassVar[int] = 5
    description: ClassVar[str] = "mean of the best deep and the best classical model"

    def __init__(self, members: dict[str, Any]):
        self.members = members
        first = next(iter(members.values()))
        self.objective, self.n_classes, self.seed = first.objective, first.n_classes, first.seed
        self.history = None
        self.threshold: float | None = None

    @classmethod
    def of(cls, models: dict[str, Any], info: dict[str, Any]) -> TextEnsembleCandidate:
        return cls({name: models[name] for name in info["members"]})

    def predict(self, texts: list[str]) -> np.ndarray:
        return np.mean([m.predict(texts) for m in self.members.values()], axis=0)

    def save(self, run: RunFolder) -> dict[str, Any]:
        return {"members": list(self.members)}  # the members' own files hold the models


def ensemble_row(task: Any, rows: list[dict], plan: Any, val: Any, test: Any) -> dict | None:
    """Measure the ensemble of the best deep and best classical candidate on validation."""
    family = {r["candidate"]: task.CANDIDATES.get(r["candidate"]).family for r in rows}

    def best(kind: str) -> str | None:
        scored = [r for r in rows if family[r["candidate"]] == kind]
        return max(scored, key=lambda r: r["validation"])["candidate"] if scored else None

    deep, classical = best("deep"), best("classical")
    if deep is None or classical is None:
        return None
    model = TextEnsembleCandidate({m: task.models[m] for m in (classical, deep)})
    val_proba = model.predict(val.texts)
    model.threshold = task._pick_threshold(val.labels, val_proba)
    validation = task.score(val.labels, val_proba, model.threshold)
    t0 = time.perf_counter()
    test_proba = model.predict(test.texts)
    latency = 1e6 * (time.perf_counter() - t0) / max(len(test), 1)
    task.models["ensemble"] = model
    seconds = sum(r["fit_seconds"] for r in rows if r["candidate"] in (deep, classical))
    task.say(
        f"ensemble of {classical} + {deep}: validation {plan.metric} {validation[plan.metric]:.4f}"
    )
    return {
        "candidate": "ensemble",
        "members": [classical, deep],
        "validation": validation[plan.metric],
        "validation_std": 0.0,
        "validation_metrics": validation,
        "fit_seconds": seconds,
        "final_fit_seconds": seconds,
        "test": task.score(test.labels, test_proba, model.threshold),
        "predict_us_per_row": latency,
        "test_proba": test_proba,
    }
