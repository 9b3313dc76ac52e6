"""Full-ranking metrics against an example worked out by hand: held-out items ranked among
every item outside the history, ties to the lower item index, NDCG with several held items,
recall@20 beyond the top 10, coverage over the top-10 lists; then held-out ranks and RMSE."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerwise.tasks.recommendation import metrics as recommend_metrics
from layerwise.tasks.recommendation.metrics import (
    evaluate_ranking,
    held_out_ranks,
    ranking_metrics,
    rmse,
    top_items,
)

N_ITEMS = 25


def example() -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Four users over 25 items. Every row scores item i as (25 - i) / 25, so the ranking is
    the item order, except user 1, who gives items 2 and 5 the same top score 2.0.

    - user 0: history [0], held [1, 3] -> ranked 1 and 3
    - user 1: no history, held [5] -> the tie puts 2 first, so 5 is ranked 2
    - user 2: history [0, 1, 2], held [16] -> ranked 16 - 3 + 1 = 14 (top 20, not top 10)
    - user 3: history [4], held [22, 7] -> 7 ranked 7 (0, 1, 2, 3, 5, 6 ahead), 22 ranked 22
    """
    scores = np.tile((N_ITEMS - np.arange(N_ITEMS)) / N_ITEMS, (4, 1)).astype(np.float32)
    scores[1, [2, 5]] = 2.0
    histories = [np.array([0]), np.array([], np.int64), np.array([0, 1, 2]), np.array([4])]
    held = [np.array([1, 3]), np.array([5]), np.array([16]), np.array([22, 7])]
    return scores, histories, held


def test_top_items_exclude_history_and_break_ties_to_the_lower_index():
    scores, histories, _ = example()
    top = top_items(scores, histories, 20)
    assert top.shape == (4, 20)
    assert top[0, :10].tolist() == list(range(1, 11))
    assert top[1, :10].tolist() == [2, 5, 0, 1, 3, 4, 6, 7, 8, 9]
    assert top[2, :10].tolist() == list(range(3, 13))
    assert top[3, :10].tolist() == [0, 1, 2, 3, 5, 6, 7, 8, 9, 10]
    assert not any(np.isin(top[j], histories[j]).any() for j in range(4))


def test_top_items_pads_when_too_few_items_are_allowed():
    top = top_items(np.array([[0.3, 0.2, 0.1]]), [np.array([1])], 5)
    assert top.tolist() == [[0, 2, -1, -1, -1]]


def test_ranking_metrics_match_the_hand_computed_values():
    scores, histories, held = example()
    m = ranking_metrics(top_items(scores, histories, 20), held, N_ITEMS)
    best_two = 1 + 1 / math.log2(3)  # ideal DCG with two held items
    ndcg = [
        (1 / math.log2(2) + 1 / math.log2(4)) / best_two,  # user 0: ranks 1 and 3
        1 / math.log2(3),  # user 1: rank 2 (the tie went to item 2)
        0.0,  # user 2: rank 14
        (1 / math.log2(8)) / best_two,  # user 3: rank 7; 22 is outside the top 10
    ]
    assert m["hr@10"] == pytest.approx(3 / 4)  # users 0, 1, 3
    assert m["ndcg@10"] == pytest.approx(sum(ndcg) / 4)
    assert m["ndcg@10"] == pytest.approx((0.919721 + 0.630930 + 0.0 + 0.204382) / 4, abs=1e-6)
    assert m["recall@20"] == pytest.approx((1 + 1 + 1 + 0.5) / 4)  # user 2's 14 counts here
    # top-10 lists: 1..10, 0..9, 3..12, 0..10 without 4 -> items 0..12, 13 of 25
    assert m["coverage@10"] == pytest.approx(13 / 25)
    assert m["users"] == 4


def test_ranking_metrics_without_users_are_nan():
    m = ranking_metrics(np.zeros((0, 20), np.int64), [], N_ITEMS)
    assert m["users"] == 0 and math.isnan(m["ndcg@10"]) and math.isnan(m["hr@10"])


def test_evaluate_ranking_scores_in_batches(monkeypatch):
    scores, histories, held = example()
    users = np.array([10, 11, 12, 13])
    seen = []

    def score(batch: np.ndarray, batch_histories: list[np.ndarray]) -> np.ndarray:
        seen.append(batch.tolist())
        assert len(batch_histories) == len(batch)
        return scores[batch - 10]

    monkeypatch.setattr(recommend_metrics, "BATCH_USERS", 3)
    m, top = evaluate_ranking(score, users, histories, held, N_ITEMS)
    assert seen == [[10, 11, 12], [13]]
    assert np.array_equal(top, top_items(scores, histories, 20))
    assert m == ranking_metrics(top, held, N_ITEMS)


def test_held_out_ranks_count_ties_pessimistically():
    scores, histories, held = example()
    # user 1's item 5 ties with item 2: both rank ahead, so 2; user 3's first held item is 22
    assert held_out_ranks(scores, histories, held).tolist() == [1, 2, 14, 22]
    tie = held_out_ranks(np.array([[1.0, 1.0, 0.0]]), [np.array([], np.int64)], [np.array([0])])
    assert tie.tolist() == [2]


def test_rmse():
    assert rmse(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0])) == pytest.approx(
        math.sqrt(4 / 3)
    )
    assert rmse(np.array([2.5]), np.array([2.5])) == 0.0
    assert math.isnan(rmse(np.array([]), np.array([])))
