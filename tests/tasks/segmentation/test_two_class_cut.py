"""Where the two-class line is drawn: a fitted cut only where it beats the argmax."""

import numpy as np

from layerwise.tasks.segmentation.masks import IGNORE
from layerwise.tasks.segmentation.two_class_cut import best_cut, chosen_cut, decide


def _proba(p1: np.ndarray) -> np.ndarray:
    return np.stack([1 - p1, p1], axis=-1)


def test_a_shifted_probability_gets_its_cut_and_a_calibrated_one_keeps_the_argmax():
    rng = np.random.default_rng(0)
    truth = (rng.random((64, 64)) < 0.3).astype(np.uint8)
    noise = rng.normal(0, 0.1, truth.shape)
    calibrated = np.clip(np.where(truth == 1, 0.8, 0.2) + noise, 0, 1)
    assert chosen_cut([_proba(calibrated)], [truth]) is None  # argmax already right
    shifted = np.clip(calibrated + 0.45, 0, 1)  # class weights pushed every pixel towards 1
    cut = chosen_cut([_proba(shifted)], [truth])
    assert cut is not None and cut > 0.5
    found = decide(_proba(shifted), cut)
    assert (found == truth).mean() > 0.95 > (decide(_proba(shifted), None) == truth).mean()


def test_ignored_pixels_do_not_move_the_cut():
    truth = np.array([[0, 0, 1, 1]], dtype=np.uint8)
    proba = _proba(np.array([[0.1, 0.6, 0.7, 0.8]]))
    masked = truth.copy()
    masked[0, 1] = IGNORE  # the one pixel the argmax gets wrong is outside the region
    assert best_cut([proba], [truth]) == 0.65
    assert chosen_cut([proba], [masked]) is None
    assert chosen_cut([proba], [np.full_like(truth, IGNORE)]) is None
