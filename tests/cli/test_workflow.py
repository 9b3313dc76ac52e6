"""The commands a user runs, on a CSV written from palmerpenguins (not made by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def _run_dir(output: str) -> Path:
    for line in output.splitlines():
        if line.startswith("Run folder:"):
            return Path(line.split(":", 1)[1].strip())
    raise AssertionError(f"no run folder printed in:\n{output}")


def test_train_predict_evaluate_report(cli, penguins_csv, tmp_path):
    # a config file (as a user would write one) keeps the MLP's five folds short: 10 epochs
    # instead of up to 200 still give it a validation accuracy near 1 on the penguins
    (tmp_path / "quick.yaml").write_text("options:\n  candidate_params: {mlp: {epochs: 10}}\n")
    code, out, err = cli("train", penguins_csv, "--target", "species", "--output-dir",
                         tmp_path / "runs", "--config", tmp_path / "quick.yaml")  # fmt: skip
    assert code == 0, err
    run = _run_dir(out)
    assert " * " in out and "lightgbm" in out and "mlp" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.9

    new = pd.read_csv(penguins_csv).drop(columns=["species"]).head(20)
    new.to_csv(tmp_path / "new.csv", index=False)
    code, _, err = cli("predict", run, tmp_path / "new.csv", "-o", tmp_path / "pred.csv")
    assert code == 0, err
    predictions = pd.read_csv(tmp_path / "pred.csv")
    assert len(predictions) == 20
    assert set(predictions["prediction"]) <= {"Adelie", "Chinstrap", "Gentoo"}
    probabilities = predictions.filter(like="probability_")
    assert probabilities.shape[1] == 3
    assert ((probabilities.sum(axis=1) - 1).abs() < 1e-6).all()

    code, out, err = cli("evaluate", run, penguins_csv)
    assert code == 0, err
    assert json.loads(out)["accuracy"] > 0.9

    (run / "report.html").unlink()
    code, out, err = cli("report", run)
    assert code == 0, err
    assert Path(out.strip()).exists()
    code, _, err = cli(
        "predict", run, tmp_path / "new.csv"
    )  # manifest was updated with the new report
    assert code == 0, err


def test_train_regression_from_config_reproduces(cli, penguins_csv, tmp_path):
    code, out, err = cli(
        "train",
        penguins_csv,
        "--target",
        "body_mass_g",
        "--output-dir",
        tmp_path / "runs",
        "--no-report",
        "--candidates",  # the MLP's five folds are covered above; here the config round trip
        "lightgbm,linear",
    )
    assert code == 0, err
    run = _run_dir(out)
    first = json.loads((run / "metrics.json").read_text())
    assert first["task"] == "tabular-regression"
    assert first["test"]["rmse"] < 450  # the std of body mass is ~800 g

    code, out, err = cli("train", "--config", run / "config.yaml")
    assert code == 0, err
    second = json.loads((_run_dir(out) / "metrics.json").read_text())
    assert second["chosen"] == first["chosen"]
    assert abs(second["test"]["rmse"] - first["test"]["rmse"]) < 1e-6


def test_advise_and_tasks(cli, penguins_csv):
    code, out, _ = cli("advise", penguins_csv, "--target", "species", "--interpretable")
    assert code == 0
    assert "344 rows" in out and "interpretability requested" in out
    code, out, _ = cli("tasks")
    assert code == 0 and "tabular-classification" in out and "tabular-regression" in out
