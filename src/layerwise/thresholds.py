"""Decision thresholds for two classes, on plain arrays: the cut that maximises a metric
(accuracy, macro-F1, balanced accuracy) or Youden's J, meets a goal (recall at a precision),
or costs least; a prior's shift of the probabilities; and the curves the report draws.
:mod:`layerwise.core.operating_point` decides which of them a run serves."""

from __future__ import annotations

from typing import Any

import numpy as np


def youden_threshold(y_true: np.ndarray, score: np.ndarray) -> float:
    """The score threshold that maximises sensitivity + specificity (Youden's J) for labels 0/1.

    Chosen on validation data, it is a robust operating point when the test prevalence may
    differ from training (common with medical data).

    >>> youden_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.8
    """
    from sklearn.metrics import roc_curve

    y_true = np.asarray(y_true)
    if len(np.unique(y_true)) < 2:
        return 0.5
    fpr, tpr, thresholds = roc_curve(y_true, score)
    best = int(np.argmax(tpr - fpr))
    return float(min(max(thresholds[best], 0.0), 1.0))


THRESHOLD_METRICS = ("accuracy", "macro_f1", "balanced_accuracy")


def _metric_at_cuts(
    y: np.ndarray,
    score: np.ndarray,
    cuts: np.ndarray,
    metric: str,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """``metric`` of calling class 1 where ``score >= cut``, for every cut at once (also
    ``precision``, nan where nothing is called, and ``recall``); ``weights`` weigh the rows."""
    called = (score[None, :] >= cuts[:, None]).astype(float)  # [cuts, n]
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    pos = y == 1
    positives, negatives = float(w[pos].sum()), float(w[~pos].sum())
    tp, fp = called @ (w * pos), called @ (w * ~pos)
    fn, tn = positives - tp, negatives - fp
    if metric == "accuracy":
        return (tp + tn) / (positives + negatives)
    recall1 = tp / positives if positives > 0 else np.zeros_like(tp)
    recall0 = tn / negatives if negatives > 0 else np.zeros_like(tn)
    if metric == "recall":
        return recall1
    if metric == "precision":
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-300), np.nan)
    if metric == "balanced_accuracy":
        return (recall1 + recall0) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        f1_pos = np.nan_to_num(2 * tp / (2 * tp + fp + fn))
        f1_neg = np.nan_to_num(2 * tn / (2 * tn + fn + fp))
    return (f1_pos + f1_neg) / 2


def _cuts(score: np.ndarray, most: int = 200) -> np.ndarray:
    """0.5 first, then midpoints between neighbouring distinct scores (at most ``most``)."""
    distinct = np.unique(score)
    if len(distinct) > most:
        distinct = np.unique(np.quantile(score, np.linspace(0, 1, most + 1)))
    return np.r_[0.5, (distinct[1:] + distinct[:-1]) / 2]


def metric_threshold(
    y_true: np.ndarray,
    score: np.ndarray,
    metric: str = "macro_f1",
    seed: int = 0,
    weights: np.ndarray | None = None,
) -> tuple[float, dict[str, float]]:
    """The cut on ``score`` (probability of class 1) that maximises ``metric`` on these labels,
    kept at 0.5 unless moving holds up on rows the cut was not chosen on: over bootstrap
    resamples, the cut is chosen on the resample and its gain over 0.5 measured on the rows
    left out; it moves when that out-of-sample gain's mean exceeds its spread. (The gain of the
    best cut on the same rows is optimistic: on a calibrated model it is noise.)

    Returns the threshold and the evidence: the metric at 0.5 and at the best cut, the
    out-of-sample gain and its standard deviation, and whether the cut moved. ``weights``
    weigh the rows (a resampled row keeps its weight), e.g. to another prevalence.

    >>> y = np.array([0] * 80 + [1] * 20)
    >>> score = np.r_[np.linspace(0.0, 0.3, 80), np.linspace(0.32, 0.45, 20)]  # squeezed
    >>> round(metric_threshold(y, score)[0], 2)
    0.31
    """
    if metric not in THRESHOLD_METRICS:
        raise ValueError(f"metric {metric!r}: one of {', '.join(THRESHOLD_METRICS)}")
    y, score = np.asarray(y_true).astype(int), np.asarray(score, dtype=float)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    facts = {"metric_at_0.5": float("nan"), "metric_at_cut": float("nan"), "gain": 0.0,
             "gain_std": 0.0, "moved": False}  # fmt: skip
    if len(np.unique(y)) < 2:
        return 0.5, facts
    cuts = _cuts(score)
    values = _metric_at_cuts(y, score, cuts, metric, w)
    best = int(np.argmax(values))
    facts.update({"metric_at_0.5": float(values[0]), "metric_at_cut": float(values[best])})
    if best == 0 or values[best] <= values[0]:
        return 0.5, facts
    rng = np.random.default_rng(seed)
    gains = []
    for _ in range(100):
        rows = rng.integers(0, len(y), min(len(y), 5000))
        out = np.setdiff1d(np.arange(len(y)), rows)
        if len(np.unique(y[rows])) < 2 or len(np.unique(y[out])) < 2:
            continue
        inside = _metric_at_cuts(y[rows], score[rows], cuts, metric, w[rows])
        pair = np.r_[0.5, cuts[int(np.argmax(inside))]]
        at = _metric_at_cuts(y[out], score[out], pair, metric, w[out])
        gains.append(at[1] - at[0])
    if len(gains) < 10:
        return 0.5, facts
    gain, spread = float(np.mean(gains)), float(np.std(gains, ddof=1))
    moved = gain > spread
    facts.update({"gain": gain, "gain_std": spread, "moved": bool(moved)})
    return (float(cuts[best]) if moved else 0.5), facts


