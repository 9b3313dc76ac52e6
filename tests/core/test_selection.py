"""The one selection rule: a holdout-only lead needs a paired z of 2 over the cross-validated
best, and a simpler candidate wins within the tolerance or one standard error of the paired
difference on the run's own units (folds, forecast blocks, examples)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from layerwise.core import selection

COMPLEXITY = {"linear": 1, "lightgbm": 2, "mlp": 3, "ensemble": 4}


def _plan(greater: bool = True, tolerance: float = 0.002) -> SimpleNamespace:
    metric = "accuracy" if greater else "rmse"
    return SimpleNamespace(metric=metric, greater_is_better=greater, tolerance=tolerance,
                           prefer=None, prefer_reason="")  # fmt: skip


def _row(name: str, fold_scores: list[float], **extra) -> dict:
    return {"candidate": name, "validation": float(np.mean(fold_scores)),
            "evidence": selection.folds(fold_scores), **extra}  # fmt: skip


def test_a_simpler_model_within_one_standard_error_is_served():
    # the ensemble leads by 0.01 on average, but the folds disagree: noise, not a lead
    rows = [_row("linear", [0.80, 0.90, 0.82, 0.88, 0.85]),
            _row("ensemble", [0.84, 0.86, 0.86, 0.87, 0.87])]  # fmt: skip
    chosen, reason = selection.choose(rows, _plan(), COMPLEXITY)
    assert chosen == "linear"
    assert "standard error" in reason and "5 validation folds" in reason


def test_a_lead_on_every_fold_is_kept():
    rows = [_row("linear", [0.80, 0.81, 0.79, 0.80, 0.82]),
            _row("ensemble", [0.83, 0.84, 0.82, 0.83, 0.85])]  # fmt: skip
    chosen, reason = selection.choose(rows, _plan(), COMPLEXITY)
    assert chosen == "ensemble" and "standard errors on the same folds" in reason


def test_errors_use_the_same_rule_in_their_direction():
    rows = [_row("linear", [10.0, 12.0, 11.0]), _row("lightgbm", [9.0, 12.5, 10.6])]
    assert selection.choose(rows, _plan(greater=False), COMPLEXITY)[0] == "linear"
    rows = [_row("linear", [10.0, 12.0, 11.0]), _row("lightgbm", [9.0, 11.0, 10.0])]
    assert selection.choose(rows, _plan(greater=False), COMPLEXITY)[0] == "lightgbm"


def test_fold_noise_is_corrected_for_overlapping_training_sets():
    a, b = selection.folds([0.9, 0.8, 0.85, 0.9]), selection.folds([0.8, 0.8, 0.8, 0.8])
    diff = a.scores - b.scores
    naive = np.std(diff, ddof=1) / 2
    assert selection.paired_se(a, b)[1] > naive * 1.4  # x sqrt(1 + 4/3)


def _holdout(name: str, right: np.ndarray, validation: float, crossed: bool) -> dict:
    return {"candidate": name, "validation": validation, "cross_validated": crossed,
            "evidence": [selection.examples(right)]}  # fmt: skip


def test_a_holdout_only_lead_must_be_clear_to_displace_cross_validation():
    rng = np.random.default_rng(0)
    base = (rng.random(400) < 0.80).astype(float)
    lucky = base.copy()
    lucky[np.flatnonzero(base == 0)[:8]] = 1  # 8 more right of 400: paired z about 2.8
    slight = base.copy()
    slight[np.flatnonzero(base == 0)[:3]] = 1  # 3 more: paired z about 1.7
    linear = _holdout("linear", base, 0.80, crossed=True)
    plan = _plan(tolerance=0.0)
    chosen, reason = selection.choose(
        [linear, _holdout("mlp", slight, 0.85, crossed=False)], plan, COMPLEXITY
    )
    assert chosen == "linear" and "not clearly better" in reason
    chosen, reason = selection.choose(
        [linear, _holdout("mlp", lucky, 0.85, crossed=False)], plan, COMPLEXITY
    )
    assert chosen == "mlp" and "paired z" in reason


def test_evidence_on_different_units_is_not_paired():
    a = selection.examples(np.ones(10), "out-of-fold examples")
    b = selection.examples(np.zeros(10))
    assert selection.paired_se(a, b) is None
    assert selection.paired_se([a, selection.examples(np.ones(10))], [b]) == (1.0, 0.0)


def test_credit_averages_to_balanced_accuracy():
    labels = np.array([0] * 90 + [1] * 10)
    called = np.r_[np.zeros(90), np.ones(5), np.zeros(5)].astype(int)
    credit = selection.credit(labels, called, "balanced_accuracy", 2)
    assert credit.mean() == pytest.approx(0.75)
    assert selection.credit(labels, called, "accuracy", 2).mean() == pytest.approx(0.95)


def test_forecast_blocks_are_consecutive_and_balanced():
    position = np.r_[np.arange(50), np.arange(50)]  # two series' validation origins
    labels = selection.block_labels(position, 5)
    assert np.bincount(labels).tolist() == [20] * 5
    for b in range(5):
        steps = position[labels == b]
        assert steps.max() - steps.min() < 11  # one stretch of time, from both series


def test_a_holdout_cut_is_scored_on_parts_it_was_not_chosen_on():
    from layerwise.tasks.text_classification.task import TextClassification

    rng = np.random.default_rng(0)
    labels = (rng.random(300) < 0.85).astype(int)
    proba1 = rng.random(300)  # pure noise: any cut's gain on these rows is luck
    proba = np.column_stack([1 - proba1, proba1])
    task = TextClassification(threshold="recall@precision=0.9")
    task.classes = ["neg", "pos"]
    calls = task._cross_fitted_calls(labels, proba)
    from layerwise.core.operating_point import pick_operating_point

    cut, _ = pick_operating_point(task, labels, proba)
    in_sample = ((proba1 >= cut).astype(int) == labels).mean()
    crossed = (calls == labels).mean()
    assert calls.shape == labels.shape and set(np.unique(calls)) <= {0, 1}
    assert crossed <= in_sample + 0.02  # no better than the flattering in-sample figure
