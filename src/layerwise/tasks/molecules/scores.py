"""The scores of molecular property predictions: RMSE, MAE and R² for measured values, ROC-AUC,
PR-AUC and accuracy for yes/no properties, each per target (multitask sets leave a target's
blanks out) and their mean over the targets, which is what chooses the served model.

Also whether an ensemble's spread ranks its errors: the Spearman correlation of the spread of
each prediction with its absolute error (near 0: the spread says nothing about which
predictions to trust; 0.3 and up: it usefully flags the doubtful ones).

Example:
    >>> y = np.array([[1.0], [2.0], [3.0], [np.nan]])
    >>> p = np.array([[1.5], [2.0], [2.5], [9.0]])
    >>> s = property_scores(y, p, ["logS"], "regression")
    >>> round(s["rmse"], 4), s["per_target"]["logS"]["count"]
    (0.4082, 3)
"""

from __future__ import annotations

from typing import Any

import numpy as np

PRIMARY = {"regression": "rmse", "classification": "roc_auc"}
GREATER_IS_BETTER = {"rmse": False, "roc_auc": True}


def _one_target(y: np.ndarray, p: np.ndarray, kind: str) -> dict[str, Any]:
    seen = np.isfinite(y) & np.isfinite(p)
    y, p = y[seen], p[seen]
    out: dict[str, Any] = {"count": len(y)}
    if not len(y):
        return out
    if kind == "regression":
        err = p - y
        out["rmse"] = float(np.sqrt(np.mean(err**2)))
        out["mae"] = float(np.mean(np.abs(err)))
        spread = float(np.var(y))
        out["r2"] = float(1 - np.mean(err**2) / spread) if spread > 0 else None
        return out
    from sklearn.metrics import average_precision_score, roc_auc_score

    labels = y.astype(int)
    out["accuracy"] = float(np.mean((p >= 0.5) == (labels == 1)))
    out["positives"] = int(labels.sum())
    if 0 < labels.sum() < len(labels):  # both classes present: ranking scores exist
        out["roc_auc"] = float(roc_auc_score(labels, p))
        out["pr_auc"] = float(average_precision_score(labels, p))
    return out


def property_scores(y: np.ndarray, p: np.ndarray, names: list[str], kind: str) -> dict[str, Any]:
    """Scores of predictions ``p`` against ``y`` (both ``[n, targets]``, NaN where missing):
    per target, and the mean of each score over the targets that have it."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    per = {name: _one_target(y[:, j], p[:, j], kind) for j, name in enumerate(names)}
    keys = ("rmse", "mae", "r2") if kind == "regression" else ("roc_auc", "pr_auc", "accuracy")
    out: dict[str, Any] = {"count": len(y)}
    for key in keys:
        values = [t[key] for t in per.values() if t.get(key) is not None]
        out[key] = float(np.mean(values)) if values else None
    out["per_target"] = per
    return out


def spread_ranks_errors(y: np.ndarray, p: np.ndarray, spread: np.ndarray) -> float | None:
    """Spearman's correlation of the spread with the absolute error over every known value
    (all targets pooled), or None with fewer than 5 values or no variation."""
    from scipy.stats import spearmanr

    y, p, spread = (np.asarray(a, dtype=float).ravel() for a in (y, p, spread))
    seen = np.isfinite(y) & np.isfinite(p) & np.isfinite(spread)
    if seen.sum() < 5 or np.ptp(spread[seen]) == 0:
        return None
    value = spearmanr(spread[seen], np.abs(p[seen] - y[seen])).statistic
    return None if not np.isfinite(value) else float(value)


def by_scaffold(y: np.ndarray, p: np.ndarray, scaffolds: list[str], kind: str,
                top: int = 8) -> list[dict[str, Any]]:  # fmt: skip
    """The test molecules grouped by scaffold (the ``top`` largest groups, the rest together):
    how many, and the error there (RMSE, or the share called wrong at 0.5), first target."""
    y, p = np.asarray(y, dtype=float)[:, 0], np.asarray(p, dtype=float)[:, 0]
    names = np.asarray([s or "(acyclic)" for s in scaffolds], dtype=object)
    keep = np.isfinite(y)
    values, counts = np.unique(names[keep], return_counts=True)
    order = values[np.argsort(-counts, kind="stable")]
    groups = [(str(v), names == v) for v in order[:top]]
    if len(order) > top:
        groups.append((f"{len(order) - top} other scaffolds", ~np.isin(names, order[:top])))
    rows = []
    for name, where in groups:
        w = where & keep
        if not w.any():
            continue
        if kind == "regression":
            error = float(np.sqrt(np.mean((p[w] - y[w]) ** 2)))
        else:
            error = float(np.mean((p[w] >= 0.5) != (y[w] == 1)))
        rows.append({"scaffold": name, "count": int(w.sum()), "error": error})
    return rows
