"""The ensemble candidate: a greedy weighted mean of the other candidates' predictions.

Its weights come from Caruana et al.'s ensemble selection (2004) on the members' out-of-fold
outputs: add, with replacement, the member that most lowers the smooth loss of the running mean
(log loss for classes, squared error for values), ``ROUNDS`` times; weights are the counts over
the rounds. It costs no extra training. Because the weights are fitted on the out-of-fold
outputs, scoring it on those same outputs would flatter it, so it is scored cross-fitted: each
fold by weights fitted on the other folds. The served ensemble uses the weights fitted on all of
them, and keeps only the members that carry weight (each with its own model file). It is the
most complex candidate, so it is chosen only when it wins by more than the noise.

The forecasting task has its own copy of the greedy selection (on MSE); a third user would move
it into the core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from layerwise.core import selection
from layerwise.core.candidate import Candidate
from layerwise.errors import RunFolderError
from layerwise.runs.folder import RunFolder
from layerwise.tasks.tabular.candidates import CANDIDATES

ROUNDS = 25
Loss = Callable[[np.ndarray, np.ndarray], float]  # (outputs of some rows, their row index)


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
        total = sum(self.weights.values())
        return sum(
            (self.weights[n] / total) * m.predict(table, encoder) for n, m in self.members.items()
        )

    def save(self, run: RunFolder) -> dict[str, Any]:
        common = {"objective": self.objective, "n_classes": self.n_classes, "seed": self.seed}
        return {
            "members": {name: {**common, **m.save(run)} for name, m in self.members.items()},
            "weights": dict(self.weights),
        }

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> EnsembleCandidate:
        members = {
            name: CANDIDATES.get(name).load(run, member) for name, member in info["members"].items()
        }
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


def describe(weights: dict[str, float]) -> str:
    """The weights as a sentence, heaviest first.

    >>> describe({"mlp": 0.4, "lightgbm": 0.6})
    '0.60 lightgbm + 0.40 mlp'
    """
    ranked = sorted(weights.items(), key=lambda item: (-item[1], item[0]))
    return " + ".join(f"{w:.2f} {name}" for name, w in ranked)


def smooth_loss(y: np.ndarray, classification: bool, sample_weight: np.ndarray | None) -> Loss:
    """The loss the weights are fitted on: log loss of the class probabilities, or squared
    error of the values, over the rows ``index`` (weighted by ``sample_weight`` when given).

    >>> loss = smooth_loss(np.array([0, 1]), True, None)
    >>> round(loss(np.array([[0.5, 0.5], [0.5, 0.5]]), np.arange(2)), 4)
    0.6931
    """
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)

    def loss(output: np.ndarray, index: np.ndarray) -> float:
        if classification:
            picked = output[np.arange(len(index)), y[index]]
            per_row = -np.log(np.clip(picked, 1e-15, None))
        else:
            per_row = (output - y[index]) ** 2
        return float(np.average(per_row, weights=w[index]))

    return loss


def greedy_weights(
    outputs: dict[str, np.ndarray], loss: Loss, index: np.ndarray, rounds: int = ROUNDS
) -> dict[str, float]:
    """Caruana's ensemble selection on rows ``index``: ``rounds`` times, add (with replacement)
    the member whose addition gives the running mean the lowest ``loss``; weights are the
    counts over the rounds (members never picked are left out). Ties go to the first member.

    >>> y = np.zeros(4); mse = lambda out, i: float(np.mean((out - y[i]) ** 2))
    >>> greedy_weights({"a": y + 1, "b": y - 1, "c": y + 3}, mse, np.arange(4), rounds=4)
    {'a': 0.5, 'b': 0.5}
    """
    parts = {name: out[index] for name, out in outputs.items()}
    counts: dict[str, int] = {}
    total = np.zeros_like(next(iter(parts.values())), dtype=np.float64)
    for step in range(1, rounds + 1):
        best = min(parts, key=lambda n: loss((total + parts[n]) / step, index))
        counts[best] = counts.get(best, 0) + 1
        total += parts[best]
    return {name: n / rounds for name, n in counts.items()}


def mix(outputs: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """The weighted mean of the members' outputs."""
    return sum(w * outputs[name] for name, w in weights.items())


def cross_fitted(
    outputs: dict[str, np.ndarray], loss: Loss, folds: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """The ensemble's out-of-fold outputs with each fold's weights fitted on the other folds'
    out-of-fold outputs. One holdout is cut in two halves (alternate rows), each mixed by the
    weights fitted on the other.

    >>> y = np.zeros(4); mse = lambda out, i: float(np.mean((out - y[i]) ** 2))
    >>> folds = [(np.array([2, 3]), np.array([0, 1])), (np.array([0, 1]), np.array([2, 3]))]
    >>> np.round(cross_fitted({"a": y + 1, "b": y - 1}, mse, folds), 1).tolist()  # 13 a, 12 b
    [0.0, 0.0, 0.0, 0.0]
    """
    parts = [va for _, va in folds]
    if len(parts) == 1:
        parts = [parts[0][0::2], parts[0][1::2]]
    out = np.zeros_like(next(iter(outputs.values())), dtype=np.float64)
    for k, rows in enumerate(parts):
        others = np.concatenate([p for j, p in enumerate(parts) if j != k])
        out[rows] = mix(outputs, greedy_weights(outputs, loss, others))[rows]
    return out


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
