"""The classical forecasters: exact naive values, accuracy on a seasonal series with a trend,
ridge's choices and channel sharing, ETS against statsmodels, save -> load round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest

from layerwise.errors import TrainingError
from layerwise.runs.folder import RunFolder
from layerwise.tasks.forecasting.base import Windows, origins_between
from layerwise.tasks.forecasting.baselines import (
    NaiveCandidate,
    RidgeCandidate,
    SeasonalNaiveCandidate,
)
from layerwise.tasks.forecasting.ets import ETSCandidate, holt_winters_states

SEASON, HORIZON = 24, 24
LENGTHS = [600, 520]
VAL_START, TEST_START = [400, 340], [500, 430]


def make_series(seed: int = 0) -> list[np.ndarray]:
    """Two series of two channels: a period-24 sine (growing amplitude) plus trend plus noise."""
    rng = np.random.default_rng(seed)
    out = []
    for k, n in enumerate(LENGTHS):
        t = np.arange(n)
        channels = [
            (1 + t / 400) * np.sin(2 * np.pi * t / SEASON + k) + 0.004 * t,
            0.7 * np.cos(2 * np.pi * t / SEASON) - 0.002 * t + 0.5 * k,
        ]
        noise = 0.15 * rng.standard_normal((n, 2))
        out.append((np.stack(channels, axis=1) + noise).astype(np.float32))
    return out


@pytest.fixture(scope="module")
def parts() -> tuple[Windows, Windows, Windows]:
    series = make_series()
    zeros = [0] * len(LENGTHS)
    return (
        Windows(series, origins_between(LENGTHS, zeros, VAL_START, HORIZON), HORIZON),
        Windows(series, origins_between(LENGTHS, VAL_START, TEST_START, HORIZON), HORIZON),
        Windows(series, origins_between(LENGTHS, TEST_START, LENGTHS, HORIZON), HORIZON),
    )


def mse(model, windows: Windows) -> float:
    forecast = model.forecast(windows)
    assert forecast.shape == (len(windows), HORIZON, windows.n_channels)
    assert forecast.dtype == np.float32
    return float(np.mean((forecast - windows.targets()) ** 2))


@pytest.fixture(scope="module")
def fitted(parts) -> dict[str, object]:
    train, val, _ = parts
    models = {
        "naive": NaiveCandidate(horizon=HORIZON, season=SEASON),
        "seasonal-naive": SeasonalNaiveCandidate(horizon=HORIZON, season=SEASON),
        "ridge": RidgeCandidate(horizon=HORIZON, season=SEASON, lookbacks=(24, 48, 96)),
        "ets": ETSCandidate(horizon=HORIZON, season=SEASON),
    }
    for model in models.values():
        model.fit(train, val)
    return models


def test_naive_and_seasonal_naive_exact_values():
    series = [np.arange(10.0)[:, None] * np.array([[1.0, -1.0]])]
    windows = Windows(series, np.array([[0, 7], [0, 10]]), horizon=4)
    naive = NaiveCandidate(horizon=4, season=3).forecast(windows)
    assert naive[:, :, 0].tolist() == [[6.0] * 4, [9.0] * 4]
    assert naive[:, :, 1].tolist() == [[-6.0] * 4, [-9.0] * 4]
    seasonal = SeasonalNaiveCandidate(horizon=4, season=3)
    assert seasonal.lookback == 3
    values = seasonal.forecast(windows)
    assert values[:, :, 0].tolist() == [[4.0, 5.0, 6.0, 4.0], [7.0, 8.0, 9.0, 7.0]]
    assert values[:, :, 1].tolist() == [[-4.0, -5.0, -6.0, -4.0], [-7.0, -8.0, -9.0, -7.0]]
    flat = SeasonalNaiveCandidate(horizon=4, season=1)
    np.testing.assert_array_equal(flat.forecast(windows), naive)
    assert NaiveCandidate(horizon=4).lookback == 1


def test_classical_metadata():
    for cls, complexity in [(NaiveCandidate, 0), (SeasonalNaiveCandidate, 0),
                            (RidgeCandidate, 1), (ETSCandidate, 1)]:  # fmt: skip
        assert cls.family == "classical" and cls.complexity == complexity and cls.description
    assert ETSCandidate(horizon=3).lookback is None


def test_accuracy_ranking(fitted, parts):
    test = parts[2]
    scores = {name: mse(model, test) for name, model in fitted.items()}
    assert scores["seasonal-naive"] < 0.7 * scores["naive"], scores
    assert scores["ridge"] < 0.5 * scores["naive"], scores
    assert scores["ets"] < 0.5 * scores["naive"], scores


def test_ridge_chooses_on_validation(fitted, parts):
    ridge = fitted["ridge"]
    assert ridge.lookback in (24, 48, 96)
    assert ridge.alpha in (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)
    assert ridge.weights.shape == (ridge.lookback + 1, HORIZON)
    assert (
        "chosen on validation" in ridge.notes[-1]
        and f"lookback {ridge.lookback}" in ridge.notes[-1]
    )
    assert ridge.val_mse == pytest.approx(mse(ridge, parts[1]), rel=1e-5)


def test_ridge_fixed_settings(parts):
    train, val, test = parts
    ridge = RidgeCandidate(horizon=HORIZON, season=SEASON, lookback=48, alpha=10)
    ridge.fit(train, val)
    assert (ridge.lookback, ridge.alpha) == (48, 10.0)
    assert ridge.weights.shape == (49, HORIZON)
    assert "chosen" not in ridge.notes[-1]
    assert mse(ridge, test) < 0.5 * mse(NaiveCandidate(horizon=HORIZON), test)


def test_ridge_lookback_grid_keeps_feasible_values(parts):
    train, val, _ = parts
    ridge = RidgeCandidate(horizon=HORIZON, lookbacks=(24, 5000), alphas=(1.0, 10.0))
    ridge.fit(train, val)  # 5000 steps of history exist nowhere: only 24 is tried
    assert ridge.lookback == 24


def test_ridge_is_shared_across_channels_and_series(fitted, parts):
    ridge, test = fitted["ridge"], parts[2]
    both = ridge.forecast(test)
    for c in range(2):
        alone = Windows([s[:, [c]] for s in test.series], test.origins, HORIZON)
        np.testing.assert_allclose(ridge.forecast(alone)[..., 0], both[..., c], rtol=0, atol=1e-6)
    # the same map by hand: history then intercept, for one origin of series 1 and channel 1
    k, t = test.origins[-1]
    x = np.append(test.series[k][t - ridge.lookback : t, 1].astype(np.float64), 1.0)
    np.testing.assert_allclose(both[-1, :, 1], x @ ridge.weights, rtol=1e-5, atol=1e-5)


def test_ets_recursion_matches_statsmodels(fitted, parts):
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    train = parts[0]
    ets, series = fitted["ets"], train.series[0]
    stop = int(train.origins[train.origins[:, 0] == 0, 1].max()) + HORIZON
    assert stop == VAL_START[0]
    y = series[:stop, 0].astype(np.float64)
    res = ExponentialSmoothing(
        y, trend="add", damped_trend=True, seasonal="add", seasonal_periods=SEASON,
        initialization_method="estimated",
    ).fit()  # fmt: skip
    ours = ets.models[0][0]
    assert ours["alpha"] == res.params["smoothing_level"]
    assert ours["phi"] == res.params["damping_trend"]
    np.testing.assert_array_equal(ours["seasonals"], res.params["initial_seasons"])
    # the states along the whole training part
    params = ets._params(0)
    level, trend, season = holt_winters_states(series[:stop].astype(np.float64), params)
    np.testing.assert_allclose(level[1:, 0], res.level, atol=1e-6)
    np.testing.assert_allclose(trend[1:, 0], res.trend, atol=1e-6)
    np.testing.assert_allclose(season[SEASON:, 0], res.season, atol=1e-6)
    fitted_values = level[:-1, 0] + params["phi"][0] * trend[:-1, 0] + season[:stop, 0]
    np.testing.assert_allclose(fitted_values, res.fittedvalues, atol=1e-6)
    # the forecast from the end of training, through the candidate
    ours = ets.forecast(Windows([series], np.array([[0, stop]]), HORIZON))[0, :, 0]
    theirs = res.forecast(HORIZON)
    h = np.arange(HORIZON)
    damping = np.cumsum(res.params["damping_trend"] ** (h + 1))
    equations = res.level[-1] + damping * res.trend[-1] + res.season[-SEASON + h % SEASON]
    np.testing.assert_allclose(ours, equations, atol=1e-5)  # float32 output
    # statsmodels <= 0.15 uses a season-old factor in the last observation's phase (#9538)
    same_phase = h % SEASON == SEASON - 1
    np.testing.assert_allclose(ours[~same_phase], theirs[~same_phase], atol=1e-5)


def test_ets_forecasts_past_the_training_series(fitted):
    ets = fitted["ets"]
    longer = [np.concatenate([s, s[-48:]]) for s in make_series()]
    ends = np.array([[k, len(s)] for k, s in enumerate(longer)])
    values = ets.forecast(Windows(longer, ends, HORIZON))
    assert values.shape == (2, HORIZON, 2) and np.all(np.isfinite(values))


def test_ets_refuses_too_many_series():
    series = [np.zeros((100, 51), dtype=np.float32)]
    train = Windows(series, origins_between([100], [0], [100], 5), 5)
    with pytest.raises(TrainingError, match="too many series"):
        ETSCandidate(horizon=5, season=1).fit(train, train)


@pytest.mark.parametrize("name", ["naive", "seasonal-naive", "ridge", "ets"])
def test_save_load_identical(fitted, parts, name, tmp_path):
    model, test = fitted[name], parts[2]
    run = RunFolder(tmp_path)
    info = json.loads(json.dumps(model.save(run)))  # what run.write_json keeps
    if name == "ridge":
        assert info["file"] == "model.ridge.safetensors" and run.file(info["file"]).exists()
    loaded = type(model).load(run, info)
    assert loaded.lookback == model.lookback
    assert (loaded.horizon, loaded.season) == (HORIZON, SEASON)
    np.testing.assert_array_equal(loaded.forecast(test), model.forecast(test))
