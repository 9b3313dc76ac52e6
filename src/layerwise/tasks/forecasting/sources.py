"""Ready-made time series for demos and tests, offline: :func:`statsmodels_series` and
:func:`synthetic`. A user's table is read by :func:`layerwise.tasks.forecasting.series.read_series`.
"""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from layerwise.errors import ConfigError, closest
from layerwise.tasks.forecasting.columns import DEFAULT_ID
from layerwise.tasks.forecasting.series import SeriesSet, read_series

STATSMODELS_SERIES = {
    "co2": ("date", "co2"),
    "sunspots": ("YEAR", "SUNACTIVITY"),
    "nile": ("year", "volume"),
}


def statsmodels_series(name: str) -> SeriesSet:
    """A classic series shipped with statsmodels, read offline.

    ``"co2"`` (weekly Mauna Loa CO2; its missing weeks are filled, see ``notes``),
    ``"sunspots"`` (yearly sunspot activity, column ``SUNACTIVITY``) and ``"nile"``
    (yearly Nile flow, column ``volume``).

    Raises:
        ConfigError: an unknown name, or statsmodels is not installed.

    Example:
        >>> s = statsmodels_series("nile")  # doctest: +SKIP
        >>> s.freq, s.season, s.columns, s.lengths()  # doctest: +SKIP
        ('YS-JAN', 1, ['volume'], [100])
    """
    key = str(name).strip().lower()
    if key not in STATSMODELS_SERIES:
        guess = closest(key, STATSMODELS_SERIES)
        raise ConfigError(
            f"Unknown statsmodels series '{name}'.",
            (f"Did you mean '{guess}'? " if guess else "")
            + "Valid: "
            + ", ".join(STATSMODELS_SERIES)
            + ".",
        )
    try:
        module = importlib.import_module(f"statsmodels.datasets.{key}")
    except ImportError as exc:
        raise ConfigError(
            f"The '{key}' series needs statsmodels, which is not installed.",
            "Install it with: pip install statsmodels",
        ) from exc
    data = module.load_pandas().data
    time_column, target = STATSMODELS_SERIES[key]
    if isinstance(data.index, pd.DatetimeIndex):
        data = data.rename_axis(time_column)
    series = read_series(data, time_column=time_column, target=target)
    series.source = f"statsmodels {key}"
    return series


def synthetic(
    n_steps: int = 500,
    n_series: int = 1,
    n_channels: int = 2,
    season: int = 24,
    freq: str = "h",
    noise: float = 0.1,
    seed: int = 0,
    id_column: str | None = None,
) -> pd.DataFrame:
    """A synthetic table of series: trend + seasonal sine + AR(1) noise, deterministic.

    Each channel ``y0, y1, ...`` has its own level and seasonal phase; each series its
    own level, slope and phase. With ``n_series > 1`` the table is long, with an id
    column (``id_column`` or ``"series"``, values ``s0, s1, ...``) before ``time``.

    Example:
        >>> df = synthetic(n_steps=48, n_series=2)
        >>> df.shape, list(df.columns)
        ((96, 4), ['series', 'time', 'y0', 'y1'])
    """
    for arg, value, low in (("n_steps", n_steps, 3), ("n_series", n_series, 1)):
        if int(value) != value or value < low:
            raise ConfigError(f"{arg} must be a whole number >= {low}, got {value!r}.")
    for arg, value in (("n_channels", n_channels), ("season", season)):
        if int(value) != value or value < 1:
            raise ConfigError(f"{arg} must be a whole number >= 1, got {value!r}.")
    if noise < 0:
        raise ConfigError(f"noise must be >= 0, got {noise!r}.")
    try:
        times = pd.date_range("2020-01-01", periods=n_steps, freq=to_offset(freq))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"'{freq}' is not a pandas frequency.", "Use e.g. h, D, MS.") from exc
    rng = np.random.default_rng(seed)
    t = np.arange(n_steps, dtype=np.float64)
    parts = []
    for k in range(n_series):
        shocks = rng.standard_normal((n_steps, n_channels)) * noise
        ar = np.zeros_like(shocks)
        ar[0] = shocks[0]
        for i in range(1, n_steps):
            ar[i] = 0.6 * ar[i - 1] + shocks[i]
        part = pd.DataFrame({"time": times})
        for c in range(n_channels):
            phase = 2 * np.pi * c / n_channels + 0.7 * k
            wave = (1 + 0.3 * c) * np.sin(2 * np.pi * t / season + phase)
            part[f"y{c}"] = 10 + 3 * k + c + (1 + 0.5 * k) * 2 * t / n_steps + wave + ar[:, c]
        if n_series > 1:
            part.insert(0, id_column or DEFAULT_ID, f"s{k}")
        parts.append(part)
    return pd.concat(parts, ignore_index=True)
