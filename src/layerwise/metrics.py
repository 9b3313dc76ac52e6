"""Metrics shared by the tasks, computed with scikit-learn on plain arrays."""

from __future__ import annotations

from typing import Any

import numpy as np


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, sample_weight: np.ndarray | None = None
) -> dict[str, float]:
    """Accuracy, balanced accuracy, macro-F1, ROC-AUC (binary, or one-vs-rest macro when every
    class is present), log loss and the expected calibration error of the top class (``ece``);
    ``sample_weight`` weighs the rows (e.g. :func:`prior_weights`).

    >>> classification_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]))["accuracy"]
    1.0
    """
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        f1_score,
        log_loss,
        roc_auc_score,
    )

    n_classes = proba.shape[1]
    predicted = proba.argmax(axis=1)
    w = sample_weight
    f1 = f1_score(y_true, predicted, average="macro", labels=np.unique(y_true), sample_weight=w)
    result = {
        "accuracy": float(accuracy_score(y_true, predicted, sample_weight=w)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, predicted, sample_weight=w)),
        "macro_f1": float(f1),
        "ece": expected_calibration_error(y_true, proba, weights=w),
    }
    present = np.unique(y_true)
    if len(present) == n_classes and n_classes >= 2:
        clipped = np.clip(proba, 1e-12, 1.0)
        clipped = clipped / clipped.sum(axis=1, keepdims=True)
        result["log_loss"] = float(
            log_loss(y_true, clipped, labels=list(range(n_classes)), sample_weight=w)
        )
        if n_classes == 2:
            result["roc_auc"] = float(roc_auc_score(y_true, proba[:, 1], sample_weight=w))
        else:
            result["roc_auc"] = float(
                roc_auc_score(y_true, clipped, multi_class="ovr", average="macro", sample_weight=w)
            )
    return result


def expected_calibration_error(
    y_true: np.ndarray, proba: np.ndarray, bins: int = 15, weights: np.ndarray | None = None
) -> float:
    """How far the top-class probability is from how often it is right: the mean over equal-width
    confidence bins of |accuracy - mean confidence|, weighted by the rows in each bin (0 is
    perfectly calibrated; ``weights`` weigh the rows). A user reads probabilities as
    confidence; this says if they may.

    >>> expected_calibration_error(np.array([0, 1, 1, 0]), np.array([[0.9, 0.1]] * 4))
    0.4
    """
    if len(y_true) == 0:
        return float("nan")
    return reliability_bins(y_true, proba, bins, weights)["ece"]


