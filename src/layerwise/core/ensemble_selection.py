"""Caruana et al.'s ensemble selection (2004), shared by the applications whose bake-off mixes
its candidates' outputs (the tables, anomaly detection's fraud mode).

Add, with replacement, the member that most lowers a smooth loss of the running mean of the
members' out-of-fold outputs, ``ROUNDS`` times; the weights are the counts over the rounds. A
loss this smooth (log loss, squared error) rather than the ranking metric itself keeps the
selection steady on few rows. Weights fitted on the out-of-fold outputs would flatter the
ensemble if it were scored on the same outputs, so :func:`cross_fitted` scores each fold with
weights fitted on the other folds.

The forecasting task keeps its own copy on MSE over forecast blocks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ROUNDS = 25
Loss = Callable[[np.ndarray, np.ndarray], float]  # (outputs of some rows, their row index)


def describe(weights: dict[str, float]) -> str:
    """The weights as a sentence, heaviest first.

    >>> describe({"mlp": 0.4, "lightgbm": 0.6})
    '0.60 lightgbm + 0.40 mlp'
    """
    ranked = sorted(weights.items(), key=lambda item: (-item[1], item[0]))
    return " + ".join(f"{w:.2f} {name}" for name, w in ranked)


def smooth_loss(y: np.ndarray, classification: bool, sample_weight: np.ndarray | None) -> Loss:
    """The loss the weights are fitted on: log loss of the class probabilities, or squared
    error of the values, over the rows ``index`` (weighted by ``sample_weight`` when given).

    >>> loss = smooth_loss(np.array([0, 1]), True, None)
    >>> round(loss(np.array([[0.5, 0.5], [0.5, 0.5]]), np.arange(2)), 4)
    0.6931
    """
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)

    def loss(output: np.ndarray, index: np.ndarray) -> float:
        if classification:
            picked = output[np.arange(len(index)), y[index]]
            per_row = -np.log(np.clip(picked, 1e-15, None))
        else:
            per_row = (output - y[index]) ** 2
        return float(np.average(per_row, weights=w[index]))

    return loss


def greedy_weights(
    outputs: dict[str, np.ndarray], loss: Loss, index: np.ndarray, rounds: int = ROUNDS
) -> dict[str, float]:
    """Caruana's ensemble selection on rows ``index``: ``rounds`` times, add (with replacement)
    the member whose addition gives the running mean the lowest ``loss``; weights are the
    counts over the rounds (members never picked are left out). Ties go to the first member.

    >>> y = np.zeros(4); mse = lambda out, i: float(np.mean((out - y[i]) ** 2))
    >>> greedy_weights({"a": y + 1, "b": y - 1, "c": y + 3}, mse, np.arange(4), rounds=4)
    {'a': 0.5, 'b': 0.5}
    """
    parts = {name: out[index] for name, out in outputs.items()}
    counts: dict[str, int] = {}
    total = np.zeros_like(next(iter(parts.values())), dtype=np.float64)
    for step in range(1, rounds + 1):
        best = min(parts, key=lambda n: loss((total + parts[n]) / step, index))
        counts[best] = counts.get(best, 0) + 1
        total += parts[best]
    return {name: n / rounds for name, n in counts.items()}


def mix(outputs: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """The weighted mean of the members' outputs."""
    return sum(w * outputs[name] for name, w in weights.items())


def cross_fitted(
    outputs: dict[str, np.ndarray], loss: Loss, folds: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """The ensemble's out-of-fold outputs with each fold's weights fitted on the other folds'
    out-of-fold outputs. One holdout is cut in two halves (alternate rows), each mixed by the
    weights fitted on the other.

    >>> y = np.zeros(4); mse = lambda out, i: float(np.mean((out - y[i]) ** 2))
    >>> folds = [(np.array([2, 3]), np.array([0, 1])), (np.array([0, 1]), np.array([2, 3]))]
    >>> np.round(cross_fitted({"a": y + 1, "b": y - 1}, mse, folds), 1).tolist()  # 13 a, 12 b
    [0.0, 0.0, 0.0, 0.0]
    """
    parts = [va for _, va in folds]
    if len(parts) == 1:
        parts = [parts[0][0::2], parts[0][1::2]]
    out = np.zeros_like(next(iter(outputs.values())), dtype=np.float64)
    for k, rows in enumerate(parts):
        others = np.concatenate([p for j, p in enumerate(parts) if j != k])
        out[rows] = mix(outputs, greedy_weights(outputs, loss, others))[rows]
    return out
