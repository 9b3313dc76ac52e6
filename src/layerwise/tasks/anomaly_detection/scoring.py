"""Scores a user can act on: ranking metrics, calibrated probabilities, and thresholds set by
an alert budget, a target precision or recall, or the costs of a false alarm and a miss.

Every threshold is on the served score (higher = more unusual). A budget is turned into a
threshold with the scores of the training rows (the flow of rows a user will score); precision
and recall at a threshold can only be known from labelled rows, and are reported only then.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from layerwise.errors import ConfigError, DataError

BUDGETS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1)  # the operating points every report shows
DEFAULT_BUDGET = 0.01


def ranking_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """ROC-AUC and PR-AUC (average precision) of ``scores`` against 0/1 ``labels``; NaN when
    only one class is present.

    >>> ranking_metrics(np.array([0, 0, 1]), np.array([0.1, 0.2, 0.9]))
    {'roc_auc': 1.0, 'pr_auc': 1.0}
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    labels = np.asarray(labels)
    if labels.min() == labels.max():
        return {"roc_auc": float("nan"), "pr_auc": float("nan")}
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "pr_auc": float(average_precision_score(labels, scores)),
    }


def parse_budget(value: Any) -> float:
    """An alert budget as a fraction: ``"0.5%"`` -> 0.005, ``0.02`` -> 0.02.

    >>> parse_budget("0.5%"), parse_budget(0.02)
    (0.005, 0.02)
    """
    text = str(value).strip()
    try:
        budget = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ConfigError(
            f"Alert budget '{value}' is not a number.", "Give a share of rows, e.g. 0.5% or 0.005."
        ) from None
    if not 0 < budget < 1:
        raise ConfigError(
            f"Alert budget {value} is outside (0, 100%).",
            "Give the share of rows to flag, e.g. --alert-budget 0.5% (between 0 and 100%).",
        )
    return budget


def budget_threshold(reference: np.ndarray, budget: float) -> float:
    """The score above which a share ``budget`` of the reference rows lies.

    >>> budget_threshold(np.arange(100.0), 0.05)
    94.05
    """
    return float(np.quantile(reference, 1 - budget))


def precision_recall_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    """Precision, recall and the flagged share at ``scores >= threshold`` on labelled rows."""
    flagged = scores >= threshold
    hits = int(np.sum(flagged & (labels == 1)))
    positives = int(np.sum(labels == 1))
    return {
        "precision": hits / int(flagged.sum()) if flagged.any() else float("nan"),
        "recall": hits / positives if positives else float("nan"),
        "flagged_share": float(flagged.mean()),
    }


def operating_points(
    reference: np.ndarray, labels: np.ndarray | None = None, scores: np.ndarray | None = None
) -> list[dict[str, float]]:
    """For each budget in ``BUDGETS``: its threshold on ``reference`` scores and, with labelled
    ``scores``, the precision and recall expected there."""
    points = []
    for budget in BUDGETS:
        point = {"budget": budget, "threshold": budget_threshold(reference, budget)}
        if labels is not None and scores is not None:
            point.update(precision_recall_at(labels, scores, point["threshold"]))
        points.append(point)
    return points


def choose_threshold(
    rule: dict[str, Any],
    reference: np.ndarray,
    labels: np.ndarray | None = None,
    scores: np.ndarray | None = None,
) -> dict[str, Any]:
    """The threshold a user's ``rule`` asks for, with what it is expected to give.

    ``rule`` is one of ``{"budget": 0.01}``, ``{"precision": 0.9}``, ``{"recall": 0.8}`` or
    ``{"cost_fp": 1, "cost_fn": 50}``. All but the budget need labelled ``scores``.

    >>> ref = np.arange(100.0)
    >>> round(choose_threshold({"budget": 0.1}, ref)["threshold"], 2)
    89.1
    """
    kind = next(iter(rule))
    if kind == "budget":
        out = {"rule": f"alert budget {rule['budget']:.2%}"}
        out["threshold"] = budget_threshold(reference, float(rule["budget"]))
    else:
        if labels is None or scores is None or labels.min() == labels.max():
            raise ConfigError(
                f"A threshold by {kind.replace('_', ' ')} needs labelled rows of both kinds.",
                "Train with --target naming a 0/1 column (a few labels are enough), or set "
                "an alert budget instead (--alert-budget 1%).",
            )
        out = _labelled_threshold(rule, kind, labels, scores)
    if labels is not None and scores is not None and labels.min() != labels.max():
        out.update(precision_recall_at(labels, scores, out["threshold"]))
    out["expected_flagged_share"] = float(np.mean(reference >= out["threshold"]))
    return out


def _labelled_threshold(
    rule: dict[str, Any], kind: str, labels: np.ndarray, scores: np.ndarray
) -> dict[str, Any]:
    candidates = np.unique(scores)[::-1]  # from the strictest threshold down
    flagged = np.array([(scores >= t).sum() for t in candidates])
    hits = np.array([((scores >= t) & (labels == 1)).sum() for t in candidates])
    precision, recall = hits / np.maximum(flagged, 1), hits / max(int(labels.sum()), 1)
    if kind == "precision":
        ok = np.flatnonzero(precision >= float(rule["precision"]))
        if not len(ok):
            raise DataError(
                f"No threshold reaches precision {rule['precision']:.0%} on the labelled rows "
                f"(best {precision.max():.0%}).",
                "Ask for a lower precision, or give more labelled examples.",
            )
        i = ok[np.argmax(recall[ok])]  # the most recall among thresholds precise enough
        return {"rule": f"precision >= {rule['precision']:.0%}", "threshold": float(candidates[i])}
    if kind == "recall":
        i = int(np.flatnonzero(recall >= float(rule["recall"]))[0])  # strictest reaching it
        return {"rule": f"recall >= {rule['recall']:.0%}", "threshold": float(candidates[i])}
    cost_fp, cost_fn = float(rule["cost_fp"]), float(rule["cost_fn"])
    misses = int(labels.sum()) - hits
    costs = cost_fp * (flagged - hits) + cost_fn * misses
    i = int(np.argmin(costs))
    return {
        "rule": f"lowest cost (false alarm {cost_fp:g}, miss {cost_fn:g})",
        "threshold": float(candidates[i]),
        "cost_per_row": float(costs[i] / len(labels)),
    }


class Calibrator:
    """Platt scaling: P(anomaly) = sigmoid(a * score + b), fitted on labelled rows' scores.

    >>> c = Calibrator.fit(np.array([0.0, 0.1, 0.2, 3.0, 3.1, 0.3]), np.array([0, 0, 0, 1, 1, 0]))
    >>> bool(c.probability(np.array([3.2]))[0] > 0.5 > c.probability(np.array([0.0]))[0])
    True
    """

    def __init__(self, a: float, b: float):
        self.a, self.b = a, b

    @classmethod
    def fit(cls, scores: np.ndarray, labels: np.ndarray) -> Calibrator:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=100.0).fit(np.asarray(scores)[:, None], labels)
        return cls(float(model.coef_[0, 0]), float(model.intercept_[0]))

    def probability(self, scores: np.ndarray) -> np.ndarray:
        z = np.clip(self.a * np.asarray(scores, dtype=np.float64) + self.b, -40, 40)
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> dict[str, float]:
        return {"a": self.a, "b": self.b}
