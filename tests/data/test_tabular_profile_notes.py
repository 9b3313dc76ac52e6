"""Profiling a table with bad cells: what is noted, and a table with nothing to learn from."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from layerwise.data.profile import profile_table, usable_columns
from layerwise.errors import DataError


def test_stray_words_in_a_numeric_column_are_counted():
    values = [str(v) for v in range(100)] + ["forty", "n/a", "inf"]
    profile = profile_table(pd.DataFrame({"age": values, "y": ["a", "b", "c"] * 34 + ["a"]}), "y")
    assert profile.columns["age"].kind == "numeric"  # still numeric: 97% are numbers
    assert profile.columns["age"].note == (
        "column 'age' is numeric, but 3 of its 103 values ('forty', 'n/a', 'inf') are not "
        "finite numbers: read as missing"
    )
    assert profile.columns["age"].note in profile.summary_lines()  # so decision.md says it


def test_infinite_and_float32_overflowing_values_are_counted():
    frame = pd.DataFrame({"x": [1.5, 2.5, np.inf, 1e39, 3.5], "y": [0, 1, 0, 1, 0]})
    note = profile_table(frame, "y").columns["x"].note
    assert "2 of its 5 values ('inf', '1e+39')" in note


def test_clean_numeric_columns_have_no_note():
    frame = pd.DataFrame({"x": [1.5, 2.5, None, 3.5], "t": ["1", "2", "", "3"], "y": [0, 1] * 2})
    profile = profile_table(frame, "y")
    assert profile.columns["x"].note == "" and profile.columns["t"].note == ""


def test_every_feature_constant_is_refused_naming_each():
    frame = pd.DataFrame({"a": [1] * 6, "b": ["x"] * 6, "c": [None] * 6, "y": [0, 1] * 3})
    with pytest.raises(DataError) as exc:
        usable_columns(profile_table(frame, "y"), "flat.csv")
    assert str(exc.value).startswith(
        "Every feature column of 'flat.csv' is constant: nothing to learn from (columns: "
        "'a' is always 1, 'b' is always 'x', 'c' is empty)."
    )


def test_only_identifiers_and_text_are_refused():
    frame = pd.DataFrame({"customer_id": [f"C{i}" for i in range(30)], "y": [0, 1] * 15})
    with pytest.raises(DataError, match="No feature column of 'ids.csv' can be used .*"
                       "'customer_id' is an identifier"):  # fmt: skip
        usable_columns(profile_table(frame, "y"), "ids.csv")


def test_target_alone_is_refused():
    with pytest.raises(DataError, match="'alone.csv' has no feature columns, only the target 'y'"):
        usable_columns(profile_table(pd.DataFrame({"y": [0, 1]}), "y"), "alone.csv")


def test_one_usable_column_is_enough():
    frame = pd.DataFrame({"a": [1] * 4, "b": [0.5, 1.5, 2.5, 3.5], "y": [0, 1] * 2})
    usable_columns(profile_table(frame, "y"), "ok.csv")
