"""Tests of layerwise.data.profile: column kinds and the data profile."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from layerwise.data.profile import infer_column_types, looks_like_id_name, profile_table
from layerwise.errors import ColumnError

N = 60


def mixed_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    words = ["great", "terrible", "product", "would", "buy", "again", "never", "shipping", "slow"]
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(N)],
            "row": np.arange(N),
            "CustomerID": rng.permutation(N) + 1000,
            "review": [" ".join(rng.choice(words, 8)) + f" #{i}" for i in range(N)],
            "signup": pd.date_range("2021-01-01", periods=N, freq="D").strftime("%Y-%m-%d"),
            "stamp": pd.date_range("2021-01-01", periods=N, freq="h"),
            "active": ["Yes", "no"] * (N // 2),
            "flag01": [0, 1, 1] * (N // 3),
            "truth": [True, False] * (N // 2),
            "plan": ["basic", "pro", "basic", "team"] * (N // 4),
            "income": rng.normal(100, 10, N),
            "visits": rng.integers(0, 5, N),
            "const": ["same"] * N,
            "empty": [None] * N,
            "mixed": pd.Series(["1", 2, 3.5, None, pd.NA, "4"] * (N // 6), dtype=object),
            "target": ["a", "b", "b"] * (N // 3),
        }
    )


EXPECTED = {
    "customer_id": "id",
    "row": "id",
    "CustomerID": "id",
    "review": "text",
    "signup": "datetime",
    "stamp": "datetime",
    "active": "boolean",
    "flag01": "boolean",
    "truth": "boolean",
    "plan": "categorical",
    "income": "numeric",
    "visits": "numeric",
    "const": "constant",
    "empty": "constant",
    "mixed": "numeric",
}


def test_column_kinds():
    cols = infer_column_types(mixed_frame(), target="target")
    assert "target" not in cols
    assert {n: c.kind for n, c in cols.items()} == EXPECTED


def test_dropped_columns_have_notes():
    cols = infer_column_types(mixed_frame(), target="target")
    assert (
        "'customer_id' looks like an identifier (every value distinct): dropped"
        in cols["customer_id"].note
    )
    assert "'review'" in cols["review"].note and "free text" in cols["review"].note
    assert "'const'" in cols["const"].note and "dropped" in cols["empty"].note
    assert cols["plan"].note == "" and cols["plan"].n_unique == 3
    assert cols["empty"].missing == 1.0


def test_pandas3_string_dtype_and_blanks():
    df = pd.DataFrame({"c": pd.Series(["x", "", "y", None, "x"], dtype="string")})
    info = infer_column_types(df)["c"]
    assert info.kind == "categorical" and info.missing == pytest.approx(0.4) and info.n_unique == 2


def test_small_sorted_numbers_are_not_ids():
    df = pd.DataFrame({"age": [20, 30, 40, 50, 60]})
    assert infer_column_types(df)["age"].kind == "numeric"


def test_month_names_are_categorical_not_dates():
    df = pd.DataFrame({"month": ["May", "June", "July"] * 10})
    assert infer_column_types(df)["month"].kind == "categorical"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("id", True),
        ("customer_id", True),
        ("PassengerId", True),
        ("userID", True),
        ("paid", False),
        ("valid", False),
    ],
)
def test_id_names(name, expected):
    assert looks_like_id_name(name) is expected


def test_profile_penguins():
    from palmerpenguins import load_penguins

    profile = profile_table(load_penguins(), "species")
    assert profile.n_classes == 3 and profile.task_kind == "classification"
    assert profile.n_rows == 344 and profile.n_columns == 7
    assert profile.kinds == {"numeric": 5, "categorical": 2}
    assert 0 < profile.missing_fraction < 0.05
    assert profile.minority_fraction == pytest.approx(68 / 344)
    assert profile.imbalance_ratio == pytest.approx(152 / 68)
    lines = profile.summary_lines()
    assert lines[0] == "344 rows x 7 columns (5 numeric, 2 categorical)"
    assert lines[1] == "3 classes, minority 19.8%"
    assert json.loads(json.dumps(profile.to_dict()))["columns"]["island"]["kind"] == "categorical"


def test_profile_regression_and_notes():
    df = mixed_frame()
    df["price"] = np.linspace(1, 100, N)
    profile = profile_table(df.drop(columns="target"), "price")
    assert profile.task_kind == "regression" and profile.n_classes is None
    assert profile.kinds["id"] == 3 and any("customer_id" in n for n in profile.notes)
    assert "regression target 'price'" in profile.summary_lines()


def test_profile_without_target():
    profile = profile_table(pd.DataFrame({"x": [1.5, 2.5]}), None)
    assert profile.target is None and profile.task_kind is None and profile.n_columns == 1


def test_profile_missing_target_names_it():
    df = pd.DataFrame({"species": ["a", "b"]})
    df.attrs["name"] = "p.csv"
    with pytest.raises(ColumnError, match="'specis' is not in 'p.csv'. Did you mean 'species'"):
        profile_table(df, "specis")
