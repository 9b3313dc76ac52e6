"""The numbers behind the reliability diagram and the metrics-against-the-cut plot."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from layerwise.metrics import expected_calibration_error, reliability_bins
from layerwise.thresholds import binary_operating_point, threshold_curves


def _calibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two-class probabilities that are right exactly as often as they say (by construction)."""
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    return (rng.random(n) < p).astype(int), np.c_[1 - p, p]


def test_calibrated_probabilities_lie_on_the_diagonal():
    y, proba = _calibrated(50_000, seed=0)
    bins = reliability_bins(y, proba)
    assert bins["ece"] < 0.01
    assert bins["ece"] == expected_calibration_error(y, proba)
    assert sum(bins["count"]) == len(y) and len(bins["edges"]) == 16
    for count, confidence, accuracy in zip(
        bins["count"], bins["confidence"], bins["accuracy"], strict=True
    ):
        if count >= 1000:
            assert abs(accuracy - confidence) < 0.03
        if count == 0:
            assert confidence is None and accuracy is None
    # the top class of two is at least 0.5: the bins below it are empty
    assert bins["count"][:7] == [0] * 7


def test_overconfident_probabilities_fall_below_the_diagonal():
    y, proba = _calibrated(20_000, seed=1)
    sharp = np.clip((proba[:, 1] - 0.5) * 3 + 0.5, 0.001, 0.999)
    bins = reliability_bins(y, np.c_[1 - sharp, sharp])
    assert bins["ece"] > 0.1
    top = max(i for i, c in enumerate(bins["count"]) if c)
    assert bins["accuracy"][top] < bins["confidence"][top] - 0.1


def test_three_classes_and_no_rows():
    y = np.array([0, 1, 2, 2])
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.5, 0.1, 0.4], [0.1, 0.1, 0.8]])
    bins = reliability_bins(y, proba, bins=10)
    assert bins["count"][7] == 1 and bins["accuracy"][7] == 1.0  # 0.7: right
    assert bins["count"][5] == 1 and bins["accuracy"][5] == 0.0  # 0.5: class 0, wrong
    empty = reliability_bins(np.zeros(0, int), np.zeros((0, 2)))
    assert sum(empty["count"]) == 0 and np.isnan(empty["ece"])


@pytest.mark.parametrize("cut", [0.5, 0.3, 0.77])
def test_the_curve_at_a_cut_is_the_metrics_at_that_cut(cut):
    y, proba = _calibrated(3_000, seed=2)
    score = proba[:, 1]
    curves = threshold_curves(y, score, [cut])
    point = binary_operating_point(y, score, cut)
    called = (score >= cut).astype(int)
    for name in ("accuracy", "balanced_accuracy", "sensitivity", "specificity"):
        assert curves[name][0] == pytest.approx(point[name], abs=1e-6)
    assert curves["macro_f1"][0] == pytest.approx(f1_score(y, called, average="macro"), abs=1e-6)


def test_the_default_curve_has_101_cuts_from_all_positive_to_almost_none():
    y, proba = _calibrated(2_000, seed=3)
    curves = threshold_curves(y, proba[:, 1])
    assert len(curves["cut"]) == 101 and curves["cut"][0] == 0.0 and curves["cut"][-1] == 1.0
    assert curves["sensitivity"][0] == 1.0 and curves["specificity"][0] == 0.0
    assert curves["cut"][50] == 0.5
    at_half = threshold_curves(y, proba[:, 1], [0.5])
    assert curves["accuracy"][50] == at_half["accuracy"][0]


def test_one_class_only_leaves_the_other_recall_empty():
    curves = threshold_curves(np.zeros(4, int), np.array([0.1, 0.4, 0.6, 0.9]), [0.5])
    assert curves["sensitivity"] == [None] and curves["specificity"] == [0.5]
    assert curves["balanced_accuracy"] == [0.5] and curves["accuracy"] == [0.5]
    expected = f1_score([0, 0, 0, 0], [0, 0, 1, 1], average="macro", labels=[0])
    assert curves["macro_f1"][0] == pytest.approx(expected)
