"""The classical recommenders: EASE equal to its closed form, λ and neighbourhood tuning,
item-kNN's cosine neighbours, most-popular's order, save -> load exact, EASE's size limit,
the bias baseline beating the global mean, and the rankers beating popularity on a log with
clusters of users and items."""

from __future__ import annotations

import json

import numpy as np
import pytest

from layerwise.errors import DataError
from layerwise.runs.folder import RunFolder
from layerwise.tasks.recommendation import baselines as recommend_baselines
from layerwise.tasks.recommendation.base import Interactions, histories_matrix
from layerwise.tasks.recommendation.baselines import (
    EASE,
    L2_GRID,
    NEIGHBOURS,
    BiasBaseline,
    ItemKNN,
    MostPopular,
    ease_weights,
)
from layerwise.tasks.recommendation.metrics import evaluate_ranking, rmse, top_items

RANKERS = [MostPopular, ItemKNN, EASE]


def clustered(seed: int = 0, n_users: int = 300, n_items: int = 200, groups: int = 5,
              per_user: int = 20, inside: float = 0.9) -> Interactions:  # fmt: skip
    """Users and items in ``groups`` clusters; 90% of a user's picks are in their own."""
    rng = np.random.default_rng(seed)
    size = n_items // groups
    users, items = [], []
    for u in range(n_users):
        own = rng.random(per_user) < inside
        within = (u % groups) * size + rng.integers(0, size, per_user)
        picks = np.where(own, within, rng.integers(0, n_items, per_user))
        picks = list(dict.fromkeys(picks.tolist()))  # first time each, in order
        users += [u] * len(picks)
        items += picks
    return Interactions(n_users, n_items, np.array(users), np.array(items))


def leave_last_out(data: Interactions) -> tuple[Interactions, list[np.ndarray]]:
    last = np.r_[np.diff(data.users) != 0, True]
    return data.select(~last), [np.array([i]) for i in data.items[last]]


@pytest.fixture(scope="module")
def split() -> tuple[Interactions, Interactions, list[np.ndarray], list[np.ndarray]]:
    """Leave-one-out twice: (train, train + validation item, validation held, test held)."""
    rest, test_held = leave_last_out(clustered())
    train, val_held = leave_last_out(rest)
    return train, rest, val_held, test_held


@pytest.fixture(scope="module")
def tuned(split) -> dict:
    train, _, val_held, _ = split
    users = np.arange(train.n_users)
    out = {}
    for cls in RANKERS:
        model = cls(seed=3)
        model.fit(train, (users, val_held))
        out[cls] = model
    return out


def random_log(seed: int = 0, n_users: int = 30, n_items: int = 12) -> Interactions:
    rng = np.random.default_rng(seed)
    x = rng.random((n_users, n_items)) < 0.3
    users, items = np.nonzero(x)
    return Interactions(n_users, n_items, users.astype(np.int64), items.astype(np.int64))


def test_ease_equals_the_closed_form():
    data = random_log()
    model = EASE(l2=5.0)
    model.fit(data)
    x = data.matrix().toarray().astype(np.float64)
    p = np.linalg.inv(x.T @ x + 5.0 * np.eye(data.n_items))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    assert model.weights.dtype == np.float32
    np.testing.assert_allclose(model.weights, b, rtol=1e-5, atol=1e-6)
    histories = data.histories()
    users = np.arange(data.n_users)
    scores = model.score(users, histories)
    assert scores.dtype == np.float32 and scores.shape == (data.n_users, data.n_items)
    np.testing.assert_allclose(scores, x @ b, rtol=1e-4, atol=1e-5)


