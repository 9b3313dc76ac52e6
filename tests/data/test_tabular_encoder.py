"""Tests of layerwise.data.tabular_encoder: tables to arrays, saved as JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from layerwise.data.profile import ColumnInfo, infer_column_types
from layerwise.data.tabular_encoder import MAX_CATEGORIES, TabularEncoder
from layerwise.errors import ColumnError

N = 40


def train_frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {
            "id": np.arange(N),
            "age": rng.integers(18, 80, N).astype(float),
            "income": rng.normal(50, 5, N),
            "city": pd.Series(["Oslo", "Rome", "Oslo", "Lima"] * (N // 4), dtype="string"),
            "member": ["yes", "no"] * (N // 2),
            "joined": pd.date_range("2020-01-01 08:00", periods=N, freq="5h").strftime(
                "%Y-%m-%d %H:%M"
            ),
            "day": pd.date_range("2020-01-01", periods=N, freq="D").strftime("%Y-%m-%d"),
            "code": pd.Series([1, "b", 2.0, None] * (N // 4), dtype=object),
        }
    )
    df.loc[3, "age"] = np.nan
    df.loc[5, "city"] = pd.NA
    return df


@pytest.fixture
def fitted():
    df = train_frame()
    return TabularEncoder(infer_column_types(df)).fit(df), df


def test_layout(fitted):
    enc, df = fitted
    table = enc.transform(df)
    assert enc.feature_columns == ["age", "income", "city", "member", "joined", "day", "code"]
    assert table.numeric.dtype == np.float32 and table.categorical.dtype == np.int64
    assert table.numeric_names == [
        "age", "income", "member",
        "joined_year", "joined_month", "joined_day", "joined_dayofweek", "joined_hour",
        "day_year", "day_month", "day_day", "day_dayofweek",
    ]  # fmt: skip
    assert table.categorical_names == ["city", "code"]
    assert table.cardinalities == [4, 4]  # Oslo, Rome, Lima + 0 slot; "1", "2", "b" + 0 slot
    assert np.isnan(table.numeric[3, 0]) and table.categorical[5, 0] == 0
    assert table.categorical[0, 0] == 1  # the most frequent category gets code 1
    assert table.numeric[:4, 2].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert table.numeric[1, 3:8].tolist() == [2020, 1, 1, 2, 13]


def test_standardized_and_one_hot(fitted):
    enc, df = fitted
    table = enc.transform(df)
    z = enc.standardized(table)
    assert z.dtype == np.float32 and z.shape == (
        N,
        12 + 1,
    )  # one indicator: 'age' had missing values
    assert not np.isnan(z).any()
    assert z[3, 0] == 0.0 and z[3, -1] == 1.0 and z[:, -1].sum() == 1
    np.testing.assert_allclose(z[:, 1].mean(), 0.0, atol=1e-5)
    np.testing.assert_allclose(z[:, 1].std(), 1.0, atol=1e-4)
    hot = enc.one_hot(table)
    assert hot.shape == (N, 13 + 4 + 4)
    np.testing.assert_array_equal(hot[:, 13:17].sum(axis=1), np.ones(N))
    assert hot[5, 13] == 1.0  # missing city -> slot 0


def test_json_round_trip_is_exact(fitted):
    enc, df = fitted
    again = TabularEncoder.from_json(json.loads(json.dumps(enc.to_json())))
    a, b = enc.transform(df), again.transform(df)
    np.testing.assert_array_equal(a.numeric, b.numeric)
    np.testing.assert_array_equal(a.categorical, b.categorical)
    assert (a.numeric_names, a.cardinalities) == (b.numeric_names, b.cardinalities)
    np.testing.assert_array_equal(enc.one_hot(a), again.one_hot(b))
    assert again.feature_columns == enc.feature_columns


def test_unseen_and_missing_values_at_predict_time(fitted):
    enc, _ = fitted
    new = pd.DataFrame(
        {
            "age": pd.Series([None, "41", "old"], dtype=object),
            "income": [pd.NA, 52.0, np.inf],
            "city": ["Paris", None, "Rome"],
            "member": ["maybe", "YES", None],
            "joined": ["not a date", None, "2021-06-01 12:30"],
            "day": [None, "2022-02-03", ""],
            "code": [2, 1.0, "zzz"],
            "extra": [1, 2, 3],
        }
    )
    table = enc.transform(new)
    assert table.categorical[:, 0].tolist() == [
        0,
        0,
        3,
    ]  # Paris unseen, None missing; Oslo 20, Lima 10, Rome 9
    assert table.categorical[:, 1].tolist() == [2, 1, 0]  # 2 == 2.0 and 1.0 == 1
    assert np.isnan(table.numeric[[0, 2], 0]).all() and table.numeric[1, 0] == 41
    assert np.isnan(table.numeric[[0, 2], 1]).all()
    assert np.isnan(table.numeric[0, 2]) and table.numeric[1, 2] == 1.0
    assert np.isnan(table.numeric[0, 3:8]).all() and table.numeric[2, 3:8].tolist() == [
        2021,
        6,
        1,
        1,
        12,
    ]
    assert not np.isnan(enc.standardized(table)).any()


def test_check_columns_lists_every_missing_column(fitted):
    enc, df = fitted
    new = df.drop(columns=["age", "income"]).rename(columns={"city": "citty"})
    new.attrs["name"] = "new.csv"
    with pytest.raises(ColumnError) as exc:
        enc.check_columns(new)
    text = str(exc.value)
    assert "new.csv is missing 3 columns the model was trained on: 'age', 'income', 'city'" in text
    assert "'citty' for 'city'" in text and "\n" not in text
    with pytest.raises(ColumnError, match="'age'"):
        enc.transform(new)


def test_check_columns_notes_extra_columns(fitted):
    enc, df = fitted
    assert enc.check_columns(df) == []
    assert enc.check_columns(df.assign(foo=1)) == ["ignored 1 extra column: 'foo'"]
    assert enc.check_columns(df.assign(foo=1, y=2), ignore=("y",)) == [
        "ignored 1 extra column: 'foo'"
    ]


def test_category_cap_shares_an_other_code():
    values = [f"v{i}" for i in range(MAX_CATEGORIES + 50)] + ["v0"] * 5
    df = pd.DataFrame({"c": values})
    enc = TabularEncoder({"c": ColumnInfo("c", "categorical", 0.0, len(set(values)))}).fit(df)
    rare = min(set(values) - set(enc.specs[0]["categories"]))
    table = enc.transform(pd.DataFrame({"c": ["v0", rare, None]}))
    assert table.cardinalities == [MAX_CATEGORIES + 2]
    assert table.categorical[:, 0].tolist() == [1, MAX_CATEGORIES + 1, 0]
    assert any("other" in n for n in enc.notes)
    assert enc.transform(pd.DataFrame({"c": ["never seen"]})).categorical.tolist() == [
        [MAX_CATEGORIES + 1]
    ]


def test_no_numeric_columns():
    df = pd.DataFrame({"c": ["a", "b", "a"]})
    enc = TabularEncoder(infer_column_types(df)).fit(df)
    table = enc.transform(df)
    assert table.numeric.shape == (3, 0) and enc.standardized(table).shape == (3, 0)
    assert enc.one_hot(table).shape == (3, 3)


def test_values_read_as_missing_are_noted_with_counts(fitted):
    enc, df = fitted
    new = df.head(6).copy()
    new["age"] = pd.Series(["forty", "inf", "1e309", "30", None, "41"], dtype=object)
    new["income"] = [np.inf, -np.inf, 1e39, 50.0, np.nan, 51.0]  # 1e39 overflows float32
    new["member"] = ["maybe", "yes", "no", "no", None, "yes"]
    new["joined"] = ["soon", None, None, "2020-01-01 10:00", None, None]
    for column in ("city", "day", "code"):
        new[column] = new[column].astype(object)
        new.loc[4, column] = None
    new.loc[4, "joined"] = ""
    table = enc.transform(new)
    assert table.notes == [
        "3 values in 'age' were not finite numbers ('forty', 'inf', '1e309') and were treated as missing",
        "3 values in 'income' were not finite numbers (inf, -inf, 1e+39) and were treated as missing",
        "1 value in 'member' was not 'yes' or 'no' ('maybe') and was treated as missing",
        "1 value in 'joined' was not a date ('soon') and was treated as missing",
        "1 row has no feature values (row 5): a prediction that uses nothing from the row",
    ]  # fmt: skip
    assert np.isnan(table.numeric[:3, :2]).all() and np.isfinite(table.numeric[3, :2]).all()
    assert np.isfinite(enc.standardized(table)).all()


def test_clean_values_give_no_notes(fitted):
    enc, df = fitted
    assert enc.transform(df).notes == []  # a missing cell is no note; only what was unusable


def test_standardized_values_stay_finite_for_huge_finite_inputs():
    """1e30 fits a float32 but overflows inside a network: clipped to 1,000 standard deviations."""
    from layerwise.data.profile import ColumnInfo
    from layerwise.data.tabular_encoder import TabularEncoder

    enc = TabularEncoder({"x": ColumnInfo("x", "numeric", 0.0, 2)}).fit(
        pd.DataFrame({"x": [1.0, 3.0]})
    )
    z = enc.standardized(enc.transform(pd.DataFrame({"x": [1e30, -1e30, 3.0]})))
    assert z[:, 0].tolist() == [1000.0, -1000.0, 1.0]
