"""Ensembles of text candidates by averaged probabilities: the best deep with the best classical
model ("ensemble"), and the n-gram models together ("classical-ensemble": NB-SVM and TF-IDF +
logistic regression err on different sentences, and their mean is measurably better)."""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np

from layerwise.core.operating_point import pick_operating_point
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

    def __init__(self, members: dict[str, Any], name: str = "ensemble"):
        self.name = name
        self.members = members
        first = next(iter(members.values()))
        self.objective, self.n_classes, self.seed = first.objective, first.n_classes, first.seed
        self.history = None
        self.threshold: float | None = None

    @classmethod
    def of(cls, models: dict[str, Any], info: dict[str, Any], name: str) -> TextEnsembleCandidate:
        return cls({member: models[member] for member in info["members"]}, name)

    def predict(self, texts: list[str]) -> np.ndarray:
        return np.mean([m.predict(texts) for m in self.members.values()], axis=0)

    def save(self, run: RunFolder) -> dict[str, Any]:
        return {"members": list(self.members)}  # the members' own files hold the models


class ClassicalEnsembleCandidate(TextEnsembleCandidate):
    """The mean of the n-gram models: itself a classical model (a registry entry for its
    family and complexity; instances are TextEnsembleCandidates named "classical-ensemble")."""

    family: ClassVar[str] = "classical"
    complexity: ClassVar[int] = 2


def ensemble_rows(task: Any, rows: list[dict], plan: Any, val: Any, test: Any) -> list[dict]:
    """Measure both ensembles on validation (each only when it has two members)."""
    family = {r["candidate"]: task.CANDIDATES.get(r["candidate"]).family for r in rows}

    def best(kind: str) -> str | None:
        scored = [r for r in rows if family[r["candidate"]] == kind]
        return max(scored, key=lambda r: r["validation"])["candidate"] if scored else None

    out = []
    classical = [r["candidate"] for r in rows if family[r["candidate"]] == "classical"]
    if len(classical) >= 2:
        out.append(_row(task, "classical-ensemble", classical, rows, plan, val, test))
    deep, top = best("deep"), best("classical")
    if deep is not None and top is not None:
        out.append(_row(task, "ensemble", [top, deep], rows, plan, val, test))
    return out


def _row(
    task: Any, name: str, members: list[str], rows: list[dict], plan: Any, val: Any, test: Any
) -> dict:
    model = TextEnsembleCandidate({m: task.models[m] for m in members}, name)
    chosen = [r for r in rows if r["candidate"] in members]
    holdout = np.mean([r["val_proba"] for r in chosen], axis=0)  # before any refit
    crossed = all("oof" in r for r in chosen)
    if crossed:  # members cross-validated on the same folds
        labels, _, fold_of = chosen[0]["oof"]
        val_proba = np.mean([r["oof"][1] for r in chosen], axis=0)
    else:
        labels, fold_of, val_proba = val.labels, None, holdout
    model.threshold, facts = pick_operating_point(task, labels, val_proba)
    validation = task.score(labels, val_proba, model.threshold)
    spread = task._fold_std(labels, val_proba, fold_of, model.threshold, plan.metric)
    t0 = time.perf_counter()
    test_proba = model.predict(test.texts)
    latency = 1e6 * (time.perf_counter() - t0) / max(len(test), 1)
    task.models[name] = model
    seconds = sum(r["fit_seconds"] for r in rows if r["candidate"] in members)
    task.say(
        f"{name} of {' + '.join(members)}: validation {plan.metric} {validation[plan.metric]:.4f}"
    )
    row: dict[str, Any] = {
        "candidate": name,
        "members": members,
        "validation": validation[plan.metric],
        "validation_std": spread,
        "validation_metrics": validation,
        "val_proba": holdout,
        "threshold_facts": facts,
        "threshold_data": (labels, val_proba),
        "cross_validated": crossed,
        "fit_seconds": seconds,
        "final_fit_seconds": sum(r["final_fit_seconds"] for r in rows if r["candidate"] in members),
        "test": task.score(test.labels, test_proba, model.threshold),
        "predict_us_per_row": latency,
        "test_proba": test_proba,
        # the mean of members' probabilities is calibrated like any model (its temperature
        # on the same validation probabilities its cut was chosen on)
        "calibration_data": (labels, val_proba),
    }
    if crossed:  # its out-of-fold predictions pair it with the other cross-validated models
        row["oof"] = (labels, val_proba, fold_of)
    if model.threshold not in (None, 0.5):
        row["test_at_0.5"] = task.score(test.labels, test_proba, 0.5)
    return row
