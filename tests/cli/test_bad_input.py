"""Bad input: one clear line naming the problem and the fix, exit code 2, nothing half-written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.integers(20, 70, 80),
            "income": rng.normal(50, 10, 80),
            "plan": rng.choice(["basic", "pro"], 80),
        }
    )
    frame["churn"] = np.where(frame["income"] + rng.normal(0, 5, 80) > 50, "yes", "no")
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path


def _assert_clean_error(code, out, err, *needles, runs=None):
    assert code == 2, (out, err)
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    if runs is not None:
        assert not runs.exists() or not any(runs.iterdir()), "a failed command left a run folder"


def test_empty_file(cli, tmp_path):
    (tmp_path / "empty.csv").write_text("")
    _assert_clean_error(
        *cli("train", tmp_path / "empty.csv", "--target", "y", "-o", tmp_path / "runs"),
        "empty.csv",
        "empty",
        runs=tmp_path / "runs",
    )


def test_header_only(cli, tmp_path):
    (tmp_path / "header.csv").write_text("a,b,y\n")
    _assert_clean_error(
        *cli("train", tmp_path / "header.csv", "--target", "y", "-o", tmp_path / "runs"),
        "header.csv",
        "no rows",
        runs=tmp_path / "runs",
    )


def test_misspelled_target_suggests_closest(cli, table, tmp_path):
    _assert_clean_error(
        *cli("train", table, "--target", "chrun", "-o", tmp_path / "runs"),
        "'chrun'",
        "churn",
        runs=tmp_path / "runs",
    )


def test_target_all_missing(cli, tmp_path):
    pd.DataFrame({"a": range(20), "y": [np.nan] * 20}).to_csv(tmp_path / "nan.csv", index=False)
    _assert_clean_error(
        *cli("train", tmp_path / "nan.csv", "--target", "y", "-o", tmp_path / "runs"),
        "'y'",
        runs=tmp_path / "runs",
    )


def test_single_class(cli, tmp_path):
    pd.DataFrame({"a": range(20), "y": ["spam"] * 20}).to_csv(tmp_path / "one.csv", index=False)
    _assert_clean_error(
        *cli("train", tmp_path / "one.csv", "--target", "y", "-o", tmp_path / "runs"),
        "'y'",
        "spam",
        runs=tmp_path / "runs",
    )


def test_non_numeric_regression_target(cli, table, tmp_path):
    _assert_clean_error(
        *cli(
            "train",
            table,
            "--target",
            "plan",
            "--task",
            "tabular-regression",
            "-o",
            tmp_path / "runs",
        ),
        "'plan'",
        "tabular-classification",
        runs=tmp_path / "runs",
    )


def test_unreadable_encoding(cli, tmp_path):
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)) * 40)
    _assert_clean_error(
        *cli("train", tmp_path / "binary.csv", "--target", "y", "-o", tmp_path / "runs"),
        "binary.csv",
        runs=tmp_path / "runs",
    )


def test_unknown_task_lists_valid(cli, table, tmp_path):
    _assert_clean_error(
        *cli("train", table, "--target", "churn", "--task", "tabular-clasification"),
        "tabular-classification",
    )


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """A LightGBM-only run on a small table (about a second), shared by this module's tests."""
    import layerwise

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"age": rng.integers(20, 70, 80), "income": rng.normal(50, 10, 80),
                          "plan": rng.choice(["basic", "pro"], 80)})  # fmt: skip
    frame["churn"] = np.where(frame["income"] > 50, "yes", "no")
    out = tmp_path_factory.mktemp("quick") / "runs"
    run = layerwise.fit(frame, target="churn", output_dir=str(out), candidates=["lightgbm"],
                        report=False, verbose=False)  # fmt: skip
    return run.path


@pytest.fixture
def trained(quick_run, tmp_path):
    """A copy of the shared run, for a test that damages it."""
    return Path(shutil.copytree(quick_run, tmp_path / "run"))


def test_predict_missing_columns_lists_them(cli, trained, tmp_path):
    pd.DataFrame({"plan": ["pro"]}).to_csv(tmp_path / "new.csv", index=False)
    _assert_clean_error(*cli("predict", trained, tmp_path / "new.csv"), "'age'", "'income'")


def test_predict_extra_columns_are_ignored_with_a_note(cli, trained, tmp_path):
    pd.DataFrame({"age": [30], "income": [60.0], "plan": ["pro"], "colour": ["red"]}).to_csv(
        tmp_path / "new.csv", index=False
    )
    code, out, err = cli("predict", trained, tmp_path / "new.csv")
    assert code == 0, err
    assert "colour" in err and "prediction" in out


def test_run_folder_from_newer_version(cli, trained, tmp_path):
    manifest = json.loads((trained / "manifest.json").read_text())
    manifest["layerwise_version"] = "99.0.0"
    (trained / "manifest.json").write_text(json.dumps(manifest))
    _assert_clean_error(*cli("predict", trained, tmp_path / "data.csv"), "99.0.0", "pip install -U")