def reliability_bins(
    y_true: np.ndarray, proba: np.ndarray, bins: int = 15, weights: np.ndarray | None = None
) -> dict[str, Any]:
    """The numbers of a reliability diagram: each row's top-class probability (its confidence)
    falls in one of ``bins`` equal-width bins over [0, 1]; per bin, the rows (``count``), their
    mean confidence and how often the arg-max class was right (``accuracy``; None for an empty
    bin), and ``ece``, the rows-weighted mean gap (:func:`expected_calibration_error`). A
    calibrated model's bins lie on the diagonal. ``weights`` weigh the rows (a prior's
    reweighting); ``count`` stays the number of rows.

    >>> r = reliability_bins(np.array([0, 1, 1, 0]), np.array([[0.9, 0.1]] * 4), bins=10)
    >>> r["count"][9], r["confidence"][9], r["accuracy"][9], r["ece"]
    (4, 0.9, 0.5, 0.4)
    """
    y_true, proba = np.asarray(y_true), np.asarray(proba, dtype=float)
    confidence = proba.max(axis=1) if len(proba) else np.zeros(0)
    right = (proba.argmax(axis=1) == y_true).astype(float) if len(proba) else np.zeros(0)
    w = np.ones(len(y_true)) if weights is None else np.asarray(weights, dtype=float)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins)
    mean_confidence: list[float | None] = [None] * bins
    accuracy: list[float | None] = [None] * bins
    total = 0.0
    for b in np.flatnonzero(count):
        inside = which == b
        mass = w[inside].sum()
        if mass <= 0:
            continue
        mean = float(np.average(confidence[inside], weights=w[inside]))
        hit = float(np.average(right[inside], weights=w[inside]))
        total += mass * abs(hit - mean)
        mean_confidence[b], accuracy[b] = round(mean, 6), round(hit, 6)
    ece = round(float(total / w.sum()), 6) if len(y_true) and w.sum() > 0 else float("nan")
    return {
        "edges": np.linspace(0.0, 1.0, bins + 1).round(6).tolist(),
        "count": count.tolist(),
        "confidence": mean_confidence,
        "accuracy": accuracy,
        "ece": ece,
    }


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities softened (T > 1) or sharpened (T < 1): softmax(log(p) / T). The ranking
    and the arg-max do not change; for two classes a cut t becomes
    :func:`threshold_after_temperature` (t, T).

    >>> apply_temperature(np.array([[0.2, 0.8]]), 2.0).round(3)
    array([[0.333, 0.667]])
    """
    if temperature == 1.0:
        return proba
    logits = np.log(np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


def threshold_after_temperature(threshold: float, temperature: float) -> float:
    """The cut on tempered probabilities that calls the same rows as ``threshold`` did."""
    t = min(max(threshold, 1e-12), 1 - 1e-12)
    return float(1 / (1 + np.exp(-np.log(t / (1 - t)) / temperature)))


def fit_temperature(y_true: np.ndarray, proba: np.ndarray) -> float:
    """The temperature that minimises the log loss of ``proba`` on these labels (temperature
    scaling, Guo et al. 2017): one number, so it cannot overfit a validation set the way a
    per-bin method can. 1.0 with fewer than two classes present.

    >>> rng = np.random.default_rng(0)
    >>> p = rng.random(5000); y = (rng.random(5000) < p).astype(int)
    >>> sharp = apply_temperature(np.c_[1 - p, p], 0.5)  # overconfident by a factor 2
    >>> round(fit_temperature(y, sharp), 1)
    2.0
    """
    y = np.asarray(y_true).astype(int)
    proba = np.asarray(proba, dtype=np.float64)
    if len(np.unique(y)) < 2 or len(y) == 0:
        return 1.0
    logits = np.log(np.clip(proba, 1e-12, 1.0))
    rows = np.arange(len(y))

    def loss(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        return float(-(z[rows, y] - np.log(np.exp(z).sum(axis=1))).mean())

    grid = np.linspace(-3, 3, 121)
    best = grid[int(np.argmin([loss(g) for g in grid]))]
    fine = np.linspace(best - 0.05, best + 0.05, 21)
    return round(float(np.exp(fine[int(np.argmin([loss(g) for g in fine]))])), 4)


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R².

    >>> regression_metrics(np.array([1.0, 2.0]), np.array([1.0, 2.0]))["rmse"]
    0.0
    """
    from sklearn.metrics import mean_absolute_error, r2_score

    y_true = np.asarray(y_true, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    result = {
        "rmse": float(np.sqrt(np.mean((y_true - predicted) ** 2))),
        "mae": float(mean_absolute_error(y_true, predicted)),
    }
    if len(y_true) > 1:
        result["r2"] = float(r2_score(y_true, predicted))
    return result


def word_error_rate(references: list[list[Any]], hypotheses: list[list[Any]]) -> float:
    """Word error rate: (substitutions + deletions + insertions) over the reference words,
    summed over all utterances (Levenshtein distance on word sequences).

    >>> word_error_rate([["one", "two", "three"]], [["one", "three", "three", "four"]])
    0.6666666666666666
    """
    errors, words = 0, 0
    for ref, hyp in zip(references, hypotheses, strict=True):
        previous = list(range(len(hyp) + 1))
        for i, r in enumerate(ref, 1):
            current = [i] + [0] * len(hyp)
            for j, h in enumerate(hyp, 1):
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
            previous = current
        errors += previous[-1]
        words += len(ref)
    return errors / max(words, 1)
