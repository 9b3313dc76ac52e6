"""Where a two-class segmenter draws the line: the probability of class 1 above which a pixel
is class 1, chosen on the validation images.

Training with class weights (and the Dice loss) moves the probabilities towards the rarer
class on purpose, so that a thin membrane is learned at all; the argmax of such probabilities
draws that class too thick. The cut that maximises the Dice of both classes on the validation
pixels (their mean: on a membrane set class 0 is the membrane, on a cell set the background,
and either way both outlines should fit) puts the line back. Ties go to the cut nearest 0.5.

A cut is still a number fitted to a few validation images: it is kept only where it beats the
argmax there by ``CUT_MARGIN`` (else the argmax, ``None``). On ISBI membrane (4 validation
images) the fitted cut scored below the argmax on test in both runs compared, by 0.004-0.008.

Example:
    >>> truth = [np.array([[0, 0, 1, 1]])]
    >>> proba = [np.array([[[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]]])]
    >>> best_cut(proba, truth)
    0.65
    >>> decide(proba[0], 0.65).tolist()
    [[0, 0, 1, 1]]
    >>> chosen_cut(proba, truth)  # the argmax got one pixel wrong: the cut is worth keeping
    0.65
"""

from __future__ import annotations

from typing import Any

import numpy as np

from layerwise.errors import RunFolderError
from layerwise.tasks.segmentation.masks import IGNORE

CUTS = np.round(np.arange(0.1, 0.91, 0.05), 2)
CUT_MARGIN = 0.002  # mean Dice on validation a cut must add over the argmax to be kept


def decide(proba: np.ndarray, cut: float | None) -> np.ndarray:
    """The mask (uint8 class indices) of ``[H, W, n_classes]`` probabilities: class 1 where
    its probability is at least ``cut`` for two classes with a cut, else the most probable."""
    if cut is None or proba.shape[-1] != 2:
        return proba.argmax(axis=-1).astype(np.uint8)
    return (proba[..., 1] >= cut).astype(np.uint8)


def _mean_dice(found: np.ndarray, y: np.ndarray) -> float:
    """The mean of the two classes' Dice for boolean class-1 decisions ``found``."""
    both = np.count_nonzero(found & y)
    neither = np.count_nonzero(~found & ~y)
    dice1 = 2 * both / max(np.count_nonzero(found) + np.count_nonzero(y), 1)
    dice0 = 2 * neither / max(np.count_nonzero(~found) + np.count_nonzero(~y), 1)
    return (dice0 + dice1) / 2


def _pooled(probas: list[np.ndarray], truths: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """All counted pixels (``IGNORE`` left out): their probabilities and their truth."""
    pairs = list(zip(probas, truths, strict=True))
    proba = np.concatenate([pr[t != IGNORE] for pr, t in pairs]).reshape(-1, 2)
    y = np.concatenate([t[t != IGNORE] for t in truths]).astype(bool)
    return proba, y


def best_cut(probas: list[np.ndarray], truths: list[np.ndarray]) -> float:
    """The cut of ``CUTS`` with the highest mean Dice of the two classes over all counted
    pixels of ``truths`` (``IGNORE`` left out)."""
    proba, y = _pooled(probas, truths)
    if not len(y):
        return 0.5
    scores = np.round(np.asarray([_mean_dice(proba[:, 1] >= cut, y) for cut in CUTS]), 9)
    best = np.flatnonzero(scores == scores.max())
    return float(CUTS[best[np.argmin(np.abs(CUTS[best] - 0.5))]])


def chosen_cut(probas: list[np.ndarray], truths: list[np.ndarray]) -> float | None:
    """``best_cut`` where it beats the argmax on these pixels by ``CUT_MARGIN``, else None."""
    proba, y = _pooled(probas, truths)
    if not len(y):
        return None
    cut = best_cut(probas, truths)
    plain = _mean_dice(proba.argmax(axis=1) == 1, y)
    return cut if _mean_dice(proba[:, 1] >= cut, y) > plain + CUT_MARGIN else None


def checked_cut(value: Any, run: Any) -> float | None:
    """A cut read from a run folder: None, or a number strictly between 0 and 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise RunFolderError(f"The two-class cut {value!r} in '{run.path}' is not a probability.",
                             "Use the run folder as `layerwise train` wrote it, or train again.")  # fmt: skip
    return float(value)
