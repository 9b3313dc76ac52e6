"""Tests of layerwise.data.tabular: reading tables and preparing the target."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from layerwise.data.tabular import infer_task_kind, prepare_target, read_table
from layerwise.errors import ColumnError, ConfigError, DataError

FRAME = pd.DataFrame(
    {
        "age": [31, 45, 27, 52],
        "income": [1200.5, 3400.0, None, 2100.25],
        "city": ["Oslo", "Rome", "Oslo", None],
        "churn": ["no", "yes", "no", "yes"],
    }
)


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


@pytest.fixture
def csv_path(tmp_path):
    path = tmp_path / "data.csv"
    FRAME.to_csv(path, index=False)
    return path


def test_csv_round_trip(csv_path):
    df = read_table(csv_path)
    pd.testing.assert_frame_equal(df, FRAME, check_dtype=False)
    assert df.attrs["name"] == "data.csv" and df.attrs["notes"] == []


@pytest.mark.parametrize("suffix", [".tsv", ".jsonl", ".json", ".parquet", ".txt", ".dat"])
def test_other_formats_read_the_same_frame(tmp_path, csv_path, suffix):
    path = tmp_path / f"data{suffix}"
    if suffix == ".tsv":
        FRAME.to_csv(path, sep="\t", index=False)
    elif suffix == ".jsonl":
        FRAME.to_json(path, orient="records", lines=True)
    elif suffix == ".json":
        FRAME.to_json(path, orient="records")
    elif suffix == ".parquet":
        FRAME.to_parquet(path, index=False)
    else:
        FRAME.to_csv(path, sep=";", index=False)  # delimiter sniffed
    pd.testing.assert_frame_equal(read_table(path), read_table(csv_path), check_dtype=False)


def test_json_lines_in_a_json_file(tmp_path, csv_path):
    path = tmp_path / "data.json"
    FRAME.to_json(path, orient="records", lines=True)
    pd.testing.assert_frame_equal(read_table(path), read_table(csv_path), check_dtype=False)


def test_dataframe_and_dict_sources():
    df = read_table(FRAME)
    assert df is not FRAME
    pd.testing.assert_frame_equal(df, FRAME)
    assert read_table({"a": [1, 2], "b": ["x", "y"]}).shape == (2, 2)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError) as exc:
        read_table(tmp_path / "nope.csv")
    assert "nope.csv" in one_line(exc) and "does not exist" in one_line(exc)


@pytest.mark.parametrize("content", [b"", b"  \n\n  \t\n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(DataError) as exc:
        read_table(path)
    assert "'x.csv' is empty" in one_line(exc)


def test_header_only(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b,c\n")
    with pytest.raises(DataError) as exc:
        read_table(path)
    assert "'x.csv' has a header (3 columns) but no rows" in one_line(exc)


def test_binary_file_renamed_csv(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8)))
    with pytest.raises(DataError) as exc:
        read_table(path)
    text = one_line(exc)
    assert "'x.csv' is not a readable text table" in text and "UTF-8 CSV" in text


def test_binary_without_nul_bytes(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(bytes(range(1, 32)) * 100)
    with pytest.raises(DataError, match="not a readable text table"):
        read_table(path)


def test_latin1_csv_is_read_with_a_note(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes("name,city\nJosé,München\nAnn,Paris\n".encode("latin-1"))
    df = read_table(path)
    assert df["city"].tolist() == ["München", "Paris"]
    assert any("not UTF-8" in n and "x.csv" in n for n in df.attrs["notes"])


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_utf16_and_bom(tmp_path, encoding):
    path = tmp_path / "x.csv"
    path.write_bytes("name,n\nJosé,1\nÅsa,2\n".encode(encoding))
    df = read_table(path)
    assert list(df.columns) == ["name", "n"] and df["name"].tolist() == ["José", "Åsa"]


def test_broken_parquet(tmp_path):
    path = tmp_path / "x.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(DataError) as exc:
        read_table(path)
    assert "'x.parquet' could not be read as Parquet" in one_line(exc)


def test_duplicate_columns(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b,a\n1,2,3\n")
    with pytest.raises(DataError) as exc:
        read_table(path)
    assert "'x.csv' has duplicate column names: 'a'" in one_line(exc)


def test_ragged_rows_name_the_file(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n3,4,5,6\n")
    with pytest.raises(DataError, match="'x.csv'"):
        read_table(path)


# --------------------------------------------------------------------- target
def named(df: pd.DataFrame, name: str = "penguins.csv") -> pd.DataFrame:
    df = df.copy()
    df.attrs["name"] = name
    return df


def test_misspelled_target_suggests_closest():
    df = named(pd.DataFrame({"species": ["a", "b"], "mass": [1, 2]}))
    with pytest.raises(ColumnError) as exc:
        prepare_target(df, "specis", None)
    text = one_line(exc)
    assert "'specis'" in text and "penguins.csv" in text and "Did you mean 'species'?" in text


def test_target_rows_missing_are_dropped():
    df = named(pd.DataFrame({"x": range(6), "y": ["a", "b", None, " ", "a", "b"]}))
    out, kind, notes = prepare_target(df, "y", None)
    assert kind == "classification" and len(out) == 4 and list(out.index) == [0, 1, 2, 3]
    assert any("dropped 2 rows" in n for n in notes)


def test_target_all_missing():
    df = named(pd.DataFrame({"x": [1, 2], "y": [None, None]}))
    with pytest.raises(DataError, match="'y'.*no values"):
        prepare_target(df, "y", None)


def test_single_class():
    df = named(pd.DataFrame({"x": [1, 2, 3], "label": ["cat", "cat", "cat"]}))
    with pytest.raises(DataError) as exc:
        prepare_target(df, "label", "classification")
    text = one_line(exc)
    assert "'label'" in text and "'cat'" in text and "at least two classes" in text


def test_regression_on_text_target():
    df = named(pd.DataFrame({"x": range(10), "price": ["cheap", "dear", "mid", "cheap", "1"] * 2}))
    with pytest.raises(DataError) as exc:
        prepare_target(df, "price", "regression")
    text = one_line(exc)
    assert "'price'" in text and "'cheap'" in text and "--task tabular-classification" in text


def test_regression_drops_a_few_bad_values():
    values = [str(v) for v in range(200)] + ["n/a"]
    df = named(pd.DataFrame({"x": range(201), "y": values}))
    out, kind, notes = prepare_target(df, "y", "regression")
    assert kind == "regression" and len(out) == 200 and out["y"].dtype == np.float64
    assert any("'n/a'" in n for n in notes)


def test_singleton_class_is_kept_with_a_note():
    df = named(pd.DataFrame({"x": range(5), "y": ["a", "a", "b", "b", "c"]}))
    out, _, notes = prepare_target(df, "y", None)
    assert len(out) == 5 and any("'c'" in n for n in notes)


def test_bad_kind():
    with pytest.raises(ConfigError, match="'clustering'"):
        prepare_target(FRAME, "churn", "clustering")


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["a", "b"] * 10, "classification"),
        ([True, False] * 10, "classification"),
        ([0, 1, 2] * 30, "classification"),
        (list(range(100)), "regression"),
        ([0.5, 1.25, 3.0] * 10, "regression"),
        ([i % 15 for i in range(1000)], "classification"),
        ([i % 15 for i in range(100)], "regression"),
    ],
)
def test_infer_task_kind(values, kind):
    assert infer_task_kind(pd.Series(values)) == kind


def test_classes_with_too_few_rows_for_most_rows_are_refused():
    from layerwise.data.tabular import check_trainable_classes

    df = named(pd.DataFrame({"x": range(400), "y": [f"k{i // 2}" for i in range(400)]}))
    with pytest.raises(DataError) as exc:
        check_trainable_classes(df, "y")
    text = one_line(exc)
    assert "'y'" in text and "200 classes, 200 of them with fewer than 5 rows" in text
    assert "400 of the 400 rows" in text and "penguins.csv" in text


def test_many_classes_with_enough_rows_and_a_few_rare_ones_are_accepted():
    from layerwise.data.tabular import check_trainable_classes

    labels = [f"k{i // 6}" for i in range(1200)] + ["rare1", "rare2", "rare2"]
    check_trainable_classes(pd.DataFrame({"y": labels}), "y")  # 200 classes of 6: trainable


def test_scoring_data_needs_neither_two_classes_nor_two_rows_a_class():
    df = named(pd.DataFrame({"x": [1, 2], "y": ["cat", "cat"]}))
    out, kind, notes = prepare_target(df, "y", "classification", training=False)
    assert len(out) == 2 and kind == "classification" and notes == []
