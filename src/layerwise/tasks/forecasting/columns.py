"""The columns of a table of time series, as
:func:`layerwise.tasks.forecasting.series.read_series` needs them: the time column (found by
name or by its values, parsed), the target columns as floats, and the rows of each series.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from layerwise.data.tabular import read_table
from layerwise.errors import ColumnError, ConfigError, DataError, missing_column

TIME_NAMES = ("date", "time", "timestamp", "datetime", "ds", "day", "week", "month", "year")
TIME_NAMES += ("period",)
YEAR_NAMES = ("year", "years", "yr")
DEFAULT_ID = "series"
_FIX_TIME = "Pass --time-column with the column that holds the dates, or fix that value."


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
