import numpy as np
import pandas as pd
import pytest

from layerwise.tasks.recommendation.sources import latent_log, movielens_path, write_movielens


@pytest.fixture(scope="module")
def log():
    return latent_log(200, 500, mean_per_user=30, seed=3)


def test_columns_and_shape(log):
    assert list(log.columns) == ["user", "item", "rating", "timestamp"]
    assert log["user"].nunique() == 200
    assert set(log["user"]) == set(range(1, 201))
    assert log["item"].between(1, 500).all()
    assert abs(len(log) / 200 - 30) < 3
    sizes = log.groupby("user").size()
    assert sizes.min() >= 5 and sizes.max() <= 250


def test_deterministic_for_a_seed(log):
    pd.testing.assert_frame_equal(log, latent_log(200, 500, mean_per_user=30, seed=3))
    assert not log.equals(latent_log(200, 500, mean_per_user=30, seed=4))


def test_one_row_per_user_item(log):
    assert not log.duplicated(["user", "item"]).any()


def test_ratings_are_integers_1_to_5(log):
    assert log["rating"].dtype.kind == "i"
    assert set(log["rating"].unique()) <= {1, 2, 3, 4, 5}
    assert log["rating"].nunique() >= 4


def test_timestamps_increase_within_each_user(log):
    assert (log.groupby("user")["timestamp"].diff().dropna() > 0).all()
    assert log.groupby("user")["timestamp"].min().nunique() > 150  # users start apart


def test_popularity_is_long_tailed(log):
    counts = log["item"].value_counts()
    assert counts.iloc[: len(counts) // 10].sum() > 0.3 * counts.sum()


def test_implicit_unordered_and_named_items():
    frame = latent_log(30, 120, mean_per_user=10, explicit=False, sequential=False, item_names=True)
    assert list(frame.columns) == ["user", "item", "timestamp"]
    assert frame["item"].str.fullmatch(r"item-\d{4}").all()
    assert not frame.duplicated(["user", "item"]).any()


def test_chains_make_next_item_predictable():
    """A first-order transition count predicts the next item far better when the log is
    sequential than when it is not (same users, items and taste)."""

    def next_item_hits(frame):
        prev = frame.groupby("user")["item"].shift()
        pairs = pd.DataFrame({"prev": prev, "item": frame["item"]}).dropna()
        top = pairs.groupby(["prev", "item"]).size().groupby(level=0).idxmax()
        guess = pairs["prev"].map(lambda p: top[p][1])
        return float((guess == pairs["item"]).mean())

    kwargs = {"n_users": 300, "n_items": 300, "mean_per_user": 30, "explicit": False}
    assert next_item_hits(latent_log(**kwargs)) > 2 * next_item_hits(
        latent_log(**kwargs, sequential=False)
    )


def test_write_movielens_round_trips(log, tmp_path):
    path = write_movielens(log, tmp_path / "ml" / "u.data")
    back = pd.read_csv(path, sep="\t", header=None)
    assert back.shape == (len(log), 4)
    np.testing.assert_array_equal(back.to_numpy(), log[["user", "item", "rating", "timestamp"]])
    implicit = write_movielens(log.drop(columns="rating"), tmp_path / "implicit.data")
    assert (pd.read_csv(implicit, sep="\t", header=None)[2] == 1).all()


def test_movielens_path_from_environment(tmp_path, monkeypatch):
    folder = tmp_path / "ml-100k"
    write_movielens(latent_log(10, 50, 6), folder / "u.data")
    monkeypatch.setenv("LAYERWISE_MOVIELENS", str(tmp_path))
    assert movielens_path() == folder / "u.data"
    monkeypatch.setenv("LAYERWISE_MOVIELENS", str(folder / "u.data"))
    assert movielens_path() == folder / "u.data"
