"""Tests of layerwise.tasks.forecasting.series: layouts, frequencies, gaps, errors and sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from layerwise.errors import ColumnError, ConfigError, DataError
from layerwise.tasks.forecasting.series import (
    SeriesSet,
    check_continues,
    frequency_label,
    infer_season,
    read_series,
)
from layerwise.tasks.forecasting.sources import statsmodels_series, synthetic


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def write_csv(path: Path, df: pd.DataFrame) -> Path:
    df.to_csv(path, index=False)
    return path


def daily(n: int = 10, **columns: list) -> pd.DataFrame:
    times = pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d")
    data = {"date": times, **columns} if columns else {"date": times, "y": np.arange(n, 0.0, -1)}
    return pd.DataFrame(data)


# ---- layouts ---------------------------------------------------------------------------
def test_wide_csv_detects_time_and_numeric_columns(tmp_path):
    df = pd.DataFrame(
        {
            "Timestamp": pd.date_range("2016-07-01", periods=48, freq="h").astype(str),
            "HUFL": np.linspace(0, 1, 48),
            "OT": np.arange(48),
            "site": ["a"] * 48,
        }
    )
    s = read_series(write_csv(tmp_path / "ETTh1.csv", df))
    assert isinstance(s, SeriesSet)
    assert (len(s), s.n_channels, s.columns, s.ids) == (1, 2, ["HUFL", "OT"], ["series"])
    assert (s.time_column, s.id_column, s.source) == ("Timestamp", None, "ETTh1.csv")
    assert (s.freq, s.season, s.frequency_label()) == ("h", 24, "hourly")
    assert s.values[0].shape == (48, 2) and s.values[0].dtype == np.float64
    assert s.lengths() == [48]
    assert s.times[0][0] == pd.Timestamp("2016-07-01") and s.times[0].is_monotonic_increasing
    assert any("site" in n for n in s.notes)  # the text column was ignored, and said so


def test_long_table_with_id_column():
    df = synthetic(n_steps=30, n_series=3, n_channels=2, freq="D", id_column="store")
    df = df.iloc[::-1].reset_index(drop=True)  # reversed: s2 first, rows out of order
    s = read_series(df, id_column="store")
    assert s.ids == ["s2", "s1", "s0"] and s.id_column == "store"
    assert s.lengths() == [30, 30, 30] and s.columns == ["y0", "y1"]
    assert (s.freq, s.season) == ("D", 7)
    assert any("sorted" in n for n in s.notes)
    want = synthetic(n_steps=30, n_series=3, freq="D", id_column="store")
    np.testing.assert_allclose(s.values[2], want[want.store == "s0"][["y0", "y1"]].to_numpy())


def test_numeric_ids_become_strings():
    df = pd.concat([daily(5).assign(shop=7), daily(5).assign(shop=3)])
    assert read_series(df, id_column="shop", target="y").ids == ["7", "3"]


@pytest.mark.parametrize(
    ("freq", "want", "season", "label"),
    [
        ("h", "h", 24, "hourly"),
        ("15min", "15min", 96, "every 15 minutes"),
        ("D", "D", 7, "daily"),
        ("W-SUN", "W-SUN", 52, "weekly"),
        ("MS", "MS", 12, "monthly"),
        ("ME", "ME", 12, "monthly"),
        ("QS-OCT", "QS-JAN", 4, "quarterly"),  # pandas names Jan/Apr/Jul/Oct starts QS-JAN
        ("YS", "YS-JAN", 1, "yearly"),
    ],
)
def test_frequency_and_season(freq, want, season, label):
    times = pd.date_range("2020-10-01", periods=12, freq=freq)
    s = read_series(pd.DataFrame({"when": times.astype(str), "y": np.arange(12.0)}))
    assert s.time_column == "when"  # found by its values
    assert s.times[0].equals(times)
    assert (s.freq, s.season, s.frequency_label()) == (
        pd.tseries.frequencies.to_offset(want).freqstr,
        season,
        label,
    )


@pytest.mark.parametrize(
    ("freq", "season"),
    [
        *[("h", 24), ("30min", 48), ("15min", 96), ("10min", 144), ("min", 60), ("D", 7)],
        *[("B", 5), ("W-SUN", 52), ("W-WED", 52), ("MS", 12), ("QS-OCT", 4), ("YS-JAN", 1)],
        *[("2h", 12), ("s", 1), ("7D", 1)],
    ],
)
def test_infer_season(freq, season):
    assert infer_season(freq) == season


def test_infer_season_rejects_a_non_frequency():
    with pytest.raises(ConfigError, match="not a pandas frequency"):
        infer_season("fortnightly")


def test_frequency_with_gaps_uses_most_common_step():
    times = pd.date_range("2021-01-01", periods=24, freq="MS").delete([3, 4, 10])
    s = read_series(pd.DataFrame({"month": times, "sales": np.arange(21.0)}))
    assert (s.freq, s.season, s.lengths()) == ("MS", 12, [24])
    assert s.notes == ["3 missing timestamps in the series filled by linear interpolation"]
    assert s.values[0][3, 0] == pytest.approx(2 + 1 / 3, abs=0.02)  # linear in time


def test_business_days_with_a_gap():
    times = pd.bdate_range("2024-01-01", periods=20).delete(7)
    s = read_series(pd.DataFrame({"date": times, "close": np.arange(19.0)}))
    assert (s.freq, s.season, s.lengths()) == ("B", 5, [20])


# ---- gaps, missing values, sorting -------------------------------------------------------
def test_unsorted_rows_are_sorted_with_a_note():
    df = daily(6).iloc[[3, 0, 5, 1, 2, 4]]
    s = read_series(df)
    assert s.values[0][:, 0].tolist() == [6, 5, 4, 3, 2, 1]
    assert any("sorted" in n for n in s.notes)
    assert not any("sorted" in n for n in read_series(daily(6)).notes)


def test_gaps_and_nan_filled_with_a_note():
    df = pd.concat([daily(10).assign(id="A"), daily(10).assign(id="B")], ignore_index=True)
    df.loc[[2, 3, 4], "y"] = np.nan  # A: NaN in history
    df = df.drop(index=[13, 14])  # B: two missing days
    s = read_series(df, id_column="id")
    assert all(not np.isnan(v).any() for v in s.values) and s.lengths() == [10, 10]
    np.testing.assert_allclose(s.values[0][:, 0], np.arange(10, 0.0, -1))  # linear fill
    np.testing.assert_allclose(s.values[1][:, 0], np.arange(10, 0.0, -1))
    assert "3 missing values in series 'A' filled by linear interpolation" in s.notes
    assert "2 missing timestamps in series 'B' filled by linear interpolation" in s.notes


def test_nan_at_the_edges_takes_the_nearest_value():
    s = read_series(daily(5, y=[None, 2.0, 3.0, None, None]))
    assert s.values[0][:, 0].tolist() == [2, 2, 3, 3, 3]


def test_fill_ffill_and_interpolate_synonym():
    df = daily(5, y=[None, 1.0, None, 5.0, None])
    assert read_series(df, fill="ffill").values[0][:, 0].tolist() == [1, 1, 1, 5, 5]
    assert read_series(df, fill="interpolate").values[0][:, 0].tolist() == [1, 1, 3, 5, 5]


def test_fill_error_says_how_many_and_where():
    df = daily(10).drop(index=[4, 5])
    with pytest.raises(DataError) as exc:
        read_series(df, fill="error")
    text = one_line(exc)
    assert "2 missing timestamps" in text and "2024-01-05" in text
    assert "--fill interpolate" in text
    df = daily(5, y=[1.0, None, 3.0, 4.0, 5.0])
    with pytest.raises(DataError, match=r"1 missing value .*'y' at 2024-01-02"):
        read_series(df, fill="error")


def test_unknown_fill_mode():
    with pytest.raises(ConfigError, match="Unknown fill 'linear'"):
        read_series(daily(5), fill="linear")


def test_all_nan_target_is_an_error():
    with pytest.raises(DataError, match="Column 'z' has no values"):
        read_series(daily(5, y=[1.0] * 5, z=[np.nan] * 5))


# ---- errors ------------------------------------------------------------------------------
def test_duplicate_timestamp_names_series_and_time():
    df = pd.concat([daily(5).assign(id="A"), daily(5).assign(id="B")], ignore_index=True)
    df.loc[8, "date"] = "2024-01-03"
    with pytest.raises(DataError) as exc:
        read_series(df, id_column="id")
    text = one_line(exc)
    assert "Series 'B'" in text and "2024-01-03" in text and "Aggregate" in text


def test_unparseable_time_column_shows_a_sample():
    df = daily(5)
    df.loc[2, "date"] = "abc"
    with pytest.raises(DataError) as exc:
        read_series(df, time_column="date")
    assert "Column 'date' does not parse as times (e.g. 'abc' in row 3)." in one_line(exc)


def test_no_time_column_lists_columns():
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    with pytest.raises(DataError, match=r"no time column .*a, b.*--time-column"):
        read_series(df)


def test_numeric_non_year_time_column_is_an_error():
    df = pd.DataFrame({"t": [5, 6, 7], "y": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError, match="holds numbers, not times"):
        read_series(df, time_column="t")


def test_misspelled_columns_suggest_the_closest():
    df = daily(5, sales=[1.0] * 5, price=[2.0] * 5)
    with pytest.raises(ColumnError, match="Did you mean 'sales'"):
        read_series(df, target="slaes")
    with pytest.raises(ColumnError, match="Did you mean 'date'"):
        read_series(df, time_column="dat")
    with pytest.raises(ColumnError, match="Did you mean 'price'"):
        read_series(df, target="sales", covariates=["prize"])


def test_non_numeric_target_names_a_sample():
    df = daily(4, y=["1", "2", "n/a?", "4"])
    with pytest.raises(ColumnError) as exc:
        read_series(df, target="y")
    assert "'y'" in one_line(exc) and "'n/a?' in row 3" in one_line(exc)
    assert read_series(daily(3, y=["1", "2", "3"]), target="y").values[0][:, 0].tolist() == [
        1,
        2,
        3,
    ]


def test_no_numeric_column_left():
    with pytest.raises(ColumnError, match="no numeric column"):
        read_series(daily(4, name=["a", "b", "c", "d"]))


def test_too_short_series():
    df = pd.concat([daily(5).assign(id="A"), daily(2).assign(id="tiny")], ignore_index=True)
    with pytest.raises(DataError, match=r"Series 'tiny' has only 2 row"):
        read_series(df, id_column="id")


def test_series_of_different_frequencies():
    a = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=5, freq="D"), "y": 1.0, "id": "a"})
    b = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=5, freq="h"), "y": 1.0, "id": "b"})
    with pytest.raises(DataError, match="'a' is daily but series 'b' is hourly"):
        read_series(pd.concat([a, b]), id_column="id")


def test_irregular_times():
    times = pd.to_datetime(
        ["2024-01-01", "2024-01-02", "2024-01-04 05:00", "2024-01-09"], format="ISO8601"
    )
    with pytest.raises(DataError, match="not on a regular grid"):
        read_series(pd.DataFrame({"date": times, "y": [1.0, 2.0, 3.0, 4.0]}))


# ---- other inputs ------------------------------------------------------------------------
def test_pandas_series_and_datetime_index_inputs():
    idx = pd.date_range("2024-01-01", periods=30, freq="W-SUN", name="week_start")
    s = read_series(pd.Series(np.arange(30.0), index=idx, name="demand"))
    assert (s.columns, s.time_column, s.freq, s.season, s.source) == (
        ["demand"],
        "week_start",
        "W-SUN",
        52,
        "DataFrame",
    )
    s = read_series(pd.Series(np.arange(5.0), index=pd.date_range("2024-01-01", periods=5)))
    assert (s.columns, s.time_column) == (["value"], "time")
    assert read_series(s) is s
    with pytest.raises(DataError, match="not times"):
        read_series(pd.Series([1.0, 2.0, 3.0]))


def test_year_column_parses_as_years():
    df = pd.DataFrame({"YEAR": [1700.0, 1701.0, 1702.0, 1703.0], "SUNACTIVITY": [5, 11, 16, 23]})
    s = read_series(df)
    assert (s.time_column, s.columns, s.freq, s.season) == ("YEAR", ["SUNACTIVITY"], "YS-JAN", 1)
    assert s.times[0][0] == pd.Timestamp("1700-01-01")


def test_covariates_are_kept_apart():
    df = daily(
        6, y=[1.0, 2.0, None, 4.0, 5.0, 6.0], holiday=[0, 1, 0, 0, None, 0], note=list("abcdef")
    )
    s = read_series(df, covariates=["holiday"])
    assert s.columns == ["y"] and s.covariate_columns == ["holiday"]
    assert s.covariates is not None and s.covariates[0].shape == (6, 1)
    assert not np.isnan(s.covariates[0]).any()
    back = read_series(s.to_frame(), covariates=["holiday"])
    np.testing.assert_array_equal(back.covariates[0], s.covariates[0])


def test_to_frame_round_trip():
    s = read_series(synthetic(n_steps=40, n_series=2, freq="MS"), id_column="series")
    frame = s.to_frame()
    assert list(frame.columns) == ["series", "time", "y0", "y1"] and len(frame) == 80
    back = read_series(frame, id_column="series")
    assert (back.ids, back.freq, back.columns) == (s.ids, s.freq, s.columns)
    for a, b, ta, tb in zip(s.values, back.values, s.times, back.times, strict=True):
        np.testing.assert_array_equal(a, b)
        assert ta.equals(tb)
    one = read_series(daily(5))
    assert list(one.to_frame().columns) == ["date", "y"]


# ---- check_continues ---------------------------------------------------------------------
def test_check_continues():
    recent = read_series(daily(5, load=[1.0] * 5, temp=[2.0] * 5))
    check_continues(recent, "D", ["load", "temp"])
    recent.source = "recent.csv"
    with pytest.raises(DataError) as exc:
        check_continues(recent, "h", ["load"])
    assert "recent.csv is daily but the model was trained on hourly data" in one_line(exc)
    with pytest.raises(DataError, match="trained on data every 15 minutes"):
        check_continues(recent, "15min", ["load"])
    with pytest.raises(ColumnError, match="Did you mean 'load'"):
        check_continues(recent, "D", ["loads"])


def test_frequency_labels():
    assert [frequency_label(f) for f in ("2h", "MS", "QS-OCT", "YS-JAN", "B", "s")] == [
        "every 2 hours",
        "monthly",
        "quarterly",
        "yearly",
        "business daily",
        "every second",
    ]


# ---- sources -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "freq", "season", "column", "length"),
    [
        ("co2", "W-SAT", 52, "co2", 2284),
        ("sunspots", "YS-JAN", 1, "SUNACTIVITY", 309),
        ("nile", "YS-JAN", 1, "volume", 100),
    ],
)
def test_statsmodels_series(name, freq, season, column, length):
    pytest.importorskip("statsmodels")
    s = statsmodels_series(name)
    assert (s.freq, s.season, s.columns, s.lengths()) == (freq, season, [column], [length])
    assert not np.isnan(s.values[0]).any()
    assert s.source == f"statsmodels {name}"
    if name == "co2":
        assert any("missing values" in n and "filled" in n for n in s.notes)


def test_statsmodels_unknown_name():
    with pytest.raises(ConfigError, match=r"Did you mean 'nile'.*co2, sunspots, nile"):
        statsmodels_series("nil")


def test_synthetic_is_deterministic():
    a = synthetic(n_steps=100, n_channels=3, seed=1)
    pd.testing.assert_frame_equal(a, synthetic(n_steps=100, n_channels=3, seed=1))
    assert not a.equals(synthetic(n_steps=100, n_channels=3, seed=2))
    assert list(a.columns) == ["time", "y0", "y1", "y2"] and len(a) == 100
    assert a.y0.corr(a.y1) < 0.9  # channels have different phases
    s = read_series(a)
    assert (s.freq, s.season, s.n_channels) == ("h", 24, 3)
    with pytest.raises(ConfigError):
        synthetic(n_steps=2)
