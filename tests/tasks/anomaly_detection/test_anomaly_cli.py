"""The anomaly-detection commands: train, predict with an alert budget, bad input."""

from __future__ import annotations

import json

import pandas as pd

from layerwise.tasks.anomaly_detection.sources import transactions


def test_train_then_predict_with_alert_budget(cli, tmp_path):
    frame = transactions(1200, fraud_rate=0.02, seed=5)
    frame.drop(columns="is_anomaly").to_csv(tmp_path / "payments.csv", index=False)
    code, out, err = cli(
        "train", tmp_path / "payments.csv", "--task", "anomaly-detection",
        "--candidates", "isolation-forest,robust-gaussian", "--alert-budget", "2%",
        "--output-dir", tmp_path / "runs", "--no-report",
    )  # fmt: skip
    assert code == 0, err
    assert "Flags: alert budget 2.00%" in out
    run = next((tmp_path / "runs").iterdir())
    assert json.loads((run / "metrics.json").read_text())["mode"] == "unsupervised"

    code, _, err = cli("predict", run, tmp_path / "payments.csv", "--alert-budget", "0.5%",
                       "-o", tmp_path / "scored.csv")  # fmt: skip
    assert code == 0, err
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert abs(scored["flagged"].mean() - 0.005) < 0.005
    assert scored.loc[scored["rank"] == 1, "reasons"].notna().all()

    code, _, err = cli("predict", run, tmp_path / "payments.csv", "--alert-budget", "200%")
    assert code == 2 and "outside (0, 100%)" in err and "Traceback" not in err


def test_single_class_labels_exit_2(cli, tmp_path):
    frame = transactions(300, seed=6).assign(is_anomaly=0)
    frame.to_csv(tmp_path / "t.csv", index=False)
    code, _, err = cli("train", tmp_path / "t.csv", "--task", "anomaly-detection",
                       "--target", "is_anomaly", "--output-dir", tmp_path / "runs")  # fmt: skip
    assert code == 2 and "single class" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
