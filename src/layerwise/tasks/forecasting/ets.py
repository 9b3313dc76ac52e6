"""ETS: additive Holt-Winters exponential smoothing (damped trend or none, by AICc), one model
per channel per series.

statsmodels' ``ExponentialSmoothing`` estimates the parameters (alpha, beta, gamma, phi and
the initial level, trend and seasonals) on the training part of each series. Forecasts then
come from the state recursion run here in numpy over the whole series with those parameters,
so any origin (validation, test, or past the end at predict time) is forecast from the state
after observing everything before it, without refitting. The recursion is statsmodels' own
(Hyndman & Athanasopoulos' damped additive method):

    l_t = alpha (y_t - s_{t-m}) + (1 - alpha)(l_{t-1} + phi b_{t-1})
    b_t = beta (l_t - l_{t-1}) + (1 - beta) phi b_{t-1}
    s_t = gamma (y_t - l_{t-1} - phi b_{t-1}) + (1 - gamma) s_{t-m}
    yhat_{t+h|t} = l_t + (phi + ... + phi^h) b_t + s_{t+h-m(k+1)}

It matches statsmodels' fitted values, and its forecasts except at the steps in the phase of
the last observation, where statsmodels up to 0.15 uses the seasonal factor one season older
(statsmodels issue #9538); here the latest factor is used, as in the equations above.

Forecasts read each series from its first step, aligned with the training series: the model
of series ``k`` and channel ``c`` is the one fitted on series ``k`` of the training windows.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np

from layerwise.errors import DataError, TrainingError
from layerwise.runs.folder import RunFolder
from layerwise.tasks.forecasting.base import ForecastCandidate, Windows

MAX_MODELS = 50  # channels x series beyond this: too slow, the candidate is skipped
FIELDS = ("alpha", "beta", "gamma", "phi", "level", "trend")


def fit_holt_winters(y: np.ndarray, season: int) -> dict[str, Any]:
    """Fit a damped additive-trend model and a no-trend one to ``y`` with statsmodels (with
    additive seasonality when ``season > 1`` and ``y`` holds at least two full seasons), keep
    the one with the lower AICc (as auto-ETS does), and return its parameters:
    ``alpha``, ``beta``, ``gamma``, ``phi``, ``level``, ``trend`` (floats) and ``seasonals``
    (``season`` initial factors, oldest first; zeros and ``gamma`` 0 without seasonality).
    Without a trend, ``beta`` and ``trend`` are 0 and ``phi`` 1.

    Example:
        >>> t = np.arange(120.0)
        >>> p = fit_holt_winters(np.sin(2 * np.pi * t / 12) + 0.05 * t, 12)
        >>> sorted(p), len(p["seasonals"])
        (['alpha', 'beta', 'gamma', 'level', 'phi', 'seasonals', 'trend'], 12)
    """
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    m = max(1, int(season))
    seasonal = m > 1 and len(y) >= 2 * m
    fits = []
    with warnings.catch_warnings():  # convergence and frequency warnings: fine for a baseline
        warnings.simplefilter("ignore")
        for trend in ("add", None):
            model = ExponentialSmoothing(
                np.asarray(y, dtype=np.float64),
                trend=trend,
                damped_trend=trend is not None,
                seasonal="add" if seasonal else None,
                seasonal_periods=m if seasonal else None,
                initialization_method="estimated",
            )
            fitted = model.fit()
            if np.isfinite(fitted.aicc):
                fits.append((fitted.aicc, trend is not None, fitted))
    if not fits:
        raise TrainingError("ETS could not be fitted (no finite likelihood).")
    _, has_trend, fitted = min(fits, key=lambda f: f[0])  # auto-ETS: the lower AICc
    p = fitted.params
    gamma = p.get("smoothing_seasonal") if seasonal else None
    return {
        "alpha": float(p["smoothing_level"]),
        "beta": float(p["smoothing_trend"]) if has_trend else 0.0,
        "gamma": 0.0 if gamma is None or np.isnan(gamma) else float(gamma),
        "phi": float(p["damping_trend"]) if has_trend else 1.0,
        "level": float(p["initial_level"]),
        "trend": float(p["initial_trend"]) if has_trend else 0.0,
        "seasonals": [float(v) for v in p["initial_seasons"]] if seasonal else [0.0] * m,
    }


def holt_winters_states(
    y: np.ndarray, params: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the recursion over ``y`` ``[T, C]`` (one model per column; ``params`` hold
    ``[C]`` arrays and ``seasonals`` ``[m, C]``). Returns level and trend ``[T + 1, C]``
    (row ``t``: after observing ``y[:t]``) and seasonal factors ``[T + m, C]`` (row ``j``: the
    factor of step ``j``, known after observing ``y[: j - m + 1]``; the first ``m`` initial).

    Example:
        >>> p = {k: np.array([v]) for k, v in dict(alpha=0.5, beta=0.0, gamma=0.0, phi=1.0,
        ...      level=0.0, trend=0.0).items()}
        >>> p["seasonals"] = np.zeros((1, 1))
        >>> holt_winters_states(np.array([[2.0], [2.0]]), p)[0][:, 0].tolist()
        [0.0, 1.0, 1.5]
    """
    alpha, beta, gamma, phi = (params[k] for k in ("alpha", "beta", "gamma", "phi"))
    seasonals = params["seasonals"]
    m, n = len(seasonals), len(y)
    level = np.empty((n + 1, y.shape[1]))
    trend = np.empty_like(level)
    season = np.empty((n + m, y.shape[1]))
    level[0], trend[0], season[:m] = params["level"], params["trend"], seasonals
    alphac, betac, gammac = 1 - alpha, 1 - beta, 1 - gamma
    y_alpha, y_gamma = alpha * y, gamma * y
    for i in range(n):  # the operations in statsmodels' order, so the floats agree
        damped = level[i] + trend[i] * phi
        level[i + 1] = y_alpha[i] - alpha * season[i] + alphac * damped
        trend[i + 1] = beta * (level[i + 1] - level[i]) + betac * (trend[i] * phi)
        season[i + m] = y_gamma[i] - gamma * damped + gammac * season[i]
    return level, trend, season


