"""Where time series come from: table columns, statsmodels data sets and synthetic data.

The helpers here turn a table into the pieces :func:`layerwise.tasks.forecasting.series.read_series`
needs (the time column, the target columns as floats, the rows of each series);
:func:`statsmodels_series` and :func:`synthetic` give ready-made series for demos and
tests, offline.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from layerwise.data.tabular import read_table
from layerwise.errors import ColumnError, ConfigError, DataError, closest, missing_column

if TYPE_CHECKING:
    from layerwise.tasks.forecasting.series import SeriesSet

TIME_NAMES = ("date", "time", "timestamp", "datetime", "ds", "day", "week", "month", "year")
TIME_NAMES += ("period",)
YEAR_NAMES = ("year", "years", "yr")
DEFAULT_ID = "series"
STATSMODELS_SERIES = {
    "co2": ("date", "co2"),
    "sunspots": ("YEAR", "SUNACTIVITY"),
    "nile": ("year", "volume"),
}
_FIX_TIME = "Pass --time-column with the column that holds the dates, or fix that value."


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
    from layerwise.tasks.forecasting.series import read_series

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


# ---- table helpers for read_series -----------------------------------------------------
def _as_names(names: str | Sequence[str] | None) -> list[str]:
    if names is None:
        return []
    return [names] if isinstance(names, str) else [str(n) for n in names]


def _as_table(data: Any) -> tuple[pd.DataFrame, str, str]:
    if isinstance(data, pd.Series):
        if not isinstance(data.index, (pd.DatetimeIndex, pd.PeriodIndex)):
            raise DataError(
                f"The Series has a {type(data.index).__name__}, not times.",
                "Give a Series with a DatetimeIndex, or a DataFrame with a time column.",
            )
        data = data.to_frame(str(data.name) if data.name is not None else "value")
    if isinstance(data, pd.DataFrame):
        index = data.index
        if isinstance(index, pd.PeriodIndex):
            index = index.to_timestamp()
        if isinstance(index, pd.DatetimeIndex):
            name = str(index.name) if index.name is not None else "time"
            data = data.set_axis(range(len(data)), axis=0)
            data.insert(0, name, pd.Series(index, index=data.index))
        label = str(data.attrs.get("name", "the data"))
        return read_table(data, name=label), "DataFrame", label
    df = read_table(data)
    return df, df.attrs["name"], f"'{df.attrs['name']}'"


def _find_time_column(df: pd.DataFrame, given: str | None, label: str) -> tuple[str, pd.Series]:
    if given is not None:
        if given not in df.columns:
            raise missing_column(given, df.columns, what="Time column", where=label)
        return given, _parse_times(df[given], given, explicit=True)
    named = [c for c in df.columns if c.lower() in TIME_NAMES]
    failed: DataError | None = None
    for c in named:
        if _is_number(df[c]) and c.lower() not in YEAR_NAMES:
            continue
        try:
            return c, _parse_times(df[c], c)
        except DataError as exc:
            failed = failed or exc
    for c in df.columns:
        if c not in named and not _is_number(df[c]) and _looks_like_dates(df[c]):
            return c, _parse_times(df[c], c)
    if failed is not None:
        raise failed
    shown = ", ".join(df.columns[:12]) + (" ..." if df.shape[1] > 12 else "")
    raise DataError(
        f"Found no time column in {label} (columns: {shown}).",
        "Pass --time-column with the column that holds the dates.",
    )


def _looks_like_dates(s: pd.Series) -> bool:
    sample = s.dropna().astype(str).str.strip().head(20)
    if sample.empty or not sample.map(lambda v: len(v) >= 4 and any(map(str.isdigit, v))).all():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(pd.to_datetime(sample, errors="coerce", format="mixed").notna().all())


def _parse_times(s: pd.Series, name: str, explicit: bool = False) -> pd.Series:
    s = s.reset_index(drop=True)
    if isinstance(s.dtype, pd.PeriodDtype):
        return s.dt.to_timestamp()
    if pd.api.types.is_datetime64_any_dtype(s):
        return s
    if _is_number(s):
        v = s.dropna()
        whole = bool(((v % 1) == 0).all()) and len(v) > 0
        in_range = whole and bool(v.between(1, 9999).all())
        if in_range and (name.lower() in YEAR_NAMES or (explicit and v.between(1000, 3000).all())):
            years = s.map(lambda y: pd.NA if pd.isna(y) else f"{int(y):04d}")
            return pd.to_datetime(years, format="%Y")
        first = int(v.index[0]) if len(v) else 0
        raise DataError(
            f"Column '{name}' holds numbers, not times (e.g. '{s.iloc[first]}' in row "
            f"{first + 1}).",
            "Give dates like 2024-01-31 or 2024-01-31 13:00, or whole years in a 'year' column.",
        )
    text = s.astype("string").str.strip().replace("", pd.NA)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(text, errors="coerce")
        if (text.notna() & parsed.isna()).any():
            parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    bad = np.flatnonzero((text.notna() & parsed.isna()).to_numpy())
    if len(bad) or not pd.api.types.is_datetime64_any_dtype(parsed):
        i = int(bad[0]) if len(bad) else 0
        raise DataError(
            f"Column '{name}' does not parse as times (e.g. '{text.iloc[i]}' in row {i + 1}).",
            _FIX_TIME,
        )
    return parsed


def _is_number(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _targets(df: pd.DataFrame, target: Any, exclude: set[Any], label: str) -> list[str]:
    if target is None:
        columns = [c for c in df.columns if c not in exclude and _is_number(df[c])]
        if not columns:
            raise ColumnError(
                f"{label[0].upper()}{label[1:]} has no numeric column to forecast besides the "
                "time, id and covariate columns.",
                "Pass --target with the numeric columns to forecast.",
            )
        return columns
    columns = _as_names(target)
    if not columns:
        raise ConfigError("The list of target columns is empty.", "Pass at least one --target.")
    for c in columns:
        if c not in df.columns:
            raise missing_column(c, df.columns, what="Target column", where=label)
        if c in exclude:
            raise ColumnError(f"Column '{c}' is the time or id column and cannot be a target.")
    return columns


def _numeric(s: pd.Series, name: str, label: str) -> pd.Series:
    s = s.reset_index(drop=True)
    if _is_number(s) or pd.api.types.is_bool_dtype(s):
        return s.astype(np.float64)
    text = s.astype("string").str.strip().replace("", pd.NA)
    values = pd.to_numeric(text, errors="coerce")
    bad = np.flatnonzero((text.notna() & values.isna()).to_numpy())
    if len(bad):
        i = int(bad[0])
        raise ColumnError(
            f"Column '{name}' in {label} is not numeric (e.g. '{text.iloc[i]}' in row {i + 1}).",
            "Forecast columns must hold numbers: pick numeric columns or fix that value.",
        )
    return values.astype(np.float64)


def _groups(
    df: pd.DataFrame, id_column: str | None, keep: np.ndarray, label: str
) -> dict[str, np.ndarray]:
    if id_column is None:
        return {DEFAULT_ID: np.flatnonzero(keep)}
    ids = df[id_column].reset_index(drop=True)
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0]) + 1
        raise DataError(
            f"Id column '{id_column}' in {label} has {int(ids.isna().sum())} empty cell(s) "
            f"(first in row {row}).",
            "Fill in the id of every row or drop those rows.",
        )
    ids = ids.astype(str)[keep]
    rows = ids.index.to_numpy()
    return {str(k): rows[v] for k, v in ids.groupby(ids, sort=False).indices.items()}