def cut_figures(
    y_true: np.ndarray,
    score: np.ndarray,
    cut: float,
    weights: np.ndarray | None = None,
    costs: tuple[float, float] | None = None,
) -> dict[str, float]:
    """Accuracy, balanced accuracy, macro-F1, and the precision and recall of class 1 of calling
    it where ``score >= cut``; with ``costs`` (false positive, false negative) also the mean
    cost per row. ``weights`` weigh the rows.

    >>> cut_figures(np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.7, 0.4]), 0.5)["precision"]
    0.5
    """
    y, score = np.asarray(y_true).astype(int), np.asarray(score, dtype=float)
    cuts = np.array([cut], dtype=float)
    names = ("accuracy", "balanced_accuracy", "macro_f1", "precision", "recall")
    figures = {m: float(_metric_at_cuts(y, score, cuts, m, weights)[0]) for m in names}
    if costs is not None:
        figures["cost"] = float(_costs_at_cuts(y, score, cuts, costs, weights)[0])
    return figures


def _costs_at_cuts(
    y: np.ndarray,
    score: np.ndarray,
    cuts: np.ndarray,
    costs: tuple[float, float],
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Mean cost per row, ``cost_fp * FP + cost_fn * FN`` over the rows' weight, at every cut."""
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    called = (score[None, :] >= cuts[:, None]).astype(float)
    pos = y == 1
    fp = called @ (w * ~pos)
    fn = float(w[pos].sum()) - called @ (w * pos)
    return (costs[0] * fp + costs[1] * fn) / w.sum()


def _every_cut(score: np.ndarray) -> np.ndarray:
    """One cut per distinct way of calling rows, ascending: the lowest score (call every row),
    midpoints between neighbouring distinct scores, and one above the highest (call none)."""
    distinct = np.unique(score)
    top = (distinct[-1] + 1.0) / 2 if distinct[-1] < 1.0 else np.nextafter(distinct[-1], 2.0)
    return np.r_[distinct[0], (distinct[1:] + distinct[:-1]) / 2, top]


def _sweep(
    y: np.ndarray, score: np.ndarray, weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cuts of :func:`_every_cut` with the (weighted) true and false positives of each, in
    one sort instead of a cuts x rows table."""
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    order = np.argsort(-score, kind="stable")
    ranked, pos = score[order], (y == 1)[order]
    tp, fp = np.cumsum(w[order] * pos), np.cumsum(w[order] * ~pos)
    last = np.r_[np.nonzero(ranked[1:] != ranked[:-1])[0], len(ranked) - 1]  # of each score
    tp, fp = np.r_[0.0, tp[last]], np.r_[0.0, fp[last]]  # calling none, then more and more
    return _every_cut(score)[::-1], tp, fp


def goal_threshold(
    y_true: np.ndarray,
    score: np.ndarray,
    goal: str,
    level: float,
    weights: np.ndarray | None = None,
) -> tuple[float, dict[str, Any]]:
    """The cut that meets a stated goal on these labels: ``goal`` "recall@precision" gives the
    highest recall of class 1 among the cuts whose precision is at least ``level``;
    "precision@recall" the highest precision among those whose recall is at least ``level``.
    No cut meets it: the one with the best precision (the best recall), and ``reached`` False.

    >>> y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    >>> round(goal_threshold(y, np.linspace(0.1, 0.8, 8), "recall@precision", 0.8)[0], 2)  # 4 of 5
    0.35
    """
    if goal not in ("recall@precision", "precision@recall"):
        raise ValueError(f"goal {goal!r}: recall@precision or precision@recall")
    y, score = np.asarray(y_true).astype(int), np.asarray(score, dtype=float)
    if len(y) == 0 or (y == 1).sum() == 0:
        return 0.5, {"reached": False}
    cuts, tp, fp = _sweep(y, score, weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), -1.0)  # nothing called: never meets
    recall = tp / tp[-1]
    held, best = (precision, recall) if goal == "recall@precision" else (recall, precision)
    meets = held >= level - 1e-12
    reached = bool(meets.any())
    # the best of the goal's figure, ties to the better held one; none meets: the best held one
    order = np.lexsort((held, best)) if reached else np.lexsort((best, held))
    pick = next(i for i in order[::-1] if meets[i] or not reached)
    return float(cuts[pick]), {"reached": reached}


def cost_threshold(
    y_true: np.ndarray,
    score: np.ndarray,
    cost_fp: float = 1.0,
    cost_fn: float = 1.0,
    weights: np.ndarray | None = None,
) -> tuple[float, dict[str, Any]]:
    """The cut with the lowest mean cost ``cost_fp * FP + cost_fn * FN`` on these labels (ties
    to the one nearest the Bayes cut). For calibrated probabilities the Bayes cut
    ``cost_fp / (cost_fp + cost_fn)`` is the expected optimum; it is returned beside it with
    its cost on these rows.

    >>> rng = np.random.default_rng(0)
    >>> p = rng.random(20000); y = (rng.random(20000) < p).astype(int)
    >>> cut, facts = cost_threshold(y, p, 1.0, 4.0)
    >>> facts["bayes_cut"], abs(cut - 0.2) < 0.05
    (0.2, True)
    """
    y, score = np.asarray(y_true).astype(int), np.asarray(score, dtype=float)
    bayes = float(cost_fp / (cost_fp + cost_fn))
    facts: dict[str, Any] = {"bayes_cut": bayes}
    if len(y) == 0:
        return bayes, facts
    costs = (cost_fp, cost_fn)
    facts["cost_at_bayes_cut"] = float(_costs_at_cuts(y, score, np.r_[bayes], costs, weights)[0])
    cuts, tp, fp = _sweep(y, score, weights)
    total = float(len(y) if weights is None else np.sum(weights))
    cost = (cost_fp * fp + cost_fn * (tp[-1] - tp)) / total
    lowest = cost.min()
    near = np.where(cost <= lowest + 1e-12 * max(1.0, lowest), -np.abs(cuts - bayes), -np.inf)
    return float(cuts[int(np.argmax(near))]), facts


def prior_log_odds(prior: float, prevalence: float) -> float:
    """How much Bayes' rule moves the log-odds of class 1 when its share goes from
    ``prevalence`` (where the model learnt) to ``prior`` (where it is used):
    ``log(P / (1 - P)) - log(p / (1 - p))``; 0 when they are equal.

    >>> round(prior_log_odds(0.5, 0.2), 4)
    1.3863
    """
    return float(np.log(prior / (1 - prior)) - np.log(prevalence / (1 - prevalence)))


def shift_probabilities(proba: np.ndarray, shift: float) -> np.ndarray:
    """Two-class probabilities with ``shift`` added to the log-odds of class 1
    (:func:`prior_log_odds`): odds' = odds * (P / (1 - P)) / (p / (1 - p)). The ranking does
    not change; a cut t becomes :func:`threshold_after_shift` (t, shift).

    >>> shift_probabilities(np.array([[0.8, 0.2]]), prior_log_odds(0.5, 0.2)).round(3)
    array([[0.5, 0.5]])
    """
    if shift == 0.0:
        return proba
    clipped = np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1.0)
    log_odds = np.log(clipped[:, 1]) - np.log(clipped[:, 0]) + shift
    one = 1.0 / (1.0 + np.exp(-log_odds))
    return np.c_[1.0 - one, one]


def threshold_after_shift(threshold: float, shift: float) -> float:
    """The cut on shifted probabilities that calls the same rows as ``threshold`` did."""
    t = min(max(threshold, 1e-12), 1 - 1e-12)
    return float(1 / (1 + np.exp(-(np.log(t / (1 - t)) + shift))))


def prior_weights(y_true: np.ndarray, prior: float) -> np.ndarray:
    """Row weights that give class 1 the share ``prior`` in these labels (importance weights
    ``P / p`` for class 1 and ``(1 - P) / (1 - p)`` for class 0, ``p`` its share here): a
    metric computed with them estimates the metric where the classes come in that share.

    >>> prior_weights(np.array([0, 0, 0, 1]), 0.5).tolist()
    [0.6666666666666666, 0.6666666666666666, 0.6666666666666666, 2.0]
    """
    y = np.asarray(y_true)
    known = y[y >= 0]  # -1: a class not seen in training, left out of every figure
    share = float(np.mean(known == 1)) if len(known) else 0.0
    if share in (0.0, 1.0):
        return np.ones(len(y))
    return np.where(y == 1, prior / share, (1 - prior) / (1 - share))


def binary_operating_point(
    y_true: np.ndarray,
    score: np.ndarray,
    threshold: float = 0.5,
    weights: np.ndarray | None = None,
) -> dict[str, float]:
    """Sensitivity (recall of class 1), specificity (recall of class 0), and the accuracy and
    balanced accuracy of calling class 1 when ``score >= threshold`` (``weights`` weigh rows).

    >>> binary_operating_point(np.array([0, 1, 1]), np.array([0.2, 0.9, 0.4]))["sensitivity"]
    0.5
    """
    y_true = np.asarray(y_true)
    w = np.ones(len(y_true)) if weights is None else np.asarray(weights, dtype=float)
    called = np.asarray(score) >= threshold
    positive, negative = y_true == 1, y_true == 0
    nan = float("nan")
    sensitivity = (
        float(np.average(called[positive], weights=w[positive])) if positive.any() else nan
    )
    specificity = (
        float(np.average(~called[negative], weights=w[negative])) if negative.any() else nan
    )
    return {
        "threshold": float(threshold),
        "sensitivity": sensitivity,
        "specificity": specificity,
        "accuracy": float(np.average(called == positive, weights=w)),
        "balanced_accuracy": float(np.nanmean([sensitivity, specificity])),
    }


def threshold_curves(
    y_true: np.ndarray, score: np.ndarray, cuts: Any = 101
) -> dict[str, list[float | None]]:
    """Two-class metrics of calling class 1 where ``score >= cut``, for each cut: accuracy,
    macro-F1, balanced accuracy, sensitivity (recall of class 1) and specificity (recall of
    class 0), the same figures :func:`binary_operating_point` and scikit-learn's macro-F1
    give at one cut. ``cuts``: the cuts, or how many evenly spaced over [0, 1]. A recall of a
    class with no row is None.

    >>> curves = threshold_curves(np.array([0, 1, 1]), np.array([0.2, 0.9, 0.4]), [0.3, 0.5])
    >>> curves["accuracy"], curves["sensitivity"]
    ([1.0, 0.666667], [1.0, 0.5])
    """
    y = np.asarray(y_true).astype(int)
    score = np.asarray(score, dtype=float)
    cuts = np.linspace(0.0, 1.0, cuts) if np.ndim(cuts) == 0 else np.asarray(cuts, dtype=float)
    positives, negatives = np.sort(score[y == 1]), np.sort(score[y != 1])
    n_pos, n_neg = len(positives), len(negatives)
    tp = n_pos - np.searchsorted(positives, cuts, side="left")  # rows at or above the cut
    fp = n_neg - np.searchsorted(negatives, cuts, side="left")
    fn, tn = n_pos - tp, n_neg - fp
    with np.errstate(invalid="ignore", divide="ignore"):
        sensitivity = tp / n_pos if n_pos else np.full(len(cuts), np.nan)
        specificity = tn / n_neg if n_neg else np.full(len(cuts), np.nan)
        f1_pos = np.nan_to_num(2 * tp / (2 * tp + fp + fn))
        f1_neg = np.nan_to_num(2 * tn / (2 * tn + fn + fp))
    present = [f for f, n in ((f1_neg, n_neg), (f1_pos, n_pos)) if n]  # as sklearn's labels=
    curves = {
        "cut": cuts,
        "accuracy": (tp + tn) / max(len(y), 1),
        "macro_f1": np.mean(present, axis=0) if present else np.full(len(cuts), np.nan),
        "balanced_accuracy": np.nanmean([sensitivity, specificity], axis=0),
        "sensitivity": sensitivity,
        "specificity": specificity,
    }
    return {
        name: [None if not np.isfinite(v) else round(float(v), 6) for v in values]
        for name, values in curves.items()
    }
