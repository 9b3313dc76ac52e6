"""forecasting end to end: the bake-off, intervals, run folder, reload, predict, backtest, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import layerwise
from layerwise.errors import DataError
from layerwise.runs.folder import RunFolder
from layerwise.tasks.forecasting.sources import synthetic

FAST = {"epochs": 4}
OPTIONS = {
    "horizon": 12,
    "verbose": False,
    "candidate_params": {
        "dlinear": FAST,
        "patchtst": {**FAST, "dim": 8, "heads": 2, "depth": 1},
        "segrnn": {**FAST, "hidden": 16, "segment": 12},
    },
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def frame():
    return synthetic(n_steps=900, n_channels=2, season=24, noise=0.2, seed=0)


@pytest.fixture(scope="module")
def series_run(frame, tmp_path_factory):
    out = tmp_path_factory.mktemp("forecast-runs")
    return layerwise.fit(frame, task="forecasting", output_dir=str(out), **OPTIONS)


def test_every_candidate_is_measured_and_beats_naive(series_run):
    candidates = series_run.metrics["candidates"]
    assert {"naive", "seasonal-naive", "ridge", "ets", "dlinear", "patchtst", "segrnn"} <= set(
        candidates
    )
    naive = candidates["naive"]["test"]["mse"]
    assert candidates["ridge"]["test"]["mse"] < 0.6 * naive
    assert candidates["seasonal-naive"]["test"]["mse"] < naive  # the season is strong
    test = series_run.metrics["test"]
    assert test["mse"] < 0.6 * naive
    assert {"mae", "mase", "smape"} <= set(test)
    assert test["mase"] < candidates["naive"]["test"]["mase"]
    # the advisor chose on validation, never on test
    chosen = candidates[series_run.chosen]["validation"]["mse"]
    measured = [c["validation"]["mse"] for c in candidates.values() if "validation" in c]
    assert chosen <= min(measured) * 1.005 + 1e-12


def test_intervals_are_calibrated_on_test(series_run):
    test = series_run.metrics["test"]
    assert 0.65 <= test["coverage_80%"] <= 0.95
    assert 0.85 <= test["coverage_95%"] <= 1.0


def test_run_folder_forecast_and_report(series_run, frame):
    run = RunFolder.open(series_run.path)
    forecast = pd.read_csv(run.file("forecast.csv"), parse_dates=["time"])
    assert len(forecast) == 12 * 2  # horizon x channels
    last = pd.Timestamp(frame["time"].iloc[-1])
    assert forecast["time"].min() == last + pd.Timedelta(hours=1)
    assert (forecast["lower_95"] <= forecast["lower_80"]).all()
    assert (forecast["lower_80"] <= forecast["forecast"]).all()
    assert (forecast["forecast"] <= forecast["upper_80"]).all()
    report = run.read_text("report.html")
    assert "Forecasts on the test windows" in report and "Error by horizon step" in report
    assert "ridge" in run.read_text("decision.md")


def test_reload_predicts_the_same_forecast_and_backtests(series_run, frame):
    task = layerwise.load(series_run.path)
    again = task.predict(frame)
    stored = pd.read_csv(RunFolder(series_run.path).file("forecast.csv"))
    np.testing.assert_allclose(again["forecast"].to_numpy(), stored["forecast"], rtol=1e-5)
    metrics = task.evaluate(frame, backtest=3)
    assert metrics["origins"] == 3
    assert metrics["mse"] < 1.0 and "coverage_80%" in metrics


def test_every_saved_model_reloads_to_identical_forecasts(series_run, frame):
    task = layerwise.load(series_run.path)
    fitted = series_run.task
    series = task.read(frame)
    origins = np.array([[0, 700], [0, 800]], dtype=np.int64)
    windows = task._windows_at(series, origins)
    for name, model in fitted.models.items():
        np.testing.assert_allclose(
            task.models[name].forecast(windows), model.forecast(windows), rtol=1e-5, atol=1e-6
        )


def test_many_series_in_a_long_table(tmp_path):
    frame = synthetic(n_steps=300, n_series=3, n_channels=1, season=7, freq="D", seed=1)
    options = {**OPTIONS, "horizon": 7, "candidates": ["naive", "ridge", "dlinear"]}
    run = layerwise.fit(
        frame, task="forecasting", id_column="series", output_dir=str(tmp_path), **options
    )
    forecast = run.predict(frame)
    assert sorted(forecast["series"].unique()) == sorted(frame["series"].unique())
    assert len(forecast) == 3 * 7


def test_too_short_for_the_horizon_names_the_minimum(tmp_path):
    frame = synthetic(n_steps=60, n_channels=1, seed=0)
    with pytest.raises(DataError, match="at least 74 steps"):
        layerwise.fit(frame, task="forecasting", horizon=24, output_dir=str(tmp_path))
    assert not list(tmp_path.iterdir())  # bad input leaves no run folder


def test_predict_input_of_another_frequency_is_refused(series_run):
    daily = synthetic(n_steps=200, n_channels=2, freq="D", seed=0)
    with pytest.raises(DataError, match="daily"):
        series_run.predict(daily)


def test_cli_train_predict_evaluate(cli, tmp_path, frame):
    data = tmp_path / "series.csv"
    frame.to_csv(data, index=False)
    code, _, err = cli(
        "train", data, "--task", "forecasting", "--time-column", "time", "--horizon", "12",
        "--candidates", "naive,ridge", "-o", tmp_path / "runs",
    )  # fmt: skip
    assert code == 0, err
    run = next((tmp_path / "runs").iterdir())
    out = tmp_path / "forecast.csv"
    code, _, err = cli("predict", run, data, "-o", out)
    assert code == 0, err
    assert len(pd.read_csv(out)) == 24
    code, stdout, err = cli("evaluate", run, data, "--backtest", "2")
    assert code == 0, err
    assert '"origins": 2' in stdout
    code, _, err = cli("train", data, "--task", "forecasting", "--target", "y9", "--horizon", "6")
    assert code == 2
    assert "Did you mean 'y" in err and "Traceback" not in err


def test_cli_bad_series_input_is_one_clear_line(cli, tmp_path, frame):
    bad_time = frame.assign(time=["not a time", *frame["time"].astype(str).tolist()[1:]])
    path = tmp_path / "bad_time.csv"
    bad_time.to_csv(path, index=False)
    code, _, err = cli("train", path, "--task", "forecasting", "--time-column", "time")
    assert code == 2 and "not a time" in err and "Traceback" not in err
    doubled = pd.concat([frame.iloc[:300], frame.iloc[299:600]])
    path = tmp_path / "duplicates.csv"
    doubled.to_csv(path, index=False)
    code, _, err = cli("train", path, "--task", "forecasting")
    assert code == 2 and "more than one row at" in err and "Traceback" not in err
    code, _, err = cli(
        "train", tmp_path / "bad_time.csv", "--task", "forecasting", "--horizon", "0"
    )
    assert code == 2


def test_cli_advise_names_the_split_and_horizon(cli, tmp_path, frame):
    path = tmp_path / "series.csv"
    frame.to_csv(path, index=False)
    code, stdout, err = cli("advise", path, "--task", "forecasting", "--horizon", "24")
    assert code == 0, err
    assert "Horizon 24 steps" in stdout and "season 24" in stdout


def test_recent_history_is_enough_unless_ets_is_chosen(series_run, frame):
    assert "ets" not in series_run.metrics["candidates"].get("ensemble", {}).get("weights", {})
    if series_run.chosen != "ets":
        recent = series_run.predict(frame.iloc[-400:])  # the last 400 steps only
        full = series_run.predict(frame)
        np.testing.assert_allclose(recent["forecast"], full["forecast"], rtol=1e-5)
