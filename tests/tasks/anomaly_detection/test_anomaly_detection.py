"""anomaly-detection: unsupervised scores, fraud mode, thresholds, reasons, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import layerwise
from layerwise.errors import ColumnError, ConfigError, DataError
from layerwise.tasks.anomaly_detection.scoring import ranking_metrics
from layerwise.tasks.anomaly_detection.sources import planted_outliers, transactions
from layerwise.tasks.anomaly_detection.task import AnomalyDetection

QUICK = {"autoencoder": {"epochs": 4}, "deep-svdd": {"epochs": 4, "pretrain_epochs": 2}}


def fit(data, tmp_path, target=None, **options):
    options.setdefault("candidate_params", QUICK)
    task = AnomalyDetection(output_dir=str(tmp_path / "runs"), verbose=False, **options)
    return task.fit(data, target=target)


@pytest.fixture(scope="module")
def unsupervised_run(tmp_path_factory):
    frame = transactions(1500, fraud_rate=0.02, seed=3)
    run = fit(frame.drop(columns="is_anomaly"), tmp_path_factory.mktemp("u"), report=True)
    return frame, run


def test_unsupervised_ensemble_finds_planted_fraud(unsupervised_run):
    frame, run = unsupervised_run
    assert run.chosen == "ensemble"
    predictions = run.predict(frame.drop(columns="is_anomaly"))
    assert ranking_metrics(frame["is_anomaly"].to_numpy(), predictions["score"])["roc_auc"] > 0.95
    # the default threshold flags about 1% of rows like the training ones
    assert 0.005 <= predictions["flagged"].mean() <= 0.02
    assert set(predictions.columns) >= {"score", "percentile", "rank", "flagged", "reasons"}
    assert predictions["rank"].min() == 1 and predictions["rank"].is_unique


def test_reasons_name_the_column_that_was_changed(unsupervised_run):
    frame, run = unsupervised_run
    row = frame.drop(columns="is_anomaly").iloc[[0]].copy()
    row["payments_today"] = 40
    reasons = run.predict(row)["reasons"].iloc[0]
    assert reasons.startswith("payments_today"), reasons


def test_alert_budget_at_predict_time(unsupervised_run):
    frame, run = unsupervised_run
    rows = frame.drop(columns="is_anomaly")
    small = run.task.predict(rows, alert_budget="0.5%")["flagged"].mean()
    large = run.task.predict(rows, alert_budget=0.1)["flagged"].mean()
    assert small < large
    assert abs(large - 0.1) < 0.03
    with pytest.raises(ConfigError, match="outside"):
        run.task.predict(rows, alert_budget="150%")


def test_run_folder_reloads_and_reports(unsupervised_run):
    frame, run = unsupervised_run
    rows = frame.drop(columns="is_anomaly").head(50)
    loaded = layerwise.load(run.path)
    pd.testing.assert_frame_equal(run.predict(rows), loaded.predict(rows))
    assert (run.path / "flagged.csv").exists()
    page = (run.path / "report.html").read_text()
    assert "Score distribution" in page and "Most unusual rows" in page
    assert not list(run.path.glob("*.pkl"))


def test_missing_column_at_predict_is_named(unsupervised_run):
    frame, run = unsupervised_run
    with pytest.raises(ColumnError, match="distance_km"):
        run.predict(frame.drop(columns=["is_anomaly", "distance_km"]))


def test_fraud_mode_with_labels_beats_no_labels(tmp_path):
    frame = planted_outliers(1200, n_outliers=80, seed=1)
    quick = {**QUICK, "mlp-focal": {"epochs": 5}}  # robust-gaussian wins here either way
    run = fit(frame, tmp_path, target="is_anomaly", target_precision=0.8, candidate_params=quick)
    assert run.metrics["mode"] == "fraud"
    assert {"lightgbm", "mlp-focal"} <= set(run.metrics["candidates"])
    test = run.metrics["test"]
    assert test["pr_auc"] > 0.8
    threshold = run.metrics["threshold"]
    assert threshold["rule"].startswith("precision") and threshold["precision"] >= 0.8
    predictions = run.predict(frame.drop(columns="is_anomaly"))
    assert predictions["probability"].between(0, 1).all()
    metrics = layerwise.load(run.path).evaluate(frame)
    assert metrics["roc_auc"] > 0.9 and "precision" in metrics
    expected = run.metrics["threshold"]["expected_flagged_share"]
    assert abs(metrics["flagged_share"] - expected) < 0.03  # every row, not the labelled ones


def test_few_labels_keep_the_ensemble(tmp_path):
    frame = planted_outliers(400, n_outliers=15, seed=2)
    labels = frame["is_anomaly"].astype(float)
    keep = (frame.index % 10 == 0) & (labels == 0)
    keep[np.flatnonzero(labels == 1)[:2]] = True  # 10% labelled, two of them anomalies
    frame["is_anomaly"] = labels.where(keep)
    run = fit(frame, tmp_path, target="is_anomaly", candidates=["isolation-forest", "knn"])
    assert run.chosen == "ensemble"
    assert run.metrics["mode"] == "labels choose"
    assert "too few" in (run.path / "decision.md").read_text()


def test_cost_threshold_flags_more_when_misses_cost_more(tmp_path):
    frame = planted_outliers(800, n_outliers=40, seed=4)
    options = {"candidates": ["isolation-forest", "robust-gaussian"], "report": False}
    cheap = fit(frame, tmp_path / "a", target="is_anomaly", cost_fp=1, cost_fn=1, **options)
    costly = fit(frame, tmp_path / "b", target="is_anomaly", cost_fp=1, cost_fn=100, **options)
    assert costly.metrics["threshold"]["threshold"] <= cheap.metrics["threshold"]["threshold"]


def test_npz_arrays_are_read_and_their_labels_kept_out(tmp_path):
    frame = planted_outliers(300, n_outliers=10, seed=5)
    path = tmp_path / "data.npz"
    x = frame.drop(columns=["site", "is_anomaly"]).to_numpy()
    np.savez(path, X=x, y=frame["is_anomaly"].to_numpy())
    run = fit(str(path), tmp_path, candidates=["isolation-forest"], report=False)
    assert "y" not in run.task.input_schema()["columns"]
    assert any("--target y" in note for note in run.notes)
    supervised = fit(str(path), tmp_path / "s", target="y", candidates=["knn"], report=False)
    assert supervised.metrics["labelled_rows"] > 0


def test_bad_input_is_named(tmp_path):
    frame = planted_outliers(200, n_outliers=5, seed=6)
    with pytest.raises(ColumnError, match="is_anomaly"):
        fit(frame, tmp_path, target="is_anomly")
    one_class = frame.assign(is_anomaly=0)
    with pytest.raises(DataError, match="single class"):
        fit(one_class, tmp_path, target="is_anomaly")
    same = pd.DataFrame({"a": [1.0] * 50, "b": ["x"] * 50})
    with pytest.raises(DataError, match="identical|No column"):
        fit(same, tmp_path)
    with pytest.raises(ConfigError, match="outside"):
        AnomalyDetection(alert_budget="0%")
    with pytest.raises(ConfigError, match="labelled rows"):
        fit(frame.drop(columns="is_anomaly"), tmp_path, target_recall=0.9,
            candidates=["knn"])  # fmt: skip


def test_nan_and_inf_values_are_scored(tmp_path):
    frame = planted_outliers(300, n_outliers=10, seed=7).drop(columns="is_anomaly")
    frame.loc[:20, "sensor_1"] = np.nan
    frame.loc[5, "sensor_2"] = np.inf
    run = fit(frame, tmp_path, candidates=["isolation-forest", "robust-gaussian"], report=False)
    predictions = run.predict(frame)
    assert np.isfinite(predictions["score"]).all()
    # what the encoder read as missing at predict time is said, with counts (issue 23)
    rows = frame.head(8).astype({"sensor_0": object})
    rows.loc[1, "sensor_0"] = "forty"
    notes = run.predict(rows).attrs["notes"]
    assert any("'sensor_2'" in n and "(inf)" in n for n in notes), notes
    assert any("1 value in 'sensor_0'" in n and "'forty'" in n for n in notes), notes
    assert "'forty'" in " ".join(run.task.evaluate(rows)["notes"])


def test_advise_names_the_mode_without_training(tmp_path):
    frame = planted_outliers(400, n_outliers=40, seed=8)
    advice = layerwise.advise(frame, target="is_anomaly", task="anomaly-detection")
    assert "lightgbm" in advice.plan.candidates
    assert any("fraud mode" in line for line in advice.lines())
    unlabelled = layerwise.advise(frame.drop(columns="is_anomaly"), task="anomaly-detection")
    assert unlabelled.plan.candidates[-1] == "ensemble"
    assert not (tmp_path / "runs").exists()
