"""Full-ranking metrics of recommendation, as the literature measures them (RecBole, Krichene &
Rendle 2020): every item the user has not interacted with is ranked, never a sample of
negatives.

- ``hr@k``: share of users with at least one held-out item in their top k.
- ``ndcg@k``: DCG of the held-out items in the top k (gain 1/log2(rank+1), rank from 1) over
  the best DCG possible with that many held-out items.
- ``recall@k``: held-out items in the top k over the number held out.
- ``coverage@k``: distinct items in all users' top-k lists over the catalogue size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BATCH_USERS = 512


def top_items(scores: np.ndarray, exclude: list[np.ndarray], k: int) -> np.ndarray:
    """The ``k`` best item indices per row of ``scores``, best first, with ``exclude[j]``'s
    items (the user's history) never recommended. Ties go to the lower item index, so the
    result does not depend on the sort algorithm. Rows with fewer than ``k`` allowed items
    are padded with -1.

    Example:
        >>> top_items(np.array([[0.1, 0.9, 0.5, 0.9]]), [np.array([3])], 2).tolist()
        [[1, 2]]
    """
    scores = np.array(scores, dtype=np.float64, copy=True)
    n, n_items = scores.shape
    for j, seen in enumerate(exclude):
        if len(seen):
            scores[j, seen] = -np.inf
    k_eff = min(k, n_items)
    # the negated index breaks ties toward the lower item: lexsort on (index, -score)
    part = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff] if k_eff < n_items else None
    if part is None:
        part = np.tile(np.arange(n_items), (n, 1))
    # argpartition may cut a tie at the boundary arbitrarily: widen to every tied item
    kth = np.take_along_axis(scores, part, axis=1).min(axis=1, keepdims=True)
    out = np.full((n, k), -1, dtype=np.int64)
    for j in range(n):
        candidates = np.flatnonzero(scores[j] >= kth[j, 0])
        order = np.lexsort((candidates, -scores[j, candidates]))
        best = candidates[order][:k_eff]
        best = best[np.isfinite(scores[j, best])]
        out[j, : len(best)] = best
    return out


def ranking_metrics(top: np.ndarray, held: list[np.ndarray], n_items: int, k: int = 10,
                    recall_k: int = 20) -> dict[str, float]:  # fmt: skip
    """HR@k, NDCG@k, recall@recall_k and coverage@k of top lists ``top`` ([n, >= recall_k],
    from :func:`top_items`) against each user's held-out items ``held[j]``.

    Example:
        >>> top = np.array([[3, 1, 2] + [-1] * 17, [0, 2, 1] + [-1] * 17])
        >>> m = ranking_metrics(top, [np.array([1]), np.array([4])], n_items=5)
        >>> m["hr@10"], round(m["ndcg@10"], 4), m["recall@20"], m["coverage@10"]
        (0.5, 0.3155, 0.5, 0.8)
    """
    n = len(held)
    if n == 0:
        return {f"hr@{k}": float("nan"), f"ndcg@{k}": float("nan"),
                f"recall@{recall_k}": float("nan"), f"coverage@{k}": float("nan"), "users": 0}  # fmt: skip
    discounts = 1.0 / np.log2(np.arange(2, max(k, recall_k) + 2))
    hits = ndcg = recall = 0.0
    for j in range(n):
        target = held[j]
        in_k = np.isin(top[j, :k], target)
        hits += float(in_k.any())
        ideal = discounts[: min(len(target), k)].sum()
        ndcg += float(discounts[:k][in_k].sum() / ideal)
        recall += float(np.isin(top[j, :recall_k], target).sum() / len(target))
    shown = top[:, :k]
    coverage = len(np.unique(shown[shown >= 0])) / n_items
    return {f"hr@{k}": hits / n, f"ndcg@{k}": ndcg / n, f"recall@{recall_k}": recall / n,
            f"coverage@{k}": coverage, "users": n}  # fmt: skip


def ndcg_per_user(top: np.ndarray, held: list[np.ndarray], k: int = 10) -> np.ndarray:
    """Each user's NDCG@k (their mean is ranking_metrics' ``ndcg@k``): the units the advisor
    pairs rankers on.

    >>> top = np.array([[3, 1, 2] + [-1] * 17, [0, 2, 1] + [-1] * 17])
    >>> ndcg_per_user(top, [np.array([1]), np.array([4])]).round(4).tolist()
    [0.6309, 0.0]
    """
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    out = np.zeros(len(held))
    for j, target in enumerate(held):
        in_k = np.isin(top[j, :k], target)
        out[j] = discounts[in_k].sum() / discounts[: min(len(target), k)].sum()
    return out


def evaluate_ranking(
    score: Any, users: np.ndarray, histories: list[np.ndarray], held: list[np.ndarray],
    n_items: int, k: int = 10, recall_k: int = 20,
) -> tuple[dict[str, float], np.ndarray]:  # fmt: skip
    """Score ``users`` in batches with ``score(users, histories) -> [n, n_items]`` (a
    Recommender's ``score``), exclude each history, and measure against ``held``. Returns the
    metrics and the top-``recall_k`` lists."""
    tops = [np.zeros((0, recall_k), dtype=np.int64)]
    for start in range(0, len(users), BATCH_USERS):
        part = slice(start, start + BATCH_USERS)
        scores = score(users[part], histories[part])
        tops.append(top_items(scores, histories[part], recall_k))
    top = np.concatenate(tops)
    return ranking_metrics(top, held, n_items, k, recall_k), top


def held_out_ranks(
    scores: np.ndarray, exclude: list[np.ndarray], held: list[np.ndarray]
) -> np.ndarray:
    """The 1-based rank of each user's first held-out item among the items not excluded
    (ties counted pessimistically: items scoring the same rank ahead)."""
    ranks = np.zeros(len(held), dtype=np.int64)
    for j, target in enumerate(held):
        row = np.array(scores[j], dtype=np.float64, copy=True)
        if len(exclude[j]):
            row[exclude[j]] = -np.inf
        value = row[target[0]]
        ranks[j] = int((row >= value).sum())
    return ranks


def rmse(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Root mean squared error (NaN for no ratings)."""
    predicted, truth = np.asarray(predicted, np.float64), np.asarray(truth, np.float64)
    return float(np.sqrt(np.mean((predicted - truth) ** 2))) if len(truth) else float("nan")
