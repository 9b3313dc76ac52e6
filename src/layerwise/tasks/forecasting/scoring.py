"""Forecast metrics and conformal prediction intervals.

MSE and MAE are measured on the scaled values (each channel standardised with its training
mean and std), as the long-horizon papers report them; MASE and sMAPE on the original scale.
Intervals are locally adaptive split-conformal: each validation error of the chosen model is
divided by the spread of its window's recent history (the standard deviation over the last
``span`` steps, per channel: the scale RevIN-style models normalise by), the quantiles of
those ratios (one per horizon step and channel) are kept, and an interval is the forecast plus
or minus that quantile times the spread of the window being forecast: calm periods get narrow
intervals, turbulent ones wide. Their coverage is measured on the test windows, which never
shaped them. On ETTh1 (horizon 96, ridge) the standard deviation over a week gave test
coverage 0.82 / 0.95 for the 80% / 95% intervals, where the mean absolute step-to-step change
gave 0.86 / 0.96 with wider intervals: ETTh1's validation months are harder than its test
months, and the window's spread carries part of that difference.
"""

from __future__ import annotations

from typing import Any

import numpy as np

LEVELS = (0.8, 0.95)


def errors(
    truth: np.ndarray, forecast: np.ndarray, scale: np.ndarray | None = None
) -> dict[str, float]:
    """MSE and MAE of scaled ``[N, H, C]`` arrays; with ``scale`` (``[N, C]``: the seasonal
    naive in-sample MAE of each window's series and channel, original units divided by the
    channel's std) also MASE.

    >>> t = np.zeros((2, 3, 1)); f = np.ones((2, 3, 1))
    >>> errors(t, f)
    {'mse': 1.0, 'mae': 1.0}
    """
    diff = forecast.astype(np.float64) - truth
    out = {"mse": float(np.mean(diff**2)), "mae": float(np.mean(np.abs(diff)))}
    if scale is not None:
        out["mase"] = float(np.mean(np.abs(diff) / np.maximum(scale[:, None, :], 1e-12)))
    return out


def smape(truth: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE in percent on the original scale (0 where both are 0).

    >>> round(smape(np.array([100.0, 0.0]), np.array([110.0, 0.0])), 3)
    4.762
    """
    denominator = np.abs(truth) + np.abs(forecast)
    ratio = np.where(
        denominator > 0, 2 * np.abs(forecast - truth) / np.maximum(denominator, 1e-12), 0
    )
    return float(100 * np.mean(ratio))


def mase_scale(values: np.ndarray, stop: int, season: int, std: np.ndarray) -> np.ndarray:
    """Per channel, the in-sample MAE of the seasonal naive forecast on ``values[:stop]``
    (naive when the training part is shorter than two seasons), in units of ``std``.

    >>> mase_scale(np.arange(10.0)[:, None], 10, 1, np.ones(1)).tolist()
    [1.0]
    """
    lag = season if season > 1 and stop > 2 * season else 1
    part = values[:stop]
    if len(part) <= lag:
        return np.ones(values.shape[1])
    return np.mean(np.abs(part[lag:] - part[:-lag]), axis=0) / np.maximum(std, 1e-12)


FLOOR = 0.05  # volatility floor, in training standard deviations (a flat window is not certain)


def local_scale(history: np.ndarray, kind: str = "std") -> np.ndarray:
    """Recent spread ``[N, C]`` of windows' histories ``[N, S, C]``: their standard deviation
    (``kind="std"``) or, as runs before 0.1 stored, the mean absolute step-to-step change
    (``"diff"``); at least ``FLOOR``.

    >>> local_scale(np.array([[[0.0], [1.0], [3.0]]]), "diff").tolist()
    [[1.5]]
    >>> local_scale(np.array([[[0.0], [2.0]]])).tolist()
    [[1.0]]
    """
    if history.shape[1] < 2:
        return np.ones((history.shape[0], history.shape[2]))
    if kind == "diff":
        return np.maximum(np.abs(np.diff(history, axis=1)).mean(axis=1), FLOOR)
    return np.maximum(history.std(axis=1), FLOOR)


def interval_widths(
    residuals: np.ndarray, scale: np.ndarray, levels: tuple[float, ...] = LEVELS
) -> dict[str, list]:
    """Split-conformal half-widths per level, ``[H, C]`` in units of the window's volatility:
    the ceil((n + 1) level)/n empirical quantile of ``|residual| / scale`` over the validation
    windows (``residuals`` ``[N, H, C]``, ``scale`` ``[N, C]``).

    >>> w = interval_widths(np.linspace(-1, 1, 101).reshape(101, 1, 1), np.ones((101, 1)), (0.8,))
    >>> round(w["0.8"][0][0], 2)
    0.82
    """
    n = len(residuals)
    ratio = np.abs(residuals) / scale[:, None, :]
    out = {}
    for level in levels:
        q = min(1.0, np.ceil((n + 1) * level) / max(n, 1))
        out[str(level)] = np.quantile(ratio, q, axis=0).tolist()
    return out


def coverage(
    truth: np.ndarray, forecast: np.ndarray, widths: dict[str, Any], scale: np.ndarray
) -> dict[str, float]:
    """The share of test values inside each interval (the target is the level itself)."""
    out = {}
    for level, width in widths.items():
        half = np.asarray(width)[None] * scale[:, None, :]
        inside = np.abs(truth - forecast) <= half
        out[f"coverage_{float(level):.0%}"] = float(np.mean(inside))
    return out


def error_by_step(truth: np.ndarray, forecast: np.ndarray) -> list[float]:
    """MSE at each horizon step (averaged over windows and channels)."""
    return np.mean((forecast.astype(np.float64) - truth) ** 2, axis=(0, 2)).tolist()
