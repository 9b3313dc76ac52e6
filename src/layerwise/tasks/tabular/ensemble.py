"""The ensemble candidate: a greedy weighted mean of the other candidates' predictions.

Its weights come from Caruana et al.'s ensemble selection (2004) on the members' out-of-fold
outputs (:mod:`layerwise.core.ensemble_selection`, shared with anomaly detection's fraud mode):
log loss for classes, squared error for values. It costs no extra training. Because the weights are fitted on the out-of-fold
outputs, scoring it on those same outputs would flatter it, so it is scored cross-fitted: each
fold by weights fitted on the other folds. The served ensemble uses the weights fitted on all of
them, and keeps only the members that carry weight (each with its own model file). For the
selection rule it is as complex as its most complex member (:func:`complexities`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from layerwise.core import selection
from layerwise.core.candidate import Candidate
from layerwise.core.ensemble_selection import ROUNDS, Loss, cross_fitted, describe, greedy_weights
from layerwise.errors import RunFolderError
from layerwise.runs.folder import RunFolder
from layerwise.tasks.tabular.bagging import load_model
from layerwise.tasks.tabular.candidates import CANDIDATES


class EnsembleCandidate(Candidate):
    """A weighted mean of class probabilities (or values) of already-fitted members.

    >>> EnsembleCandidate("regression").complexity
    4
    """

    name: ClassVar[str] = "ensemble"
    family: ClassVar[str] = "ensemble"
    complexity: ClassVar[int] = 4
    description: ClassVar[str] = "greedy weighted mean of the other candidates' predictions"

    members: dict[str, Candidate]
    weights: dict[str, float]

    @classmethod
    def of(
        cls, members: dict[str, Candidate], weights: dict[str, float] | None = None
    ) -> EnsembleCandidate:
        """The ensemble of ``members`` (equal weights when ``weights`` is None)."""
        first = next(iter(members.values()))
        ensemble = cls(first.objective, first.n_classes, first.seed)
        ensemble.members = dict(members)
        ensemble.weights = (
            {n: 1.0 / len(members) for n in members}
            if weights is None
            else {n: float(weights[n]) for n in members}
        )
        return ensemble

    def fit(
        self, table: Any, encoder: Any, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> None:
        for member in self.members.values():
            member.fit(table, encoder, y, sample_weight)

    def predict(self, table: Any, encoder: Any) -> np.ndarray:
        return self.combine({n: m.predict(table, encoder) for n, m in self.members.items()})

    def combine(self, outputs: dict[str, np.ndarray]) -> np.ndarray:
        """The weighted mean of the members' ``outputs`` (their predictions of the same rows)."""
        total = sum(self.weights.values())
        return sum((self.weights[n] / total) * outputs[n] for n in self.members)

    def save(self, run: RunFolder) -> dict[str, Any]:
        common = {"objective": self.objective, "n_classes": self.n_classes, "seed": self.seed}
        return {
            "members": {name: {**common, **m.save(run)} for name, m in self.members.items()},
            "weights": dict(self.weights),
        }

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> EnsembleCandidate:
        members = {name: load_model(name, run, member) for name, member in info["members"].items()}
        weights = info.get("weights")  # runs before the weighted ensemble: equal weights
        if weights is not None:
            ok = isinstance(weights, dict) and set(weights) == set(members)
            values = list(weights.values()) if ok else []
            ok = ok and all(
                isinstance(v, int | float) and np.isfinite(v) and v >= 0 for v in values
            )
            if not ok or sum(values) <= 0:
                raise RunFolderError(
                    f"The ensemble's weights in preprocess.json are not valid: {weights!r}.",
                    "Expected one non-negative number per member, not all zero; "
                    "the run folder may be damaged: train it again.",
                )
        return cls.of(members, weights)


def ensemble_row(
    rows: list[dict[str, Any]],
    oof: dict[str, np.ndarray],
    folds: list[tuple[np.ndarray, np.ndarray]],
    score: Any,
    loss: Loss,
) -> dict[str, Any] | None:
    """The ensemble's bake-off row from the members' out-of-fold outputs: None with fewer than
    two measured members, a skipped row when the selection keeps only one of them.

    ``score(va, output)``: the plan's metric on fold rows ``va``; ``loss``: what the weights
    minimise (:func:`smooth_loss`)."""
    members = [r for r in rows if "validation" in r and r["candidate"] in oof]
    if len(members) < 2:
        return None
    outputs = {r["candidate"]: oof[r["candidate"]] for r in members}
    scored = np.concatenate([va for _, va in folds])
    weights = greedy_weights(outputs, loss, scored)
    if len(weights) < 2:
        only = next(iter(weights))
        return {
            "candidate": "ensemble",
            "skipped": f"the greedy selection gave all the weight to {only}",
        }
    held_out = cross_fitted(outputs, loss, folds)
    scores = [score(va, held_out[va]) for _, va in folds]
    return {
        "candidate": "ensemble",
        "validation": float(np.mean(scores)),
        "validation_std": float(np.std(scores)),
        "fit_seconds": float(sum(r["fit_seconds"] for r in members if r["candidate"] in weights)),
        "members": list(weights),
        "weights": weights,
        "detail": f"{describe(weights)} (greedy selection on out-of-fold "
        f"{'log loss' if held_out.ndim > 1 else 'squared error'}, {ROUNDS} rounds; "
        "validated cross-fitted: each fold by weights fitted on the other folds)",
        "evidence": selection.folds(scores) if len(folds) > 1 else None,
    }


def complexities(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Each candidate's complexity for the selection rule (a simpler one wins within the noise).

    The ensemble counts as its most complex member: a weighted mean of tree ensembles is one
    more tree ensemble, no harder to read or to serve in kind, so among them the better
    validation score wins, while a simpler kind (the linear model) within the noise of it is
    still preferred. Ranked above every member, the ensemble had to beat the best of them by a
    standard error that five folds rarely give: on the six tables of
    ``benchmarks/tabular_autogluon.py`` that served a single tree model (or the linear model)
    where the ensemble was ahead on validation and on test (Star: 44.33 against 44.25 RMSE).
    """
    ranks = {r["candidate"]: float(CANDIDATES.get(r["candidate"]).complexity) for r in rows}
    for row in rows:
        if row["candidate"] == "ensemble" and row.get("members"):
            ranks["ensemble"] = max(ranks.get(m, ranks["ensemble"]) for m in row["members"])
    return ranks
