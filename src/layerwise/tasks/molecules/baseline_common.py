"""What the classical baselines of the molecular-property task share (:mod:`.baselines`): their
parameters, one model per target trained on the molecules where that target was measured
(multitask sets leave blanks), predictions from a feature matrix, a cross-validation grouped
by scaffold, and the checks on what they read back from a run folder (untrusted input).

Example:
    >>> from types import SimpleNamespace
    >>> data = SimpleNamespace(kind="classification", targets=np.zeros((4, 2)),
    ...                        target_names=["a", "b"])
    >>> checked_targets(data, "ecfp-forest")
    ('classification', ['a', 'b'])
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np

from layerwise.errors import ConfigError, DataError, RunFolderError, closest

KINDS = ("regression", "classification")
FIX = "Use the run folder as `layerwise train` wrote it, or train again."


class Baseline:
    """What both baselines share: their parameters, one model per target on the rows where it
    was measured, predictions from features, and the cross-validation by scaffold."""

    name: ClassVar[str]
    family: ClassVar[str] = "classical"
    DEFAULTS: ClassVar[dict[str, Any]]

    def __init__(self, seed: int = 0, **params: Any):
        unknown = [k for k in params if k not in self.DEFAULTS]
        if unknown:
            near = closest(unknown[0], self.DEFAULTS)
            raise ConfigError(
                f"'{unknown[0]}' is not a parameter of the {self.name} candidate.",
                (f"Did you mean '{near}'? " if near else "")
                + f"Its parameters: {', '.join(self.DEFAULTS)}.",
            )
        self.seed = int(seed)
        self.params = {**self.DEFAULTS, **params}
        self.notes: list[str] = []
        self.kind = "regression"
        self.target_names: list[str] = []

    def _features(self, mols: list[Any]) -> np.ndarray:
        raise NotImplementedError

    def _fit_target(
        self, x: np.ndarray, y: np.ndarray, val: tuple[np.ndarray, np.ndarray] | None, stop: float
    ) -> Any:
        raise NotImplementedError

    def _predict_target(self, model: Any, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit(self, train: Any, val: Any = None, time_limit: float | None = None) -> Baseline:
        """Train one model per target of ``train`` (a MoleculeSet) on the molecules where it
        was measured; ``val`` (early stopping, for the boosted model) and ``time_limit``
        (seconds, for the forest) are optional."""
        self.kind, self.target_names = checked_targets(train, self.name)
        limit = time_limit if time_limit is not None else self.params.get("time_limit")
        start = time.perf_counter()
        x = self._features(train.mols)
        xv = self._features(val.mols) if val is not None and len(val) else None
        self.models = []
        for j, target in enumerate(self.target_names):
            rows = np.isfinite(train.targets[:, j])
            if not rows.any():
                raise DataError(
                    f"Target '{target}' has no values among the {len(train)} training molecules.",
                    "Leave that target out, or give molecules where it was measured.",
                )
            held = None
            if xv is not None:
                seen = np.isfinite(val.targets[:, j])
                held = (xv[seen], val.targets[seen, j]) if seen.any() else None
            stop = np.inf  # the time left shared by the targets still to fit
            if limit is not None:
                left = float(limit) - (time.perf_counter() - start)
                stop = time.perf_counter() + left / (len(self.target_names) - j)
            self.models.append(self._fit_target(x[rows], train.targets[rows, j], held, stop))
        self._describe(train, x)
        return self

    def _describe(self, train: Any, x: np.ndarray) -> None:
        """Notes about the fit (for the report); ``x``: the training features."""

    def predict(self, mols: list[Any]) -> np.ndarray:
        """``[n, targets]`` float64: values in the target's units, or P(class 1)."""
        if not len(mols):
            return np.zeros((0, len(self.models)))
        x = self._features(mols)
        return np.column_stack([self._predict_target(m, x) for m in self.models]).astype(float)

    def _cheap(self) -> Baseline:
        """The model each cross-validation fold trains: cheaper than the served one."""
        return type(self)(seed=self.seed, **{**self.params, **self._cheap_settings()})

    def cross_validate(self, train: Any, groups: list[str], folds: int = 5) -> dict[str, Any]:
        """k-fold cross-validation on ``train`` grouped by ``groups`` (the Bemis-Murcko
        scaffold of each molecule, so no scaffold is on both sides of a fold): the mean and
        standard deviation over the folds of RMSE (regression) or ROC-AUC (classification,
        targets with both classes in the fold), each averaged over the targets. Each fold
        trains a cheaper model (the forest 100 trees, the booster the served model's rounds,
        no early stopping), so the figures are a little pessimistic for the forest."""
        from sklearn.model_selection import GroupKFold

        from layerwise.tasks.molecules.scores import PRIMARY, property_scores

        kind, names = checked_targets(train, self.name)
        metric = PRIMARY[kind]
        groups_ = np.asarray([str(g) for g in groups], dtype=object)
        if len(groups_) != len(train):
            raise DataError(
                f"{len(groups_)} scaffold groups were given for {len(train)} molecules.",
                "Give one scaffold per training molecule.",
            )
        k = min(int(folds), len(set(groups_)))
        out: dict[str, Any] = {"metric": metric, "folds": k, "mean": None, "std": None}
        if k < 2:
            return {**out, "scores": [], "note": "fewer than 2 scaffolds: no cross-validation"}
        x = self._features(train.mols)
        scores = []
        for fit_rows, held in GroupKFold(n_splits=k).split(x, groups=groups_):
            model = self._cheap()
            model.kind, model.target_names, model.models = kind, names, []
            found = np.full((len(held), len(names)), np.nan)
            for j in range(len(names)):
                seen = fit_rows[np.isfinite(train.targets[fit_rows, j])]
                if len(seen):
                    part = model._fit_target(x[seen], train.targets[seen, j], None, np.inf)
                    found[:, j] = model._predict_target(part, x[held])
            value = property_scores(train.targets[held], found, names, kind)[metric]
            if value is not None:
                scores.append(float(value))
        if scores:
            out.update(mean=float(np.mean(scores)), std=float(np.std(scores)))
        return {**out, "scores": scores, **self._cheap_settings()}

    def _cheap_settings(self) -> dict[str, Any]:
        """The parameters that make a fold's model cheaper (and are reported with the CV)."""
        return {}


