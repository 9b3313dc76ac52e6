"""The ensemble candidate: the mean of the other candidates' predictions.

It is scored in the bake-off from the members' out-of-fold predictions, so it costs no extra
training; it is the most complex candidate, so it is chosen only when it wins by more than the
advisor's tolerance. Each member keeps its own model file in the run folder.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from layerwise.core import selection
from layerwise.core.candidate import Candidate
from layerwise.runs.folder import RunFolder
from layerwise.tasks.tabular.candidates import CANDIDATES


class EnsembleCandidate(Candidate):
    """Averages class probabilities (or values) of already-fitted members.

    >>> EnsembleCandidate("regression").complexity
    4
    """

    name: ClassVar[str] = "ensemble"
    family: ClassVar[str] = "ensemble"
    complexity: ClassVar[int] = 4
    description: ClassVar[str] = "mean of the other candidates' predictions"

    members: dict[str, Candidate]

    @classmethod
    def of(cls, members: dict[str, Candidate]) -> EnsembleCandidate:
        first = next(iter(members.values()))
        ensemble = cls(first.objective, first.n_classes, first.seed)
        ensemble.members = dict(members)
        return ensemble

    def fit(
        self, table: Any, encoder: Any, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> None:
        for member in self.members.values():
            member.fit(table, encoder, y, sample_weight)

    def predict(self, table: Any, encoder: Any) -> np.ndarray:
        return np.mean([member.predict(table, encoder) for member in self.members.values()], axis=0)

    def save(self, run: RunFolder) -> dict[str, Any]:
        common = {"objective": self.objective, "n_classes": self.n_classes, "seed": self.seed}
        return {"members": {name: {**common, **m.save(run)} for name, m in self.members.items()}}

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> EnsembleCandidate:
        members = {
            name: CANDIDATES.get(name).load(run, member) for name, member in info["members"].items()
        }
        return cls.of(members)


def ensemble_row(
    rows: list[dict[str, Any]],
    oof: dict[str, np.ndarray],
    folds: list[tuple[np.ndarray, np.ndarray]],
    score: Any,
) -> dict[str, Any] | None:
    """The ensemble's bake-off row from the members' out-of-fold outputs (None with < 2 members)."""
    members = [r for r in rows if "validation" in r and r["candidate"] in oof]
    if len(members) < 2:
        return None
    mean = np.mean([oof[r["candidate"]] for r in members], axis=0)
    scores = [score(va, mean[va]) for _, va in folds]
    return {
        "candidate": "ensemble",
        "validation": float(np.mean(scores)),
        "validation_std": float(np.std(scores)),
        "fit_seconds": float(sum(r["fit_seconds"] for r in members)),
        "members": [r["candidate"] for r in members],
        "evidence": selection.folds(scores) if len(folds) > 1 else None,
    }
