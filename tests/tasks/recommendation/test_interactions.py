"""Reading interaction logs: column detection, MovieLens files, cleaning and clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from layerwise.errors import ColumnError, ConfigError, DataError
from layerwise.tasks.recommendation.interactions import parse_scale, read_interactions


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "UserId": [10, 10, 2, 2, 2, 3],
            "movie": ["b", "a", "a", "a", "c", "b"],
            "stars": [5, 3, 4, 2, 1, 3],
            "ts": [
                "2024-01-03",
                "2024-01-01",
                "2024-01-02",
                "2024-01-05",
                "2024-01-01",
                "2024-02-01",
            ],
        }
    )


def test_detects_columns_orders_by_time_and_merges_repeats():
    log = read_interactions(_frame())
    assert log.columns == {"user": "UserId", "item": "movie", "rating": "stars", "time": "ts"}
    assert log.user_ids == ["2", "3", "10"]  # numeric ids in numeric order
    d = log.interactions
    # user "10" took a on Jan 1 and b on Jan 3: time order, not file order
    assert [log.item_ids[i] for i in d.histories()[2]] == ["a", "b"]
    # user 2 rated a twice: one interaction, rating averaged, latest time kept
    assert len(d) == 5
    user2 = d.users == 0
    assert sorted(zip(d.items[user2], d.ratings[user2], strict=True)) == [(0, 3.0), (2, 1.0)]
    assert any("merged" in note and "averaged" in note for note in log.notes)
    assert log.explicit and log.has_time and log.rating_range == (1.0, 5.0)


def test_implicit_log_without_time():
    log = read_interactions(pd.DataFrame({"customer": ["x", "y", "x"], "sku": [1, 2, 2]}))
    assert not log.explicit and not log.has_time
    assert log.interactions.matrix().toarray().tolist() == [[1, 1], [0, 1]]


def test_movielens_u_data(tmp_path):
    path = tmp_path / "u.data"
    path.write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t4\t881250950\n")
    log = read_interactions(path)
    assert log.columns["user"] == "user" and log.explicit and log.has_time
    assert log.user_ids == ["186", "196"] and log.item_ids == ["242", "302"]
    dat = tmp_path / "ratings.dat"
    dat.write_text("1::1193::5::978300760\n1::661::3::978302109\n2::661::4::978301968\n")
    assert len(read_interactions(dat, format="movielens").interactions) == 3


def test_misspelled_column_suggests_the_closest():
    with pytest.raises(ColumnError, match="Did you mean 'UserId'"):
        read_interactions(_frame(), user_column="UsrId")


def test_no_user_column_found_says_which_flag():
    with pytest.raises(ConfigError, match="--user-column"):
        read_interactions(pd.DataFrame({"a": [1, 2], "item": [1, 2]}))


def test_ratings_outside_the_declared_scale():
    with pytest.raises(DataError, match=r"outside the declared scale 1-4 \(e.g. 5\)"):
        read_interactions(_frame(), rating_scale="1-4")
    assert parse_scale("0.5-5") == (0.5, 5.0)
    with pytest.raises(ConfigError):
        parse_scale("5-1")


def test_non_numeric_ratings_and_bad_times_name_the_column():
    frame = _frame().assign(stars=["5", "good", "4", "2", "1", "3"])
    with pytest.raises(DataError, match="'stars'.*'good'"):
        read_interactions(frame)
    frame = _frame().assign(ts=["2024-01-03", "soon", "2024-01-02", "x", "2024-01-01", "y"])
    with pytest.raises(DataError, match="Time column 'ts'"):
        read_interactions(frame)


def test_missing_cells_are_dropped_with_a_note():
    frame = _frame()
    frame.loc[0, "stars"] = np.nan
    log = read_interactions(frame)
    assert any("1 rows without" in note for note in log.notes)


def test_too_small_and_empty_logs(tmp_path):
    with pytest.raises(DataError, match="1 user"):
        read_interactions(pd.DataFrame({"user": [1, 1], "item": [1, 2]}))
    empty = tmp_path / "u.data"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        read_interactions(empty)


def test_recbole_atomic_file_headers(tmp_path):
    path = tmp_path / "ml-100k.inter"
    path.write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t4\t881250950\n"
    )
    log = read_interactions(path)
    assert log.columns == {"user": "user_id:token", "item": "item_id:token",
                           "rating": "rating:float", "time": "timestamp:float"}  # fmt: skip
    assert len(log.interactions) == 3 and log.explicit