def test_ease_tunes_l2_on_the_grid(tuned, split):
    model = tuned[EASE]
    assert model.tuning["param"] == "l2" and model.tuning["metric"] == "ndcg@10"
    assert model.l2 in L2_GRID and model.tuning["chosen"] == model.l2
    assert list(model.tuning["scores"]) == [str(v) for v in L2_GRID]
    assert max(model.tuning["scores"].values()) == model.tuning["scores"][str(model.l2)]
    json.dumps(model.tuning)
    # the weights from the eigendecomposition are the closed form at the chosen λ
    x = split[0].matrix()
    direct = ease_weights((x.T @ x).toarray(), model.l2)
    np.testing.assert_allclose(model.weights, direct, atol=1e-4)


def test_item_knn_recommends_the_co_occurring_item():
    # items 0 and 1 are bought together; 2 and 3 together; 4 by everyone
    pairs = [(0, 0), (0, 1), (0, 4), (1, 0), (1, 1), (1, 4), (2, 2), (2, 3), (2, 4), (3, 2),
             (3, 4), (4, 3), (4, 4)]  # fmt: skip
    users, items = np.array(pairs).T
    data = Interactions(5, 5, users, items)
    model = ItemKNN(neighbours=2)
    model.fit(data)
    scores = model.score(np.array([-1, -1]), [np.array([0]), np.array([2])])
    assert top_items(scores, [np.array([0]), np.array([2])], 1).ravel().tolist() == [1, 3]
    # cosine(0, 1) = 2 / (sqrt(2) sqrt(2)) = 1; cosine(0, 4) = 2 / (sqrt(2) sqrt(5))
    assert scores[0, 1] == pytest.approx(1.0)
    assert scores[0, 4] == pytest.approx(2 / np.sqrt(10))
    assert scores[0, 0] == 0.0  # no self-similarity


def test_item_knn_matches_dense_cosine_and_blocks_agree(monkeypatch):
    data = random_log(1, n_users=60, n_items=15)
    model = ItemKNN(neighbours=100)
    model.fit(data)
    x = data.matrix().toarray()
    norms = np.sqrt(x.sum(axis=0))
    cosine = (x.T @ x) / np.outer(norms, norms)
    np.fill_diagonal(cosine, 0.0)
    np.testing.assert_allclose(model.similarity.toarray(), cosine, rtol=1e-5)
    monkeypatch.setattr(recommend_baselines, "BLOCK_CELLS", 15 * 4)  # 4 columns a block
    blocked = ItemKNN(neighbours=3)
    blocked.fit(data)
    monkeypatch.undo()
    whole = ItemKNN(neighbours=3)
    whole.fit(data)
    assert np.array_equal(blocked.similarity.toarray(), whole.similarity.toarray())
    assert (whole.similarity.getnnz(axis=0) <= 3).all()  # each item keeps 3 neighbours


def test_item_knn_tunes_neighbours(tuned):
    model = tuned[ItemKNN]
    # 200 items: 200 and 400 neighbours both mean "every other item", so 199 is tried once
    assert list(model.tuning["scores"]) == ["20", "50", "100", "199"]
    assert model.neighbours == model.tuning["chosen"]
    assert NEIGHBOURS[0] == 20
    json.dumps(model.tuning)


def test_most_popular_ranks_by_count():
    items = np.array([2, 2, 2, 0, 0, 1])
    data = Interactions(3, 4, np.array([0, 0, 1, 1, 2, 2]), items)
    model = MostPopular()
    model.fit(data)
    scores = model.score(np.array([0, -1]), [np.array([2]), np.array([], np.int64)])
    np.testing.assert_allclose(scores[1], np.log1p([2, 1, 3, 0]))
    assert np.array_equal(scores[0], scores[1])
    none = [np.array([], np.int64)]
    assert top_items(scores[1:], none, 4).tolist() == [[2, 0, 1, 3]]


