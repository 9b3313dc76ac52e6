"""The "ensemble" candidate: the mean of the predictions of two or three of the trained models
(values for a measured property, probabilities for a yes/no one), the combination best on
validation, as the text classifiers' ensemble averages theirs.

Why: the message-passing network, the fingerprint forest and the descriptor model see a
molecule differently (learned bond messages, counted circular environments, whole-molecule
physical chemistry) and err on different molecules, so a mean is often better than any one of
them. Which mean depends on the data: on BBBP's scaffold splits (seeds 0-2) all three averaged
had the best validation ROC-AUC in two seeds of three, while on ESOL the forest's errors are
half again the others' and the network with the descriptors alone was best. So every
combination of two or more is scored on validation and the best is the candidate; the bake-off
then compares it with the single models like any other. It costs no training, only the
members' predictions.

Example:
    >>> import numpy as np
    >>> class Constant:
    ...     def __init__(self, v): self.v = v
    ...     def predict(self, mols): return np.full((len(mols), 1), self.v)
    >>> MoleculeEnsemble({"dmpnn": Constant(1.0), "ecfp-forest": Constant(2.0)}).predict([0, 0])
    array([[1.5],
           [1.5]])
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from layerwise.errors import RunFolderError

NAME = "ensemble"
MEMBERS = ("ecfp-forest", "descriptor-lightgbm", "dmpnn")
_FIX = "Use the run folder as `layerwise train` wrote it, or train again."


class MoleculeEnsemble:
    """The mean of its members' predictions (fitted models of this package)."""

    name: ClassVar[str] = NAME
    family: ClassVar[str] = "ensemble"

    def __init__(self, members: dict[str, Any]):
        self.members = dict(members)
        self.notes: list[str] = []

    @property
    def kind(self) -> str:
        return next(iter(self.members.values())).kind

    def predict(self, mols: list[Any]) -> np.ndarray:
        """``[n, targets]``: the members' mean."""
        return np.mean([m.predict(mols) for m in self.members.values()], axis=0)

    def atom_contributions(self, mol: Any) -> np.ndarray:
        """``[atoms, targets]``: the members' mean (each by its own occlusion), the change in
        the mean prediction that each atom makes."""
        return np.mean([m.atom_contributions(mol) for m in self.members.values()], axis=0)

    def save(self, run: Any) -> dict[str, Any]:
        """Each member writes its own files (their names differ); the settings name them."""
        return {"members": {name: model.save(run) for name, model in self.members.items()}}

    @classmethod
    def load(cls, run: Any, info: dict[str, Any],
             model_class: Callable[[str], Any]) -> MoleculeEnsemble:  # fmt: skip
        """The ensemble :meth:`save` wrote: two or three distinct trained models, each loaded
        by its own class (``model_class(name)``) and checks."""
        members = info.get("members") if isinstance(info, dict) else None
        if not (isinstance(members, dict) and 2 <= len(members) <= len(MEMBERS)
                and all(name in MEMBERS for name in members)):  # fmt: skip
            raise RunFolderError(f"The ensemble's settings in '{run.path}' do not name two or "
                                 f"three of {', '.join(MEMBERS)}.", _FIX)  # fmt: skip
        return cls({name: model_class(name).load(run, members[name]) for name in members})


def best_combination(found: dict[str, np.ndarray], score: Callable[[np.ndarray], float | None],
                     greater_is_better: bool) -> tuple[list[str], float] | None:  # fmt: skip
    """The members (in ``found``'s order) whose mean prediction scores best, and that score:
    every combination of two or more of ``found`` (each model's validation predictions) is
    scored by ``score``; None when fewer than two models or no combination can be scored.

    >>> y = np.array([[1.0], [2.0], [3.0]])
    >>> found = {"a": y + 1, "b": y - 1, "c": y + 3}
    >>> rmse = lambda p: float(np.sqrt(np.mean((p - y) ** 2)))
    >>> best_combination(found, rmse, greater_is_better=False)
    (['a', 'b'], 0.0)
    """
    sign = 1.0 if greater_is_better else -1.0
    best: tuple[list[str], float] | None = None
    for size in range(2, len(found) + 1):
        for members in itertools.combinations(found, size):
            value = score(np.mean([found[m] for m in members], axis=0))
            if value is not None and np.isfinite(value) and (
                    best is None or sign * value > sign * best[1]):  # fmt: skip
                best = (list(members), float(value))
    return best
