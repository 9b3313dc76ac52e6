"""The recommendation commands a user types: train on a MovieLens u.data file or a CSV with
named columns, recommend for one user, for a file of users, similar items, and the one-line
errors for bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from layerwise.tasks.recommendation.sources import latent_log, write_movielens


@pytest.fixture(scope="module")
def movielens_run(tmp_path_factory):
    from layerwise.cli.main import main

    folder = tmp_path_factory.mktemp("movielens")
    frame = latent_log(n_users=120, n_items=80, mean_per_user=15, dim=4, seed=2)
    path = write_movielens(frame, folder / "u.data")
    try:
        main(["train", str(path), "--format", "movielens", "--candidates",
              "most-popular,ease,bias-baseline", "-o", str(folder / "runs"), "--no-report"])  # fmt: skip
    except SystemExit as exc:
        assert not exc.code
    return frame, next((folder / "runs").iterdir())


def test_train_prints_the_table_and_next_commands(movielens_run):
    frame, run = movielens_run
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["task"] == "recommendation" and metrics["explicit"]
    assert set(metrics["candidates"]) == {"most-popular", "ease"}
    assert metrics["rating"]["chosen"] == "bias-baseline"


def test_predict_for_a_user_a_file_of_users_and_similar_items(cli, movielens_run, tmp_path):
    frame, run = movielens_run
    user = str(frame["user"].iloc[0])
    code, out, err = cli("predict", run, "--user", user, "--top", "4")
    assert code == 0, err
    assert "predicted_rating" in out and out.count(f"\n{user}") + out.count(f" {user} ") >= 1
    users = tmp_path / "users.csv"
    pd.DataFrame({"user": [user, "999999"]}).to_csv(users, index=False)
    code, _, err = cli("predict", run, users, "-o", tmp_path / "recs.csv")
    assert code == 0, err
    recs = pd.read_csv(tmp_path / "recs.csv", keep_default_na=False)
    assert (
        len(recs) == 20 and recs.loc[recs["user"] == 999999, "note"].str.contains("new user").all()
    )
    item = str(frame["item"].iloc[0])
    code, out, err = cli("predict", run, "--similar-to", item, "--top", "3")
    assert code == 0 and "similar_to" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "1", "--top", "0"], "--top 0 is not valid"),
        (["--user", "1", "--top", "100000"], "larger than the catalogue"),
    ],
)
def test_bad_predict_requests_are_one_line(cli, movielens_run, args, message):
    _, run = movielens_run
    code, out, err = cli("predict", run, *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_misspelled_column_is_one_line_with_a_suggestion(cli, tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame({"customer": [1, 2, 3], "product": ["a", "b", "c"]}).to_csv(path, index=False)
    code, _, err = cli("train", path, "--task", "recommendation", "--user-column", "custmer",
                       "-o", tmp_path / "runs")  # fmt: skip
    assert code == 2 and "Did you mean 'customer'" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_predict_flags_of_other_tasks_are_refused(cli, movielens_run):
    _, run = movielens_run
    code, _, err = cli("predict", run, "--user", "1", "--transcribe")
    assert code == 2 and "--transcribe applies to speech-recognition" in err


def test_advise_and_evaluate(cli, movielens_run, tmp_path):
    frame, run = movielens_run
    path = tmp_path / "log.csv"
    frame.rename(columns={"user": "who", "item": "what"}).to_csv(path, index=False)
    code, out, err = cli("advise", path, "--task", "recommendation", "--user-column", "who",
                         "--item-column", "what")  # fmt: skip
    assert code == 0, err
    assert "users x" in out and "sequential" in out and "NDCG@10" in out
    later = tmp_path / "later.csv"
    frame.groupby("user").tail(1).to_csv(later, index=False)
    code, out, err = cli("evaluate", run, later)
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["rows"] == frame["user"].nunique() and 0 <= metrics["ndcg@10"] <= 1
    assert "rmse" in metrics
