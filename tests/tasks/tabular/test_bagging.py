"""Bagged fold models: a classical candidate serves the mean of its cross-validation's models;
the run folder keeps each in its own folder, and a doctored bag is refused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import layerwise
from layerwise.core import advisor, fold_bakeoff
from layerwise.errors import RunFolderError
from layerwise.runs.folder import RunFolder


@pytest.fixture
def table_csv(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"a": rng.normal(size=300), "b": rng.normal(size=300), "c": rng.choice(list("xyz"), 300)}
    )
    frame["y"] = np.where(frame["a"] + (frame["c"] == "x") + 0.3 * rng.normal(size=300) > 0.5,
                          "yes", "no")  # fmt: skip
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return frame, path


def fit(path, tmp_path, **options):
    options = {"candidates": ["linear", "lightgbm"], **options}
    return layerwise.fit(str(path), target="y", output_dir=str(tmp_path / "runs"), verbose=False,
                         report=False, **options)  # fmt: skip


def test_classical_candidates_serve_their_fold_models_and_round_trip(table_csv, tmp_path):
    frame, path = table_csv
    test = frame.iloc[240:]
    frame.iloc[:240].to_csv(path, index=False)
    run = fit(path, tmp_path, test_data=test, candidates=["lightgbm", "extra-trees"])
    stored = json.loads((run.path / "preprocess.json").read_text())["model"]
    entries = stored["members"] if "members" in stored else {stored["candidate"]: stored}
    for entry in entries.values():  # the trees are bags of the 5 fold models
        assert len(entry["bag"]) == 5
    bag_files = sorted(p.relative_to(run.path).as_posix() for p in run.path.rglob("bag/*/*/*"))
    assert bag_files and all(p.count("/") == 3 for p in bag_files)
    listed = json.loads((run.path / "manifest.json").read_text())["files"]
    assert set(bag_files) <= set(listed)  # hashed like every other file
    assert "Bagged: " in (run.path / "decision.md").read_text()

    written = pd.read_csv(run.path / "test_predictions.csv")
    again = layerwise.load(run.path).predict(test.drop(columns=["y"]))
    assert list(again["prediction"]) == list(written["y_pred"])
    np.testing.assert_allclose(again["probability_yes"], written["proba_yes"], atol=1e-9)
    assert run.metrics["test"]["accuracy"] > 0.75


@pytest.mark.parametrize("options", [{"bag": False}, {"candidates": ["linear"]}])
def test_bag_false_and_the_linear_model_refit_one_model(table_csv, tmp_path, options):
    _, path = table_csv
    run = fit(path, tmp_path, **options)
    stored = json.loads((run.path / "preprocess.json").read_text())["model"]
    assert "bag" not in json.dumps(stored) and not (run.path / "bag").exists()


@pytest.mark.parametrize(
    "doctor, says",
    [
        (lambda m: m.update(bag_of="linear"), "bag of"),
        (lambda m: m.update(bag=[]), "no valid fold models"),
        (lambda m: m.update(bag=["x"] * 5), "not an object"),
        (lambda m: m.update(bag=m["bag"] * 10), "no valid fold models"),
    ],
)  # fmt: skip
def test_a_doctored_bag_is_refused(table_csv, tmp_path, doctor, says):
    _, path = table_csv
    run = fit(path, tmp_path, candidates=["lightgbm"])
    preprocess = json.loads((run.path / "preprocess.json").read_text())
    doctor(preprocess["model"])
    folder = RunFolder.open(run.path)
    with pytest.raises(RunFolderError, match=says):
        from layerwise.tasks.tabular.bagging import load_model

        load_model(preprocess["model"]["candidate"], folder, preprocess["model"])


def test_a_bag_member_reads_only_its_own_listed_files(table_csv, tmp_path):
    """A member's file name is taken inside its fold folder: a name pointing elsewhere, or at a
    file the manifest does not list, is refused."""
    from layerwise.tasks.tabular.bagging import load_model

    _, path = table_csv
    run = fit(path, tmp_path, candidates=["lightgbm"])
    model = json.loads((run.path / "preprocess.json").read_text())["model"]
    folder = RunFolder.open(run.path)
    model["bag"][0]["file"] = "../fold-2/" + model["bag"][0]["file"]
    with pytest.raises(RunFolderError, match="plain relative name"):
        load_model("lightgbm", folder, model)
    (run.path / "bag" / "lightgbm" / "fold-1" / "extra.txt").write_text("tree")
    model["bag"][0]["file"] = "extra.txt"
    with pytest.raises(RunFolderError, match="not listed|manifest"):
        load_model("lightgbm", folder, model)


def test_a_candidate_can_skip_itself_with_a_reason():
    plan = advisor.Plan.__new__(advisor.Plan)
    plan.candidates = ["linear", "mlp"]
    folds = [(np.arange(8), np.arange(8, 10))] * 3

    def fit_and_score(name, train, val):
        if name == "mlp":
            raise fold_bakeoff.CandidateSkipped("it needs more time than the limit leaves")
        return 0.5

    rows = fold_bakeoff.bake_off(plan, fit_and_score, folds)
    assert rows[0]["validation"] == 0.5
    assert rows[1] == {"candidate": "mlp", "skipped": "it needs more time than the limit leaves"}


def test_no_bag_on_the_command_line_refits(cli, table_csv, tmp_path):
    _, path = table_csv
    code, out, err = cli("train", path, "--target", "y", "--no-bag", "--no-report",
                         "--candidates", "lightgbm,linear",  # the bagged ones: no MLP to wait for
                         "--output-dir", tmp_path / "runs")  # fmt: skip
    assert code == 0, err
    (folder,) = list((tmp_path / "runs").iterdir())
    assert "bag" not in json.loads((folder / "preprocess.json").read_text())["model"]
    assert "bag" in (folder / "config.yaml").read_text()  # the choice is kept with the run


def test_metrics_say_how_long_training_took_beside_the_whole_run(table_csv, tmp_path):
    _, path = table_csv
    metrics = fit(path, tmp_path).metrics
    assert 0 < metrics["train_seconds"] < metrics["total_seconds"]


def test_a_deep_candidate_with_no_time_left_is_skipped_without_training(monkeypatch, tmp_path):
    from layerwise.tasks.tabular import bakeoff
    from layerwise.tasks.tabular.task import TabularTask

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    frame["y"] = frame["a"] * 2 + rng.normal(scale=0.1, size=300)
    monkeypatch.setattr(bakeoff, "deep_fold_cap", lambda task, name, left, started=None: (
        0.5 if name == "mlp" else None))  # fmt: skip
    trained = []
    real = TabularTask._candidate

    def candidate(self, name, *args, **params):
        trained.append(name)
        return real(self, name, *args, **params)

    monkeypatch.setattr(TabularTask, "_candidate", candidate)
    run = layerwise.fit(frame, target="y", candidates=["linear", "mlp"], time_limit=600,
                        output_dir=tmp_path, verbose=False, report=False)  # fmt: skip
    assert "too little to train it" in run.metrics["candidates"]["mlp"]["skipped"]
    assert "mlp" not in trained and run.chosen == "linear"


def test_a_deep_candidate_beside_others_has_half_the_time_limit():
    import time
    from types import SimpleNamespace

    from layerwise.tasks.tabular.bakeoff import DEEP_SHARE, deep_fold_cap

    now = time.perf_counter()
    task = SimpleNamespace(_deadline=now + 25, option=lambda name: 30.0)  # 5 s of 30 used
    alone = deep_fold_cap(task, "mlp", 5)  # asked for alone: all that is left
    assert 24 / 6.5 < alone <= 25 / 6.5
    beside = deep_fold_cap(task, "mlp", 5, started=now - 10)  # 10 s into its half
    assert 4 / 6.5 < beside <= (DEEP_SHARE * 30 - 10) / 6.5
    assert deep_fold_cap(task, "mlp", 2, started=now - 20) == 0.0  # its half is spent
    assert deep_fold_cap(task, "lightgbm", 5) is None  # not a deep candidate
