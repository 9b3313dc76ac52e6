"""Segmentation metrics: Dice and IoU per class from one pixel confusion matrix, pixel accuracy,
the distribution of Dice over images, and the boundary F1 score of binary masks.

Class 0 is the background. The headline means (``mean_dice``, ``mean_iou``) are over the other
classes, where the user's objects are: a background that covers 90% of every image would make
any mask look good. The background's own scores are reported beside them. A class with no
pixel in the truth nor in the prediction has no score (NaN), not a perfect one, and is left
out of the means. Pixels marked ``ignore`` (outside a region of interest) count nowhere.

Dice and IoU summed over all pixels of a set (the "micro" scores here) weight big images and
big objects more; :func:`per_image_dice` gives the image-by-image view the report draws, since a
mean can hide the images where a model fails.

Example:
    >>> truth = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    >>> predicted = np.array([[0, 1, 1, 1], [0, 0, 1, 1]])
    >>> s = segmentation_scores(pixel_confusion(truth, predicted, 2))
    >>> round(s["dice"][1], 4), round(s["iou"][1], 4), s["pixel_accuracy"], round(s["mean_dice"], 4)
    (0.8889, 0.8, 0.875, 0.8889)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

BOUNDARY_TOLERANCE = 2  # pixels: a boundary pixel within this distance of the other counts


def pixel_confusion(
    truth: np.ndarray,
    predicted: np.ndarray,
    n_classes: int,
    ignore: np.ndarray | None = None,
) -> np.ndarray:
    """``[n_classes, n_classes]`` pixel counts (int64), truth along rows, prediction along
    columns; pixels where ``ignore`` is True, or whose truth is outside ``0..n_classes-1``,
    are not counted.

    Example:
        >>> pixel_confusion(np.array([0, 1, 1, 5]), np.array([0, 0, 1, 1]), 2).tolist()
        [[1, 0], [1, 1]]
    """
    truth = np.asarray(truth).reshape(-1).astype(np.int64)
    predicted = np.asarray(predicted).reshape(-1).astype(np.int64)
    if truth.shape != predicted.shape:
        raise ValueError(f"truth has {truth.size} pixels but the prediction {predicted.size}")
    keep = (truth >= 0) & (truth < n_classes) & (predicted >= 0) & (predicted < n_classes)
    if ignore is not None:
        keep &= ~np.asarray(ignore, bool).reshape(-1)
    index = truth[keep] * n_classes + predicted[keep]
    return np.bincount(index, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def segmentation_scores(confusion: np.ndarray) -> dict[str, Any]:
    """Per-class ``dice`` and ``iou`` (lists, NaN where a class is in neither truth nor
    prediction), ``pixel_accuracy``, ``mean_dice`` / ``mean_iou`` over the foreground classes
    (1..k-1; class 0 alone when it is the only one), ``background_dice`` / ``background_iou``.

    Example:
        >>> s = segmentation_scores(np.array([[5, 0, 0], [0, 0, 0], [0, 0, 3]]))
        >>> s["dice"][1], s["mean_dice"]
        (nan, 1.0)
    """
    confusion = np.asarray(confusion, np.float64)
    true_positive = np.diag(confusion)
    in_truth, in_prediction = confusion.sum(axis=1), confusion.sum(axis=0)
    union = in_truth + in_prediction - true_positive
    with np.errstate(invalid="ignore", divide="ignore"):
        dice = np.where(union > 0, 2 * true_positive / (in_truth + in_prediction), np.nan)
        iou = np.where(union > 0, true_positive / union, np.nan)
    total = confusion.sum()
    foreground = slice(1, None) if len(dice) > 1 else slice(0, None)
    return {
        "dice": dice.tolist(),
        "iou": iou.tolist(),
        "pixel_accuracy": float(true_positive.sum() / total) if total else float("nan"),
        "mean_dice": _nanmean(dice[foreground]),
        "mean_iou": _nanmean(iou[foreground]),
        "background_dice": float(dice[0]),
        "background_iou": float(iou[0]),
        "pixels": int(total),
    }


def per_image_dice(
    truths: Sequence[np.ndarray],
    predictions: Sequence[np.ndarray],
    n_classes: int,
    ignores: Sequence[np.ndarray | None] | None = None,
) -> np.ndarray:
    """The mean foreground Dice of each image (NaN for an image where no foreground class is
    in its truth nor in its prediction: nothing to find, nothing found).

    Example:
        >>> t = [np.array([[0, 1]]), np.array([[0, 0]])]
        >>> p = [np.array([[1, 1]]), np.array([[0, 0]])]
        >>> per_image_dice(t, p, 2).round(3).tolist()
        [0.667, nan]
    """
    ignores = ignores if ignores is not None else [None] * len(truths)
    out = [
        segmentation_scores(pixel_confusion(t, p, n_classes, i))["mean_dice"]
        for t, p, i in zip(truths, predictions, ignores, strict=True)
    ]
    return np.asarray(out, np.float64)


def boundary(mask: np.ndarray) -> np.ndarray:
    """The pixels of a binary mask that touch a pixel outside it (4-neighbourhood; the
    image's edge is not a boundary).

    Example:
        >>> boundary(np.pad(np.ones((3, 3), bool), 1)).astype(int).sum()
        np.int64(8)
    """
    from scipy import ndimage

    mask = np.asarray(mask, bool)
    inner = ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(2, 1),
                                   border_value=1)  # fmt: skip
    return mask & ~inner


def boundary_f1(
    truth: np.ndarray, predicted: np.ndarray, tolerance: int = BOUNDARY_TOLERANCE
) -> float:
    """The boundary F1 score of two binary masks (Csurka et al., 2013): the precision of the
    predicted boundary (its pixels within ``tolerance`` px of the true boundary) and the recall
    of the true one, combined. 1.0 when both have no boundary; 0.0 when only one has.

    Example:
        >>> square = np.pad(np.ones((10, 10), bool), 5)
        >>> boundary_f1(square, square), boundary_f1(square, np.roll(square, 2, axis=1))
        (1.0, 1.0)
        >>> round(boundary_f1(square, np.roll(square, 4, axis=1)), 3)
        0.556
    """
    from scipy import ndimage

    true_edge, found_edge = boundary(truth), boundary(predicted)
    if not true_edge.any() and not found_edge.any():
        return 1.0
    if not true_edge.any() or not found_edge.any():
        return 0.0
    # distance of every pixel to the nearest boundary pixel of the other mask
    to_true = ndimage.distance_transform_edt(~true_edge)
    to_found = ndimage.distance_transform_edt(~found_edge)
    precision = float((to_true[found_edge] <= tolerance).mean())
    recall = float((to_found[true_edge] <= tolerance).mean())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _nanmean(values: np.ndarray) -> float:
    values = np.asarray(values, np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