@pytest.mark.parametrize("cls", RANKERS)
def test_save_load_reproduces_scores(cls, tuned, split, tmp_path):
    model = tuned[cls]
    _, rest, _, _ = split
    run = RunFolder.create(tmp_path, "recommendation")
    info = json.loads(json.dumps(model.save(run, "candidate-0")))
    assert not list(run.path.glob("*.pkl"))
    again = cls.load(run, info)
    users = np.arange(40)
    histories = rest.histories()[:40]
    assert np.array_equal(again.score(users, histories), model.score(users, histories))
    assert again.tuning == model.tuning
    # unseen users are scored from their history alone
    unseen = np.full(40, -1)
    assert np.array_equal(again.score(unseen, histories), model.score(users, histories))


@pytest.mark.parametrize("cls", RANKERS)
def test_fit_is_deterministic(cls, split):
    train = split[0]
    first, second = cls(seed=1), cls(seed=1)
    first.fit(train)
    second.fit(train)
    histories = train.histories()[:20]
    assert np.array_equal(first.score(np.arange(20), histories),
                          second.score(np.arange(20), histories))  # fmt: skip


def test_ease_skip_reason_for_a_large_catalogue():
    big = Interactions(1, EASE.MAX_ITEMS + 1, np.array([0]), np.array([0]))
    reason = EASE().skip_reason(big)
    assert reason is not None and "20,001 items" in reason and "GB" in reason
    assert EASE().skip_reason(random_log()) is None


def ratings_log(seed: int = 0) -> tuple[Interactions, Interactions]:
    """Ratings = 3.5 + user bias + item bias + noise on 30% of pairs; an 80/20 split."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 200, 100
    user_bias, item_bias = rng.normal(0, 0.5, n_users), rng.normal(0, 0.8, n_items)
    users, items = np.nonzero(rng.random((n_users, n_items)) < 0.3)
    ratings = 3.5 + user_bias[users] + item_bias[items] + rng.normal(0, 0.5, len(users))
    data = Interactions(n_users, n_items, users.astype(np.int64), items.astype(np.int64),
                        ratings.astype(np.float32))  # fmt: skip
    test = rng.random(len(users)) < 0.2
    return data.select(~test), data.select(test)


def test_bias_baseline_beats_the_global_mean(tmp_path):
    train, test = ratings_log()
    model = BiasBaseline()
    model.fit(train)
    predicted = model.predict(test.users, test.items)
    assert predicted.dtype == np.float64
    baseline = rmse(np.full(len(test), train.ratings.mean()), test.ratings)
    assert rmse(predicted, test.ratings) < 0.75 * baseline
    # unknown user / item: that bias is 0
    assert model.predict(np.array([-1]), np.array([-1]))[0] == pytest.approx(model.mean)
    unknown_user = model.predict(np.array([-1]), np.array([3]))[0]
    assert unknown_user == pytest.approx(model.mean + model.item_bias[3])
    run = RunFolder.create(tmp_path, "recommendation")
    again = BiasBaseline.load(run, json.loads(json.dumps(model.save(run, "rating"))))
    assert np.array_equal(again.predict(test.users, test.items), predicted)


def test_bias_baseline_needs_ratings():
    with pytest.raises(DataError):
        BiasBaseline().fit(random_log())


def test_rankers_beat_popularity_on_clustered_users(split):
    _, rest, _, test_held = split
    users = np.arange(rest.n_users)
    histories = rest.histories()
    ndcg = {}
    for cls in RANKERS:
        model = cls()
        model.fit(rest)
        metrics, _ = evaluate_ranking(model.score, users, histories, test_held, rest.n_items)
        ndcg[cls] = metrics["ndcg@10"]
    assert ndcg[EASE] > 0.1 and ndcg[EASE] > 3 * ndcg[MostPopular]
    assert ndcg[ItemKNN] > 0.1 and ndcg[ItemKNN] > 3 * ndcg[MostPopular]


def test_empty_histories_score_zero():
    data = random_log()
    for cls in (ItemKNN, EASE):
        model = cls()
        model.fit(data)
        scores = model.score(np.array([-1]), [np.array([], np.int64)])
        assert scores.shape == (1, data.n_items) and not scores.any()
    assert histories_matrix([], data.n_items).shape == (0, data.n_items)
