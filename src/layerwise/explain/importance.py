"""Permutation feature importance on the user's own columns.

Each column of the raw input frame is shuffled in turn and the model (the whole pipeline,
preprocessing included) is scored again: the drop in score is how much the model relies on
that column. Works for any model exposing ``predict(frame)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


class Ranking(list):
    """The ranked features (a list of dicts), with ``rows``: how many rows were scored."""

    rows: int = 0


def permutation_importance(
    predict: Callable[[pd.DataFrame], Any],
    X: pd.DataFrame,
    y: Any,
    score: Callable[[Any, Any], float],
    *,
    n_repeats: int = 3,
    seed: int = 0,
    max_rows: int = 2000,
    batch_rows: int = 50_000,
    seconds: float | None = None,
    min_rows: int = 200,
) -> Ranking:
    """Importance of each column of ``X``: baseline score minus the score with it shuffled.

    Args:
        predict: ``predict(frame) -> predictions`` (the whole pipeline on raw columns).
        X: the raw input frame, one column per user feature.
        y: the true targets, aligned with ``X`` (array-like or Series).
        score: ``score(y_true, predictions) -> float``; higher must mean better
            (pass a negated error for regression, e.g. ``lambda t, p: -rmse(t, p)``).
        n_repeats: shuffles per column; the mean and standard deviation are reported.
        seed: seeds the row subsample and every shuffle.
        max_rows: rows are subsampled to at most this many (seeded) before scoring.
        batch_rows: shuffled copies are predicted together, about this many rows a call.
        seconds: a budget for the shuffled predictions: the baseline prediction is timed, and
            the rows are subsampled further (to no fewer than ``min_rows``) when scoring every
            shuffle of them would take longer (a bag of forests predicts a thousand times
            slower than a linear model: 2,000 rows of 14 columns took 17 s). None: no budget.
        min_rows: the fewest rows the budget may leave.

    Returns:
        ``[{"feature": name, "importance": float, "std": float}, ...]`` sorted by
        importance, most important first (a :class:`Ranking`: its ``rows`` says how many
        rows were scored).

    Example:
        >>> import numpy as np, pandas as pd
        >>> X = pd.DataFrame({"a": np.arange(100.0), "b": np.zeros(100)})
        >>> y = (X["a"] > 50).to_numpy()
        >>> acc = lambda t, p: float(np.mean(np.asarray(t) == np.asarray(p)))
        >>> result = permutation_importance(lambda f: (f["a"] > 50).to_numpy(), X, y, acc)
        >>> result[0]["feature"]
        'a'
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(
            f"permutation_importance expects X as a pandas DataFrame, got {type(X).__name__}; "
            "wrap it with pd.DataFrame(X, columns=[...])."
        )
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be at least 1, got {n_repeats}.")
    y_arr = y.to_numpy() if isinstance(y, (pd.Series, pd.DataFrame)) else np.asarray(y)
    if len(y_arr) != len(X):
        raise ValueError(
            f"X has {len(X)} rows but y has {len(y_arr)}: they must be aligned row by row."
        )
    rng = np.random.default_rng(seed)
    if max_rows and len(X) > max_rows:
        rows = np.sort(rng.choice(len(X), size=max_rows, replace=False))
        X = X.iloc[rows]
        y_arr = y_arr[rows]
    X = X.reset_index(drop=True)
    started = time.perf_counter()
    predicted = np.asarray(predict(X))
    per_row = (time.perf_counter() - started) / max(len(X), 1)
    n_shuffles = len(X.columns) * n_repeats
    if seconds is not None and per_row * n_shuffles * len(X) > seconds:
        # the rows the budget affords; the baseline's predictions are row by row, so the
        # subsample's baseline is read from them rather than predicted again
        keep = max(min_rows, int(seconds / (per_row * n_shuffles)))
        if keep < len(X):
            rows = np.sort(rng.choice(len(X), size=keep, replace=False))
            X, y_arr, predicted = X.iloc[rows].reset_index(drop=True), y_arr[rows], predicted[rows]
    baseline = float(score(y_arr, predicted))

    # Shuffled copies are predicted in batches of about ``batch_rows`` rows: one call per batch,
    # not per (column, repeat), which is what makes this affordable for slow pipelines.
    n = len(X)
    shuffles = [(column, rng.permutation(n)) for column in X.columns for _ in range(n_repeats)]
    per_batch = max(1, batch_rows // max(n, 1))
    drops: dict[Any, list[float]] = {column: [] for column in X.columns}
    for start in range(0, len(shuffles), per_batch):
        chunk = shuffles[start : start + per_batch]
        frames = []
        for column, order in chunk:
            shuffled = X.copy()
            shuffled[column] = X[column].iloc[order].set_axis(X.index)  # keeps dtype
            frames.append(shuffled)
        predictions = np.asarray(predict(pd.concat(frames, ignore_index=True)))
        for i, (column, _) in enumerate(chunk):
            drops[column].append(baseline - float(score(y_arr, predictions[i * n : (i + 1) * n])))
    results = Ranking(
        {"feature": str(c), "importance": float(np.mean(d)), "std": float(np.std(d))}
        for c, d in drops.items()
    )
    results.sort(key=lambda item: item["importance"], reverse=True)
    results.rows = n
    return results
