"""The recommendation task: the leave-last-out split, the bake-off, serving, cold start,
explicit ratings and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import layerwise
from layerwise.errors import ConfigError, DataError
from layerwise.tasks.recommendation.base import Interactions
from layerwise.tasks.recommendation.fit import split_log
from layerwise.tasks.recommendation.sources import latent_log
from layerwise.tasks.recommendation.task import Recommendation

CLASSICAL = ["most-popular", "item-knn", "ease"]


def _clustered(n_users: int = 150, n_items: int = 60, seed: int = 0) -> pd.DataFrame:
    """Users and items in 4 groups; a user takes 8-12 items, nearly all from their group."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        group = user % 4
        own = np.arange(group, n_items, 4)
        k = int(rng.integers(8, 13))
        items = rng.choice(own, size=k - 1, replace=False).tolist()
        items.append(int(rng.integers(0, n_items)))  # one random item: noise
        for t, item in enumerate(dict.fromkeys(items)):
            rows.append((f"u{user}", f"i{item}", t))
    return pd.DataFrame(rows, columns=["user", "item", "time"])


@pytest.fixture(scope="module")
def implicit_run(tmp_path_factory):
    frame = _clustered()
    task = Recommendation(output_dir=str(tmp_path_factory.mktemp("runs")), verbose=False,
                          candidates=CLASSICAL, report=False)  # fmt: skip
    return frame, task.fit(frame.drop(columns="time"))


def test_split_holds_out_the_last_items():
    users = np.array([0, 1, 1, 2, 2, 2, 3, 3, 3, 3])
    items = np.array([0, 0, 1, 0, 1, 2, 3, 2, 1, 0])
    data = Interactions(4, 4, users, items, times=np.arange(10.0))
    split = split_log(data, by_time=True, seed=0)
    assert split.single_users == 1  # user 0: training only
    assert split.test_users.tolist() == [1, 2, 3]
    assert [h.tolist() for h in split.test_held] == [[1], [2], [0]]
    assert split.val_users.tolist() == [2, 3]  # user 1 has two: a test item only
    assert [h.tolist() for h in split.val_held] == [[1], [1]]
    assert split.train.items.tolist() == [0, 0, 0, 3, 2]
    random = split_log(data, by_time=False, seed=0)
    assert len(random.test_users) == 3 and len(random.val_users) == 2
    assert random.train.items.tolist() == split_log(data, False, 0).train.items.tolist()


def test_bake_off_beats_popularity_on_clustered_data(implicit_run):
    _, run = implicit_run
    scores = {n: c["validation"]["ndcg@10"] for n, c in run.metrics["candidates"].items()}
    assert run.chosen in ("ease", "item-knn")
    assert scores[run.chosen] > scores["most-popular"] + 0.1
    assert run.metrics["metric"] == "ndcg@10" and "recall@20" in run.metrics["test"]
    decision = (run.path / "decision.md").read_text()
    assert "full ranking" in decision and "| ease |" in decision


def test_recommendations_exclude_seen_items_and_stay_in_the_group(implicit_run):
    frame, run = implicit_run
    task = layerwise.load(run.path)
    out = task.predict(user="u5", top=5)
    seen = set(frame.loc[frame["user"] == "u5", "item"])
    assert len(out) == 5 and not seen & set(out["item"])
    assert out["rank"].tolist() == [1, 2, 3, 4, 5]
    in_group = [int(item[1:]) % 4 == 1 for item in out["item"]]
    assert sum(in_group) >= 4
    similar = task.predict(similar_to="i2", top=5)
    assert (
        "i2" not in set(similar["item"]) and sum(int(i[1:]) % 4 == 2 for i in similar["item"]) >= 4
    )


def test_cold_start_user_and_item_get_popular_items_with_a_note(implicit_run):
    frame, run = implicit_run
    task = run.task
    out = task.predict(["u1", "nobody"], top=3)
    assert out.loc[out["user"] == "nobody", "note"].str.contains("new user").all()
    popular = frame["item"].value_counts().index[:3].tolist()
    assert set(out.loc[out["user"] == "nobody", "item"]) == set(popular)
    unknown = task.predict(similar_to="no-such-item", top=3)
    assert unknown["note"].str.contains("never seen").all()


def test_top_must_fit_the_catalogue(implicit_run):
    _, run = implicit_run
    with pytest.raises(ConfigError, match="at least 1"):
        run.task.predict(user="u1", top=0)
    with pytest.raises(ConfigError, match="larger than the catalogue"):
        run.task.predict(user="u1", top=10_000)


def test_evaluate_on_new_interactions(implicit_run):
    frame, run = implicit_run
    later = pd.DataFrame({"user": ["u0", "u1", "u2", "ghost"], "item": ["i4", "i1", "i2", "i0"]})
    metrics = run.task.evaluate(later)
    assert metrics["rows"] == 4 and metrics["unknown_rows"] == 1 and metrics["users"] == 3
    assert 0 <= metrics["ndcg@10"] <= 1


def test_explicit_ratings_are_predicted_on_the_scale(tmp_path):
    frame = latent_log(n_users=80, n_items=50, mean_per_user=15, dim=4, seed=1)
    task = Recommendation(output_dir=str(tmp_path), verbose=False, report=False,
                          candidates=[*CLASSICAL, "bias-baseline"], rating_scale="1-5")  # fmt: skip
    run = task.fit(frame)
    assert run.metrics["rating"]["chosen"] == "bias-baseline"
    assert 0 < run.metrics["test"]["rmse"] < 1.5
    out = layerwise.load(run.path).predict(user=str(frame["user"].iloc[0]))
    assert out["predicted_rating"].between(1, 5).all()
    assert "## Ratings" in (run.path / "decision.md").read_text()


def test_too_few_long_histories_is_a_clear_error_and_leaves_no_folder(tmp_path):
    frame = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": [1, 2, 1, 3, 2]})
    with pytest.raises(DataError, match="3 or more interactions"):
        Recommendation(output_dir=str(tmp_path / "runs"), verbose=False).fit(frame)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_unknown_candidate_lists_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match="ease"):
        Recommendation(output_dir=str(tmp_path), verbose=False, candidates=["eaze"]).fit(
            _clustered()
        )
