"""Segmentation metrics against hand-computed cases and scikit-learn's per-class F1 / Jaccard."""

import numpy as np
import pytest
from sklearn.metrics import f1_score, jaccard_score

from layerwise.tasks.segmentation.metrics import (
    boundary_f1,
    per_image_dice,
    pixel_confusion,
    segmentation_scores,
)


def test_dice_and_iou_are_sklearns_f1_and_jaccard_per_class():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, (3, 40, 50))
    predicted = np.where(rng.random(truth.shape) < 0.7, truth, rng.integers(0, 4, truth.shape))
    scores = segmentation_scores(pixel_confusion(truth, predicted, 4))
    f1 = f1_score(truth.ravel(), predicted.ravel(), average=None, labels=range(4))
    jaccard = jaccard_score(truth.ravel(), predicted.ravel(), average=None, labels=range(4))
    np.testing.assert_allclose(scores["dice"], f1, rtol=1e-12)
    np.testing.assert_allclose(scores["iou"], jaccard, rtol=1e-12)
    assert scores["mean_dice"] == pytest.approx(f1[1:].mean())
    assert scores["background_dice"] == pytest.approx(f1[0])
    assert scores["pixel_accuracy"] == pytest.approx((truth == predicted).mean())


def test_ignored_pixels_count_nowhere_and_absent_classes_have_no_score():
    truth = np.array([[1, 1, 0, 0]])
    predicted = np.array([[1, 0, 0, 0]])
    ignore = np.array([[False, True, False, False]])  # the one mistake is outside the region
    scores = segmentation_scores(pixel_confusion(truth, predicted, 3, ignore))
    assert scores["dice"][:2] == [1.0, 1.0] and np.isnan(scores["dice"][2])
    assert scores["mean_dice"] == 1.0 and scores["pixels"] == 3


def test_per_image_dice_shows_the_image_a_mean_hides():
    good = np.zeros((20, 20), int)
    good[5:15, 5:15] = 1
    missed = np.zeros((20, 20), int)
    missed[0:2, 0:2] = 1  # a small object the model does not find
    dice = per_image_dice([good] * 9 + [missed], [good] * 9 + [np.zeros_like(missed)], 2)
    pooled = segmentation_scores(pixel_confusion(np.stack([good] * 9 + [missed]),
                                                 np.stack([good] * 9 + [np.zeros_like(missed)]),
                                                 2))["mean_dice"]  # fmt: skip
    assert dice.tolist() == [1.0] * 9 + [0.0]
    assert pooled > 0.99  # the pooled score barely notices the failed image


def test_boundary_f1_tolerates_two_pixels_and_no_more():
    disc = np.hypot(*np.mgrid[-20:21, -20:21]) < 12
    assert boundary_f1(disc, disc) == 1.0
    assert boundary_f1(disc, np.roll(disc, 1, axis=0)) == 1.0
    grown = np.hypot(*np.mgrid[-20:21, -20:21]) < 17  # every boundary pixel 5 px away
    assert boundary_f1(disc, grown) == 0.0
    assert boundary_f1(disc, np.zeros_like(disc)) == 0.0
    assert boundary_f1(np.zeros_like(disc), np.zeros_like(disc)) == 1.0