class ETSCandidate(ForecastCandidate):
    """Damped additive Holt-Winters (ETS) per channel and series, parameters estimated by
    statsmodels on the training part (``series[k][: last training origin + horizon]``),
    forecasts by the state recursion from any origin. Seasonal when ``season > 1`` and the
    training part holds two full seasons. Refuses (TrainingError) more than 50 models.

    Example:
        >>> from layerwise.tasks.forecasting.base import origins_between
        >>> t = np.arange(240.0)
        >>> s = np.stack([np.sin(2 * np.pi * t / 12), 0.01 * t], axis=1)
        >>> w = Windows([s], origins_between([240], [0], [200], 6), horizon=6)
        >>> model = ETSCandidate(horizon=6, season=12)
        >>> model.fit(w, w)
        >>> model.forecast(w.subset(slice(-2, None))).shape
        (2, 6, 2)
    """

    name: ClassVar[str] = "ets"
    family: ClassVar[str] = "classical"
    complexity: ClassVar[int] = 1
    description: ClassVar[str] = "exponential smoothing (damped Holt-Winters, statsmodels)"
    lookback = None

    def fit(self, train: Windows, val: Windows) -> None:
        """Fit one model per channel of every series on its training part; ``val`` unused."""
        n_series, n_channels = len(train.series), train.n_channels
        if n_series * n_channels > MAX_MODELS:
            self.notes.append(
                f"ets: skipped, {n_channels} channels x {n_series} series is over {MAX_MODELS} models"
            )
            raise TrainingError(
                f"ets: {n_channels} channels x {n_series} series = {n_series * n_channels} "
                f"models, too many series (at most {MAX_MODELS}).",
                "ETS fits one model per channel and series; the other candidates cover this data.",
            )
        self.models: list[list[dict[str, Any]]] = []
        for k in range(n_series):
            ts = train.origins[train.origins[:, 0] == k, 1]
            if len(ts) == 0:
                raise TrainingError(f"ets: series {k} has no training windows.")
            part = train.series[k][: int(ts.max()) + train.horizon].astype(np.float64)
            try:
                self.models.append(
                    [fit_holt_winters(part[:, c], self.season) for c in range(n_channels)]
                )
            except (ValueError, np.linalg.LinAlgError) as exc:
                raise TrainingError(
                    f"ets: statsmodels could not fit series {k} ({len(part)} steps): {exc}",
                    "Pass a longer history.",
                ) from exc
        seasonal = sum(any(p["gamma"] or any(p["seasonals"]) for p in row) for row in self.models)
        self.notes.append(
            f"ets: damped additive trend, {'additive seasonality' if seasonal else 'no seasonality'}"
            f" (season {self.season}), one model per series and channel ({n_series * n_channels}) "
            "fitted on the training part"
        )

    def _params(self, k: int) -> dict[str, np.ndarray]:
        """Series ``k``'s channel models as arrays for :func:`holt_winters_states`."""
        if k >= len(self.models):
            raise DataError(
                f"ETS was fitted on {len(self.models)} series; series number {k} is new to it.",
                "Pass the training series (in their training order) with their recent history.",
            )
        row = self.models[k]
        out = {f: np.array([p[f] for p in row], dtype=np.float64) for f in FIELDS}
        out["seasonals"] = np.array([p["seasonals"] for p in row], dtype=np.float64).T
        return out

    def forecast(self, windows: Windows) -> np.ndarray:
        out = np.zeros((len(windows), self.horizon, windows.n_channels), dtype=np.float32)
        steps = np.arange(self.horizon)
        for k in np.unique(windows.origins[:, 0]):
            rows = np.flatnonzero(windows.origins[:, 0] == k)
            t = windows.origins[rows, 1]
            params = self._params(int(k))
            y = windows.series[k][: int(t.max())].astype(np.float64)
            level, trend, season = holt_winters_states(y, params)
            m = len(params["seasonals"])
            # sum_{i=1}^{h+1} phi^i per step and channel: [H, C]
            damping = np.cumsum(params["phi"][None, :] ** (steps[:, None] + 1), axis=0)
            values = (
                level[t][:, None, :]
                + damping[None] * trend[t][:, None, :]
                + season[t[:, None] + steps[None, :] % m]
            )
            out[rows] = values
        return out

    def save(self, run: RunFolder) -> dict[str, Any]:
        return {"horizon": self.horizon, "season": self.season, "models": self.models}

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> ETSCandidate:
        model = cls(horizon=int(info["horizon"]), season=int(info["season"]))
        model.models = [[dict(p) for p in row] for row in info["models"]]
        return model
