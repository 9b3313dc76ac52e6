"""Reading time series for forecasting into one :class:`SeriesSet`.

:func:`read_series` takes a table (a file, a DataFrame with a time column or a
DatetimeIndex, or a pandas Series) in the wide layout (one series, each target column a
channel) or the long layout (one series per value of ``id_column``). It finds the time
column, sorts the rows, infers the frequency and fills gaps and missing values so that
every series lies on a regular grid with no NaN; what it did is listed in ``notes``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from layerwise.errors import ColumnError, ConfigError, DataError, missing_column
from layerwise.tasks.forecasting.columns import (
    DEFAULT_ID,
    _as_names,
    _as_table,
    _find_time_column,
    _groups,
    _numeric,
    _targets,
)

FILLS = {"auto": "auto", "interpolate": "auto", "ffill": "ffill", "error": "error"}
MIN_ROWS = 3
MAX_GAPS_PER_ROW = 4  # a grid holding more missing timestamps than this per row is not a gap
_O = pd.offsets
_MONTHLY = (_O.MonthBegin, _O.MonthEnd, _O.BusinessMonthBegin, _O.BusinessMonthEnd)
_QUARTERLY = (_O.QuarterBegin, _O.QuarterEnd, _O.BQuarterBegin, _O.BQuarterEnd)
_YEARLY = (_O.YearBegin, _O.YearEnd, _O.BYearBegin, _O.BYearEnd)
_TICKS = ((_O.Hour, "hour", "hourly"), (_O.Minute, "minute", None), (_O.Second, "second", None))
_CALENDAR = (
    ((_O.Day,), "day", "daily"),
    ((_O.BusinessDay,), "business day", "business daily"),
    ((_O.Week,), "week", "weekly"),
    (_MONTHLY, "month", "monthly"),
    (_QUARTERLY, "quarter", "quarterly"),
    (_YEARLY, "year", "yearly"),
)


@dataclass
class SeriesSet:
    """Regular, gap-free time series with their channels, covariates and provenance.

    Example:
        >>> times = pd.date_range("2024-01-01", periods=4, freq="D")
        >>> s = read_series(pd.DataFrame({"date": times, "y": [1.0, 2.0, None, 4.0]}))
        >>> s.freq, s.season, s.frequency_label(), s.values[0][:, 0].tolist()
        ('D', 7, 'daily', [1.0, 2.0, 3.0, 4.0])
    """

    values: list[np.ndarray]
    times: list[pd.DatetimeIndex]
    columns: list[str]
    ids: list[str]
    freq: str
    season: int
    time_column: str
    id_column: str | None = None
    covariates: list[np.ndarray] | None = None
    covariate_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.values)

    @property
    def n_channels(self) -> int:
        """The number of target columns (channels) C."""
        return len(self.columns)

    def lengths(self) -> list[int]:
        """The number of time steps of each series."""
        return [len(v) for v in self.values]

    def frequency_label(self) -> str:
        """The frequency in words (``"hourly"``, ``"every 15 minutes"``, ...)."""
        return frequency_label(self.freq)

    def to_frame(self) -> pd.DataFrame:
        """The long table ``[id], time, *columns[, *covariate_columns]`` (reads back as is).

        The id column is ``id_column`` (``"series"`` when there are several series but no
        id column); covariate columns come last when there are covariates.
        """
        id_name = self.id_column or (DEFAULT_ID if len(self) > 1 else None)
        parts = []
        for k in range(len(self)):
            part = pd.DataFrame(self.values[k], columns=self.columns)
            if self.covariates is not None:
                for j, c in enumerate(self.covariate_columns):
                    part[c] = self.covariates[k][:, j]
            part.insert(0, self.time_column, np.asarray(self.times[k]))
            if id_name is not None:
                part.insert(0, id_name, self.ids[k])
            parts.append(part)
        return pd.concat(parts, ignore_index=True)


def read_series(
    data: Any,
    *,
    time_column: str | None = None,
    id_column: str | None = None,
    target: str | Sequence[str] | None = None,
    covariates: str | Sequence[str] | None = None,
    fill: str = "auto",
) -> SeriesSet:
    """Read time series from a file, a DataFrame, a pandas Series or a SeriesSet.

    Args:
        data: a path to a table file, a DataFrame (time as a column or a DatetimeIndex),
            a Series with a DatetimeIndex, or a SeriesSet (returned as is).
        time_column: the column of times; None finds it by name or by its values.
        id_column: the column naming the series of a long table; None: one series.
        target: the column(s) to forecast; None: every numeric column left.
        covariates: numeric column(s) known in the future, kept apart from the targets.
        fill: how gaps and missing values are filled: ``"auto"`` (or ``"interpolate"``:
            linear in time), ``"ffill"`` (last value carried forward) or ``"error"``.

    Returns:
        The series on a regular grid, without NaN; ``notes`` says what was done.

    Raises:
        DataError: no or unparseable time column, duplicate times, irregular times,
            too short series, or gaps with ``fill="error"``.
        ColumnError: a missing, misspelled or non-numeric column.
        ConfigError: an unknown ``fill``.

    Example:
        >>> times = pd.date_range("2024-01-01", periods=3, freq="h")
        >>> s = read_series(pd.DataFrame({"time": times, "load": [3, 4, 5]}))
        >>> len(s), s.columns, s.freq, s.season
        (1, ['load'], 'h', 24)
    """
    if isinstance(data, SeriesSet):
        return data
    if fill not in FILLS:
        raise ConfigError(f"Unknown fill '{fill}'.", "Use one of: " + ", ".join(FILLS) + ".")
    df, source, label = _as_table(data)
    notes = list(df.attrs.get("notes", []))
    time_column, times = _find_time_column(df, time_column, label)
    if id_column is not None and id_column not in df.columns:
        raise missing_column(id_column, df.columns, what="Id column", where=label)
    covs = _as_names(covariates)
    taken = {time_column, id_column}
    for c in covs:
        if c not in df.columns:
            raise missing_column(c, df.columns, what="Covariate column", where=label)
        if c in taken:
            raise ColumnError(f"Column '{c}' cannot be a covariate: it is the time or id column.")
    columns = _targets(df, target, taken | set(covs), label)
    if set(columns) & set(covs):
        both = sorted(set(columns) & set(covs))[0]
        raise ColumnError(f"Column '{both}' is both a target and a covariate.", "Give it once.")
    num = pd.DataFrame({c: _numeric(df[c], c, label) for c in [*columns, *covs]})
    ignored = [c for c in df.columns if c not in {*taken, *columns, *covs}]
    if ignored:
        shown = ", ".join(ignored[:8]) + (" ..." if len(ignored) > 8 else "")
        notes.append(f"ignored {len(ignored)} column(s) not used for forecasting: {shown}")
    keep = times.notna().to_numpy()
    if not keep.any():
        raise DataError(f"Time column '{time_column}' in {label} is empty.", "Give it dates.")
    if not keep.all():
        notes.append(f"dropped {int((~keep).sum())} row(s) without a time")
    groups = _groups(df, id_column, keep, label)
    who = {sid: f"series '{sid}'" if id_column else "the series" for sid in groups}
    sets = [_sort_one(who[sid], times.iloc[pos], num.iloc[pos]) for sid, pos in groups.items()]
    if any(not was_sorted for _, was_sorted in sets):
        notes.append("sorted the rows by time (they were not in time order)")
    offsets = {
        sid: _series_freq(f.index, who[sid]) for sid, (f, _) in zip(groups, sets, strict=True)
    }
    first = next(iter(offsets))
    for sid, off in offsets.items():
        if off.freqstr != offsets[first].freqstr:
            raise DataError(
                f"Series '{first}' is {frequency_label(offsets[first].freqstr)} but series "
                f"'{sid}' is {frequency_label(off.freqstr)}.",
                "Give series of one frequency (resample them first).",
            )
    filled = [
        _fill_one(who[sid], f, offsets[sid], FILLS[fill], notes)
        for sid, (f, _) in zip(groups, sets, strict=True)
    ]
    freq = offsets[first].freqstr
    return SeriesSet(
        values=[f[columns].to_numpy(np.float64) for f in filled],
        times=[pd.DatetimeIndex(f.index, freq=offsets[first]) for f in filled],
        columns=columns,
        ids=list(groups),
        freq=freq,
        season=infer_season(freq),
        time_column=time_column,
        id_column=id_column,
        covariates=[f[covs].to_numpy(np.float64) for f in filled] if covs else None,
        covariate_columns=covs,
        notes=notes,
        source=source,
    )


def infer_season(freq: str) -> int:
    """The number of steps in one seasonal cycle of a pandas frequency (1: none).

    Hourly 24, every 30/15/10 minutes 48/96/144 (a day), minutely 60, daily 7, business
    daily 5, weekly 52, monthly 12, quarterly 4, yearly and anything else 1.

    Example:
        >>> [infer_season(f) for f in ("h", "15min", "D", "W-SUN", "MS", "QS-OCT", "YS-JAN")]
        [24, 96, 7, 52, 12, 4, 1]
    """
    off = _offset(freq)
    n = off.n
    if isinstance(off, _O.Minute) and n == 1:
        return 60
    # (kind, steps per cycle at n == 1, whether n > 1 divides the cycle)
    cycles = [(_O.Hour, 24, True), (_O.Minute, 1440, True), (_MONTHLY, 12, True)]
    cycles += [(_QUARTERLY, 4, True), (_O.BusinessDay, 5, False), (_O.Week, 52, False)]
    cycles += [(_O.Day, 7, False)]
    for kind, cycle, divides in cycles:
        if isinstance(off, kind):
            if n == 1:
                return cycle
            return cycle // n if divides and cycle % n == 0 and n < cycle else 1
    return 1


def frequency_label(freq: str) -> str:
    """A pandas frequency in words.

    Example:
        >>> frequency_label("h"), frequency_label("15min"), frequency_label("W-SUN")
        ('hourly', 'every 15 minutes', 'weekly')
    """
    off = _offset(freq)
    units = [(kinds, unit, word) for kinds, unit, word in _CALENDAR]
    units += [((kind,), unit, word) for kind, unit, word in _TICKS]
    for kinds, unit, word in units:
        if isinstance(off, kinds):
            if off.n == 1:
                return word or f"every {unit}"
            return f"every {off.n} {unit}s"
    return f"at frequency '{off.freqstr}'"


def check_continues(new: SeriesSet, freq: str, columns: list[str]) -> None:
    """Check that ``new`` data can be forecast by a model trained on ``freq`` and ``columns``.

    Raises:
        DataError: the frequency differs from the training one.
        ColumnError: a training column is missing (with the closest name).

    Example:
        >>> times = pd.date_range("2024-01-01", periods=3, freq="D")
        >>> recent = read_series(pd.DataFrame({"date": times, "y": [1, 2, 3]}))
        >>> check_continues(recent, "D", ["y"])
    """
    where = new.source if new.source and new.source != "DataFrame" else "The new data"
    if _offset(new.freq).freqstr != _offset(freq).freqstr:
        trained = frequency_label(freq)
        trained = (
            f"{trained} data" if not trained.startswith(("every", "at")) else f"data {trained}"
        )
        raise DataError(
            f"{where} is {frequency_label(new.freq)} but the model was trained on {trained}.",
            "Give data at the training frequency (resample it first).",
        )
    for c in columns:
        if c not in new.columns:
            raise missing_column(
                c,
                new.columns,
                what="Column",
                where=f"'{where}'" if where != "The new data" else "the new data",
            )


# ---- helpers ---------------------------------------------------------------------------
def _offset(freq: str) -> Any:
    try:
        return to_offset(freq)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"'{freq}' is not a pandas frequency.", "Use an alias like h, D, W-SUN, MS, QS."
        ) from exc


def _sort_one(who: str, times: pd.Series, values: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    index = pd.DatetimeIndex(times)
    frame = values.set_axis(index, axis=0)
    was_sorted = bool(index.is_monotonic_increasing)
    if not was_sorted:
        frame = frame.iloc[np.argsort(index.asi8, kind="stable")]
    dup = frame.index.duplicated()
    if dup.any():
        raise DataError(
            f"{_cap(who)} has more than one row at {_show(frame.index[dup][0])}.",
            "Aggregate rows with the same time first (e.g. their mean), or pass --id-column "
            "if the table holds several series.",
        )
    if len(frame) < MIN_ROWS:
        raise DataError(
            f"{_cap(who)} has only {len(frame)} row(s); forecasting needs at least {MIN_ROWS}.",
            "Give a longer history or drop that series.",
        )
    return frame, was_sorted


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _show(t: pd.Timestamp) -> str:
    return t.strftime("%Y-%m-%d") if t == t.normalize() else str(t)


def _series_freq(index: pd.DatetimeIndex, who: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            inferred = pd.infer_freq(index)
        except (TypeError, ValueError):
            inferred = None
    if inferred is not None:
        return to_offset(inferred)
    step = pd.Series(index[1:] - index[:-1]).mode().iloc[0]
    for cand in _candidates(index, step):
        grid = pd.date_range(index[0], index[-1], freq=cand)
        if len(grid) <= len(index) * (MAX_GAPS_PER_ROW + 1) and index.isin(grid).all():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                name = pd.infer_freq(pd.date_range(index[0], periods=8, freq=cand))
            return to_offset(name) if name else cand
    raise DataError(
        f"The times of {who} are not on a regular grid (most common step: {step}).",
        "Resample the data to one row per hour, day, week, ... first.",
    )


def _candidates(index: pd.DatetimeIndex, step: pd.Timedelta) -> list[Any]:
    days = step / pd.Timedelta(days=1)
    month = index[0].month
    if 28 <= days <= 31:
        return [_O.MonthBegin(), _O.MonthEnd(), _O.BusinessMonthBegin(), _O.BusinessMonthEnd()]
    if 89 <= days <= 92:
        return [_O.QuarterBegin(startingMonth=month), _O.QuarterEnd(startingMonth=month)]
    if 365 <= days <= 366:
        return [_O.YearBegin(month=month), _O.YearEnd(month=month)]
    if days == 7:
        return [_O.Week(weekday=index[0].weekday())]
    span = (index[-1] - index[0]) / pd.Timedelta(days=1)
    if days == 1 and span >= 14 and (index.day_of_week < 5).all():
        return [_O.BusinessDay(), _O.Day()]
    return [to_offset(step)]


def _fill_one(
    who: str, frame: pd.DataFrame, offset: Any, mode: str, notes: list[str]
) -> pd.DataFrame:
    grid = pd.date_range(frame.index[0], frame.index[-1], freq=offset)
    for c in frame.columns:
        if frame[c].isna().all():
            raise DataError(f"Column '{c}' has no values in {who}.", "Drop it or give its values.")
    gaps = grid.difference(frame.index)
    n_nan = int(frame.isna().to_numpy().sum())
    if not len(gaps) and not n_nan:
        return frame.set_axis(grid, axis=0)
    what = " and ".join(
        f"{n} missing {word}{'s' if n != 1 else ''}"
        for n, word in ((len(gaps), "timestamp"), (n_nan, "value"))
        if n
    )
    if mode == "error":
        first = []
        if len(gaps):
            first.append(f"first missing timestamp: {_show(gaps[0])}")
        if n_nan:
            row, col = np.argwhere(frame.isna().to_numpy())[0]
            first.append(
                f"first missing value: '{frame.columns[col]}' at {_show(frame.index[row])}"
            )
        raise DataError(
            f"{_cap(who)} has {what} ({'; '.join(first)}).",
            "Pass --fill interpolate to fill them, or fix the data.",
        )
    full = frame.reindex(grid)
    if mode == "auto":
        full, how = full.interpolate(method="time").ffill().bfill(), "linear interpolation"
    else:
        full, how = full.ffill().bfill(), "carrying the last value forward"
    notes.append(f"{what} in {who} filled by {how}")
    return full
