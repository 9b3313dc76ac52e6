"""Reading interaction logs for recommendation: who interacted with what, and when.

A log is a table (CSV, TSV, Parquet, JSON Lines, a DataFrame, RecBole's ``.inter`` files) with
a user column and an item column, and optionally a rating column (explicit feedback) and a time column; or a MovieLens
file (``u.data``: tab-separated ``user item rating timestamp`` without a header, or
``ratings.dat``: ``user::item::rating::timestamp``). Ids of any type become indices; the maps
back are kept as lists of strings, so they can be saved as JSON.

Example:
    >>> import pandas as pd
    >>> log = read_interactions(pd.DataFrame({"user": [1, 1, 2], "item": ["a", "b", "a"]}))
    >>> log.user_ids, log.item_ids, log.interactions.items.tolist()
    (['1', '2'], ['a', 'b'], [0, 1, 0])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerwise.errors import ConfigError, DataError, missing_column
from layerwise.tasks.recommendation.base import Interactions

MOVIELENS_COLUMNS = ["user", "item", "rating", "timestamp"]
GUESSES = {
    "user": ("user", "user_id", "userid", "user id", "customer", "customer_id", "customerid",
             "uid", "visitor", "visitorid", "visitor_id", "member", "member_id", "client_id"),
    "item": ("item", "item_id", "itemid", "item id", "movie", "movie_id", "movieid", "product",
             "product_id", "productid", "sku", "song", "song_id", "track", "track_id", "article",
             "article_id", "book", "book_id", "isbn", "iid", "asin"),
    "rating": ("rating", "ratings", "stars", "score", "rate", "grade"),
    "time": ("timestamp", "time", "ts", "date", "datetime", "event_time", "created_at",
             "event_timestamp", "unix_time"),
}  # fmt: skip
MIN_USERS = 2
MIN_ITEMS = 2


@dataclass
class InteractionLog:
    """A cleaned log: the index arrays, the id maps and what was done while reading."""

    interactions: Interactions
    user_ids: list[str]
    item_ids: list[str]
    columns: dict[str, str | None]  # "user", "item", "rating", "time" -> the user's names
    name: str = "the data"
    notes: list[str] = field(default_factory=list)
    rating_range: tuple[float, float] | None = None

    @property
    def explicit(self) -> bool:
        return self.interactions.ratings is not None

    @property
    def has_time(self) -> bool:
        return self.interactions.times is not None


def id_strings(values: pd.Series) -> pd.Series:
    """Ids as strings, with whole floats written without ".0" (a CSV column with a gap turns
    user 7 into 7.0)."""
    if pd.api.types.is_float_dtype(values):
        whole = values.dropna() % 1 == 0
        if whole.all():
            return values.map(lambda v: str(int(v)) if pd.notna(v) else None)
    return values.map(lambda v: None if pd.isna(v) else str(v).strip())


def read_log_table(data: Any, format: str = "auto") -> pd.DataFrame:
    """The raw table of a log: MovieLens files by their format, anything else by
    :func:`~layerwise.data.tabular.read_table`."""
    from layerwise.data.tabular import read_table

    if format not in ("auto", "movielens", "table"):
        raise ConfigError(f"Unknown log format '{format}'.", "Use auto, movielens or table.")
    if isinstance(data, (str, Path)):
        path = Path(data)
        movielens = format == "movielens" or (
            format == "auto" and path.name.lower() in ("u.data", "ratings.dat")
        )
        if movielens:
            return _read_movielens(path)
    return read_table(data)


def _read_movielens(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"'{path}' does not exist.", "Check the path of the u.data file.")
    text = path.read_bytes().decode("latin-1")
    if not text.strip():
        raise DataError(f"'{path.name}' is empty.", "Give a file of user item rating timestamp.")
    sep = "::" if "::" in text.split("\n", 1)[0] else "\t"
    from io import StringIO

    frame = pd.read_csv(StringIO(text), sep=sep, header=None, engine="python")
    if frame.shape[1] not in (3, 4):
        raise DataError(
            f"'{path.name}' has {frame.shape[1]} columns per line; the MovieLens format has 4 "
            "(user item rating timestamp) or 3 (without timestamp).",
            "Check the separator (tab or ::), or read it as a table with --format table.",
        )
    frame.columns = MOVIELENS_COLUMNS[: frame.shape[1]]
    frame.attrs = {"name": path.name, "notes": [f"read '{path.name}' as a MovieLens log"]}
    return frame


def find_column(frame: pd.DataFrame, role: str, given: str | None, required: bool) -> str | None:
    """The column playing ``role`` ("user", "item", "rating", "time"): the one given (checked,
    with the closest name suggested) or a conventional name found in the table."""
    name = frame.attrs.get("name", "the data")
    if given is not None:
        if given not in frame.columns:
            raise missing_column(given, frame.columns, f"{role.capitalize()} column", f"'{name}'")
        return given
    # RecBole's atomic files (.inter) type their headers: "user_id:token", "rating:float"
    lowered = {str(c).lower().split(":")[0].strip(): c for c in frame.columns}
    for guess in GUESSES[role]:
        if guess in lowered:
            return lowered[guess]
    if required:
        shown = ", ".join(map(str, list(frame.columns)[:12]))
        raise ConfigError(
            f"No {role} column found in '{name}' (columns: {shown}).",
            f"Name it with --{role}-column.",
        )
    return None


def read_interactions(
    data: Any,
    user_column: str | None = None,
    item_column: str | None = None,
    rating_column: str | None = None,
    time_column: str | None = None,
    format: str = "auto",
    rating_scale: str | tuple[float, float] | None = None,
) -> InteractionLog:
    """Read and clean a log; see the module docstring. Rows without a user or item are
    dropped, repeated (user, item) pairs merged (ratings averaged, the latest time kept), and
    each change is described in ``notes``."""
    frame = read_log_table(data, format)
    name = frame.attrs.get("name", "the data")
    notes = list(frame.attrs.get("notes", []))
    columns = {
        "user": find_column(frame, "user", user_column, True),
        "item": find_column(frame, "item", item_column, True),
        "rating": find_column(frame, "rating", rating_column, False),
        "time": find_column(frame, "time", time_column, False),
    }
    if columns["user"] == columns["item"]:
        raise ConfigError(
            f"The user and item columns are the same column '{columns['user']}'.",
            "Name them with --user-column and --item-column.",
        )
    table = pd.DataFrame({"user": id_strings(frame[columns["user"]]),
                          "item": id_strings(frame[columns["item"]])})  # fmt: skip
    if columns["rating"] is not None:
        table["rating"] = _ratings(frame[columns["rating"]], columns["rating"], name)
    if columns["time"] is not None:
        table["time"] = _times(frame[columns["time"]], columns["time"], name)
    table = _drop_missing(table, name, notes)
    scale = _check_scale(table, rating_scale, columns["rating"], name)
    table = _merge_repeats(table, notes)
    _check_size(table, name)
    log = _index(table, columns, name, notes)
    log.rating_range = scale
    return log


def _ratings(column: pd.Series, name: str, where: str) -> pd.Series:
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna() & column.notna() & (column.astype(str).str.strip() != "")
    if bad.any():
        raise _unreadable("Rating", "numbers", column, bad, where,
                          "Use numeric ratings, or leave out the rating column for implicit feedback.")  # fmt: skip
    if not np.isfinite(values.dropna()).all():
        raise DataError(f"Rating column '{name}' in '{where}' holds infinite values.",
                        "Replace them with real ratings or leave those cells empty.")  # fmt: skip
    return values.astype(np.float64)


def _unreadable(role: str, kind: str, column: pd.Series, bad: pd.Series, where: str,
                hint: str) -> DataError:  # fmt: skip
    """The error for cells of ``column`` that are not ``kind``, with the first as an example."""
    first = bad.to_numpy().nonzero()[0][0]
    return DataError(
        f"{role} column '{column.name}' in '{where}' holds {int(bad.sum())} values that are not "
        f"{kind} (e.g. {column.iloc[first]!r} in row {first + 1}).",
        hint,
    )


def _times(column: pd.Series, name: str, where: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(np.float64)
    parsed = pd.to_datetime(column, errors="coerce", utc=True, format="mixed")
    bad = parsed.isna() & column.notna()
    if bad.any():
        raise _unreadable("Time", "times", column, bad, where,
                          "Use Unix seconds or dates like 2024-05-01 12:00, or name another --time-column.")  # fmt: skip
    seconds = (parsed - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds()
    return seconds.astype(np.float64)


def _drop_missing(table: pd.DataFrame, name: str, notes: list[str]) -> pd.DataFrame:
    missing = table["user"].isna() | table["item"].isna()
    for column in ("rating", "time"):
        if column in table:
            missing |= table[column].isna()
    if missing.all():
        raise DataError(f"No row of '{name}' has a user, an item (and a rating or time where "
                        "those columns exist).", "Fill in those cells.")  # fmt: skip
    if missing.any():
        notes.append(
            f"{int(missing.sum())} rows without a user, item, rating or time were left out"
        )
    return table[~missing].reset_index(drop=True)


def parse_scale(scale: str | tuple[float, float]) -> tuple[float, float]:
    """``"1-5"``, ``"0.5-5"`` or ``(1, 5)`` -> (low, high)."""
    if isinstance(scale, str):
        parts = scale.replace("..", "-").replace(",", "-").split("-")
        try:
            low, high = (float(p) for p in parts if p.strip())
        except ValueError:
            raise ConfigError(
                f"Rating scale '{scale}' is not valid.", "Write it like 1-5."
            ) from None
    else:
        low, high = (float(v) for v in scale)
    if not low < high:
        raise ConfigError(f"Rating scale {low:g}-{high:g} is empty.", "Write it like 1-5.")
    return low, high


def _check_scale(table: pd.DataFrame, scale: Any, column: str | None, name: str) -> Any:
    if "rating" not in table:
        if scale is not None:
            raise ConfigError("A rating scale was given but the log has no rating column.",
                              "Name it with --rating-column, or leave out the scale.")  # fmt: skip
        return None
    if scale is None:
        return float(table["rating"].min()), float(table["rating"].max())
    low, high = parse_scale(scale)
    outside = (table["rating"] < low) | (table["rating"] > high)
    if outside.any():
        first = outside.to_numpy().nonzero()[0][0]
        raise DataError(
            f"{int(outside.sum())} ratings in '{column}' of '{name}' are outside the declared "
            f"scale {low:g}-{high:g} (e.g. {table['rating'].iloc[first]:g}).",
            "Fix those rows, or declare the scale the data uses with --rating-scale.",
        )
    return low, high


def _merge_repeats(table: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    repeated = table.duplicated(["user", "item"], keep=False)
    if not repeated.any():
        return table
    n_pairs = int(table[repeated].drop_duplicates(["user", "item"]).shape[0])
    n_rows = int(repeated.sum())
    how = {"rating": "mean", "time": "max"}
    agg = {k: v for k, v in how.items() if k in table}
    order = table.drop_duplicates(["user", "item"])[["user", "item"]]  # keeps first-seen order
    if agg:
        merged = table.groupby(["user", "item"], sort=False, as_index=False).agg(agg)
        table = order.merge(merged, on=["user", "item"], how="left")
    else:
        table = order
    said = ", ".join(f"{'ratings averaged' if k == 'rating' else 'the latest time kept'}"
                     for k in agg) or "kept once"  # fmt: skip
    notes.append(f"{n_rows} rows repeat {n_pairs} (user, item) pairs: merged ({said})")
    return table.reset_index(drop=True)


def _check_size(table: pd.DataFrame, name: str) -> None:
    users, items = table["user"].nunique(), table["item"].nunique()
    if users < MIN_USERS or items < MIN_ITEMS:
        raise DataError(
            f"'{name}' has {users} user(s) and {items} item(s); recommendation needs at least "
            f"{MIN_USERS} of each.",
            "Give a log with many users and items (or check the user and item columns).",
        )


def _index(table: pd.DataFrame, columns: dict, name: str, notes: list[str]) -> InteractionLog:
    user_ids = sorted(table["user"].unique(), key=_natural)
    item_ids = sorted(table["item"].unique(), key=_natural)
    users = pd.Index(user_ids).get_indexer(table["user"]).astype(np.int64)
    items = pd.Index(item_ids).get_indexer(table["item"]).astype(np.int64)
    times = table["time"].to_numpy(np.float64) if "time" in table else None
    # stable: within a user, time order, then file order
    order = np.lexsort(
        (np.arange(len(users)), times if times is not None else np.zeros(len(users)), users)
    )
    ratings = table["rating"].to_numpy(np.float32)[order] if "rating" in table else None
    data = Interactions(len(user_ids), len(item_ids), users[order], items[order], ratings,
                        None if times is None else times[order])  # fmt: skip
    return InteractionLog(data, list(user_ids), list(item_ids), columns, name, notes)


def _natural(value: str) -> tuple[int, float, str]:
    """Numbers in numeric order before other ids: "2" < "10" < "abc"."""
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)
