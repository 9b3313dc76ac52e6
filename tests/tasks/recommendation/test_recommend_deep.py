"""MF-BPR, NeuMF and the rating MF on tiny generated logs with a strong cluster structure."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerwise.runs.folder import RunFolder
from layerwise.tasks.recommendation.base import Interactions
from layerwise.tasks.recommendation.deep import MFBPR, MFRating, NeuMFRanker
from layerwise.tasks.recommendation.metrics import evaluate_ranking, rmse

N_CLUSTERS, USERS_PER, ITEMS_PER = 4, 20, 10
FAST = {"epochs": 25, "batch_size": 64, "lr": 1e-2, "patience": 25, "reg": 1e-4}


def clustered_log(seed: int = 0):
    """Users of cluster c interact with 7 of the 10 items of cluster c (plus, for some, one item
    of another cluster); item popularity is equal across clusters. Leave-one-out split: the
    last item of each user for testing, the one before for validation."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(N_CLUSTERS * USERS_PER):
        c = u // USERS_PER
        picks = list(c * ITEMS_PER + rng.choice(ITEMS_PER, 7, replace=False))
        if rng.random() < 0.3:
            picks.insert(0, int(rng.integers(N_CLUSTERS * ITEMS_PER)))
        users += [u] * len(picks)
        items += picks
    users, items = np.array(users), np.array(items, dtype=np.int64)
    n_users, n_items = N_CLUSTERS * USERS_PER, N_CLUSTERS * ITEMS_PER
    position = np.concatenate([np.arange(n) for n in np.bincount(users)])
    last = np.bincount(users)[users] - 1
    train = Interactions(n_users, n_items, users[position < last - 1], items[position < last - 1])
    everyone = np.arange(n_users)
    val = (everyone, [np.array([i]) for i in items[position == last - 1]])
    test_held = [np.array([i]) for i in items[position == last]]
    histories = train.histories()
    test_histories = [np.concatenate([histories[u], val[1][u]]) for u in everyone]
    return train, val, test_histories, test_held


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    return clustered_log()


@pytest.fixture(scope="module")
def mf(data):
    train, val, _, _ = data
    model = MFBPR(seed=0, dim=16, **FAST)
    model.fit(train, val)
    return model


@pytest.fixture(scope="module")
def neumf(data):
    train, val, _, _ = data
    model = NeuMFRanker(seed=0, dim=8, mlp_dim=8, layers=[16, 8], **FAST)
    model.fit(train, val)
    return model


def test_generator_splits_by_user(data):
    train, val, histories, held = data
    assert len(val[1]) == len(held) == train.n_users
    assert all(len(h) >= 6 for h in histories)


def ndcg(score, data) -> float:
    train, _, histories, held = data
    users = np.arange(train.n_users)
    return evaluate_ranking(score, users, histories, held, train.n_items)[0]["ndcg@10"]


def test_mfbpr_beats_most_popular(mf, data):
    popularity = np.log1p(data[0].item_counts()).astype(np.float32)
    baseline = ndcg(lambda users, _: np.tile(popularity, (len(users), 1)), data)
    assert ndcg(mf.score, data) > baseline + 0.3
    assert not mf.model.training and next(mf.model.parameters()).device.type == "cpu"


def test_history_records_validation_ndcg(mf):
    assert len(mf.history) >= 1
    assert all("val_ndcg@10" in record for record in mf.history.records)
    assert mf.history.monitor == "val_ndcg@10"


def test_neumf_trains_and_scores_every_item(neumf, data):
    train = data[0]
    scores = neumf.score(np.array([0, 5, 79]), [np.zeros(0, np.int64)] * 3)
    assert scores.shape == (3, train.n_items) and scores.dtype == np.float32
    assert np.isfinite(scores).all()
    assert all("val_ndcg@10" in record for record in neumf.history.records)


@pytest.mark.parametrize("fixture", ["mf", "neumf"])
def test_unseen_user_gets_a_finite_row(fixture, request):
    model = request.getfixturevalue(fixture)
    scores = model.score(np.array([-1, 3]), [np.array([0]), np.zeros(0, np.int64)])
    assert scores.shape == (2, model.n_items) and np.isfinite(scores).all()


def test_similar_ranks_co_clustered_items_first(mf):
    items = np.array([0, 15, 27])
    similarity = mf.similar(items)
    assert similarity.shape == (3, mf.n_items)
    for row, item in zip(similarity, items, strict=True):
        cluster = item // ITEMS_PER
        top = np.argsort(-row, kind="stable")[:ITEMS_PER]
        assert np.mean(top // ITEMS_PER == cluster) >= 0.8


@pytest.mark.parametrize("fixture", ["mf", "neumf"])
def test_save_load_reproduces_scores(fixture, request, tmp_path):
    model = request.getfixturevalue(fixture)
    run = RunFolder.create(tmp_path, "recommendation")
    info = model.save(run, "candidate")
    loaded = type(model).load(run, info)
    users = np.array([-1, 0, 42, 79])
    histories = [np.zeros(0, np.int64)] * 4
    np.testing.assert_array_equal(loaded.score(users, histories), model.score(users, histories))
    assert info["file"] == "candidate.safetensors" and "architecture" in info


def test_same_seed_gives_same_scores(data):
    train, val, _, _ = data
    params = {**FAST, "epochs": 3, "dim": 8}
    first, second = MFBPR(seed=3, **params), MFBPR(seed=3, **params)
    first.fit(train, val)
    second.fit(train, val)
    users = np.arange(train.n_users)
    np.testing.assert_array_equal(first.score(users, []), second.score(users, []))


def rating_log(seed: int = 0):
    """Ratings = 3.5 + user bias + item bias + a low-rank term + noise, split 80/10/10."""
    rng = np.random.default_rng(seed)
    n_users, n_items, n = 60, 50, 3000
    bu, bi = rng.normal(0, 0.5, n_users), rng.normal(0, 0.7, n_items)
    pu, qi = rng.normal(0, 0.7, (n_users, 2)), rng.normal(0, 0.7, (n_items, 2))
    users = np.sort(rng.integers(0, n_users, n))
    items = rng.integers(0, n_items, n)
    noise = rng.normal(0, 0.3, n)
    ratings = 3.5 + bu[users] + bi[items] + (pu[users] * qi[items]).sum(1) + noise
    part = rng.random(n)
    pick = lambda m: Interactions(n_users, n_items, users[m], items[m],  # noqa: E731
                                  ratings[m].astype(np.float32))  # fmt: skip
    return pick(part < 0.8), pick((part >= 0.8) & (part < 0.9)), pick(part >= 0.9)


def test_mf_rating_beats_the_global_mean_and_round_trips(tmp_path):
    train, val, test = rating_log()
    model = MFRating(seed=0, dim=8, epochs=60, batch_size=128, lr=1e-2, patience=10)
    model.fit(train, val)
    predicted = model.predict(test.users, test.items)
    baseline = rmse(np.full(len(test), train.ratings.mean()), test.ratings)
    assert rmse(predicted, test.ratings) < 0.7 * baseline
    assert "val_loss" in model.history.records[0]
    unseen = model.predict(np.array([-1, 0, -1]), np.array([3, -1, -1]))
    assert np.isfinite(unseen).all()
    assert unseen[2] == pytest.approx(model.mean + model.model.offset.item())
    run = RunFolder.create(tmp_path, "recommendation")
    loaded = MFRating.load(run, model.save(run, "rating"))
    np.testing.assert_array_equal(loaded.predict(test.users, test.items), predicted)