def test_corrupted_run_file(cli, trained, tmp_path):
    model = min(trained.rglob("model.*"))  # the model, or the first fold model of a bag
    model.write_bytes(model.read_bytes()[:-10] + b"0123456789")
    _assert_clean_error(*cli("predict", trained, tmp_path / "data.csv"), model.name, "sha256")


def test_interrupted_run_folder(cli, trained, tmp_path):
    (trained / "manifest.json").unlink()
    _assert_clean_error(*cli("evaluate", trained, tmp_path / "data.csv"), "manifest.json")


def test_missing_file(cli):
    _assert_clean_error(*cli("train", "nope.csv", "--target", "y"), "nope.csv")


def test_usage_errors_exit_2_without_traceback(cli):
    for args in (("predict",), ("train", "--bogus-option")):
        code, _, err = cli(*args)
        assert code == 2 and "Traceback" not in err and "Error" in err


def test_unknown_candidate_is_refused_before_any_work(cli, table, tmp_path):
    _assert_clean_error(
        *cli(
            "train",
            table,
            "--target",
            "churn",
            "--candidates",
            "mlp,lightgmb",
            "-o",
            tmp_path / "runs",
        ),
        "'lightgmb'",
        "lightgbm",
        runs=tmp_path / "runs",
    )


# ---- issue 23: inputs refused before any training, notes at predict time ----------------


def test_many_classes_with_too_few_rows_each_are_refused_before_training(cli, tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.choice(["x", "z"], 200)})
    frame["y"] = [f"k{i}" for i in range(200)]  # 200 classes of one row each
    frame.to_csv(tmp_path / "many.csv", index=False)
    code, out, err = cli("train", tmp_path / "many.csv", "--target", "y", "--time-limit", "5",
                         "-o", tmp_path / "runs")  # fmt: skip
    _assert_clean_error(code, out, err, "'y'", "200 classes", "fewer than 5 rows",
                        runs=tmp_path / "runs")  # fmt: skip
    assert "Bake-off" not in out  # refused before training, not after


def test_every_feature_constant_is_refused_before_training(cli, tmp_path):
    frame = pd.DataFrame({"a": [1] * 40, "b": ["x"] * 40, "y": ["p", "q"] * 20})
    frame.to_csv(tmp_path / "flat.csv", index=False)
    _assert_clean_error(
        *cli("train", tmp_path / "flat.csv", "--target", "y", "-o", tmp_path / "runs"),
        "Every feature column",
        "constant",
        "'a' is always 1",
        "'b' is always 'x'",
        runs=tmp_path / "runs",
    )


def test_predict_into_a_folder_writes_predictions_csv_inside(cli, quick_run, tmp_path):
    pd.DataFrame({"age": [30, 40], "income": [60.0, 40.0], "plan": ["pro", "basic"]}).to_csv(
        tmp_path / "new.csv", index=False
    )
    (tmp_path / "out").mkdir()
    code, _, err = cli("predict", quick_run, tmp_path / "new.csv", "-o", tmp_path / "out")
    assert code == 0, err
    written = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert len(written) == 2 and "prediction" in written.columns
    assert str(tmp_path / "out" / "predictions.csv") in err.replace("\n", "")


def test_predict_notes_values_read_as_missing_with_counts(cli, quick_run, tmp_path):
    (tmp_path / "new.csv").write_text(
        "age,income,plan\nforty,50,pro\n30,inf,basic\n1e309,-inf,pro\n,,\n45,60,basic\n"
    )
    code, _, err = cli("predict", quick_run, tmp_path / "new.csv", "-o", tmp_path / "p.csv")
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.startswith("note: ")]
    assert notes == [
        "note: 2 values in 'age' were not finite numbers ('forty', '1e309') and were treated "
        "as missing",
        "note: 2 values in 'income' were not finite numbers (inf, -inf) and were treated as "
        "missing",
        "note: 1 row has no feature values (row 4): a prediction that uses nothing from the row",
    ], err
    assert len(pd.read_csv(tmp_path / "p.csv")) == 5  # still predicted, every row


def test_evaluate_notes_once_and_one_class_is_enough(cli, quick_run, tmp_path):
    (tmp_path / "lab.csv").write_text("age,income,plan,churn\nforty,60,pro,yes\n41,70,pro,yes\n")
    code, out, err = cli("evaluate", quick_run, tmp_path / "lab.csv")
    assert code == 0, err
    assert json.loads(out)["rows"] == 2
    assert err.count("'forty'") == 1 and "single row" not in err and "Warning" not in err


def test_evaluate_with_only_unknown_labels(cli, quick_run, tmp_path):
    (tmp_path / "lab.csv").write_text("age,income,plan,churn\n40,60,pro,maybe\n")
    _assert_clean_error(*cli("evaluate", quick_run, tmp_path / "lab.csv"), "'churn'", "'yes'")