def checked_targets(data: Any, name: str) -> tuple[str, list[str]]:
    """The kind and target names of a MoleculeSet to train on, or a DataError.

    >>> from types import SimpleNamespace
    >>> data = SimpleNamespace(kind="regression", targets=np.zeros((3, 1)), target_names=["y"])
    >>> checked_targets(data, "demo")
    ('regression', ['y'])
    """
    targets = np.asarray(data.targets)
    if data.kind not in KINDS or targets.ndim != 2 or targets.shape[1] < 1:
        raise DataError(
            f"The {name} candidate got molecules of kind {data.kind!r} with targets of shape "
            f"{list(targets.shape)}.",
            "Train on a MoleculeSet read with its target column(s) (regression or classification).",
        )
    return data.kind, list(data.target_names)


def saved_value(info: Any, key: str, kind: type, where: Any, check: Any = None) -> Any:
    """A value of the saved ``info`` (from the run folder: untrusted), checked."""
    value = info.get(key) if isinstance(info, dict) else None
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok or (check is not None and not check(value)):
        shown = repr(value) if len(repr(value)) < 60 else repr(value)[:57] + "..."
        raise RunFolderError(
            f"The run folder '{where}' holds {key}={shown} for the model, which is not valid.",
            FIX,
        )
    return value


def saved_targets(info: Any, where: Any) -> tuple[str, list[str]]:
    """The kind (``objective``) and target names a saved model's ``info`` declares, checked."""
    kind = saved_value(info, "objective", str, where, lambda v: v in KINDS)
    names = saved_value(info, "target_names", list, where, lambda v: 0 < len(v) < 10_000)
    if not all(isinstance(n, str) for n in names):
        raise RunFolderError(f"The run folder '{where}' holds target names that are not text.", FIX)
    return kind, names
