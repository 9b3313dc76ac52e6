"""The holdout tasks' bake-off (:class:`~layerwise.core.holdout.HoldoutTask`'s half that trains
and validates): each candidate trained on the training part and scored on the holdout, the cheap
ones cross-validated over training and holdout together and refitted, their decision cut
chosen on what they were validated on, and the evidence the advisor pairs them on.

A mixin of :class:`HoldoutTask`, which supplies ``CANDIDATES``, ``models``, ``classes``,
``unit``, ``option``, ``say``, ``score``, ``inputs_of`` and ``candidate_params``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from layerwise.core.operating_point import pick_operating_point
from layerwise.engine.distributed import agreed, current_world
from layerwise.runs.folder import RunFolder


class HoldoutBakeOff:
    """Training and validating the candidates of a holdout task (see the module docstring)."""

    def _bake_off(
        self, plan: Any, data: tuple, weights: Any, run: RunFolder, started: float
    ) -> list[dict[str, Any]]:
        train, val, test = data
        self._imbalanced = bool(plan.class_weights)  # where the prevalence matters
        self._val_labels = np.asarray(val.labels)
        rows = []
        world = current_world()
        for name in plan.candidates:
            deep = self.CANDIDATES.get(name).family == "deep"
            if not (world.main or deep):  # the classical models train on rank 0 alone
                continue
            params = self.run_params(name, run, started) if world.main else None
            if deep:  # rank 0's on every rank: its time limit and checkpoint folder
                params = agreed(params)
            self.say(f"Training {name} on {len(train):,} {self.unit}")
            model = self.CANDIDATES.get(name)(
                "binary" if len(self.classes) == 2 else "multiclass",
                len(self.classes),
                self.option("seed"),
                **params,
            )
            t0 = time.perf_counter()
            model.fit(train, val, weights)
            seconds = time.perf_counter() - t0
            if not world.main:  # its share of the training given, the rest is rank 0's
                continue
            self.models[name] = model
            row = {"candidate": name, "fit_seconds": seconds, "final_fit_seconds": seconds}
            row.update(self._validate(model, plan, train, val, weights))
            t0 = time.perf_counter()
            test_proba = model.predict(self.inputs_of(test))
            if model.threshold not in (None, 0.5):  # the moved cut's effect, shown beside it
                row["test_at_0.5"] = self.score(test.labels, test_proba, 0.5)
            row.update(
                test=self.score(test.labels, test_proba, model.threshold),
                predict_us_per_row=1e6 * (time.perf_counter() - t0) / max(len(test), 1),
                test_proba=test_proba,
            )
            rows.append(row)
            validation = row["validation_metrics"]
            self.say(
                f"{name}: validation {plan.metric} {validation[plan.metric]:.4f} ({seconds:.1f} s)"
            )
        return rows

    def run_params(self, name: str, run: RunFolder, started: float) -> dict[str, Any]:
        """Candidate ``name``'s parameters for this run: a deep one also gets the device, a
        progress bar, its checkpoint folder, resume, and what is left of the time limit."""
        params = self.candidate_params(name)
        if self.CANDIDATES.get(name).family == "deep":
            params.setdefault("device", self.option("device"))
            params.update(
                progress=bool(self.option("verbose")),
                checkpoint_dir=str(run.file("checkpoints") / name),
                resume=self.option("resume") is not None,
            )
            limit = self.option("time_limit")
            if limit is not None:
                params.setdefault(
                    "time_limit", max(1.0, 0.9 * limit - (time.perf_counter() - started))
                )
        return params

    def _validate(self, model: Any, plan: Any, train: Any, val: Any, weights: Any) -> dict:
        """Score a fitted candidate on validation. A cheap one (``refits``) is scored by k-fold
        cross-validation over training + validation together, far less noisy than one small
        holdout, then refit on all of it; its holdout probabilities are kept for ensembles
        with the deep models, which only the holdout scores."""
        val_proba = model.predict(self.inputs_of(val))
        row: dict[str, Any] = {"val_proba": val_proba}
        folds = int(self.option("cheap_folds") or 0)
        if getattr(model, "refits", False) and folds >= 2:
            t0 = time.perf_counter()
            labels, oof, fold_of = model.cross_validate(train, val, weights, folds)
            model.refit(train, val, weights)
            row.update(final_fit_seconds=time.perf_counter() - t0, oof=(labels, oof, fold_of))
        else:
            labels, oof, fold_of = val.labels, val_proba, None
        model.threshold, row["threshold_facts"] = pick_operating_point(self, labels, oof)
        validation = self.score(labels, oof, model.threshold)
        row["calibration_data"] = (labels, oof)  # the probabilities its temperature is fit on
        row["threshold_data"] = (labels, oof)  # and its cut chosen on
        row.update(
            validation=validation[plan.metric],
            validation_metrics=validation,
            validation_std=self._fold_std(labels, oof, fold_of, model.threshold, plan.metric),
        )
        return row

    def _fold_std(
        self, labels: np.ndarray, proba: np.ndarray, fold_of: Any, threshold: Any, metric: str
    ) -> float:
        if fold_of is None:
            return 0.0
        return float(
            np.std(
                [
                    self.score(labels[fold_of == k], proba[fold_of == k], threshold)[metric]
                    for k in np.unique(fold_of)
                ]
            )
        )

    def _evidence(self, row: dict, plan: Any) -> list[Any]:
        """What the advisor pairs this candidate on: its out-of-fold credit where it was
        cross-validated (many examples, shared by the other cross-validated candidates), then
        its credit on the holdout examples (shared by every candidate)."""
        from layerwise.core import selection

        model, out = self.models[row["candidate"]], []
        threshold, n_classes = getattr(model, "threshold", None), len(self.classes)

        def called(proba: np.ndarray) -> np.ndarray:
            if threshold is not None and proba.shape[1] == 2:
                return (proba[:, 1] >= threshold).astype(int)
            return proba.argmax(axis=1)

        if "oof" in row:
            labels, proba, _ = row["oof"]
            known = labels >= 0
            credit = selection.credit(labels[known], called(proba[known]), plan.metric, n_classes)
            out.append(selection.examples(credit, "out-of-fold examples"))
        labels = self._val_labels
        known = labels >= 0
        labels, proba = labels[known], row["val_proba"][known]
        calls = called(proba)
        if "oof" not in row and (row.get("threshold_facts") or {}).get("moved"):
            calls = self._cross_fitted_calls(labels, proba)
        credit = selection.credit(labels, calls, plan.metric, n_classes)
        out.append(selection.examples(credit))
        return out

    def _cross_fitted_calls(self, labels: np.ndarray, proba: np.ndarray) -> np.ndarray:
        """Two-class calls on the holdout, each part's cut chosen on the other parts: a cut
        chosen on the very examples it is scored on flatters the candidate (an ensemble led
        TF-IDF by 0.11 macro-F1 on a 270-text holdout at its own cut, and lost on test)."""
        from sklearn.model_selection import StratifiedKFold

        calls = proba.argmax(axis=1)
        if np.bincount(labels, minlength=2).min() < 5:
            return calls
        parts = StratifiedKFold(5, shuffle=True, random_state=int(self.option("seed") or 0))
        for fit_rows, call_rows in parts.split(labels, labels):
            cut, _ = pick_operating_point(self, labels[fit_rows], proba[fit_rows])
            cut = 0.5 if cut is None else cut
            calls[call_rows] = (proba[call_rows, 1] >= cut).astype(int)
        return calls
