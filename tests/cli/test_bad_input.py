"""Bad input: one clear line naming the problem and the fix, exit code 2, nothing half-written."""

from __future__ import annotations

import json

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


@pytest.fixture
def trained(cli, table, tmp_path):
    code, out, err = cli(
        "train", table, "--target", "churn", "-o", tmp_path / "runs", "--no-report"
    )
    assert code == 0, err
    return next((tmp_path / "runs").iterdir())


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
    model = next(p for p in trained.iterdir() if p.name.startswith("model."))
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
