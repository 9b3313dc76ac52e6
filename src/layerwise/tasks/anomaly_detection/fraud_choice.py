"""Fraud mode's own bake-off among its supervised models, before the one it picks meets the
detectors' ensemble.

1. **The fraud ensemble**: a weighted mean of the fraud models' out-of-fold probabilities, its
   weights from Caruana et al.'s ensemble selection (2004, with replacement) on the
   class-weighted log loss (:mod:`layerwise.core.ensemble_selection`, the tables' algorithm).
   Its validation is cross-fitted: each fold's rows are mixed by weights fitted on the other
   folds, so it is never scored on the outputs its weights were chosen by.
2. **The project's selection rule** (:func:`layerwise.core.selection.choose`) decides whether
   the ensemble is worth its complexity: it must beat the best single fraud model by PR-AUC
   (average precision, the metric fraud mode chooses by) by more than one standard error of
   their paired difference over the same folds, and by more than ``TOLERANCE``. If it does, it
   stands for the fraud models against the detectors' ensemble; if not, it is left out and the
   single models challenge as before. (The rule applied among the single models too, the
   simplest within the noise of folds holding one or two anomalies each, served a boosted
   model where the focal-loss MLP was better: cardio with 5% of labels, PR-AUC 0.719 on the
   hidden labels against 0.874 this way; benchmarks/results/anomaly-fraud.md.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from layerwise.core import selection
from layerwise.core.advisor import Plan
from layerwise.core.ensemble_selection import (
    ROUNDS,
    cross_fitted,
    describe,
    greedy_weights,
    smooth_loss,
)
from layerwise.tasks.anomaly_detection.model import FRAUD_ENSEMBLE
from layerwise.tasks.anomaly_detection.supervised import SUPERVISED, class_weights

ENSEMBLE_COMPLEXITY = 4  # above every fraud model: it must win by more than the noise
# A simpler model within this much PR-AUC of the best is served even where the folds' noise is
# smaller: beside an ensemble that is nearly a copy of it, a model's paired standard error is
# close to 0, and without a floor a worse model with noisier folds would be served instead.
TOLERANCE = 0.005
RULE = Plan(
    candidates=[], rules=[], protocol="out of fold on the labelled rows", n_splits=5,
    metric="PR-AUC", greater_is_better=True, tolerance=TOLERANCE, class_weights=True,
    recommendation="",
)  # fmt: skip


def fold_evidence(y: np.ndarray, probability: np.ndarray, folds: list) -> selection.Evidence:
    """Each fold's PR-AUC (average precision) of out-of-fold ``probability``: the units the
    selection rule pairs candidates on (every candidate of a run has the same folds)."""
    from sklearn.metrics import average_precision_score

    return selection.folds([average_precision_score(y[va], probability[va]) for _, va in folds])


def ensemble_row(
    rows: list[dict[str, Any]], y: np.ndarray, folds: list
) -> tuple[dict[str, Any] | None, dict[str, float], str]:
    """The fraud ensemble's bake-off row (None when it would not mix two models), the weights
    the served ensemble uses (fitted on every labelled row's out-of-fold outputs), and a
    sentence for decision.md.

    ``rows``: the fraud models' rows with ``oof`` (out-of-fold probabilities of the labelled
    rows ``y``) and ``fit_seconds``; ``folds``: the folds those came from."""
    members = [r for r in rows if "oof" in r]
    if len(members) < 2:
        return None, {}, "No fraud ensemble: fewer than two fraud models to mix."
    outputs = {r["candidate"]: np.column_stack([1 - r["oof"], r["oof"]]) for r in members}
    loss = smooth_loss(y, True, class_weights(y))
    weights = greedy_weights(outputs, loss, np.arange(len(y)))
    if len(weights) < 2:
        only = next(iter(weights))
        return None, {}, f"No fraud ensemble: the greedy selection gave all the weight to {only}."
    held_out = cross_fitted(outputs, loss, folds)[:, 1]
    fitted = sum(r["fit_seconds"] for r in members if r["candidate"] in weights)
    detail = (
        f"{FRAUD_ENSEMBLE} weights: {describe(weights)} (greedy selection with replacement on "
        f"the out-of-fold class-weighted log loss, {ROUNDS} rounds; validated cross-fitted: "
        f"each of the {len(folds)} folds mixed by weights fitted on the other folds)."
    )
    row = {"candidate": FRAUD_ENSEMBLE, "family": "ensemble", "fit_seconds": fitted,
           "oof": held_out, "out_of_fold": True, "weights": weights}  # fmt: skip
    return row, weights, detail


def pick(rows: list[dict[str, Any]]) -> tuple[str, str]:
    """The fraud ensemble or the best single fraud model (by validation PR-AUC) among ``rows``
    (each with ``validation`` ranking metrics and fold ``evidence``), as the selection rule
    serves one of the two, and why."""
    complexity = {name: cls.complexity for name, cls in SUPERVISED.items()}
    complexity[FRAUD_ENSEMBLE] = ENSEMBLE_COMPLEXITY
    single = [r for r in rows if r["candidate"] != FRAUD_ENSEMBLE]
    pair = [r for r in rows if r["candidate"] == FRAUD_ENSEMBLE]
    pair.append(max(single, key=lambda r: r["validation"]["pr_auc"]))
    scored = [
        {"candidate": r["candidate"], "validation": r["validation"]["pr_auc"],
         "evidence": r["evidence"], "cross_validated": True}
        for r in pair
    ]  # fmt: skip
    name, why = selection.choose(scored, RULE, complexity)
    for row, entry in zip(pair, scored, strict=True):
        if "paired" in entry:
            row["paired"] = entry["paired"]
    return name, why
